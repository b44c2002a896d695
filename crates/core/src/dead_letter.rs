//! Dead-lettering, transport-neutral: when a message goes to the dead-letter destination,
//! why, and the headers that say so. NATS and the in-memory transport publish the record
//! themselves; on AMQP the broker dead-letters through the queue's `x-dead-letter-*`
//! arguments and adds its own `x-death` header.

use std::fmt;

use messaging_spec::{RoutingKey, ServiceName, StreamName};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::options::DeadLetter;
use crate::settle::Outcome;
use messaging_spec::Disposition;

/// The NATS (and in-memory) default dead-letter stream. Upper case, as JetStream's own
/// streams (`KV_…`, `OBJ_…`): the spec's names are the service's own, `events` and the
/// stream names services choose, and a plan rejects a service or stream of this name.
pub const DEFAULT_DEAD_LETTER_STREAM: &str = "DEAD_LETTERS";

/// Prefix of every dead-letter header; a replay strips them all.
pub const DEAD_LETTER_HEADER_PREFIX: &str = "x-dead-letter-";
/// Why: one of [`DeadLetterReason`]'s names.
pub const DL_REASON: &str = "x-dead-letter-reason";
/// The last error, on one line.
pub const DL_ERROR: &str = "x-dead-letter-error";
/// The subject the message was consumed from (replays publish back to it).
pub const DL_SUBJECT: &str = "x-dead-letter-subject";
/// The stream it was consumed from.
pub const DL_STREAM: &str = "x-dead-letter-stream";
/// Its sequence in that stream.
pub const DL_SEQUENCE: &str = "x-dead-letter-sequence";
/// The consumer (durable name, or `<service>-transient`).
pub const DL_CONSUMER: &str = "x-dead-letter-consumer";
/// The service that gave up on it.
pub const DL_SERVICE: &str = "x-dead-letter-service";
/// How many times it was delivered.
pub const DL_DELIVERIES: &str = "x-dead-letter-deliveries";
/// When it was dead-lettered (RFC 3339, UTC).
pub const DL_TIME: &str = "x-dead-letter-time";

/// The longest error text a record carries: headers are not the place for a backtrace.
const MAX_ERROR_CHARS: usize = 1024;

/// Why a message was dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeadLetterReason {
    /// The handler failed on the last delivery `max_deliver` allows.
    Exhausted,
    /// The handler rejected it as permanently unprocessable.
    Rejected,
    /// The body could not be decoded into the handler's type.
    Undecodable,
    /// No handler matches its routing key.
    NoHandler,
}

impl DeadLetterReason {
    /// The reason a message with this outcome is dead-lettered, once the transport has
    /// decided not to redeliver it; `None` for a handled one.
    #[must_use]
    pub fn for_outcome(outcome: Outcome) -> Option<Self> {
        match outcome {
            Outcome::Handled => None,
            Outcome::Undecodable => Some(Self::Undecodable),
            Outcome::NoHandler => Some(Self::NoHandler),
            Outcome::Failed(Disposition::Reject) => Some(Self::Rejected),
            Outcome::Failed(_) | Outcome::Panicked => Some(Self::Exhausted),
        }
    }

    /// The header and metric label value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exhausted => "exhausted",
            Self::Rejected => "rejected",
            Self::Undecodable => "undecodable",
            Self::NoHandler => "no-handler",
        }
    }

    /// Parses [`as_str`](Self::as_str).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Exhausted,
            Self::Rejected,
            Self::Undecodable,
            Self::NoHandler,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

impl fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a stream-based transport (NATS, in-memory) sends a group's dead letters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadLetterTarget {
    /// The dead-letter stream (subjects `<stream>.>`), ensured by the service.
    pub stream: StreamName,
    /// Replaces the original subject after `<stream>.` when set.
    pub routing_key: Option<RoutingKey>,
}

