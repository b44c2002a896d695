//! The AMQP view of the core plan: which exchanges, queues and bindings each registration
//! needs, named with `messaging_spec::naming`. Validation happens once, in
//! [`messaging_core::plan`]; this adds only what AMQP itself limits (255-byte names,
//! 16-bit prefetch, one queue for all of a service's request handlers).

use std::collections::BTreeSet;

use messaging_core::erased::{ErasedEvent, ErasedRequest};
use messaging_core::{
    ConsumerGroup, ConsumerOptions, PublishTarget, Route, Rules, Setup, SetupKind,
};
use messaging_spec::naming::{
    nats_durable_name, service_event_queue_name, service_request_exchange_name,
    service_request_queue_name, service_response_exchange_name, service_response_queue_name,
    topic_exchange_name, transient_queue_name,
};
use messaging_spec::{ConsumerSuffix, RoutingTable, ServiceName, Topology};

use crate::declare::{BindingSpec, ExchangeSpec, Kind, QueueSpec, check_name};
use crate::error::{Error, Result};

/// The reference's prefetch: at most this many unacked deliveries per consumer channel.
pub(crate) const DEFAULT_PREFETCH: u16 = 20;

/// What a queue carries.
pub(crate) enum QueueKind {
    /// Stream events (topic exchange); `transient` queues expire a second after use.
    Events { transient: bool },
    /// This service's requests (direct exchange); handlers reply.
    Requests(RoutingTable<Route<dyn ErasedRequest>>),
    /// Responses from `target` (headers exchange, bound on `service = <us>`).
    Responses { target: ServiceName },
}

/// One queue, its consumer, and everything it needs declared.
pub(crate) struct QueuePlan {
    pub(crate) kind: QueueKind,
    pub(crate) queue: QueueSpec,
    /// Declared before the queue (the source exchange and, for requests, our own response
    /// exchange, as the reference).
    pub(crate) exchanges: Vec<ExchangeSpec>,
    pub(crate) bindings: Vec<BindingSpec>,
    /// The exchange deliveries come from.
    pub(crate) exchange: String,
    /// Event and response handlers by pattern (empty for request queues).
    pub(crate) events: RoutingTable<Route<dyn ErasedEvent>>,
    pub(crate) options: ConsumerOptions,
    pub(crate) prefetch: u16,
    /// Stable label for metrics and logs (transient queues without their UUID).
    pub(crate) label: String,
}

/// A publisher and the exchange it declares (none for queue publishers).
#[derive(Debug, Clone)]
pub(crate) struct PublisherPlan {
    pub(crate) target: PublishTarget,
    pub(crate) exchange: Option<ExchangeSpec>,
}

impl PublisherPlan {
    /// Where it publishes: `""` (the default exchange) for queue publishers.
    pub(crate) fn exchange_name(&self) -> &str {
        self.exchange.as_ref().map_or("", |x| x.name.as_str())
    }
}

pub(crate) struct Plan {
    pub(crate) service: ServiceName,
    pub(crate) topology: Topology,
    pub(crate) publishers: Vec<PublisherPlan>,
    pub(crate) queues: Vec<QueuePlan>,
}

impl Plan {
    /// Every exchange to declare, once each.
    pub(crate) fn exchanges(&self) -> BTreeSet<ExchangeSpec> {
        let mut all: BTreeSet<ExchangeSpec> = self
            .publishers
            .iter()
            .filter_map(|p| p.exchange.clone())
            .collect();
        for q in &self.queues {
            all.extend(q.exchanges.iter().cloned());
        }
        all
    }
}

/// The exchange a publisher declares and sends to.
pub(crate) fn publisher_exchange(target: &PublishTarget) -> Option<ExchangeSpec> {
    match target {
        PublishTarget::Service(t) => Some(ExchangeSpec::new(
            service_request_exchange_name(t.as_str()),
            Kind::Direct,
        )),
        PublishTarget::Queue(_) => None,
        other => other
            .stream_name()
            .map(|s| ExchangeSpec::new(topic_exchange_name(s), Kind::Topic)),
    }
}

fn invalid(index: usize, setup: &Setup, reason: impl Into<String>) -> Error {
    Error::Core(messaging_core::Error::InvalidRegistration {
        index,
        registration: format!("{setup:?}"),
        reason: reason.into(),
        source: None,
    })
}

