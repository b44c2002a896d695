//! The library's checks of a topology, beyond the reference's: what `start()` refuses.
//!
//! Each name goes through the validated type the transports build from it, so a name
//! passes here exactly when it passes there: the service name through
//! [`ServiceName`], NATS streams through [`StreamName`], AMQP exchanges through
//! [`StreamName::from_exchange`] or the [`ServiceName`] they are named for, routing keys
//! through [`RoutingKey`] (publish) or [`RoutingPattern`] (consume), and a NATS durable
//! as `<service>` or `<service>-<suffix>` with a [`ConsumerSuffix`]. Directions, patterns,
//! exchange kinds and transports must be ones the library knows.
//!
//! What the Rust transports cannot do yet (queue publishing on NATS, wildcard request keys
//! on AMQP) is not checked: such topologies are valid exports of the Go and TypeScript
//! transports.

use std::collections::HashMap;
use std::fmt;

use messaging_spec::naming::{REQUEST_EXCHANGE_SUFFIX, RESPONSE_EXCHANGE_SUFFIX};
use messaging_spec::{
    ConsumerSuffix, Endpoint, EndpointDirection, ExchangeKind, Pattern, RoutingKey, RoutingPattern,
    ServiceName, StreamName, Topology, Transport, ValidationError, ValidationErrors,
};

use crate::input::{Input, Loaded, UnknownKey};

/// Something the library rejects that the reference rules accept.
#[derive(Debug, Clone)]
pub(crate) enum Violation {
    /// A key the topology format does not have.
    UnknownKey(UnknownKey),
    /// A transport other than `amqp` and `nats`.
    UnknownTransport(String),
    /// A direction, pattern or exchange kind outside the spec's lists.
    UnknownValue {
        /// Endpoint index.
        endpoint: usize,
        /// Which field.
        field: Field,
        /// Its value.
        value: String,
    },
    /// A name or routing key the library's validated types reject.
    Name {
        /// Endpoint index, or `None` for the service name.
        endpoint: Option<usize>,
        /// The type's own error.
        source: messaging_spec::Error,
    },
    /// A NATS durable consumer named for another service.
    ForeignDurable {
        /// Endpoint index.
        endpoint: usize,
        /// The durable (queue) name.
        queue: String,
        /// The topology's service.
        service: String,
    },
    /// A service whose topology an earlier input already gave.
    DuplicateService {
        /// The service name.
        service: String,
        /// The input that gave it first.
        first: Input,
    },
}

/// An endpoint field with a fixed list of values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    /// `direction`.
    Direction,
    /// `pattern`.
    Pattern,
    /// `exchangeKind`.
    ExchangeKind,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Self::Direction => "direction",
            Self::Pattern => "pattern",
            Self::ExchangeKind => "exchange kind",
        }
    }

    /// The values the library knows, quoted.
    fn known(self) -> String {
        let quoted = |s: &str| format!("{s:?}");
        let known: Vec<String> = match self {
            Self::Direction => EndpointDirection::KNOWN
                .iter()
                .map(|v| quoted(v.as_str()))
                .collect(),
            Self::Pattern => Pattern::KNOWN.iter().map(|v| quoted(v.as_str())).collect(),
            Self::ExchangeKind => ExchangeKind::KNOWN
                .iter()
                .map(|v| quoted(v.as_str()))
                .collect(),
        };
        known.join(", ")
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownKey(key) => key.fmt(f),
            Self::UnknownTransport(transport) => {
                let known: Vec<String> = Transport::KNOWN
                    .iter()
                    .map(|t| format!("{:?}", t.as_str()))
                    .collect();
                write!(
                    f,
                    "transport {transport:?} is unknown: use one of {}",
                    known.join(", ")
                )
            }
            Self::UnknownValue {
                endpoint,
                field,
                value,
            } => {
                let name = field.name();
                let known = field.known();
                let extra = if *field == Field::ExchangeKind {
                    " (\"\" only for queue-publish)"
                } else {
                    ""
                };
                write!(
                    f,
                    "endpoint[{endpoint}]: {name} {value:?} is unknown: use one of {known}{extra}"
                )
            }
            Self::Name {
                endpoint: Some(endpoint),
                source,
            } => write!(f, "endpoint[{endpoint}]: {source}"),
            Self::Name {
                endpoint: None,
                source,
            } => source.fmt(f),
            Self::ForeignDurable {
                endpoint,
                queue,
                service,
            } => {
                let suffixed = format!("{service}-<suffix>");
                write!(
                    f,
                    "endpoint[{endpoint}]: queue name {queue:?} is not a durable of service \
                     {service:?}: NATS durables are named {service:?} or {suffixed:?}"
                )
            }
            Self::DuplicateService { service, first } => write!(
                f,
                "service {service:?} already has a topology in {first}: give each service once"
            ),
        }
    }
}

/// What the library rejects in `topology` that `reference` (the reference's findings for
/// it) does not already report.
pub(crate) fn check(topology: &Topology, reference: &ValidationErrors) -> Vec<Violation> {
    if reference
        .iter()
        .any(|e| matches!(e, ValidationError::EmptyServiceName))
    {
        // The reference checks nothing else then; nor does the library, which would not start.
        return Vec::new();
    }
    let mut found = Vec::new();
    let transport = match &topology.transport {
        Some(Transport::Other(other)) => {
            found.push(Violation::UnknownTransport(other.clone()));
            None
        }
        known => known.as_ref(),
    };
    if let Err(source) = ServiceName::new(topology.service_name.as_str()) {
        found.push(Violation::Name {
            endpoint: None,
            source,
        });
    }
    let flagged: Vec<usize> = reference.iter().filter_map(endpoint_of).collect();
    for (i, ep) in topology.endpoints.iter().enumerate() {
        if !flagged.contains(&i) {
            check_endpoint(transport, &topology.service_name, i, ep, &mut found);
        }
    }
    found
}