impl DeadLetterTarget {
    /// Checks a consumer's [`DeadLetter`] option for a stream-based transport: the
    /// destination must be a stream name that none of the service's streams and not the
    /// service itself uses (their subjects would overlap), the routing key a valid key.
    ///
    /// # Errors
    /// A sentence naming the bad value.
    pub fn for_streams<'a>(
        option: &DeadLetter,
        service: &ServiceName,
        streams: impl IntoIterator<Item = &'a StreamName>,
    ) -> Result<Self, String> {
        let stream = StreamName::new(option.destination.as_str())
            .map_err(|e| format!("dead_letter destination: {e}"))?;
        if stream.as_str() == service.as_str() {
            return Err(format!(
                "dead_letter stream {stream} is the service's own name: its subjects would capture the service's requests"
            ));
        }
        if streams.into_iter().any(|s| s == &stream) {
            return Err(format!(
                "dead_letter stream {stream} is a stream this service publishes or consumes; choose another (default {DEFAULT_DEAD_LETTER_STREAM})"
            ));
        }
        let routing_key = option
            .routing_key
            .as_deref()
            .map(RoutingKey::new)
            .transpose()
            .map_err(|e| format!("dead_letter_routing_key: {e}"))?;
        Ok(Self {
            stream,
            routing_key,
        })
    }

    /// The subject a message consumed from `original` is dead-lettered to:
    /// `<stream>.<original subject>`, or `<stream>.<routing key>` when one is set.
    #[must_use]
    pub fn subject(&self, original: &str) -> String {
        match &self.routing_key {
            Some(k) => format!("{}.{}", self.stream.as_str(), k.as_str()),
            None => format!("{}.{original}", self.stream.as_str()),
        }
    }
}

/// What a dead-lettered message carries about itself, as headers beside its original
/// ones (its body is unchanged).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadLetterRecord {
    /// Why.
    pub reason: DeadLetterReason,
    /// The last error, on one line, at most 1 024 characters.
    pub error: String,
    /// The subject it was consumed from.
    pub subject: String,
    /// The stream it was consumed from.
    pub stream: String,
    /// Its sequence there (0 when unknown).
    pub sequence: u64,
    /// The consumer that gave up.
    pub consumer: String,
    /// The service that gave up.
    pub service: String,
    /// Deliveries so far.
    pub deliveries: i64,
    /// When it was dead-lettered.
    pub time: OffsetDateTime,
}

impl DeadLetterRecord {
    /// A record made now. The error is flattened to one line (header values cannot hold
    /// CR or LF) and shortened.
    #[must_use]
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        reason: DeadLetterReason,
        error: &str,
        subject: &str,
        stream: &str,
        sequence: u64,
        consumer: &str,
        service: &str,
        deliveries: i64,
    ) -> Self {
        let error = error
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(MAX_ERROR_CHARS)
            .collect();
        Self {
            reason,
            error,
            subject: subject.to_owned(),
            stream: stream.to_owned(),
            sequence,
            consumer: consumer.to_owned(),
            service: service.to_owned(),
            deliveries,
            time: OffsetDateTime::now_utc(),
        }
    }

    /// The headers, in a fixed order.
    #[must_use]
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        vec![
            (DL_REASON, self.reason.as_str().to_owned()),
            (DL_ERROR, self.error.clone()),
            (DL_SUBJECT, self.subject.clone()),
            (DL_STREAM, self.stream.clone()),
            (DL_SEQUENCE, self.sequence.to_string()),
            (DL_CONSUMER, self.consumer.clone()),
            (DL_SERVICE, self.service.clone()),
            (DL_DELIVERIES, self.deliveries.to_string()),
            (
                DL_TIME,
                self.time.format(&Rfc3339).unwrap_or_else(|_| String::new()),
            ),
        ]
    }

    /// Reads a record back from a dead letter's headers (`get` looks one up by name).
    ///
    /// # Errors
    /// The name of the first header that is missing or malformed: the message is not a
    /// dead letter this library wrote.
    pub fn from_headers<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Self, String> {
        let need = |name: &'static str| get(name).ok_or_else(|| format!("missing header {name}"));
        fn bad<E>(name: &'static str) -> impl Fn(E) -> String {
            move |_| format!("malformed header {name}")
        }
        Ok(Self {
            reason: DeadLetterReason::parse(need(DL_REASON)?)
                .ok_or_else(|| format!("malformed header {DL_REASON}"))?,
            error: need(DL_ERROR)?.to_owned(),
            subject: need(DL_SUBJECT)?.to_owned(),
            stream: need(DL_STREAM)?.to_owned(),
            sequence: need(DL_SEQUENCE)?.parse().map_err(bad(DL_SEQUENCE))?,
            consumer: need(DL_CONSUMER)?.to_owned(),
            service: need(DL_SERVICE)?.to_owned(),
            deliveries: need(DL_DELIVERIES)?.parse().map_err(bad(DL_DELIVERIES))?,
            time: OffsetDateTime::parse(need(DL_TIME)?, &Rfc3339).map_err(bad(DL_TIME))?,
        })
    }

    /// A de-duplication id for the dead-letter publish, so a retried publish (after a
    /// lost ack or a crash) stores it once within the stream's duplicate window.
    #[must_use]
    pub fn message_id(&self) -> String {
        format!(
            "dl:{}:{}:{}:{}",
            self.stream, self.sequence, self.consumer, self.deliveries
        )
    }
}

