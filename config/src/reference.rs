//! The configuration reference: every setting of `herd.toml` with its default, its
//! environment variable and a line of help, generated from [`Settings::default`] and
//! [`HELP`]. `docs/configuration.md` holds it; a test keeps the two in step.

use std::fmt::Write as _;

use super::Settings;

/// One line of help per setting, by its dotted key, in the order of `herd.toml`.
pub const HELP: &[(&str, &str)] = &[
    (
        "bootstrap_servers",
        "Kafka brokers to bootstrap from, host:port[,host:port…].",
    ),
    (
        "lake_root",
        "Where the Delta tables live: a directory, or an object-store URL.",
    ),
    (
        "frequency",
        "How often each series is observed: `daily`, `weekly` (records dated by the Monday that starts their week) or `monthly` (dated by the first day of their month). Windows, horizons, folds and forecasts count in these periods; records off this calendar go to the dead-letter topic.",
    ),
    (
        "topics.partitions",
        "Partitions of each topic `herd topics create` creates.",
    ),
    (
        "topics.replication_factor",
        "Replicas of each topic `herd topics create` creates.",
    ),
    ("topics.sales", "Sales records, keyed by store/item."),
    (
        "topics.sales_dlq",
        "Records that broke the contract, and forecasts that failed, with the reason in headers.",
    ),
    (
        "topics.models",
        "Model events: registered, promoted, rejected, rolled back.",
    ),
    (
        "topics.predictions",
        "Forecasts of the continuous scorer, keyed by store/item.",
    ),
    (
        "log.format",
        "`text` (human-readable lines) or `json` (one object per line).",
    ),
    (
        "log.level",
        "A `tracing` filter such as `info` or `herd_bus=debug,info`.",
    ),
    (
        "archive.group",
        "Consumer group of the archivers; archivers in one group split the partitions.",
    ),
    (
        "archive.on_gap",
        "Records deleted (retention) before they were archived: `fail` (stop) or `skip` (warn and go on).",
    ),
    ("train.group", "Consumer group of the continuous trainer."),
    (
        "train.window_days",
        "Periods of history kept per key (days for daily series, weeks or months otherwise).",
    ),
    (
        "train.horizon",
        "Periods forecast (days for daily series), and the length of each backtest fold.",
    ),
    (
        "train.folds",
        "Rolling-origin backtest folds: the latest is the holdout, the earlier ones choose the model.",
    ),
    (
        "train.models",
        "Candidates: `seasonal_naive`, `ridge`, `ets`, `tsb`.",
    ),
    (
        "train.features",
        "Ridge features: `full` or `spark` (the Spark many-models recipe's).",
    ),
    (
        "train.min_new_days",
        "Retrain a key once this many new (or corrected) days have arrived for it.",
    ),
    ("train.threads", "Training threads; 0 uses every core."),
    (
        "train.commit_every",
        "Models per Delta commit of the candidate registry.",
    ),
    (
        "train.max_due_keys",
        "Continuous mode: pause fetching while more keys than this wait for training.",
    ),
    (
        "train.tags",
        "Tags added to every registered model, e.g. `{ team = \"fresh\" }`.",
    ),
    (
        "train.drift",
        "Continuous mode: retrain a key before `min_new_days` when the days since its latest model left what the model expected.",
    ),
    (
        "train.drift_factor",
        "Drift when the error on those days exceeds the model's holdout error (WAPE) times this (at least 1).",
    ),
    (
        "train.drift_level_shift",
        "Drift when their mean differs from the forecast's by more than this share of the larger of the two (above 0, at most 1).",
    ),
    (
        "train.drift_min_days",
        "Observed days after the model needed before judging drift (at least 1).",
    ),
    (
        "promote.rule",
        "The business rule, a CEL expression over a candidate's metrics and tags.",
    ),
    (
        "promote.margin",
        "A challenger must beat the champion's accuracy on its holdout by more than this (0 to 1).",
    ),
    (
        "promote.production_root",
        "Root of the production registry (`production/models`); empty: the lake root.",
    ),
    (
        "promote.group",
        "Consumer group of the continuous promoter.",
    ),
    (
        "promote.batch_ms",
        "Continuous mode: gather model events this long before deciding them.",
    ),
    (
        "promote.catch_up_seconds",
        "Continuous mode: decide every committed, undecided candidate this often (at least 1).",
    ),
    (
        "promote.fallback",
        "What forecasts a key without a production model, in order: `baseline` (seasonal naive on its own history), `cold_start` (its item's profile); `[]`: only keys with one are forecast.",
    ),
    (
        "serve.listen",
        "Address `herd serve` listens on; loopback unless told otherwise.",
    ),
    (
        "serve.model_cache_mb",
        "Byte budget of the server's model cache, in MiB.",
    ),
    (
        "serve.token",
        "When not empty, API requests need `Authorization: Bearer <token>`.",
    ),
    (
        "serve.refresh_seconds",
        "Re-read the production table this often, besides following the models topic.",
    ),
    (
        "serve.sql_max_rows",
        "`POST /v1/sql` answers at most this many rows and says when it cut (at least 1; a very large number lifts the cap).",
    ),
    (
        "serve.sql_max_answer_mb",
        "`POST /v1/sql` answers at most this many MiB of rows and says when it cut (at least 1).",
    ),
    (
        "serve.sql_timeout_seconds",
        "`POST /v1/sql` cancels a query still running after this long, with 503 (at least 1).",
    ),
    (
        "serve.sql_memory_mb",
        "MiB the SQL queries running at once may use together (`herd sql` too); past it a query gets 503 (at least 1).",
    ),
    (
        "serve.sql_max_concurrent",
        "SQL queries `POST /v1/sql` runs at once; one more gets 429 with `Retry-After` (at least 1).",
    ),
    (
        "serve.insecure_no_token",
        "Serve a non-loopback `listen` without a token (anyone reaching the port reads the API).",
    ),
    (
        "serve.allowed_hosts",
        "Names requests may give in `Host` besides `localhost`, loopback addresses and the listen address (any IP address when it is 0.0.0.0 or ::).",
    ),
    (
        "serve.header_read_timeout_seconds",
        "A connection must send a request's headers within this long; idle keep-alive connections close after it (at least 1).",
    ),
    (
        "serve.request_timeout_seconds",
        "A request still unanswered after this long gets 503 (at least 1).",
    ),
    (
        "serve.max_connections",
        "Connections open at once; one more gets 503 and is closed (at least 1).",
    ),
    (
        "serve.max_concurrent_requests",
        "Requests handled at once; one more gets 503 with `Retry-After` (at least 1; `/healthz` always answers).",
    ),
    ("score.group", "Consumer group of the continuous scorer."),
    (
        "score.model_cache_mb",
        "Byte budget of the continuous scorer's model cache, in MiB.",
    ),
    (
        "score.flush_ms",
        "Commit the forecasts of new data at least this often.",
    ),
    (
        "score.on_gap",
        "Sales records deleted (retention) before they were scored: `fail` (stop) or `skip` (warn and go on).",
    ),
    (
        "kafka",
        "librdkafka properties passed through unchanged, e.g. `\"security.protocol\" = \"SASL_SSL\"`; HERD_KAFKA__SASL_MECHANISM sets `sasl.mechanism`, HERD_KAFKA__LOG_LEVEL `log_level`.",
    ),
];

