//! Turns registrations into a validated plan, with no I/O: names, patterns, option
//! conflicts, overlapping keys and what the transport cannot do are all checked before
//! the broker is touched. Every transport starts from this plan.

use std::collections::BTreeMap;
use std::sync::Arc;

use messaging_spec::{
    ConsumerSuffix, DEFAULT_EVENT_EXCHANGE_NAME, EndpointDirection, Pattern, RoutingPattern,
    RoutingTable, ServiceName, SetupIntent, StreamName, Topology, Transport, endpoints_for_intent,
};

use crate::erased::{ErasedEvent, ErasedRequest};
use crate::error::{Error, Result};
use crate::options::ConsumerOptions;
use crate::setup::{Setup, SetupKind, TargetSpec};
use crate::target::PublishTarget;

mod options;

use options::{effective, merge_explicit, unsupported};

/// What a transport can do, so the plan rejects the rest before any I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rules {
    /// The transport named in the topology.
    pub transport: Transport,
    /// The transport's name in error messages.
    pub name: &'static str,
    /// True when all transient registrations on a stream share one consumer (NATS: one
    /// ephemeral consumer); false when each gets its own (AMQP: one UUID queue each).
    pub shared_transients: bool,
    /// Queue publishers (sender-selected distribution) exist.
    pub queue_publish: bool,
    /// The start positions [`New`](crate::StartAt::New) and
    /// [`Last`](crate::StartAt::Last) can be honoured ([`All`](crate::StartAt::All) always
    /// can).
    pub start_positions: bool,
    /// The further start positions can be honoured:
    /// [`LastPerSubject`](crate::StartAt::LastPerSubject),
    /// [`Sequence`](crate::StartAt::Sequence) and [`Time`](crate::StartAt::Time).
    pub extended_start_positions: bool,
    /// The consumer settings a JetStream server keeps exist: `replay` (other than
    /// instant), `max_ack_pending`, `inactive_threshold`, `idle_heartbeat`, `max_batch`,
    /// `max_bytes` and `max_expires`.
    pub server_consumer_settings: bool,
    /// Queue arguments (single active consumer) exist.
    pub queue_arguments: bool,
    /// Messages given up on can be dead-lettered.
    pub dead_letter: bool,
    /// Consumers can filter duplicates by `ce-id` (in process, and shared when
    /// `shared_dedup`).
    pub dedup: bool,
    /// The transport has a shared store for duplicate filters.
    pub shared_dedup: bool,
    /// Request keys may be wildcards (NATS subjects can; AMQP direct exchanges cannot).
    pub wildcard_requests: bool,
}

impl Rules {
    /// NATS (JetStream and Core NATS).
    #[must_use]
    pub fn nats() -> Self {
        Self {
            transport: Transport::Nats,
            name: "NATS",
            shared_transients: true,
            queue_publish: false,
            start_positions: true,
            extended_start_positions: true,
            server_consumer_settings: true,
            queue_arguments: false,
            dead_letter: true,
            dedup: true,
            shared_dedup: true,
            wildcard_requests: true,
        }
    }

    /// AMQP 0-9-1 (RabbitMQ).
    #[must_use]
    pub fn amqp() -> Self {
        Self {
            transport: Transport::Amqp,
            name: "AMQP",
            shared_transients: false,
            queue_publish: true,
            start_positions: false,
            extended_start_positions: false,
            server_consumer_settings: false,
            queue_arguments: true,
            dead_letter: true,
            dedup: true,
            shared_dedup: false,
            wildcard_requests: false,
        }
    }

    fn transport_name(&self) -> &str {
        self.name
    }
}

/// A handler bound to its pattern.
#[derive(Clone)]
#[non_exhaustive]
pub struct Route<H: ?Sized> {
    /// The registered pattern.
    pub pattern: RoutingPattern,
    /// Its handler.
    pub handler: Arc<H>,
}

/// One broker-side consumer: all registrations of a service on one stream with the same
/// suffix share it (a JetStream durable, or an AMQP queue), as in the reference.
#[non_exhaustive]
pub struct ConsumerGroup {
    /// The stream (exchange base name).
    pub stream: StreamName,
    /// The suffix of a durable consumer (and of an AMQP transient queue).
    pub suffix: Option<ConsumerSuffix>,
    /// True for a transient consumer.
    pub transient: bool,
    /// The handlers by pattern, most specific first.
    pub routes: RoutingTable<Route<dyn ErasedEvent>>,
    /// The effective options (registrations over the connection's defaults).
    pub options: ConsumerOptions,
    /// Explicit options seen so far, to detect conflicts.
    explicit: ConsumerOptions,
    /// Index of the group's first registration, named when its effective options fail.
    first: usize,
}