/// True for the headers a replay removes.
#[must_use]
pub fn is_dead_letter_header(name: &str) -> bool {
    name.len() >= DEAD_LETTER_HEADER_PREFIX.len()
        && name[..DEAD_LETTER_HEADER_PREFIX.len()].eq_ignore_ascii_case(DEAD_LETTER_HEADER_PREFIX)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn svc() -> ServiceName {
        ServiceName::new("orders").expect("valid")
    }

    #[test]
    fn reasons_follow_the_outcome() {
        assert_eq!(DeadLetterReason::for_outcome(Outcome::Handled), None);
        assert_eq!(
            DeadLetterReason::for_outcome(Outcome::Failed(Disposition::Retry)),
            Some(DeadLetterReason::Exhausted)
        );
        assert_eq!(
            DeadLetterReason::for_outcome(Outcome::Panicked),
            Some(DeadLetterReason::Exhausted)
        );
        assert_eq!(
            DeadLetterReason::for_outcome(Outcome::Failed(Disposition::Reject)),
            Some(DeadLetterReason::Rejected)
        );
        assert_eq!(
            DeadLetterReason::for_outcome(Outcome::Undecodable),
            Some(DeadLetterReason::Undecodable)
        );
        for r in [
            DeadLetterReason::Exhausted,
            DeadLetterReason::Rejected,
            DeadLetterReason::Undecodable,
            DeadLetterReason::NoHandler,
        ] {
            assert_eq!(DeadLetterReason::parse(r.as_str()), Some(r));
        }
        assert_eq!(DeadLetterReason::parse("Exhausted"), None);
    }

    #[test]
    fn targets_are_checked_and_name_subjects() {
        let events = StreamName::new("events").expect("valid");
        let t = DeadLetterTarget::for_streams(
            &DeadLetter::new(DEFAULT_DEAD_LETTER_STREAM),
            &svc(),
            [&events],
        )
        .expect("valid target");
        assert_eq!(
            t.subject("events.Order.Created"),
            "DEAD_LETTERS.events.Order.Created"
        );
        let keyed = DeadLetter::new("dlq").with_routing_key("orders.failed");
        let t = DeadLetterTarget::for_streams(&keyed, &svc(), [&events]).expect("valid");
        assert_eq!(t.subject("events.Order.Created"), "dlq.orders.failed");

        for bad in [
            DeadLetter::new("events"),
            DeadLetter::new("orders"),
            DeadLetter::new("a.b"),
            DeadLetter::new(""),
            DeadLetter::new("dlq").with_routing_key("a.*"),
        ] {
            assert!(
                DeadLetterTarget::for_streams(&bad, &svc(), [&events]).is_err(),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn records_round_trip_through_headers() {
        let r = DeadLetterRecord::new(
            DeadLetterReason::Exhausted,
            "boom\r\nsecond line",
            "events.Order.Created",
            "events",
            42,
            "orders",
            "orders",
            5,
        );
        assert_eq!(r.error, "boom  second line");
        let headers: HashMap<&str, String> = r.headers().into_iter().collect();
        assert_eq!(headers[DL_SEQUENCE], "42");
        assert_eq!(headers[DL_REASON], "exhausted");
        let back = DeadLetterRecord::from_headers(|k| headers.get(k).map(String::as_str))
            .expect("round trip");
        // RFC 3339 keeps nanoseconds, so the time survives exactly too.
        assert_eq!(back, r);
        assert_eq!(r.message_id(), "dl:events:42:orders:5");

        let missing = DeadLetterRecord::from_headers(|k| {
            (k != DL_STREAM)
                .then(|| headers.get(k).map(String::as_str))
                .flatten()
        });
        assert_eq!(missing, Err(format!("missing header {DL_STREAM}")));
        assert!(is_dead_letter_header("X-Dead-Letter-Reason"));
        assert!(!is_dead_letter_header("ce-id"));
    }

    #[test]
    fn long_errors_are_shortened() {
        let long = "x".repeat(5000);
        let r = DeadLetterRecord::new(DeadLetterReason::Rejected, &long, "s", "t", 1, "c", "v", 1);
        assert_eq!(r.error.chars().count(), MAX_ERROR_CHARS);
    }
}
