//! Topology validation: one service's internal rules, and cross-service publisher matching.
//!
//! [`validate`] and [`validate_topologies`] reproduce the Go reference byte for byte,
//! quirks included, because the fixtures and other implementations compare error text.
//! The reference requires a routing key on publish endpoints, yet every transport exports
//! publishers without one; [`validate_for_export`] and [`validate_topologies_for_export`]
//! accept such topologies.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use crate::naming::{
    AMQP_EXCHANGE_SUFFIXES, REQUEST_EXCHANGE_SUFFIX, RESPONSE_EXCHANGE_SUFFIX,
    TOPIC_EXCHANGE_SUFFIX,
};
use crate::quote::go_quote;
use crate::topology::{Endpoint, EndpointDirection, ExchangeKind, Pattern, Topology, Transport};

/// One validation failure. `Display` is the Go reference's exact text.
///
/// `endpoint` fields are indexes into [`Topology::endpoints`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The topology has no service name (no endpoint is checked then).
    #[error("service name must not be empty")]
    EmptyServiceName,
    /// An endpoint has no exchange name.
    #[error("endpoint[{endpoint}]: exchange name must not be empty")]
    EmptyExchangeName {
        /// Endpoint index.
        endpoint: usize,
    },
    /// A durable consume endpoint has no queue name.
    #[error("endpoint[{endpoint}]: consume endpoint must have a queue name")]
    MissingQueueName {
        /// Endpoint index.
        endpoint: usize,
    },
    /// An endpoint on a non-headers exchange has no routing key. An empty kind prints as
    /// two spaces (`for  exchange`), as in Go.
    #[error("endpoint[{endpoint}]: routing key must not be empty for {kind} exchange")]
    MissingRoutingKey {
        /// Endpoint index.
        endpoint: usize,
        /// The endpoint's exchange kind, printed verbatim.
        kind: ExchangeKind,
    },
    /// A routing key contains `>`, the NATS multi-level wildcard; topologies use `#`.
    #[error(
        "endpoint[{endpoint}]: routing key must not contain '>' (use '#' for multi-level wildcard)"
    )]
    NatsWildcardInRoutingKey {
        /// Endpoint index.
        endpoint: usize,
    },
    /// An AMQP exchange name lacks the suffix its kind requires.
    #[error(
        "endpoint[{endpoint}]: {kind} exchange {} must end with {}",
        go_quote(.exchange),
        amqp_suffix_for(.kind)
    )]
    AmqpSuffix {
        /// Endpoint index.
        endpoint: usize,
        /// Topic, direct or headers.
        kind: ExchangeKind,
        /// The offending exchange name (may be empty).
        exchange: String,
    },
    /// A NATS exchange (stream or service) name ends with an AMQP suffix.
    #[error(
        "endpoint[{endpoint}]: NATS exchange {} must not use AMQP suffix {}",
        go_quote(.exchange),
        go_quote(.suffix)
    )]
    NatsAmqpSuffix {
        /// Endpoint index.
        endpoint: usize,
        /// The offending exchange name.
        exchange: String,
        /// The first AMQP suffix found, testing topic, direct, headers in that order.
        suffix: &'static str,
    },
    /// A NATS exchange name contains a space, tab, LF or CR.
    #[error("endpoint[{endpoint}]: NATS exchange {} must not contain whitespace", go_quote(.exchange))]
    NatsWhitespace {
        /// Endpoint index.
        endpoint: usize,
        /// The offending exchange name.
        exchange: String,
    },
    /// A service's own validation failed (cross validation). Only the first line of the
    /// inner errors carries the `service "<name>": ` prefix.
    #[error("service {}: {errors}", go_quote(.service))]
    InService {
        /// The service name (may be empty).
        service: String,
        /// What [`validate`] reported for it.
        errors: ValidationErrors,
    },
    /// A consumer of an exact routing key has no publisher of that key on its exchange.
    #[error(
        "service {} consumes {} on exchange {} but no service publishes it",
        go_quote(.service),
        go_quote(.routing_key),
        go_quote(.exchange)
    )]
    NoPublisher {
        /// The consuming service.
        service: String,
        /// The consumed routing key.
        routing_key: String,
        /// The exchange it consumes from.
        exchange: String,
    },
}

