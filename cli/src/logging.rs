//! Structured logs on stderr: readable lines for people, JSON lines for machines.

use tracing_subscriber::EnvFilter;

use herd_config::LogFormat;

/// Libraries whose info-level logs describe their own internals, not Herd's work.
const QUIET: &str = "buoyant_kernel=off,delta_kernel=warn,deltalake_core=warn,deltalake=warn";

/// Installs the global subscriber. `RUST_LOG`, when set, wins over `level`.
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(format!("{QUIET},{level}")))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
