//! Exchange, queue and binding declarations, exactly as the Go reference makes them, so
//! Rust and Go instances of a service share queues without `PRECONDITION_FAILED`.
//!
//! | Resource | Flags | Arguments |
//! |---|---|---|
//! | exchange (`topic`, `direct`, `headers`) | durable, not auto-delete, not internal | none |
//! | queue | durable, not exclusive, not auto-delete | `x-queue-type`=`quorum` (`S`), `x-single-active-consumer` (`t`), `x-expires` (`I`: 432000000, or 1000 when transient), optional `x-dead-letter-exchange` / `x-dead-letter-routing-key` (`S`) |
//! | binding | | none; response bindings `{service: <caller>}` (`S`), no `x-match` |

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, ExchangeKind};
use messaging_spec::SERVICE_HEADER;

use crate::error::{Error, Result};

/// `x-expires` of a durable queue: five days in milliseconds (the reference's value).
pub(crate) const DURABLE_EXPIRES_MS: i32 = 432_000_000;
/// `x-expires` of a transient queue: gone a second after its last consumer.
pub(crate) const TRANSIENT_EXPIRES_MS: i32 = 1_000;

/// The largest name AMQP carries (a short string).
const MAX_NAME: usize = 255;

/// A name as an AMQP short string, or [`Error::NameTooLong`] (lapin panics on those).
pub(crate) fn short(what: &'static str, value: &str) -> Result<ShortString> {
    ShortString::try_new(value).map_err(|_| Error::NameTooLong {
        what,
        value: value.to_owned(),
        len: value.len(),
    })
}

/// Checks a name without converting it (plan time, before any I/O).
pub(crate) fn check_name(what: &'static str, value: &str) -> Result<()> {
    if value.len() > MAX_NAME {
        return Err(Error::NameTooLong {
            what,
            value: value.to_owned(),
            len: value.len(),
        });
    }
    Ok(())
}

/// The kind of an exchange we declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Kind {
    Topic,
    Direct,
    Headers,
}

impl Kind {
    fn lapin(self) -> ExchangeKind {
        match self {
            Self::Topic => ExchangeKind::Topic,
            Self::Direct => ExchangeKind::Direct,
            Self::Headers => ExchangeKind::Headers,
        }
    }
}

/// An exchange to declare.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ExchangeSpec {
    pub(crate) name: String,
    pub(crate) kind: Kind,
}

impl ExchangeSpec {
    pub(crate) fn new(name: impl Into<String>, kind: Kind) -> Self {
        Self {
            name: name.into(),
            kind,
        }
    }

    /// Durable, not auto-delete, not internal, no arguments.
    pub(crate) async fn declare(&self, channel: &Channel) -> Result<()> {
        let what = || format!("exchange {}", self.name);
        channel
            .exchange_declare(
                short("exchange", &self.name)?,
                self.kind.lapin(),
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| Error::declare(what(), e))
    }
}

/// A queue to declare, with the options that change its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueueSpec {
    pub(crate) name: String,
    pub(crate) transient: bool,
    pub(crate) single_active_consumer: bool,
    pub(crate) dead_letter_exchange: Option<String>,
    pub(crate) dead_letter_routing_key: Option<String>,
}

fn long(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

impl QueueSpec {
    pub(crate) fn new(name: impl Into<String>, transient: bool) -> Self {
        Self {
            name: name.into(),
            transient,
            single_active_consumer: true,
            dead_letter_exchange: None,
            dead_letter_routing_key: None,
        }
    }

    /// The queue arguments, with the AMQP types the reference puts on the wire.
    pub(crate) fn arguments(&self) -> FieldTable {
        let mut args = FieldTable::default();
        args.insert("x-queue-type".into(), long("quorum"));
        args.insert(
            "x-single-active-consumer".into(),
            AMQPValue::Boolean(self.single_active_consumer),
        );
        let expires = if self.transient {
            TRANSIENT_EXPIRES_MS
        } else {
            DURABLE_EXPIRES_MS
        };
        args.insert("x-expires".into(), AMQPValue::LongInt(expires));
        if let Some(x) = &self.dead_letter_exchange {
            args.insert("x-dead-letter-exchange".into(), long(x));
        }
        if let Some(k) = &self.dead_letter_routing_key {
            args.insert("x-dead-letter-routing-key".into(), long(k));
        }
        args
    }

    /// Durable, not exclusive, not auto-delete (quorum queues allow nothing else).
    pub(crate) async fn declare(&self, channel: &Channel) -> Result<()> {
        let what = || format!("queue {}", self.name);
        channel
            .queue_declare(
                short("queue", &self.name)?,
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                self.arguments(),
            )
            .await
            .map(drop)
            .map_err(|e| Error::declare(what(), e))
    }
}

/// A binding of a queue to an exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BindingSpec {
    pub(crate) queue: String,
    pub(crate) exchange: String,
    pub(crate) routing_key: String,
    /// For response bindings on a headers exchange: the caller, matched on `service`.
    pub(crate) service: Option<String>,
}

