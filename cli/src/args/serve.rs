//! The arguments of the commands that answer queries: `herd serve` and `herd sql`.

use clap::Args;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080, or serve.listen]
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<std::net::SocketAddr>,
    /// Byte budget of the model cache in MiB [default: 64]
    #[arg(long, value_name = "MIB")]
    pub model_cache_mb: Option<f64>,
    /// Require `Authorization: Bearer TOKEN` on API requests [default: serve.token]
    #[arg(long, env = "HERD_SERVE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Serve a non-loopback address without a token: anyone who reaches it can read
    /// the API [default: serve.insecure_no_token]
    #[arg(long)]
    pub insecure_no_token: bool,
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The query
    #[arg(value_name = "SQL")]
    pub sql: String,
    /// Output format [default: table on a terminal, csv otherwise]
    #[arg(long, value_enum)]
    pub format: Option<SqlFormat>,
    /// Print at most this many rows; a note on stderr says when more matched
    #[arg(long, value_name = "N")]
    pub max_rows: Option<usize>,
    /// Cancel the query after this many seconds [default: no limit]
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
}

/// How `herd sql` prints rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SqlFormat {
    /// A table with a header and borders
    Table,
    /// A header line, then one line per row
    Csv,
    /// One JSON object per row, one per line
    Json,
}
