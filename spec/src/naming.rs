//! The spec's naming formulas: AMQP exchange and queue names, NATS stream names, subjects
//! and durable consumer names.
//!
//! All of these are plain string formatting, exactly as the Go and TypeScript
//! implementations do it: nothing is validated, escaped or case-folded. Validation lives in
//! the newtypes ([`crate::ServiceName`], [`crate::StreamName`], …), which call these.

/// Suffix of an AMQP topic exchange (`<name>.topic.exchange`).
pub const TOPIC_EXCHANGE_SUFFIX: &str = ".topic.exchange";

/// Suffix of an AMQP service request exchange (`<service>.direct.exchange.request`).
pub const REQUEST_EXCHANGE_SUFFIX: &str = ".direct.exchange.request";

/// Suffix of an AMQP service response exchange (`<service>.headers.exchange.response`).
pub const RESPONSE_EXCHANGE_SUFFIX: &str = ".headers.exchange.response";

/// The AMQP suffixes a NATS stream name must not carry, in the order the spec tests them.
pub const AMQP_EXCHANGE_SUFFIXES: [&str; 3] = [
    TOPIC_EXCHANGE_SUFFIX,
    REQUEST_EXCHANGE_SUFFIX,
    RESPONSE_EXCHANGE_SUFFIX,
];

/// The AMQP topic exchange for a stream: `<name>.topic.exchange`.
///
/// ```
/// assert_eq!(messaging_spec::naming::topic_exchange_name("events"), "events.topic.exchange");
/// ```
#[must_use]
pub fn topic_exchange_name(name: &str) -> String {
    format!("{name}{TOPIC_EXCHANGE_SUFFIX}")
}

/// The AMQP durable event queue of `service` on `exchange_name`:
/// `<exchangeName>.queue.<service>`.
///
/// ```
/// use messaging_spec::naming::service_event_queue_name;
/// assert_eq!(
///     service_event_queue_name("events.topic.exchange", "svc"),
///     "events.topic.exchange.queue.svc"
/// );
/// ```
#[must_use]
pub fn service_event_queue_name(exchange_name: &str, service: &str) -> String {
    format!("{exchange_name}.queue.{service}")
}

/// The AMQP request exchange of `service`: `<service>.direct.exchange.request`.
///
/// ```
/// use messaging_spec::naming::service_request_exchange_name;
/// assert_eq!(service_request_exchange_name("svc"), "svc.direct.exchange.request");
/// ```
#[must_use]
pub fn service_request_exchange_name(service: &str) -> String {
    format!("{service}{REQUEST_EXCHANGE_SUFFIX}")
}

/// The AMQP response exchange of `service`: `<service>.headers.exchange.response`.
///
/// ```
/// use messaging_spec::naming::service_response_exchange_name;
/// assert_eq!(service_response_exchange_name("svc"), "svc.headers.exchange.response");
/// ```
#[must_use]
pub fn service_response_exchange_name(service: &str) -> String {
    format!("{service}{RESPONSE_EXCHANGE_SUFFIX}")
}

/// The AMQP request queue of `service`: `<service>.direct.exchange.request.queue`.
///
/// ```
/// use messaging_spec::naming::service_request_queue_name;
/// assert_eq!(service_request_queue_name("svc"), "svc.direct.exchange.request.queue");
/// ```
#[must_use]
pub fn service_request_queue_name(service: &str) -> String {
    format!("{service}{REQUEST_EXCHANGE_SUFFIX}.queue")
}

/// The AMQP queue on which `service_name` receives responses from `target_service`:
/// `<targetService>.headers.exchange.response.queue.<serviceName>`.
///
/// ```
/// use messaging_spec::naming::service_response_queue_name;
/// assert_eq!(
///     service_response_queue_name("email-service", "orders"),
///     "email-service.headers.exchange.response.queue.orders"
/// );
/// ```
#[must_use]
pub fn service_response_queue_name(target_service: &str, service_name: &str) -> String {
    format!("{target_service}{RESPONSE_EXCHANGE_SUFFIX}.queue.{service_name}")
}

/// The NATS stream for an exchange name: strips **one** trailing `.topic.exchange`
/// (case-sensitive) and leaves any other name unchanged.
///
/// ```
/// use messaging_spec::naming::nats_stream_name;
/// assert_eq!(nats_stream_name("audit.topic.exchange"), "audit");
/// assert_eq!(nats_stream_name("events.other.suffix"), "events.other.suffix");
/// ```
#[must_use]
pub fn nats_stream_name(name: &str) -> String {
    name.strip_suffix(TOPIC_EXCHANGE_SUFFIX)
        .unwrap_or(name)
        .to_owned()
}

