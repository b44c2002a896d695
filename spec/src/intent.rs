//! Setup intents → topology endpoints: the one mapping every transport and test shares.
//!
//! The tables are the spec's (`topology.json` and the TCK's expectations). Routing keys are
//! copied unchanged, AMQP style (`#`, never `>`), on both transports; publish endpoints
//! carry no routing key.

use crate::naming::{
    nats_durable_name, nats_stream_name, service_event_queue_name, service_request_exchange_name,
    service_request_queue_name, service_response_exchange_name, service_response_queue_name,
    topic_exchange_name, transient_queue_name,
};
use crate::tck::SetupIntent;
use crate::topology::{
    DEFAULT_EVENT_EXCHANGE_NAME, Endpoint, EndpointDirection, ExchangeKind, Pattern, Topology,
    Transport,
};

/// The `exchangeName` of an AMQP queue-publish endpoint (the nameless default exchange).
const AMQP_DEFAULT_EXCHANGE_ENDPOINT_NAME: &str = "(default)";

/// The queue-name prefix of an AMQP transient consumer: `<exchange>.queue.<service>-`.
///
/// The full name appends a unique part (a lower-case UUID); checks compare only this prefix.
///
/// ```
/// assert_eq!(
///     messaging_spec::ephemeral_queue_prefix("events.topic.exchange", "dashboard"),
///     "events.topic.exchange.queue.dashboard-"
/// );
/// ```
#[must_use]
pub fn ephemeral_queue_prefix(exchange_name: &str, service: &str) -> String {
    transient_queue_name(exchange_name, service, "")
}

/// The endpoint `service` gets for `intent` on `transport`: none or one.
///
/// An AMQP transient consumer's queue is named `<exchange>.queue.<service>-<uuid>` with a
/// fresh lower-case UUID v4; use [`endpoints_for_intent_with_unique`] to choose the unique
/// part. Intents without an endpoint: service-response publish, queue-publish consume,
/// unknown patterns or directions, and transports other than AMQP and NATS.
///
/// ```
/// use messaging_spec::{EndpointDirection, Pattern, SetupIntent, Transport, endpoints_for_intent};
/// let mut intent = SetupIntent::new(Pattern::EventStream, EndpointDirection::Consume);
/// intent.routing_key = "Order.#".into();
/// intent.queue_suffix = "audit".into();
/// let eps = endpoints_for_intent(&Transport::Nats, "orders", &intent);
/// assert_eq!(eps.len(), 1);
/// assert_eq!(eps[0].exchange_name, "events");
/// assert_eq!(eps[0].queue_name, "orders-audit");
/// assert_eq!(eps[0].routing_key, "Order.#");
/// ```
#[must_use]
pub fn endpoints_for_intent(
    transport: &Transport,
    service: &str,
    intent: &SetupIntent,
) -> Vec<Endpoint> {
    let unique = uuid::Uuid::new_v4().to_string();
    endpoints_for_intent_with_unique(transport, service, intent, &unique)
}

/// [`endpoints_for_intent`] with the unique part of an AMQP transient queue name given.
///
/// ```
/// use messaging_spec::{EndpointDirection, Pattern, SetupIntent, Transport};
/// use messaging_spec::endpoints_for_intent_with_unique;
/// let mut intent = SetupIntent::new(Pattern::EventStream, EndpointDirection::Consume);
/// intent.routing_key = "Order.Created".into();
/// intent.ephemeral = true;
/// let eps = endpoints_for_intent_with_unique(&Transport::Amqp, "dashboard", &intent, "1234");
/// assert_eq!(eps[0].queue_name, "events.topic.exchange.queue.dashboard-1234");
/// assert!(eps[0].ephemeral);
/// ```
#[must_use]
pub fn endpoints_for_intent_with_unique(
    transport: &Transport,
    service: &str,
    intent: &SetupIntent,
    unique: &str,
) -> Vec<Endpoint> {
    let on_amqp = match transport {
        Transport::Amqp => true,
        Transport::Nats => false,
        _ => return Vec::new(),
    };
    endpoint(on_amqp, service, intent, unique)
        .into_iter()
        .collect()
}

