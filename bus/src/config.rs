//! The one place a Kafka client configuration is built.
//!
//! Users' own librdkafka settings (`security.protocol`, SASL, TLS, ...) pass through
//! unchanged; Herd adds only what its guarantees depend on.

use std::collections::BTreeMap;

use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

/// How to reach the Kafka cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaOptions {
    /// Comma-separated `host:port` list of brokers to bootstrap from.
    pub bootstrap_servers: String,
    /// Extra librdkafka properties, passed through as they are.
    pub client: BTreeMap<String, String>,
}

impl Default for KafkaOptions {
    fn default() -> Self {
        Self {
            bootstrap_servers: "127.0.0.1:9092".to_owned(),
            client: BTreeMap::new(),
        }
    }
}

impl KafkaOptions {
    /// Options for the given bootstrap servers and no extra properties.
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        Self {
            bootstrap_servers: bootstrap_servers.into(),
            client: BTreeMap::new(),
        }
    }

    /// The base configuration every Herd client starts from.
    pub fn client_config(&self) -> ClientConfig {
        self.build(&[])
    }

    /// A producer that never loses or reorders an acknowledged record: idempotent,
    /// `acks=all`, and Java-compatible murmur2 partitioning so that every Kafka client
    /// places a key on the same partition.
    pub fn producer_config(&self) -> ClientConfig {
        self.build(&[
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("partitioner", "murmur2_random"),
            ("linger.ms", "5"),
            ("compression.type", "lz4"),
            ("message.timeout.ms", "30000"),
        ])
    }

    /// A consumer in `group` that commits nothing by itself: Herd's services decide
    /// where to resume from.
    pub fn consumer_config(&self, group: &str) -> ClientConfig {
        let mut config = self.build(&[
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "earliest"),
            ("enable.partition.eof", "false"),
            // A consumer catching up reads a few megabytes per partition per fetch
            // instead of one: with 1 MiB fetches the archive waited on the broker
            // more than it worked (375K rows/s on two cores, against 560K+ here).
            // Fewer queued messages per partition keep the memory that costs in
            // bounds.
            ("max.partition.fetch.bytes", "2097152"),
            ("queued.min.messages", "20000"),
        ]);
        config.set("group.id", group);
        config
    }

    /// Herd's defaults for one kind of client, then the user's settings over them.
    fn build(&self, role_defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap_servers)
            // Fail within seconds when a broker is gone instead of retrying quietly
            // for minutes; callers turn the error into a message a person can act on.
            .set("socket.connection.setup.timeout.ms", "5000")
            .set("log_level", "3");
        for (key, value) in role_defaults {
            config.set(*key, *value);
        }
        for (key, value) in &self.client {
            config.set(key, value);
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_settings_win_over_defaults() {
        let mut options = KafkaOptions::new("broker:9092");
        options
            .client
            .insert("message.timeout.ms".to_owned(), "1000".to_owned());
        let config = options.producer_config();
        assert_eq!(config.get("bootstrap.servers"), Some("broker:9092"));
        assert_eq!(config.get("message.timeout.ms"), Some("1000"));
        assert_eq!(config.get("acks"), Some("all"));
        assert_eq!(config.get("partitioner"), Some("murmur2_random"));
    }
}