fn amqp_suffix_for(kind: &ExchangeKind) -> &'static str {
    match kind {
        ExchangeKind::Topic => TOPIC_EXCHANGE_SUFFIX,
        ExchangeKind::Direct => REQUEST_EXCHANGE_SUFFIX,
        ExchangeKind::Headers => RESPONSE_EXCHANGE_SUFFIX,
        _ => "",
    }
}

/// All failures of one validation call, in the reference's order. `Display` joins them
/// with `\n`, like Go's `errors.Join`.
///
/// ```
/// use messaging_spec::{Topology, validate};
/// let err = validate(&Topology::default()).unwrap_err();
/// assert_eq!(err.to_string(), "service name must not be empty");
/// assert_eq!(err.len(), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl ValidationErrors {
    /// The failures, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, ValidationError> {
        self.0.iter()
    }

    /// How many failures (a nested [`ValidationError::InService`] counts as one).
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no failures.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The full text split on `\n`: one entry per line Go would print.
    #[must_use]
    pub fn lines(&self) -> Vec<String> {
        self.to_string().split('\n').map(str::to_owned).collect()
    }

    fn into_result(self) -> Result<(), Self> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl<'a> IntoIterator for &'a ValidationErrors {
    type Item = &'a ValidationError;
    type IntoIter = std::slice::Iter<'a, ValidationError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl IntoIterator for ValidationErrors {
    type Item = ValidationError;
    type IntoIter = std::vec::IntoIter<ValidationError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// Which rule set to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rules {
    /// The Go reference, exactly.
    Reference,
    /// Publish endpoints may omit the routing key (they publish any key), and
    /// service-response consumers need no declared publisher.
    Export,
}

/// Checks one service's topology with the Go reference's rules and texts.
///
/// Publish endpoints need a routing key unless their exchange kind is `headers`, so the
/// topologies transports export (publishers carry no routing key) fail here; use
/// [`validate_for_export`] for those.
///
/// # Errors
/// Every rule violation, in endpoint order. An empty service name is the only error then.
///
/// ```
/// use messaging_spec::{Endpoint, EndpointDirection, ExchangeKind, Pattern, Topology, Transport, validate};
/// let t = Topology::new(Some(Transport::Nats), "orders").with_endpoint(
///     Endpoint::new(EndpointDirection::Consume, Pattern::EventStream, "events.topic.exchange", ExchangeKind::Topic)
///         .with_routing_key("Order.Created"),
/// );
/// let err = validate(&t).unwrap_err();
/// assert_eq!(err.lines(), [
///     "endpoint[0]: consume endpoint must have a queue name",
///     r#"endpoint[0]: NATS exchange "events.topic.exchange" must not use AMQP suffix ".topic.exchange""#,
/// ]);
/// ```
pub fn validate(t: &Topology) -> Result<(), ValidationErrors> {
    check_service(t, Rules::Reference).into_result()
}

/// [`validate`] for topologies exported by transports: a publish endpoint without a routing
/// key is accepted (it stands for every key it may publish). All other rules and texts are
/// the reference's.
///
/// # Errors
/// Every remaining rule violation, in endpoint order.
///
/// ```
/// use messaging_spec::{Endpoint, EndpointDirection, ExchangeKind, Pattern, Topology, Transport};
/// use messaging_spec::{validate, validate_for_export};
/// let t = Topology::new(Some(Transport::Nats), "orders").with_endpoint(
///     Endpoint::new(EndpointDirection::Publish, Pattern::EventStream, "events", ExchangeKind::Topic),
/// );
/// assert!(validate(&t).is_err());
/// assert!(validate_for_export(&t).is_ok());
/// ```
pub fn validate_for_export(t: &Topology) -> Result<(), ValidationErrors> {
    check_service(t, Rules::Export).into_result()
}

