//! The `herd` binary: parse the command line, load the configuration, run the
//! command, and turn any failure into one line and a non-zero exit code.

mod args;
mod commands;
mod config;
mod logging;
mod progress;
mod shutdown;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command, TopicsCommand};
use crate::config::Settings;

fn main() -> ExitCode {
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
            Command::Doctor(args) => commands::doctor::run(&loaded, &args).await,
            Command::Ingest(args) => commands::ingest::run(&loaded.settings, &args).await,
            Command::Generate(args) => commands::generate::run(&args).await,
            Command::Simulate(args) => commands::simulate::run(&loaded.settings, &args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&err),
    }
}

fn fail(err: &anyhow::Error) -> ExitCode {
    eprintln!("error: {err:#}");
    ExitCode::FAILURE
}