/// The topology of `service` built from `intents`, in intent order.
///
/// ```
/// use messaging_spec::{EndpointDirection, Pattern, SetupIntent, Transport, topology_for_intents};
/// let intents = [
///     SetupIntent::new(Pattern::EventStream, EndpointDirection::Publish),
///     SetupIntent::new(Pattern::ServiceResponse, EndpointDirection::Publish),
/// ];
/// let t = topology_for_intents(&Transport::Amqp, "orders", &intents);
/// assert_eq!(t.transport, Some(Transport::Amqp));
/// assert_eq!(t.endpoints.len(), 1);
/// assert_eq!(t.endpoints[0].exchange_name, "events.topic.exchange");
/// ```
#[must_use]
pub fn topology_for_intents(
    transport: &Transport,
    service: &str,
    intents: &[SetupIntent],
) -> Topology {
    let mut topology = Topology::new(Some(transport.clone()), service);
    for intent in intents {
        topology
            .endpoints
            .extend(endpoints_for_intent(transport, service, intent));
    }
    topology
}

/// The one endpoint of `intent`, following the spec's AMQP and NATS tables.
fn endpoint(on_amqp: bool, service: &str, intent: &SetupIntent, unique: &str) -> Option<Endpoint> {
    use EndpointDirection::{Consume, Publish};

    let target = intent.target_service.as_str();
    let destination = intent.destination_queue.as_str();
    let is_stream = matches!(intent.pattern, Pattern::EventStream | Pattern::CustomStream);
    let (exchange, kind, queue) = match (&intent.pattern, &intent.direction) {
        (_, Publish) if is_stream => (stream_exchange(on_amqp, intent), ExchangeKind::Topic, None),
        (_, Consume) if is_stream => {
            let exchange = stream_exchange(on_amqp, intent);
            let named = nats_durable_name(service, Some(&intent.queue_suffix));
            let queue = match (on_amqp, intent.ephemeral) {
                (true, true) => Some(transient_queue_name(&exchange, service, unique)),
                // AMQP suffixes the service part exactly as NATS suffixes its durable.
                (true, false) => Some(service_event_queue_name(&exchange, &named)),
                (false, true) => None,
                (false, false) => Some(named),
            };
            (exchange, ExchangeKind::Topic, queue)
        }
        (Pattern::ServiceRequest, Consume) if on_amqp => (
            service_request_exchange_name(service),
            ExchangeKind::Direct,
            Some(service_request_queue_name(service)),
        ),
        (Pattern::ServiceRequest, Consume) => (
            service.to_owned(),
            ExchangeKind::Direct,
            Some(service.to_owned()),
        ),
        (Pattern::ServiceRequest, Publish) if on_amqp => (
            service_request_exchange_name(target),
            ExchangeKind::Direct,
            None,
        ),
        (Pattern::ServiceRequest, Publish) => (target.to_owned(), ExchangeKind::Direct, None),
        (Pattern::ServiceResponse, Consume) if on_amqp => (
            service_response_exchange_name(target),
            ExchangeKind::Headers,
            Some(service_response_queue_name(target, service)),
        ),
        (Pattern::ServiceResponse, Consume) => (
            target.to_owned(),
            ExchangeKind::Headers,
            Some(service.to_owned()),
        ),
        (Pattern::QueuePublish, Publish) => {
            let exchange = if on_amqp {
                AMQP_DEFAULT_EXCHANGE_ENDPOINT_NAME
            } else {
                destination
            };
            (
                exchange.to_owned(),
                ExchangeKind::none(),
                Some(destination.to_owned()),
            )
        }
        _ => return None,
    };
    let ep = Endpoint::new(
        intent.direction.clone(),
        intent.pattern.clone(),
        exchange,
        kind,
    )
    .with_queue_name(queue.unwrap_or_default());
    Some(if intent.direction == Consume {
        ep.with_routing_key(&intent.routing_key)
            .with_ephemeral(is_stream && intent.ephemeral)
    } else {
        ep
    })
}