/// The endpoint a reference finding is about.
fn endpoint_of(error: &ValidationError) -> Option<usize> {
    match error {
        ValidationError::EmptyExchangeName { endpoint }
        | ValidationError::MissingQueueName { endpoint }
        | ValidationError::MissingRoutingKey { endpoint, .. }
        | ValidationError::NatsWildcardInRoutingKey { endpoint }
        | ValidationError::AmqpSuffix { endpoint, .. }
        | ValidationError::NatsAmqpSuffix { endpoint, .. }
        | ValidationError::NatsWhitespace { endpoint, .. } => Some(*endpoint),
        _ => None,
    }
}

fn check_endpoint(
    transport: Option<&Transport>,
    service: &str,
    endpoint: usize,
    ep: &Endpoint,
    found: &mut Vec<Violation>,
) {
    let unknown = |field, value: &str| Violation::UnknownValue {
        endpoint,
        field,
        value: value.to_owned(),
    };
    let before = found.len();
    if matches!(ep.direction, EndpointDirection::Other(_)) {
        found.push(unknown(Field::Direction, ep.direction.as_str()));
    }
    if matches!(ep.pattern, Pattern::Other(_)) {
        found.push(unknown(Field::Pattern, ep.pattern.as_str()));
    }
    let kindless = ep.pattern == Pattern::QueuePublish && ep.exchange_kind == ExchangeKind::none();
    if matches!(ep.exchange_kind, ExchangeKind::Other(_)) && !kindless {
        found.push(unknown(Field::ExchangeKind, ep.exchange_kind.as_str()));
    }
    if found.len() > before {
        // Which names an endpoint carries depends on these.
        return;
    }
    let mut name = |checked: Result<(), messaging_spec::Error>| {
        if let Err(source) = checked {
            found.push(Violation::Name {
                endpoint: Some(endpoint),
                source,
            });
        }
    };
    if !ep.routing_key.is_empty() {
        // Publishers send one concrete key; consumers bind a pattern.
        name(match ep.direction {
            EndpointDirection::Publish => RoutingKey::new(ep.routing_key.as_str()).map(drop),
            _ => RoutingPattern::new(ep.routing_key.as_str()).map(drop),
        });
    }
    let exchange = ep.exchange_name.as_str();
    let stream = matches!(ep.pattern, Pattern::EventStream | Pattern::CustomStream);
    match transport {
        Some(Transport::Nats) => {
            if stream {
                name(StreamName::new(exchange).map(drop));
            } else if ep.pattern != Pattern::QueuePublish {
                // Requests and responses travel on the subjects of the service named.
                name(ServiceName::new(exchange).map(drop));
            }
            if ep.direction == EndpointDirection::Consume && !ep.ephemeral {
                check_durable(service, endpoint, ep, found);
            }
        }
        Some(Transport::Amqp) => match ep.pattern {
            _ if stream => name(StreamName::from_exchange(exchange).map(drop)),
            Pattern::ServiceRequest => name(service_of(exchange, REQUEST_EXCHANGE_SUFFIX)),
            Pattern::ServiceResponse => name(service_of(exchange, RESPONSE_EXCHANGE_SUFFIX)),
            _ => {}
        },
        _ => {}
    }
}

/// The service an AMQP request or response exchange is named for, validated.
fn service_of(exchange: &str, suffix: &str) -> Result<(), messaging_spec::Error> {
    ServiceName::new(exchange.strip_suffix(suffix).unwrap_or(exchange)).map(drop)
}

/// A NATS durable is `<service>` or `<service>-<suffix>`: the only names the library gives
/// the consumers it creates.
fn check_durable(service: &str, endpoint: usize, ep: &Endpoint, found: &mut Vec<Violation>) {
    let queue = ep.queue_name.as_str();
    if queue.is_empty() || queue == service {
        return;
    }
    match queue
        .strip_prefix(service)
        .and_then(|rest| rest.strip_prefix('-'))
    {
        Some(suffix) => {
            if let Err(source) = ConsumerSuffix::new(suffix) {
                found.push(Violation::Name {
                    endpoint: Some(endpoint),
                    source,
                });
            }
        }
        None => found.push(Violation::ForeignDurable {
            endpoint,
            queue: queue.to_owned(),
            service: service.to_owned(),
        }),
    }
}

/// Every topology whose service an earlier one already has, by index, with its violation.
pub(crate) fn duplicate_services(loaded: &[Loaded]) -> Vec<(usize, Violation)> {
    let mut first: HashMap<&str, &Input> = HashMap::new();
    let mut found = Vec::new();
    for (i, l) in loaded.iter().enumerate() {
        let service = l.topology.service_name.as_str();
        // An empty name is the reference's finding already.
        if service.is_empty() {
            continue;
        }
        match first.get(service) {
            Some(input) => found.push((
                i,
                Violation::DuplicateService {
                    service: service.to_owned(),
                    first: (*input).clone(),
                },
            )),
            None => {
                first.insert(service, &l.input);
            }
        }
    }
    found
}