/// Validates every topology, then checks that each exact-key consumer has a publisher of
/// that key on the same exchange, within the same transport (Go's `ValidateTopologies`).
///
/// Transport groups are checked in sorted order (an absent transport first), so the output
/// is deterministic where Go's group order is random.
///
/// # Errors
/// First one [`ValidationError::InService`] per failing topology, in input order; then one
/// [`ValidationError::NoPublisher`] per unmatched consumer.
///
/// ```
/// use messaging_spec::{Endpoint, EndpointDirection, ExchangeKind, Pattern, Topology, validate_topologies};
/// let consumer = Topology::new(None, "billing").with_endpoint(
///     Endpoint::new(EndpointDirection::Consume, Pattern::EventStream, "events.topic.exchange", ExchangeKind::Topic)
///         .with_queue_name("events.topic.exchange.queue.billing")
///         .with_routing_key("Order.Created"),
/// );
/// let err = validate_topologies(&[consumer]).unwrap_err();
/// assert_eq!(err.to_string(),
///     r#"service "billing" consumes "Order.Created" on exchange "events.topic.exchange" but no service publishes it"#);
/// ```
pub fn validate_topologies(ts: &[Topology]) -> Result<(), ValidationErrors> {
    check_all(ts, Rules::Reference).into_result()
}

/// [`validate_topologies`] for topologies exported by transports.
///
/// Each topology is checked with [`validate_for_export`]. A publish endpoint without a
/// routing key satisfies every consumer on its exchange, and service-response consumers
/// are not matched, because no transport declares the response publisher as an endpoint.
///
/// # Errors
/// As [`validate_topologies`].
pub fn validate_topologies_for_export(ts: &[Topology]) -> Result<(), ValidationErrors> {
    check_all(ts, Rules::Export).into_result()
}

fn check_all(ts: &[Topology], rules: Rules) -> ValidationErrors {
    let mut errors: Vec<ValidationError> = ts
        .iter()
        .filter_map(|t| {
            let errs = check_service(t, rules);
            (!errs.is_empty()).then(|| ValidationError::InService {
                service: t.service_name.clone(),
                errors: errs,
            })
        })
        .collect();

    // Go groups by the transport string; `None` and an empty `Other` are the same group.
    let mut groups: BTreeMap<&str, Vec<&Topology>> = BTreeMap::new();
    for t in ts {
        groups.entry(transport_key(t)).or_default().push(t);
    }
    for group in groups.values() {
        cross_check(group, rules, &mut errors);
    }
    ValidationErrors(errors)
}

fn transport_key(t: &Topology) -> &str {
    t.transport.as_ref().map_or("", Transport::as_str)
}

fn cross_check(group: &[&Topology], rules: Rules, errors: &mut Vec<ValidationError>) {
    let mut published: HashSet<(&str, &str)> = HashSet::new();
    let mut any_key: HashSet<&str> = HashSet::new();
    for ep in group.iter().flat_map(|t| &t.endpoints) {
        if ep.direction != EndpointDirection::Publish {
            continue;
        }
        if !ep.routing_key.is_empty() {
            published.insert((&ep.exchange_name, &ep.routing_key));
        } else if rules == Rules::Export {
            any_key.insert(&ep.exchange_name);
        }
    }

    for t in group {
        for ep in &t.endpoints {
            if ep.direction != EndpointDirection::Consume
                || ep.routing_key.is_empty()
                || ep.routing_key.contains(['#', '*', '>'])
                || (rules == Rules::Export && ep.pattern == Pattern::ServiceResponse)
            {
                continue;
            }
            let key = (ep.exchange_name.as_str(), ep.routing_key.as_str());
            if !published.contains(&key) && !any_key.contains(key.0) {
                errors.push(ValidationError::NoPublisher {
                    service: t.service_name.clone(),
                    routing_key: ep.routing_key.clone(),
                    exchange: ep.exchange_name.clone(),
                });
            }
        }
    }
}

fn check_service(t: &Topology, rules: Rules) -> ValidationErrors {
    if t.service_name.is_empty() {
        return ValidationErrors(vec![ValidationError::EmptyServiceName]);
    }
    let mut errors = Vec::new();
    for (i, ep) in t.endpoints.iter().enumerate() {
        check_endpoint(t.transport.as_ref(), i, ep, rules, &mut errors);
    }
    ValidationErrors(errors)
}