/// Merges the explicit options of registrations that share one queue (requests, or the
/// responses of one target): an option set once applies to the queue, two different
/// values are an error; then the defaults fill the rest and the whole is checked.
fn merge_shared<'a>(
    setups: impl Iterator<Item = (usize, &'a Setup)>,
    defaults: &ConsumerOptions,
    what: &str,
) -> Result<ConsumerOptions> {
    let mut merged = ConsumerOptions::default();
    let mut first = None;
    for (index, setup) in setups {
        let o = setup.consumer_options();
        first.get_or_insert((index, setup));
        let conflict = |name: &str| {
            invalid(
                index,
                setup,
                format!(
                    "{name} differs from another registration on the {what} queue; {what} share one queue, so set it once"
                ),
            )
        };
        macro_rules! take {
            ($get:ident, $set:ident, $name:literal) => {
                if let Some(v) = o.$get() {
                    match merged.$get() {
                        Some(held) if held != v => return Err(conflict($name)),
                        Some(_) => {}
                        None => merged = merged.$set(v),
                    }
                }
            };
        }
        take!(get_max_deliver, max_deliver, "max_deliver");
        take!(get_concurrency, concurrency, "concurrency");
        take!(get_prefetch, prefetch, "prefetch");
        take!(
            get_single_active_consumer,
            single_active_consumer,
            "single_active_consumer"
        );
        if !o.get_backoff().is_empty() {
            if merged.get_backoff().is_empty() {
                merged = merged.backoff(o.get_backoff().to_vec());
            } else if merged.get_backoff() != o.get_backoff() {
                return Err(conflict("backoff"));
            }
        }
        if let Some(d) = o.get_dead_letter() {
            match merged.get_dead_letter() {
                Some(held) if held != d => return Err(conflict("dead_letter")),
                Some(_) => {}
                None => {
                    merged = merged.dead_letter(d.destination.clone());
                    if let Some(k) = &d.routing_key {
                        merged = merged.dead_letter_routing_key(k.clone());
                    }
                }
            }
        }
    }
    let effective = defaults.overlay(&merged);
    if let Err(reason) = effective.check()
        && let Some((index, setup)) = first
    {
        return Err(invalid(
            index,
            setup,
            format!("effective options (registrations over consumer_defaults): {reason}"),
        ));
    }
    Ok(effective)
}

fn queue_spec(name: String, transient: bool, options: &ConsumerOptions) -> QueueSpec {
    let mut q = QueueSpec::new(name, transient);
    q.single_active_consumer = options.get_single_active_consumer().unwrap_or(true);
    if let Some(d) = options.get_dead_letter() {
        q.dead_letter_exchange = Some(d.destination.clone());
        q.dead_letter_routing_key = d.routing_key.clone();
    }
    q
}

/// Prefetch of a queue's channel: the consumer's, else the connection's, else the
/// reference's 20 (raised to the concurrency, so every handler can have a message).
fn prefetch(
    options: &ConsumerOptions,
    connection: Option<u16>,
) -> std::result::Result<u16, String> {
    match options.get_prefetch() {
        Some(n) => u16::try_from(n)
            .map_err(|_| format!("prefetch {n} is more than AMQP's basic.qos allows (65535)")),
        None => {
            let concurrency = u16::try_from(options.effective_concurrency()).unwrap_or(u16::MAX);
            Ok(connection.unwrap_or(DEFAULT_PREFETCH).max(concurrency))
        }
    }
}

