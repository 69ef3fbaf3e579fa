//! A producer for high volumes: records are queued without a future each, and
//! acknowledgements are counted as the broker sends them, so nothing fails silently.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

use crate::{BusError, KafkaOptions};

/// What the broker acknowledged, and what it did not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub delivered: u64,
    pub failed: u64,
    /// Records still unacknowledged when the wait ended.
    pub unacknowledged: u64,
    /// The first failure's reason, to print.
    pub first_error: Option<String>,
}

impl DeliveryReport {
    pub fn is_complete(&self) -> bool {
        self.failed == 0 && self.unacknowledged == 0
    }
}

/// Counts acknowledgements as librdkafka's background thread reports them.
#[derive(Default)]
struct Acknowledgements {
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for Acknowledgements {}

impl ProducerContext for Acknowledgements {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((err, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert_with(|| err.to_string());
                }
            }
        }
    }
}

/// Publishes many records with Herd's delivery guarantees (see
/// [`KafkaOptions::producer_config`]); [`BulkProducer::finish`] waits for every
/// acknowledgement and reports what was not delivered.
pub struct BulkProducer {
    inner: ThreadedProducer<Acknowledgements>,
    sent: u64,
}

impl BulkProducer {
    pub fn new(options: &KafkaOptions) -> Result<Self, BusError> {
        let mut config = options.producer_config();
        // Enough in flight to keep the broker busy while the caller parses.
        for (key, value) in [
            ("queue.buffering.max.messages", "1000000"),
            ("queue.buffering.max.kbytes", "1048576"),
            ("batch.size", "1000000"),
            ("linger.ms", "20"),
        ] {
            if !options.client.contains_key(key) {
                config.set(key, value);
            }
        }
        let inner = config.create_with_context(Acknowledgements::default())?;
        Ok(Self { inner, sent: 0 })
    }

    /// Queues one record, waiting while librdkafka's queue is full. Fails only when
    /// the record cannot be queued at all (for example a record larger than the
    /// broker accepts); delivery failures are counted for [`Self::finish`].
    pub fn send(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        payload: &[u8],
        headers: &[(&str, &[u8])],
    ) -> Result<(), BusError> {
        let headers = (!headers.is_empty()).then(|| {
            headers.iter().fold(OwnedHeaders::new(), |all, (k, v)| {
                all.insert(Header {
                    key: k,
                    value: Some(*v),
                })
            })
        });
        let mut record = BaseRecord::<[u8], [u8]>::to(topic).payload(payload);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(headers) = headers {
            record = record.headers(headers);
        }
        loop {
            match self.inner.send(record) {
                Ok(()) => {
                    self.sent += 1;
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_micros(500));
                }
                Err((reason, _)) => {
                    return Err(BusError::Delivery {
                        topic: topic.to_owned(),
                        reason,
                    });
                }
            }
        }
    }

    /// Records queued so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Records the broker acknowledged so far.
    pub fn delivered(&self) -> u64 {
        self.inner.context().delivered.load(Ordering::Relaxed)
    }

    /// Waits up to `timeout` for every record queued so far to be acknowledged or
    /// failed, and reports the totals since this producer was created.
    pub fn settle(&self, timeout: Duration) -> DeliveryReport {
        let deadline = Instant::now() + timeout;
        loop {
            let report = self.report();
            if report.unacknowledged == 0 || Instant::now() >= deadline {
                return report;
            }
            let _ = self.inner.flush(Duration::from_millis(100));
        }
    }

    /// The totals since this producer was created, as acknowledged so far, without
    /// waiting: librdkafka's own thread keeps sending and counting meanwhile.
    pub fn report(&self) -> DeliveryReport {
        let acks = self.inner.context();
        let delivered = acks.delivered.load(Ordering::Relaxed);
        let failed = acks.failed.load(Ordering::Relaxed);
        DeliveryReport {
            delivered,
            failed,
            unacknowledged: self.sent.saturating_sub(delivered + failed),
            first_error: acks.first_error.lock().ok().and_then(|e| e.clone()),
        }
    }

    /// Waits up to `timeout` for every queued record, then closes the producer.
    pub fn finish(self, timeout: Duration) -> DeliveryReport {
        self.settle(timeout)
    }
}