/// The exchange (AMQP) or stream (NATS) of a stream intent.
fn stream_exchange(on_amqp: bool, intent: &SetupIntent) -> String {
    let base = match intent.pattern {
        Pattern::EventStream => DEFAULT_EVENT_EXCHANGE_NAME,
        _ => intent.exchange.as_str(),
    };
    if on_amqp {
        topic_exchange_name(base)
    } else {
        nats_stream_name(base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(pattern: Pattern, direction: EndpointDirection) -> SetupIntent {
        SetupIntent::new(pattern, direction)
    }

    #[test]
    fn ephemeral_ignores_suffix_and_gets_a_lowercase_uuid() {
        let mut i = intent(Pattern::CustomStream, EndpointDirection::Consume);
        i.exchange = "audit".into();
        i.routing_key = "Audit.#".into();
        i.ephemeral = true;
        i.queue_suffix = "x".into();

        let amqp = endpoints_for_intent(&Transport::Amqp, "svc", &i);
        let prefix = "audit.topic.exchange.queue.svc-";
        let unique = amqp[0].queue_name.strip_prefix(prefix).unwrap_or_default();
        let parsed = uuid::Uuid::parse_str(unique).map(|u| u.get_version_num());
        assert_eq!(parsed.ok(), Some(4));
        assert_eq!(unique, unique.to_lowercase());

        let nats = endpoints_for_intent(&Transport::Nats, "svc", &i);
        assert_eq!(
            nats,
            vec![
                Endpoint::new(
                    EndpointDirection::Consume,
                    Pattern::CustomStream,
                    "audit",
                    ExchangeKind::Topic
                )
                .with_routing_key("Audit.#")
                .with_ephemeral(true)
            ]
        );
    }

    #[test]
    fn queue_suffix_applies_to_durable_stream_consumers() {
        let mut i = intent(Pattern::EventStream, EndpointDirection::Consume);
        i.routing_key = "Order.Created".into();
        i.queue_suffix = "reminders".into();
        let amqp = endpoints_for_intent(&Transport::Amqp, "backend", &i);
        assert_eq!(
            amqp[0].queue_name,
            "events.topic.exchange.queue.backend-reminders"
        );
        let nats = endpoints_for_intent(&Transport::Nats, "backend", &i);
        assert_eq!(nats[0].queue_name, "backend-reminders");
    }

    #[test]
    fn nats_custom_stream_strips_amqp_suffix() {
        let mut i = intent(Pattern::CustomStream, EndpointDirection::Publish);
        i.exchange = "audit.topic.exchange".into();
        let nats = endpoints_for_intent(&Transport::Nats, "svc", &i);
        assert_eq!(nats[0].exchange_name, "audit");
    }

    #[test]
    fn intents_without_endpoints() {
        let none = [
            (
                Transport::Amqp,
                Pattern::ServiceResponse,
                EndpointDirection::Publish,
            ),
            (
                Transport::Nats,
                Pattern::ServiceResponse,
                EndpointDirection::Publish,
            ),
            (
                Transport::Amqp,
                Pattern::QueuePublish,
                EndpointDirection::Consume,
            ),
            (
                Transport::Nats,
                Pattern::EventStream,
                EndpointDirection::from(""),
            ),
            (
                Transport::Nats,
                Pattern::from("other"),
                EndpointDirection::Publish,
            ),
            (
                Transport::from("kafka"),
                Pattern::EventStream,
                EndpointDirection::Publish,
            ),
        ];
        for (transport, pattern, direction) in none {
            let i = intent(pattern, direction);
            assert_eq!(endpoints_for_intent(&transport, "svc", &i), vec![], "{i:?}");
        }
    }
}
