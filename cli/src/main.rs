//! The `herd` binary: parse the command line, load the configuration, run the
//! command, and turn any failure into one line and a non-zero exit code.

mod args;
mod commands;
mod logging;
mod progress;
mod shutdown;
mod status;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command, ModelsCommand, TopicsCommand};
use herd_config::Settings;

fn main() -> ExitCode {
    restore_sigpipe();
    let cli = Cli::parse();
    let loaded = match Settings::load(cli.global.config.as_deref(), &cli.global.overrides()) {
        Ok(loaded) => loaded,
        Err(err) => return fail(&anyhow::Error::new(err)),
    };
    logging::init(loaded.settings.log.format, &loaded.settings.log.level);

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => return fail(&anyhow::Error::new(err)),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Topics(TopicsCommand::Create(args)) => {
                commands::topics::create(&loaded.settings, &args).await
            }
            Command::Topics(TopicsCommand::Delete(args)) => {
                commands::topics::delete(&loaded.settings, &args).await
            }
            Command::Doctor(args) => commands::doctor::run(&loaded, &args).await,
            Command::Config(args) => {
                use herd_config::reference;
                if args.markdown {
                    print!("{}", reference::page());
                } else {
                    print!("{}", reference::defaults_toml().trim_start());
                }
                Ok(())
            }
            Command::Ingest(args) => commands::ingest::run(&loaded.settings, &args).await,
            Command::Generate(args) => commands::generate::run(&args).await,
            Command::Simulate(args) => commands::simulate::run(&loaded.settings, &args).await,
            Command::Archive(args) => commands::archive::run(&loaded.settings, &args).await,
            Command::Train(args) => commands::train::run(&loaded.settings, &args).await,
            Command::Models(ModelsCommand::List(args)) => {
                commands::models::list(&loaded.settings, &args).await
            }
            Command::Models(ModelsCommand::Show(args)) => {
                commands::models::show(&loaded.settings, &args).await
            }
            Command::Models(ModelsCommand::Rollback(args)) => {
                commands::models::rollback(&loaded.settings, &args).await
            }
            Command::Models(ModelsCommand::History(args)) => {
                commands::models::history(&loaded.settings, &args).await
            }
            Command::Models(ModelsCommand::Production(args)) => {
                commands::models::production(&loaded.settings, &args).await
            }
            Command::Promote(args) => commands::promote::run(&loaded.settings, &args).await,
            Command::Score(args) => commands::score::run(&loaded.settings, &args).await,
            Command::Serve(args) => commands::serve::run(&loaded.settings, &args).await,
            Command::Sql(args) => commands::sql::run(&loaded.settings, &args).await,
            Command::Bench(command) => herd_bench::run(&loaded.settings, &command).await,
        }
    });
    // A blocking call still stuck (a read of a lake that does not answer) must not
    // keep the finished command from exiting.
    runtime.shutdown_timeout(STRAY_TASKS_GRACE);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&err),
    }
}

/// How long a finished command waits for blocking tasks still running before it
/// exits without them.
const STRAY_TASKS_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Rust ignores SIGPIPE, which turns `herd ... | head` into a panic when the pipe
/// closes; a command-line tool should just stop, as other Unix tools do.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any other thread exists; setting a
    // signal disposition to its default has no other precondition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn fail(err: &anyhow::Error) -> ExitCode {
    eprintln!("error: {err:#}");
    ExitCode::FAILURE
}
