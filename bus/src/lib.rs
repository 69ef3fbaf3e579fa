//! Herd's side of Kafka: one client configuration, topic setup, a bulk keyed producer,
//! a broker probe, a keyed round trip that proves the path works, and the status
//! (health and counters) every service loop reports.
//!
//! Nothing here knows about Delta tables; Kafka and the lake meet only in the services
//! that compose them.

mod admin;
mod bulk;
mod config;
mod error;
mod events;
mod exactly_once;
mod gap;
mod membership;
mod roundtrip;
mod status;
mod transient;

pub use admin::{
    ClusterInfo, PartitionReplicas, TopicDeletion, TopicOutcome, TopicSpec, delete_topics,
    ensure_topics, high_watermarks, probe,
};
pub use bulk::{BulkProducer, DeliveryReport};
pub use config::KafkaOptions;
pub use error::BusError;
pub use events::EventPublisher;
pub use exactly_once::{
    ConsumedRecord, ExactlyOnceSink, FlushOutcome, FlushPolicy, LoopError, LoopOptions, LoopStats,
    OffsetRange, run_exactly_once,
};
pub use gap::GapPolicy;
pub use membership::{GroupMember, Membership, rejoin_limit, retire};
pub use roundtrip::{RoundTripReport, round_trip};
pub use status::{Counter, Gauge, Health, Status};
pub use transient::is_transient;

/// The version of the bundled librdkafka, e.g. `2.12.1`.
pub fn librdkafka_version() -> String {
    rdkafka::util::get_rdkafka_version().1
}