/// The environment variable that sets `key`: `train.window_days` →
/// `HERD_TRAIN__WINDOW_DAYS`.
pub fn env_var(key: &str) -> String {
    format!("HERD_{}", key.replace('.', "__").to_ascii_uppercase())
}

#[cfg(test)]
fn help(key: &str) -> &'static str {
    HELP.iter()
        .find(|(k, _)| *k == key)
        .map_or("", |(_, help)| help)
}

/// Every setting with its default as `herd.toml` text, in [`HELP`]'s order, each
/// preceded by its help and its environment variable.
pub fn defaults_toml() -> String {
    let defaults = toml::Table::try_from(Settings::default()).expect("the defaults serialise");
    let mut out = String::new();
    let mut current_table = "";
    for (dotted, help) in HELP {
        let (table, key) = dotted.split_once('.').unwrap_or(("", dotted));
        if *dotted == "kafka" {
            // A table of properties, empty by default.
            let _ = writeln!(
                out,
                "\n# {help}\n# env: {}__<NAME>\n[kafka]",
                env_var(dotted)
            );
            continue;
        }
        if table != current_table {
            let _ = writeln!(out, "\n[{table}]");
            current_table = table;
        }
        let value = match table {
            "" => defaults.get(key),
            _ => defaults
                .get(table)
                .and_then(toml::Value::as_table)
                .and_then(|t| t.get(key)),
        };
        let value = value.map_or_else(String::new, ToString::to_string);
        let _ = writeln!(out, "# {help}\n# env: {}\n{key} = {value}", env_var(dotted));
    }
    out
}

/// Every dotted key of the defaults, maps counted as one setting.
#[cfg(test)]
fn keys() -> Vec<String> {
    let table = toml::Table::try_from(Settings::default()).expect("the defaults serialise");
    let mut keys = Vec::new();
    for (key, value) in &table {
        match value {
            toml::Value::Table(inner) if key != "kafka" => {
                keys.extend(inner.keys().map(|k| format!("{key}.{k}")));
            }
            _ => keys.push(key.clone()),
        }
    }
    keys
}

/// `docs/configuration.md`, generated.
pub fn page() -> String {
    format!(
        "# Configuration reference\n\n\
         <!-- Generated from config/src/reference.rs by `herd config --print-defaults --markdown`; \
         a test keeps this page in step with the code. -->\n\n\
         Every setting of `herd.toml`, with its default and the environment variable that \
         sets it. Layers, from weakest to strongest: these defaults, `herd.toml` (or \
         `--config FILE`), `HERD_*` variables, flags. How the layers work, and how \
         variables are read, is in [operations.md](operations.md#configuration).\n\n\
         ```toml\n{}```\n",
        defaults_toml()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_has_help_and_no_help_is_stale() {
        let keys = keys();
        for key in &keys {
            assert!(!help(key).is_empty(), "{key} has no line in HELP");
        }
        for (key, _) in HELP {
            assert!(
                keys.iter().any(|k| k == key),
                "HELP names {key}, no setting"
            );
        }
    }

    #[test]
    fn the_reference_reads_back_as_the_defaults() {
        let parsed: Settings = toml::from_str(&defaults_toml()).expect("valid herd.toml");
        assert_eq!(parsed, Settings::default());
    }

    #[test]
    fn docs_configuration_md_is_the_generated_page() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md");
        let page = page();
        if std::env::var_os("HERD_BLESS").is_some() {
            std::fs::write(path, &page).expect("written");
        }
        let written = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            written == page,
            "docs/configuration.md is out of date: run `herd config --print-defaults \
             --markdown > docs/configuration.md` (or this test with HERD_BLESS=1)"
        );
    }

    #[test]
    fn variables_name_their_keys() {
        assert_eq!(env_var("train.window_days"), "HERD_TRAIN__WINDOW_DAYS");
        assert_eq!(env_var("lake_root"), "HERD_LAKE_ROOT");
    }
}
