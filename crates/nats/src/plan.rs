//! Turns registrations into a validated plan, with no I/O: names, patterns, option
//! conflicts and overlapping filters are all checked before the broker is touched.

use std::collections::BTreeMap;
use std::sync::Arc;

use messaging_spec::naming::{nats_durable_name, translate_wildcard};
use messaging_spec::{
    ConsumerSuffix, DEFAULT_EVENT_EXCHANGE_NAME, EndpointDirection, Pattern, RoutingPattern,
    RoutingTable, ServiceName, SetupIntent, StreamName, Topology, Transport, endpoints_for_intent,
};

use crate::erased::{ErasedEvent, ErasedRequest};
use crate::error::{Error, Result};
use crate::options::{ConsumerOptions, StreamConfig};
use crate::setup::{Setup, SetupKind, TargetSpec};
use crate::target::PublishTarget;

/// A handler bound to its pattern.
#[derive(Clone)]
pub(crate) struct Route<H: ?Sized> {
    pub(crate) pattern: RoutingPattern,
    pub(crate) handler: Arc<H>,
}

/// One JetStream consumer: all registrations of a service on one stream with one durable
/// name (or all transient ones) share it, as in the reference.
pub(crate) struct GroupPlan {
    pub(crate) stream: StreamName,
    pub(crate) durable: Option<String>,
    pub(crate) routes: RoutingTable<Route<dyn ErasedEvent>>,
    pub(crate) filters: Vec<String>,
    pub(crate) options: ConsumerOptions,
    /// Explicit options seen so far, to detect conflicts.
    explicit: ConsumerOptions,
    /// Index of the group's first registration, named when its effective options fail.
    first: usize,
}

impl GroupPlan {
    /// Stable, readable label: the durable name, or `<service>-transient` for ephemerals.
    pub(crate) fn label(&self, service: &ServiceName) -> String {
        self.durable
            .clone()
            .unwrap_or_else(|| format!("{}-transient", service.as_str()))
    }
}

pub(crate) struct RequestPlan {
    pub(crate) subject: String,
    pub(crate) route: Route<dyn ErasedRequest>,
    pub(crate) options: ConsumerOptions,
}

pub(crate) struct ResponsePlan {
    pub(crate) target: ServiceName,
    pub(crate) route: Route<dyn ErasedEvent>,
}

pub(crate) struct Plan {
    pub(crate) service: ServiceName,
    pub(crate) topology: Topology,
    pub(crate) streams: BTreeMap<String, StreamName>,
    pub(crate) publishers: Vec<PublishTarget>,
    pub(crate) groups: Vec<GroupPlan>,
    pub(crate) requests: Vec<RequestPlan>,
    pub(crate) responses: Vec<ResponsePlan>,
}

impl Plan {
    /// The effective stream settings for `stream`.
    pub(crate) fn stream_config(
        defaults: &StreamConfig,
        per_stream: &BTreeMap<String, StreamConfig>,
        stream: &StreamName,
    ) -> StreamConfig {
        per_stream
            .get(stream.as_str())
            .map_or_else(|| defaults.clone(), |over| defaults.overlay(over))
    }
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

/// Only these options may differ per registration within one consumer group.
fn merge_explicit(
    group: &mut GroupPlan,
    opts: &ConsumerOptions,
) -> std::result::Result<(), String> {
    fn merge<T: PartialEq + Clone + std::fmt::Debug>(
        what: &str,
        slot: &mut Option<T>,
        new: Option<&T>,
    ) -> std::result::Result<(), String> {
        match (slot.as_ref(), new) {
            (Some(a), Some(b)) if a != b => Err(format!(
                "{what} {b:?} conflicts with {a:?} set by another registration on the same consumer"
            )),
            (None, Some(b)) => {
                *slot = Some(b.clone());
                Ok(())
            }
            _ => Ok(()),
        }
    }
    merge(
        "max_deliver",
        &mut group.explicit.max_deliver,
        opts.max_deliver.as_ref(),
    )?;
    merge(
        "backoff",
        &mut group.explicit.backoff,
        opts.backoff.as_ref(),
    )?;
    merge(
        "concurrency",
        &mut group.explicit.concurrency,
        opts.concurrency.as_ref(),
    )?;
    merge(
        "prefetch",
        &mut group.explicit.prefetch,
        opts.prefetch.as_ref(),
    )?;
    merge(
        "start_at",
        &mut group.explicit.start_at,
        opts.start_at.as_ref(),
    )
}

/// The options a consumer runs with, checked as a whole: each part may be valid alone
/// while the combination (say a default `backoff` longer than a `max_deliver`) is not.
fn effective(
    defaults: &ConsumerOptions,
    explicit: &ConsumerOptions,
) -> std::result::Result<ConsumerOptions, String> {
    let options = defaults.overlay(explicit);
    options
        .check()
        .map_err(|r| format!("effective options (registrations over consumer_defaults): {r}"))?;
    Ok(options)
}

/// Validates every registration and builds the plan.
pub(crate) fn plan(
    service: &str,
    setups: &[Setup],
    consumer_defaults: &ConsumerOptions,
) -> Result<Plan> {
    let service = ServiceName::new(service).map_err(Error::Spec)?;
    consumer_defaults.check().map_err(Error::InvalidConfig)?;
    if consumer_defaults.suffix.is_some() {
        // A default suffix would be silently ignored: each registration names its consumer.
        return Err(Error::InvalidConfig(
            "consumer_defaults may not set a suffix; set it on the registrations".to_owned(),
        ));
    }
    let mut topology = Topology::new(Some(Transport::Nats), service.as_str());
    let mut streams = BTreeMap::new();
    let mut publishers: Vec<PublishTarget> = Vec::new();
    let mut groups: Vec<GroupPlan> = Vec::new();
    let mut requests: Vec<RequestPlan> = Vec::new();
    let mut responses: Vec<ResponsePlan> = Vec::new();

    for (index, setup) in setups.iter().enumerate() {
        setup
            .options
            .check()
            .map_err(|r| invalid(index, setup, r))?;
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
                let suffix = match (&setup.options.suffix, transient) {
                    (Some(s), false) => Some(ConsumerSuffix::new(s.as_str()).map_err(spec_err)?),
                    _ => None,
                };
                let durable = (!transient).then(|| {
                    nats_durable_name(
                        service.as_str(),
                        suffix.as_ref().map(ConsumerSuffix::as_str),
                    )
                });
                streams.insert(stream.as_str().to_owned(), stream.clone());
                let pos = groups
                    .iter()
                    .position(|g| g.stream == stream && g.durable == durable);
                let group = match pos {
                    Some(p) => &mut groups[p],
                    None => {
                        groups.push(GroupPlan {
                            stream: stream.clone(),
                            durable: durable.clone(),
                            routes: RoutingTable::new(),
                            filters: Vec::new(),
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
                             nats-server rejects overlapping filters — use a suffix for a separate consumer",
                            stream.as_str()
                        ),
                    ));
                }
                group.filters.push(pattern.nats_filter(&stream));
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
                requests.push(RequestPlan {
                    subject: format!(
                        "{}.request.{}",
                        service.as_str(),
                        translate_wildcard(pattern.as_str())
                    ),
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
                responses.push(ResponsePlan {
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
        for ep in endpoints_for_intent(&Transport::Nats, service.as_str(), &intent) {
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
