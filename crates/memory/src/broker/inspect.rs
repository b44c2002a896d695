//! What tests can read back from the broker: published messages, streams, consumers.

use bytes::Bytes;
use messaging_core::PublishTarget;
use messaging_spec::{DeliveryInfo, Headers, Metadata};
use serde::de::DeserializeOwned;

use super::state::{Consumer, Published, StoredMessage};

/// One message as it was published: events, queue publishes and requests, in order.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PublishedMessage {
    /// The publishing service.
    pub publisher: String,
    /// Where it was sent.
    pub target: PublishTarget,
    /// The NATS subject: `<stream>.<key>`, `<service>.request.<key>`, or the queue name.
    pub subject: String,
    /// The routing key.
    pub routing_key: String,
    /// Every header, as the NATS transport sends them (CloudEvents, `service`,
    /// `Nats-Msg-Id` for streams, custom ones).
    pub headers: Headers,
    /// The CloudEvents attributes read from the headers.
    pub metadata: Metadata,
    /// The JSON body.
    pub body: Bytes,
    /// The stream sequence (stream targets; for a duplicate, the original's).
    pub sequence: Option<u64>,
    /// True when the stream had already stored this `Nats-Msg-Id` within the duplicate
    /// window, so nothing new was stored.
    pub duplicate: bool,
    /// When it was published (tokio's clock, so virtual under a paused clock).
    pub at: tokio::time::Instant,
}

impl PublishedMessage {
    pub(crate) fn from_record(p: &Published) -> Self {
        let m: &StoredMessage = &p.msg;
        let source = p.target.destination().to_owned();
        let info = DeliveryInfo::new("", source, m.routing_key.as_str());
        Self {
            publisher: p.publisher.clone(),
            target: p.target.clone(),
            subject: m.subject.clone(),
            routing_key: m.routing_key.clone(),
            headers: m.headers.clone(),
            metadata: messaging_core::dispatch::metadata_for(&m.headers, &info),
            body: m.body.clone(),
            sequence: (m.sequence > 0).then_some(m.sequence),
            duplicate: p.duplicate,
            at: p.at,
        }
    }

    /// The body decoded as `T`.
    ///
    /// # Errors
    /// When the body is not `T` in JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// The string value of header `key`.
    #[must_use]
    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers.get_str(key)
    }
}

/// One message in a dead-letter stream, with the record of why it is there.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadLetterMessage {
    /// Its sequence in the dead-letter stream.
    pub sequence: u64,
    /// The subject it was dead-lettered to.
    pub subject: String,
    /// Why, from where, when.
    pub record: messaging_core::DeadLetterRecord,
    /// Every header, the dead-letter ones included.
    pub headers: Headers,
    /// The body, unchanged.
    pub body: Bytes,
}

impl DeadLetterMessage {
    /// `None` for a stored message that is not a dead letter.
    pub(crate) fn of(m: &StoredMessage) -> Option<Self> {
        let record =
            messaging_core::DeadLetterRecord::from_headers(|k| m.headers.get_str(k)).ok()?;
        Some(Self {
            sequence: m.sequence,
            subject: m.subject.clone(),
            record,
            headers: m.headers.clone(),
            body: m.body.clone(),
        })
    }
}

/// A stream's state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamInfo {
    /// The stream name.
    pub name: String,
    /// Messages stored (a stream keeps every message).
    pub messages: u64,
    /// The sequence of the last message, 0 when empty.
    pub last_sequence: u64,
    /// Its consumers' names (durables, and `<service>-transient-<n>` for transient ones).
    pub consumers: Vec<String>,
}

/// A consumer's counters and positions, like JetStream's consumer info.
///
/// Every delivery ends in exactly one of `acked`, `naked` or `termed` once its handler
/// finished; `exhausted` counts messages the broker stopped redelivering because they had
/// `max_deliver` deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerStats {
    /// The stream.
    pub stream: String,
    /// The consumer name (`<service>[-<suffix>]` for durables).
    pub name: String,
    /// True for a durable consumer.
    pub durable: bool,
    /// Its filters, as routing patterns.
    pub filters: Vec<String>,
    /// Connections currently consuming from it.
    pub instances: usize,
    /// Deliveries made, redeliveries included.
    pub delivered: u64,
    /// Deliveries after the first of a message (after a nak or an expired AckWait).
    pub redelivered: u64,
    /// Acks.
    pub acked: u64,
    /// Naks (retries, with or without delay).
    pub naked: u64,
    /// Terms (rejected, undecodable, no handler).
    pub termed: u64,
    /// Messages given up after their last allowed delivery (`max_deliver`).
    pub exhausted: u64,
    /// In-progress acks received (keep-alives of running handlers).
    pub progress_acks: u64,
    /// Messages not delivered yet (JetStream's `num_pending`).
    pub num_pending: u64,
    /// Messages delivered and not settled: being handled or waiting for a redelivery
    /// (JetStream's `num_ack_pending`).
    pub num_ack_pending: u64,
    /// The stream sequence the consumer looks at next.
    pub next_sequence: u64,
}

impl ConsumerStats {
    pub(crate) fn of(stream: &str, name: &str, c: &Consumer) -> Self {
        let n = c.counters;
        Self {
            stream: stream.to_owned(),
            name: name.to_owned(),
            durable: c.durable,
            filters: c
                .config
                .filters
                .iter()
                .map(|f| f.as_str().to_owned())
                .collect(),
            instances: c.instances,
            delivered: n.delivered,
            redelivered: n.redelivered,
            acked: n.acked,
            naked: n.naked,
            termed: n.termed,
            exhausted: n.exhausted,
            progress_acks: n.progress,
            num_pending: c.num_pending(),
            num_ack_pending: c.num_ack_pending(),
            next_sequence: c.next_seq,
        }
    }

    /// Deliveries whose handler finished: `acked + naked + termed`.
    #[must_use]
    pub fn settled(&self) -> u64 {
        self.acked + self.naked + self.termed
    }
}