/// A request handler of this service.
#[non_exhaustive]
pub struct RequestRoute {
    /// The key and handler.
    pub route: Route<dyn ErasedRequest>,
    /// The effective options.
    pub options: ConsumerOptions,
}

/// A handler for the replies of another service.
#[non_exhaustive]
pub struct ResponseRoute {
    /// The service that replies.
    pub target: ServiceName,
    /// The key and handler.
    pub route: Route<dyn ErasedEvent>,
}

/// Every registration of a service, validated, grouped and with its topology.
#[non_exhaustive]
pub struct Plan {
    /// The service.
    pub service: ServiceName,
    /// Its topology, as the reference exports it for this transport.
    pub topology: Topology,
    /// Every stream a publisher or consumer uses, by name.
    pub streams: BTreeMap<String, StreamName>,
    /// The publishers, in registration order.
    pub publishers: Vec<PublishTarget>,
    /// The stream consumers.
    pub groups: Vec<ConsumerGroup>,
    /// The request handlers.
    pub requests: Vec<RequestRoute>,
    /// The response handlers.
    pub responses: Vec<ResponseRoute>,
}

fn invalid(index: usize, setup: &Setup, reason: impl Into<String>) -> Error {
    Error::InvalidRegistration {
        index,
        registration: format!("{setup:?}"),
        reason: reason.into(),
        source: None,
    }
}

fn invalid_spec(index: usize, setup: &Setup, e: messaging_spec::Error) -> Error {
    Error::InvalidRegistration {
        index,
        registration: format!("{setup:?}"),
        reason: e.to_string(),
        source: Some(e),
    }
}

fn stream_of(raw: Option<&str>) -> std::result::Result<StreamName, messaging_spec::Error> {
    StreamName::from_exchange(raw.unwrap_or(DEFAULT_EVENT_EXCHANGE_NAME))
}

fn stream_pattern(stream: &StreamName) -> Pattern {
    if stream.as_str() == DEFAULT_EVENT_EXCHANGE_NAME {
        Pattern::EventStream
    } else {
        Pattern::CustomStream
    }
}

fn stream_intent(stream: &StreamName, direction: EndpointDirection) -> SetupIntent {
    let pattern = stream_pattern(stream);
    let mut intent = SetupIntent::new(pattern.clone(), direction);
    if pattern == Pattern::CustomStream {
        intent.exchange = stream.as_str().to_owned();
    }
    intent
}