impl BindingSpec {
    /// No arguments, or `{service: <caller>}` (no `x-match`: the broker's `all` applies,
    /// and with one key `all` and `any` agree).
    pub(crate) fn arguments(&self) -> FieldTable {
        let mut args = FieldTable::default();
        if let Some(s) = &self.service {
            args.insert(SERVICE_HEADER.into(), long(s));
        }
        args
    }

    pub(crate) async fn declare(&self, channel: &Channel) -> Result<()> {
        let what = || {
            format!(
                "binding of queue {} to exchange {} with routing key {:?}",
                self.queue, self.exchange, self.routing_key
            )
        };
        channel
            .queue_bind(
                short("queue", &self.queue)?,
                short("exchange", &self.exchange)?,
                short("routing key", &self.routing_key)?,
                QueueBindOptions::default(),
                self.arguments(),
            )
            .await
            .map_err(|e| Error::declare(what(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(t: &'a FieldTable, k: &str) -> Option<&'a AMQPValue> {
        t.inner().get(k)
    }

    #[test]
    fn durable_queue_arguments_are_the_reference_set() {
        let q = QueueSpec::new("events.topic.exchange.queue.orders", false);
        let args = q.arguments();
        assert_eq!(args.inner().len(), 3);
        assert_eq!(get(&args, "x-queue-type"), Some(&long("quorum")));
        assert_eq!(
            get(&args, "x-single-active-consumer"),
            Some(&AMQPValue::Boolean(true))
        );
        assert_eq!(
            get(&args, "x-expires"),
            Some(&AMQPValue::LongInt(432_000_000))
        );
    }

    #[test]
    fn transient_and_dead_letter_arguments() {
        let mut q = QueueSpec::new("q", true);
        q.single_active_consumer = false;
        q.dead_letter_exchange = Some("dlx".into());
        q.dead_letter_routing_key = Some("dead".into());
        let args = q.arguments();
        assert_eq!(args.inner().len(), 5);
        assert_eq!(get(&args, "x-expires"), Some(&AMQPValue::LongInt(1000)));
        assert_eq!(
            get(&args, "x-single-active-consumer"),
            Some(&AMQPValue::Boolean(false))
        );
        assert_eq!(get(&args, "x-dead-letter-exchange"), Some(&long("dlx")));
        assert_eq!(get(&args, "x-dead-letter-routing-key"), Some(&long("dead")));
    }

    #[test]
    fn response_bindings_match_on_the_caller_only() {
        let b = BindingSpec {
            queue: "t.headers.exchange.response.queue.c".into(),
            exchange: "t.headers.exchange.response".into(),
            routing_key: "k".into(),
            service: Some("c".into()),
        };
        let args = b.arguments();
        assert_eq!(args.inner().len(), 1);
        assert_eq!(get(&args, "service"), Some(&long("c")));
        let plain = BindingSpec { service: None, ..b };
        assert!(plain.arguments().inner().is_empty());
    }

    #[test]
    fn long_names_are_errors_not_panics() {
        let long_name = "x".repeat(256);
        assert!(matches!(
            short("queue", &long_name),
            Err(Error::NameTooLong { len: 256, .. })
        ));
        assert!(short("queue", &"x".repeat(255)).is_ok());
        assert!(check_name("queue", &long_name).is_err());
    }
}