/// Validates every registration (in the core) and maps it onto AMQP resources.
/// `transient_id(i)` names the i-th transient queue (a UUID, stable per builder).
pub(crate) fn plan(
    service: &str,
    setups: &[Setup],
    consumer_defaults: &ConsumerOptions,
    connection_prefetch: Option<u16>,
    mut transient_id: impl FnMut(usize) -> String,
) -> Result<Plan> {
    let core = messaging_core::plan(&Rules::amqp(), service, setups, consumer_defaults)?;
    let service = core.service;
    let svc = service.as_str();
    let mut topology = core.topology;
    let mut queues = Vec::new();
    let first_of =
        |want: &dyn Fn(&SetupKind) -> bool| setups.iter().enumerate().find(|(_, s)| want(s.kind()));
    let mut transient_names = Vec::new();
    for group in core.groups {
        let (name, label) = group_queue_name(svc, &group, || {
            let id = transient_id(transient_names.len());
            transient_names.push(());
            id
        });
        queues.push(group_plan(group, name, label, connection_prefetch)?);
    }
    // The topology's transient queue names use the UUIDs declared (one endpoint per
    // transient registration, in registration order, as the groups).
    let mut transient_queues = queues
        .iter()
        .filter(|q| matches!(q.kind, QueueKind::Events { transient: true }))
        .map(|q| q.queue.name.clone());
    for ep in topology.endpoints.iter_mut().filter(|e| e.ephemeral) {
        if let Some(name) = transient_queues.next() {
            ep.queue_name = name;
        }
    }
    if !core.requests.is_empty() {
        let options = merge_shared(
            setups
                .iter()
                .enumerate()
                .filter(|(_, s)| matches!(s.kind(), SetupKind::RequestHandler { .. })),
            consumer_defaults,
            "request handlers",
        )?;
        let exchange = service_request_exchange_name(svc);
        let queue = service_request_queue_name(svc);
        let mut routes = RoutingTable::new();
        let mut bindings = Vec::new();
        for r in core.requests {
            bindings.push(BindingSpec {
                queue: queue.clone(),
                exchange: exchange.clone(),
                routing_key: r.route.pattern.as_str().to_owned(),
                service: None,
            });
            routes.insert(r.route.pattern.clone(), r.route)?;
        }
        let prefetch =
            prefetch(&options, connection_prefetch).map_err(|reason| {
                match first_of(&|k| matches!(k, SetupKind::RequestHandler { .. })) {
                    Some((i, s)) => invalid(i, s, reason),
                    None => Error::invalid_config(reason),
                }
            })?;
        queues.push(QueuePlan {
            kind: QueueKind::Requests(routes),
            queue: queue_spec(queue.clone(), false, &options),
            exchanges: vec![
                ExchangeSpec::new(service_response_exchange_name(svc), Kind::Headers),
                ExchangeSpec::new(exchange.clone(), Kind::Direct),
            ],
            bindings,
            exchange,
            events: RoutingTable::new(),
            options,
            prefetch,
            label: queue,
        });
    }
    let mut by_target: Vec<(ServiceName, Vec<Route<dyn ErasedEvent>>)> = Vec::new();
    for r in core.responses {
        match by_target.iter_mut().find(|(t, _)| *t == r.target) {
            Some((_, routes)) => routes.push(r.route),
            None => by_target.push((r.target, vec![r.route])),
        }
    }
    for (target, routes) in by_target {
        let t = target.as_str();
        let is_target =
            |s: &Setup| matches!(s.kind(), SetupKind::ResponseConsumer { target: x, .. } if x == t);
        let options = merge_shared(
            setups.iter().enumerate().filter(|(_, s)| is_target(s)),
            consumer_defaults,
            "response consumers of one target",
        )?;
        let exchange = service_response_exchange_name(t);
        let queue = service_response_queue_name(t, svc);
        let mut events = RoutingTable::new();
        let mut bindings = Vec::new();
        for route in routes {
            bindings.push(BindingSpec {
                queue: queue.clone(),
                exchange: exchange.clone(),
                routing_key: route.pattern.as_str().to_owned(),
                service: Some(svc.to_owned()),
            });
            events.insert(route.pattern.clone(), route)?;
        }
        let prefetch = prefetch(&options, connection_prefetch).map_err(|reason| {
            match setups.iter().enumerate().find(|(_, s)| is_target(s)) {
                Some((i, s)) => invalid(i, s, reason),
                None => Error::invalid_config(reason),
            }
        })?;
        queues.push(QueuePlan {
            kind: QueueKind::Responses { target },
            queue: queue_spec(queue.clone(), false, &options),
            exchanges: vec![ExchangeSpec::new(exchange.clone(), Kind::Headers)],
            bindings,
            exchange,
            events,
            options,
            prefetch,
            label: queue,
        });
    }
    let publishers = core
        .publishers
        .into_iter()
        .map(|target| PublisherPlan {
            exchange: publisher_exchange(&target),
            target,
        })
        .collect::<Vec<_>>();
    let plan = Plan {
        service,
        topology,
        publishers,
        queues,
    };
    check_names(&plan)?;
    Ok(plan)
}

/// The queue of a stream group: `<exchange>.queue.<service>[-<suffix>]`, or for a
/// transient one `<exchange>.queue.<service>-<uuid>[-<suffix>]` (the suffix after the
/// UUID, as the reference).
fn group_queue_name(
    service: &str,
    group: &ConsumerGroup,
    transient_id: impl FnOnce() -> String,
) -> (String, String) {
    let exchange = topic_exchange_name(group.stream.as_str());
    let suffix = group.suffix.as_ref().map(ConsumerSuffix::as_str);
    if group.transient {
        let mut unique = transient_id();
        let mut label = format!("{service}-transient");
        if let Some(s) = suffix {
            unique = format!("{unique}-{s}");
            label = format!("{label}-{s}");
        }
        (
            transient_queue_name(&exchange, service, &unique),
            service_event_queue_name(&exchange, &label),
        )
    } else {
        let name = service_event_queue_name(&exchange, &nats_durable_name(service, suffix));
        (name.clone(), name)
    }
}

fn group_plan(
    group: ConsumerGroup,
    name: String,
    label: String,
    connection_prefetch: Option<u16>,
) -> Result<QueuePlan> {
    let exchange = topic_exchange_name(group.stream.as_str());
    let bindings = group
        .routes
        .iter()
        .map(|(p, _)| BindingSpec {
            queue: name.clone(),
            exchange: exchange.clone(),
            routing_key: p.as_str().to_owned(),
            service: None,
        })
        .collect();
    let prefetch = prefetch(&group.options, connection_prefetch)
        .map_err(|r| Error::invalid_config(format!("queue {name}: {r}")))?;
    Ok(QueuePlan {
        kind: QueueKind::Events {
            transient: group.transient,
        },
        queue: queue_spec(name, group.transient, &group.options),
        exchanges: vec![ExchangeSpec::new(exchange.clone(), Kind::Topic)],
        bindings,
        exchange,
        events: group.routes,
        options: group.options,
        prefetch,
        label,
    })
}

/// AMQP names are short strings: refuse anything longer before any I/O (lapin panics).
fn check_names(plan: &Plan) -> Result<()> {
    for x in plan.exchanges() {
        check_name("exchange", &x.name)?;
    }
    for q in &plan.queues {
        check_name("queue", &q.queue.name)?;
        for b in &q.bindings {
            check_name("routing key", &b.routing_key)?;
        }
        if let Some(d) = &q.queue.dead_letter_exchange {
            check_name("dead-letter exchange", d)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