/// Validates every registration and builds the plan for a transport with `rules`.
///
/// # Errors
/// [`Error::InvalidRegistration`] naming the first registration that cannot work, or
/// [`Error::InvalidConfig`] for invalid consumer defaults.
pub fn plan(
    rules: &Rules,
    service: &str,
    setups: &[Setup],
    consumer_defaults: &ConsumerOptions,
) -> Result<Plan> {
    let service = ServiceName::new(service).map_err(Error::Spec)?;
    consumer_defaults.check().map_err(Error::InvalidConfig)?;
    if let Some(reason) = unsupported(rules, consumer_defaults) {
        return Err(Error::InvalidConfig(format!("consumer_defaults: {reason}")));
    }
    if consumer_defaults.suffix.is_some() {
        // A default suffix would be silently ignored: each registration names its consumer.
        return Err(Error::InvalidConfig(
            "consumer_defaults may not set a suffix; set it on the registrations".to_owned(),
        ));
    }
    let mut topology = Topology::new(Some(rules.transport.clone()), service.as_str());
    let mut streams = BTreeMap::new();
    let mut publishers: Vec<PublishTarget> = Vec::new();
    let mut groups: Vec<ConsumerGroup> = Vec::new();
    let mut requests: Vec<RequestRoute> = Vec::new();
    let mut responses: Vec<ResponseRoute> = Vec::new();

    for (index, setup) in setups.iter().enumerate() {
        setup
            .options
            .check()
            .map_err(|r| invalid(index, setup, r))?;
        if let Some(reason) = unsupported(rules, &setup.options) {
            return Err(invalid(index, setup, reason));
        }
        let spec_err = |e| invalid_spec(index, setup, e);
        let (intent, message_type) = match &setup.kind {
            SetupKind::Publisher(target) => {
                let target = match target {
                    TargetSpec::Events => PublishTarget::EventStream,
                    TargetSpec::Stream(s) => {
                        let s = StreamName::from_exchange(s).map_err(spec_err)?;
                        if s.as_str() == DEFAULT_EVENT_EXCHANGE_NAME {
                            PublishTarget::EventStream
                        } else {
                            PublishTarget::Stream(s)
                        }
                    }
                    TargetSpec::Service(t) => {
                        PublishTarget::Service(ServiceName::new(t.as_str()).map_err(spec_err)?)
                    }
                    TargetSpec::Queue(q) => {
                        if !rules.queue_publish {
                            return Err(invalid(
                                index,
                                setup,
                                format!(
                                    "queue publish is not available on {}; it exists only on AMQP",
                                    rules.transport_name()
                                ),
                            ));
                        }
                        if q.is_empty() || q.len() > 255 {
                            return Err(invalid(index, setup, "queue name must be 1 to 255 bytes"));
                        }
                        PublishTarget::Queue(q.clone())
                    }
                };
                if publishers.contains(&target) {
                    return Err(invalid(
                        index,
                        setup,
                        format!("publisher {target} is registered twice"),
                    ));
                }
                let intent = match &target {
                    PublishTarget::Service(t) => {
                        let mut i =
                            SetupIntent::new(Pattern::ServiceRequest, EndpointDirection::Publish);
                        i.target_service = t.as_str().to_owned();
                        i
                    }
                    PublishTarget::Queue(q) => {
                        let mut i =
                            SetupIntent::new(Pattern::QueuePublish, EndpointDirection::Publish);
                        i.destination_queue = q.clone();
                        i
                    }
                    other => {
                        let s = stream_of(other.stream_name()).map_err(spec_err)?;
                        streams.insert(s.as_str().to_owned(), s.clone());
                        stream_intent(&s, EndpointDirection::Publish)
                    }
                };
                publishers.push(target);
                (intent, "")
            }
            SetupKind::StreamConsumer {
                stream,
                pattern,
                transient,
                handler,
                message_type,
            } => {
                let stream = stream_of(stream.as_deref()).map_err(spec_err)?;
                let pattern = RoutingPattern::new(pattern.as_str()).map_err(spec_err)?;
                if !*transient && setup.options.inactive_threshold.is_some() {
                    return Err(invalid(
                        index,
                        setup,
                        "inactive_threshold applies to transient consumers only: the server \
                         would delete this durable, and its position, after that long without \
                         a pull",
                    ));
                }
                // A shared ephemeral consumer has no name to suffix.
                let suffix = match &setup.options.suffix {
                    Some(s) if !(*transient && rules.shared_transients) => {
                        Some(ConsumerSuffix::new(s.as_str()).map_err(spec_err)?)
                    }
                    _ => None,
                };
                streams.insert(stream.as_str().to_owned(), stream.clone());
                let shares = !*transient || rules.shared_transients;
                let pos = groups.iter().position(|g| {
                    shares && g.stream == stream && g.transient == *transient && g.suffix == suffix
                });
                let group = match pos {
                    Some(p) => &mut groups[p],
                    None => {
                        groups.push(ConsumerGroup {
                            stream: stream.clone(),
                            suffix: suffix.clone(),
                            transient: *transient,
                            routes: RoutingTable::new(),
                            options: ConsumerOptions::default(),
                            explicit: ConsumerOptions::default(),
                            first: index,
                        });
                        let last = groups.len() - 1;
                        &mut groups[last]
                    }
                };
                merge_explicit(group, &setup.options).map_err(|r| invalid(index, setup, r))?;
                if let Some((a, b)) = group
                    .routes
                    .iter()
                    .map(|(p, _)| p)
                    .find(|p| p.covers(&pattern) || pattern.covers(p))
                    .map(|p| (p.clone(), pattern.clone()))
                {
                    return Err(invalid(
                        index,
                        setup,
                        format!(
                            "routing key {b} overlaps {a} on the same consumer of stream {}; \
                             use a suffix for a separate consumer",
                            stream.as_str()
                        ),
                    ));
                }
                group
                    .routes
                    .insert(
                        pattern.clone(),
                        Route {
                            pattern: pattern.clone(),
                            handler: Arc::clone(handler),
                        },
                    )
                    .map_err(spec_err)?;
                let mut intent = stream_intent(&stream, EndpointDirection::Consume);
                intent.routing_key = pattern.as_str().to_owned();
                intent.ephemeral = *transient;
                if let Some(s) = &suffix {
                    intent.queue_suffix = s.as_str().to_owned();
                }
                (intent, *message_type)
            }
            SetupKind::RequestHandler {
                pattern,
                handler,
                message_type,
            } => {
                let pattern = RoutingPattern::new(pattern.as_str()).map_err(spec_err)?;
                if !rules.wildcard_requests && pattern.is_wildcard() {
                    return Err(invalid(
                        index,
                        setup,
                        format!(
                            "request key {pattern} is a wildcard; {} routes requests by exact key",
                            rules.transport_name()
                        ),
                    ));
                }
                if let Some(other) = requests.iter().find(|r| r.route.pattern.overlaps(&pattern)) {
                    return Err(invalid(
                        index,
                        setup,
                        format!(
                            "request key {pattern} overlaps {}; one request must reach one handler",
                            other.route.pattern
                        ),
                    ));
                }
                requests.push(RequestRoute {
                    route: Route {
                        pattern: pattern.clone(),
                        handler: Arc::clone(handler),
                    },
                    options: effective(consumer_defaults, &setup.options)
                        .map_err(|r| invalid(index, setup, r))?,
                });
                let mut intent =
                    SetupIntent::new(Pattern::ServiceRequest, EndpointDirection::Consume);
                intent.routing_key = pattern.as_str().to_owned();
                (intent, *message_type)
            }
            SetupKind::ResponseConsumer {
                target,
                pattern,
                handler,
                message_type,
            } => {
                let target = ServiceName::new(target.as_str()).map_err(spec_err)?;
                let pattern = RoutingPattern::new(pattern.as_str()).map_err(spec_err)?;
                if let Some(other) = responses
                    .iter()
                    .find(|r| r.target == target && r.route.pattern.overlaps(&pattern))
                {
                    return Err(invalid(
                        index,
                        setup,
                        format!("response key {pattern} overlaps {}", other.route.pattern),
                    ));
                }
                responses.push(ResponseRoute {
                    target: target.clone(),
                    route: Route {
                        pattern: pattern.clone(),
                        handler: Arc::clone(handler),
                    },
                });
                let mut intent =
                    SetupIntent::new(Pattern::ServiceResponse, EndpointDirection::Consume);
                intent.target_service = target.as_str().to_owned();
                intent.routing_key = pattern.as_str().to_owned();
                (intent, *message_type)
            }
        };
        for ep in endpoints_for_intent(&rules.transport, service.as_str(), &intent) {
            topology.endpoints.push(if message_type.is_empty() {
                ep
            } else {
                ep.with_message_type(message_type)
            });
        }
    }
    for group in &mut groups {
        let first = group.first;
        group.options = effective(consumer_defaults, &group.explicit).map_err(|r| {
            // Indices come from enumerating `setups`, so the lookup cannot miss.
            match setups.get(first) {
                Some(setup) => invalid(first, setup, r),
                None => Error::InvalidConfig(r),
            }
        })?;
    }
    Ok(Plan {
        service,
        topology,
        streams,
        publishers,
        groups,
        requests,
        responses,
    })
}

impl<H: ?Sized> std::fmt::Debug for Route<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("pattern", &self.pattern)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ConsumerGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerGroup")
            .field("stream", &self.stream)
            .field("suffix", &self.suffix)
            .field("transient", &self.transient)
            .field("routes", &self.routes.len())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for RequestRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestRoute")
            .field("route", &self.route)
            .field("options", &self.options)
            .finish()
    }
}

impl std::fmt::Debug for ResponseRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseRoute")
            .field("target", &self.target)
            .field("route", &self.route)
            .finish()
    }
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("service", &self.service)
            .field("publishers", &self.publishers)
            .field("groups", &self.groups)
            .field("requests", &self.requests)
            .field("responses", &self.responses)
            .finish_non_exhaustive()
    }
}
