//! A keyed producer with Herd's delivery guarantees (see
//! [`KafkaOptions::producer_config`]).

use std::future::Future;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use crate::{BusError, KafkaOptions};

/// Where the broker stored an acknowledged record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
}

/// Publishes records by key. Records of one key keep their order: the producer is
/// idempotent, so retries never reorder or duplicate them.
#[derive(Clone)]
pub struct KeyedProducer {
    inner: FutureProducer,
}

impl KeyedProducer {
    pub fn new(options: &KafkaOptions) -> Result<Self, BusError> {
        Ok(Self {
            inner: options.producer_config().create()?,
        })
    }

    /// Sends one record and waits for its acknowledgement.
    pub async fn send(
        &self,
        topic: &str,
        key: Option<&str>,
        payload: &[u8],
        headers: &[(&str, &[u8])],
    ) -> Result<Delivered, BusError> {
        self.enqueue(topic, key, payload, headers).await?.await
    }

    /// Queues one record and returns the acknowledgement to wait for, so that many
    /// records can be in flight at once. Waits while the local queue is full.
    pub async fn enqueue(
        &self,
        topic: &str,
        key: Option<&str>,
        payload: &[u8],
        headers: &[(&str, &[u8])],
    ) -> Result<impl Future<Output = Result<Delivered, BusError>> + use<>, BusError> {
        let headers = (!headers.is_empty()).then(|| {
            headers.iter().fold(OwnedHeaders::new(), |all, (k, v)| {
                all.insert(Header {
                    key: k,
                    value: Some(*v),
                })
            })
        });
        loop {
            let mut record = FutureRecord::<str, [u8]>::to(topic).payload(payload);
            if let Some(key) = key {
                record = record.key(key);
            }
            if let Some(headers) = &headers {
                record = record.headers(headers.clone());
            }
            match self.inner.send_result(record) {
                Ok(delivery) => {
                    let topic = topic.to_owned();
                    return Ok(async move {
                        match delivery.await {
                            Ok(Ok(delivery)) => Ok(Delivered {
                                partition: delivery.partition,
                                offset: delivery.offset,
                            }),
                            Ok(Err((reason, _))) => Err(BusError::Delivery { topic, reason }),
                            Err(_canceled) => Err(BusError::Delivery {
                                topic,
                                reason: KafkaError::Canceled,
                            }),
                        }
                    });
                }
                // Back-pressure: librdkafka's queue is full until the broker
                // acknowledges what is in flight.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    tokio::time::sleep(Duration::from_millis(2)).await;
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

    /// Waits until every queued record is acknowledged or `timeout` passes.
    pub fn flush(&self, timeout: Duration) -> Result<(), BusError> {
        Ok(self.inner.flush(timeout)?)
    }
}