fn check_endpoint(
    transport: Option<&Transport>,
    endpoint: usize,
    ep: &Endpoint,
    rules: Rules,
    errors: &mut Vec<ValidationError>,
) {
    if ep.exchange_name.is_empty() {
        errors.push(ValidationError::EmptyExchangeName { endpoint });
    }
    if ep.direction == EndpointDirection::Consume && ep.queue_name.is_empty() && !ep.ephemeral {
        errors.push(ValidationError::MissingQueueName { endpoint });
    }
    let exempt_publisher = rules == Rules::Export && ep.direction == EndpointDirection::Publish;
    if ep.routing_key.is_empty() && ep.exchange_kind != ExchangeKind::Headers && !exempt_publisher {
        errors.push(ValidationError::MissingRoutingKey {
            endpoint,
            kind: ep.exchange_kind.clone(),
        });
    }
    if ep.routing_key.contains('>') {
        errors.push(ValidationError::NatsWildcardInRoutingKey { endpoint });
    }
    let name = &ep.exchange_name;
    match transport {
        Some(Transport::Amqp) => {
            let required = amqp_suffix_for(&ep.exchange_kind);
            if !required.is_empty() && !name.ends_with(required) {
                errors.push(ValidationError::AmqpSuffix {
                    endpoint,
                    kind: ep.exchange_kind.clone(),
                    exchange: name.clone(),
                });
            }
        }
        Some(Transport::Nats) => {
            if let Some(suffix) = AMQP_EXCHANGE_SUFFIXES
                .into_iter()
                .find(|s| name.ends_with(s))
            {
                errors.push(ValidationError::NatsAmqpSuffix {
                    endpoint,
                    exchange: name.clone(),
                    suffix,
                });
            } else if name.contains([' ', '\t', '\n', '\r']) {
                errors.push(ValidationError::NatsWhitespace {
                    endpoint,
                    exchange: name.clone(),
                });
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(kind: ExchangeKind, name: &str) -> Endpoint {
        Endpoint::new(EndpointDirection::Publish, Pattern::EventStream, name, kind)
    }

    #[test]
    fn empty_kind_prints_two_spaces() {
        let t = Topology::new(None, "svc").with_endpoint(ep(ExchangeKind::none(), "x"));
        let err = validate(&t).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("endpoint[0]: routing key must not be empty for  exchange")
        );
    }

    #[test]
    fn checks_run_in_reference_order_even_with_empty_name() {
        let mut e = ep(ExchangeKind::Topic, "");
        e.direction = EndpointDirection::Consume;
        e.routing_key = "a.>".into();
        let t = Topology::new(Some(Transport::Amqp), "svc").with_endpoint(e);
        let err = validate(&t).err().unwrap_or_default();
        assert_eq!(
            err.0,
            vec![
                ValidationError::EmptyExchangeName { endpoint: 0 },
                ValidationError::MissingQueueName { endpoint: 0 },
                ValidationError::NatsWildcardInRoutingKey { endpoint: 0 },
                ValidationError::AmqpSuffix {
                    endpoint: 0,
                    kind: ExchangeKind::Topic,
                    exchange: String::new(),
                },
            ]
        );
        assert_eq!(
            err.lines()[3],
            r#"endpoint[0]: topic exchange "" must end with .topic.exchange"#
        );
    }

    #[test]
    fn empty_service_name_skips_endpoints() {
        let t = Topology::new(Some(Transport::Nats), "").with_endpoint(ep(ExchangeKind::Topic, ""));
        let err = validate(&t).err().unwrap_or_default();
        assert_eq!(err.0, vec![ValidationError::EmptyServiceName]);
    }

    #[test]
    fn nats_suffix_wins_over_whitespace_and_only_four_whitespace_chars_count() {
        let mut e = ep(ExchangeKind::Headers, "my stream.headers.exchange.response");
        e.routing_key = "k".into();
        let t = Topology::new(Some(Transport::Nats), "svc").with_endpoint(e);
        let err = validate(&t).err().unwrap_or_default();
        assert_eq!(
            err.to_string(),
            r#"endpoint[0]: NATS exchange "my stream.headers.exchange.response" must not use AMQP suffix ".headers.exchange.response""#
        );

        for (name, bad) in [
            ("a b", true),
            ("a\tb", true),
            ("a\nb", true),
            ("a\rb", true),
            ("a\u{b}b", false),
            ("a\u{a0}b", false),
        ] {
            let mut e = ep(ExchangeKind::Topic, name);
            e.routing_key = "k".into();
            let t = Topology::new(Some(Transport::Nats), "svc").with_endpoint(e);
            let got = validate(&t).err().map(|e| e.0);
            let want = bad.then(|| {
                vec![ValidationError::NatsWhitespace {
                    endpoint: 0,
                    exchange: name.to_owned(),
                }]
            });
            assert_eq!(got, want, "name {name:?}");
        }
        let mut e = ep(ExchangeKind::Topic, "a\tb");
        e.routing_key = "k".into();
        let t = Topology::new(Some(Transport::Nats), "svc").with_endpoint(e);
        assert_eq!(
            validate(&t).err().map(|e| e.to_string()).as_deref(),
            Some(r#"endpoint[0]: NATS exchange "a\tb" must not contain whitespace"#)
        );
    }

    #[test]
    fn unknown_transport_skips_naming_rules() {
        let mut e = ep(ExchangeKind::Topic, "events");
        e.routing_key = "k".into();
        let t = Topology::new(Some(Transport::from("kafka")), "svc").with_endpoint(e);
        assert_eq!(validate(&t), Ok(()));
    }

    #[test]
    fn service_prefix_only_on_first_line() {
        let t = Topology::new(None, "svc")
            .with_endpoint(ep(ExchangeKind::Topic, "a"))
            .with_endpoint(ep(ExchangeKind::Direct, "b"));
        let err = validate_topologies(&[t]).err().unwrap_or_default();
        assert_eq!(err.len(), 1);
        assert_eq!(
            err.lines(),
            [
                r#"service "svc": endpoint[0]: routing key must not be empty for topic exchange"#,
                "endpoint[1]: routing key must not be empty for direct exchange",
            ]
        );
    }

    fn consumer(svc: &str, transport: Option<Transport>, exchange: &str, rk: &str) -> Topology {
        Topology::new(transport, svc).with_endpoint(
            Endpoint::new(
                EndpointDirection::Consume,
                Pattern::EventStream,
                exchange,
                ExchangeKind::Topic,
            )
            .with_queue_name(svc)
            .with_routing_key(rk),
        )
    }

    #[test]
    fn cross_groups_are_sorted_and_never_mix() {
        let ts = [
            consumer("n", Some(Transport::Nats), "events", "A"),
            consumer("a", Some(Transport::Amqp), "events", "A"),
            consumer("none", None, "events", "A"),
            consumer("empty", Some(Transport::from("")), "events", "A"),
            Topology::new(Some(Transport::Nats), "p")
                .with_endpoint(ep(ExchangeKind::Topic, "events").with_routing_key("A")),
        ];
        let err = validate_topologies(&ts).err().unwrap_or_default();
        let services: Vec<String> = err
            .iter()
            .map(|e| match e {
                ValidationError::NoPublisher { service, .. } => service.clone(),
                ValidationError::InService { service, .. } => format!("in:{service}"),
                _ => "?".to_owned(),
            })
            .collect();
        // The AMQP consumer also breaks the suffix rule; service errors come first.
        assert_eq!(services, ["in:a", "none", "empty", "a"]);
    }

    #[test]
    fn export_rules_accept_keyless_publishers() {
        let publisher = Topology::new(Some(Transport::Nats), "orders")
            .with_endpoint(ep(ExchangeKind::Topic, "events"));
        let response = Topology::new(Some(Transport::Amqp), "web").with_endpoint(
            Endpoint::new(
                EndpointDirection::Consume,
                Pattern::ServiceResponse,
                "email.headers.exchange.response",
                ExchangeKind::Headers,
            )
            .with_queue_name("q")
            .with_routing_key("email.send"),
        );
        let ts = [
            publisher.clone(),
            consumer("billing", Some(Transport::Nats), "events", "Order.Created"),
            response,
        ];
        assert_eq!(validate_topologies_for_export(&ts), Ok(()));
        let strict = validate_topologies(&ts).err().unwrap_or_default();
        assert_eq!(strict.len(), 3);
        assert!(matches!(strict.0[0], ValidationError::InService { .. }));

        let ts = [
            consumer("billing", Some(Transport::Nats), "audit", "Order.Created"),
            publisher,
        ];
        assert_eq!(
            validate_topologies_for_export(&ts).err().map(|e| e.0),
            Some(vec![ValidationError::NoPublisher {
                service: "billing".into(),
                routing_key: "Order.Created".into(),
                exchange: "audit".into(),
            }])
        );
    }
}