/// The NATS publish subject: `<stream>.<routingKey>`, the key verbatim.
///
/// ```
/// use messaging_spec::naming::nats_subject;
/// assert_eq!(nats_subject("events", "Order.Created"), "events.Order.Created");
/// ```
#[must_use]
pub fn nats_subject(stream: &str, routing_key: &str) -> String {
    format!("{stream}.{routing_key}")
}

/// Translates an AMQP binding key to NATS: every `#` becomes `>`; `*` is unchanged.
///
/// ```
/// use messaging_spec::naming::translate_wildcard;
/// assert_eq!(translate_wildcard("Order.*.Detail.#"), "Order.*.Detail.>");
/// ```
#[must_use]
pub fn translate_wildcard(routing_key: &str) -> String {
    routing_key.replace('#', ">")
}

/// The single subject a stream captures: `<stream>.>`.
///
/// ```
/// assert_eq!(messaging_spec::naming::nats_stream_subjects("events"), "events.>");
/// ```
#[must_use]
pub fn nats_stream_subjects(stream: &str) -> String {
    format!("{stream}.>")
}

/// A consumer's filter subject: `<stream>.` followed by the key with `#` translated to `>`.
///
/// ```
/// use messaging_spec::naming::nats_filter_subject;
/// assert_eq!(nats_filter_subject("events", "Order.#"), "events.Order.>");
/// assert_eq!(nats_filter_subject("events", "#"), "events.>");
/// ```
#[must_use]
pub fn nats_filter_subject(stream: &str, routing_key: &str) -> String {
    nats_subject(stream, &translate_wildcard(routing_key))
}

/// A durable consumer name: `<service>`, or `<service>-<suffix>` with a suffix.
///
/// An empty suffix counts as none, because the TCK intents carry `""` when no suffix is set.
///
/// ```
/// use messaging_spec::naming::nats_durable_name;
/// assert_eq!(nats_durable_name("backend", None), "backend");
/// assert_eq!(nats_durable_name("backend", Some("reminders")), "backend-reminders");
/// assert_eq!(nats_durable_name("backend", Some("")), "backend");
/// ```
#[must_use]
pub fn nats_durable_name(service: &str, suffix: Option<&str>) -> String {
    match suffix {
        Some(sfx) if !sfx.is_empty() => format!("{service}-{sfx}"),
        _ => service.to_owned(),
    }
}

/// The Core NATS subject a service's request handlers listen on:
/// `<targetService>.request.<routingKey>` (no wildcard translation).
///
/// ```
/// use messaging_spec::naming::nats_request_subject;
/// assert_eq!(nats_request_subject("email-svc", "email.send"), "email-svc.request.email.send");
/// ```
#[must_use]
pub fn nats_request_subject(target_service: &str, routing_key: &str) -> String {
    format!("{target_service}.request.{routing_key}")
}

/// The AMQP queue of a transient consumer: `<exchange>.queue.<service>-<unique>`.
///
/// The TCK checks only the `<exchange>.queue.<service>-` prefix; discovery expects `unique`
/// to be a lower-case UUID.
///
/// ```
/// use messaging_spec::naming::transient_queue_name;
/// assert_eq!(
///     transient_queue_name("events.topic.exchange", "svc", "1b4e28ba"),
///     "events.topic.exchange.queue.svc-1b4e28ba"
/// );
/// ```
#[must_use]
pub fn transient_queue_name(exchange: &str, service: &str, unique: &str) -> String {
    format!("{exchange}.queue.{service}-{unique}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_name_strips_only_one_suffix() {
        assert_eq!(
            nats_stream_name("a.topic.exchange.topic.exchange"),
            "a.topic.exchange"
        );
        assert_eq!(nats_stream_name("a.TOPIC.EXCHANGE"), "a.TOPIC.EXCHANGE");
    }

    #[test]
    fn nats_helpers() {
        assert_eq!(nats_stream_subjects("audit"), "audit.>");
        assert_eq!(nats_filter_subject("events", "Order.*"), "events.Order.*");
        assert_eq!(
            nats_request_subject("svc", "a.#"),
            "svc.request.a.#",
            "request subjects are not translated"
        );
    }
}
