use messaging_core::StartAt;
use messaging_spec::{ConsumableEvent, HandlerError};
use serde_json::Value;

use super::*;

async fn on_event(_: ConsumableEvent<Value>) -> Result<(), HandlerError> {
    Ok(())
}

async fn on_request(_: ConsumableEvent<Value>) -> Result<Value, HandlerError> {
    Ok(Value::Null)
}

fn ids(i: usize) -> String {
    format!("00000000-0000-4000-8000-00000000000{i}")
}

fn make(setups: &[Setup]) -> Result<Plan> {
    plan("orders", setups, &ConsumerOptions::default(), None, ids)
}

fn err<T>(r: Result<T>) -> Error {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

fn reason(e: Error) -> String {
    match e {
        Error::Core(messaging_core::Error::InvalidRegistration { reason, .. }) => reason,
        other => other.to_string(),
    }
}

#[test]
fn stream_consumers_share_a_queue_per_suffix() -> Result<()> {
    let p = make(&[
        Setup::event_consumer("Order.Created", on_event),
        Setup::event_consumer("Payment.#", on_event),
        Setup::event_consumer("Order.Created", on_event).suffix("audit"),
        Setup::stream_consumer("audit", "Audit.*", on_event),
    ])?;
    let names: Vec<&str> = p.queues.iter().map(|q| q.queue.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "events.topic.exchange.queue.orders",
            "events.topic.exchange.queue.orders-audit",
            "audit.topic.exchange.queue.orders",
        ]
    );
    let keys: Vec<&str> = p.queues[0]
        .bindings
        .iter()
        .map(|b| b.routing_key.as_str())
        .collect();
    assert_eq!(keys, ["Order.Created", "Payment.#"]);
    assert!(
        p.queues[0]
            .bindings
            .iter()
            .all(|b| b.exchange == "events.topic.exchange" && b.service.is_none())
    );
    assert_eq!(p.queues[0].prefetch, 20);
    assert!(!p.queues[0].queue.transient);
    let exchanges: Vec<String> = p.exchanges().into_iter().map(|x| x.name).collect();
    assert_eq!(exchanges, ["audit.topic.exchange", "events.topic.exchange"]);
    Ok(())
}

#[test]
fn overlapping_keys_on_one_queue_are_refused_before_io() {
    let err = err(make(&[
        Setup::event_consumer("Order.*", on_event),
        Setup::event_consumer("Order.Created", on_event),
    ]));
    let r = reason(err);
    assert!(r.contains("overlaps") && r.contains("suffix"), "{r}");
}

#[test]
fn transient_queues_get_their_uuid_in_the_topology_too() -> Result<()> {
    let p = make(&[
        Setup::transient_event_consumer("Order.Created", on_event),
        Setup::transient_stream_consumer("telemetry", "Metric.#", on_event).suffix("x"),
    ])?;
    let names: Vec<&str> = p.queues.iter().map(|q| q.queue.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "events.topic.exchange.queue.orders-00000000-0000-4000-8000-000000000000",
            "telemetry.topic.exchange.queue.orders-00000000-0000-4000-8000-000000000001-x",
        ]
    );
    assert!(p.queues.iter().all(|q| q.queue.transient));
    assert_eq!(
        p.queues[0].label,
        "events.topic.exchange.queue.orders-transient"
    );
    let eps: Vec<&str> = p
        .topology
        .endpoints
        .iter()
        .map(|e| e.queue_name.as_str())
        .collect();
    assert_eq!(eps, names);
    assert!(p.topology.endpoints.iter().all(|e| e.ephemeral));
    Ok(())
}

#[test]
fn request_handlers_share_the_request_queue_and_declare_the_response_exchange() -> Result<()> {
    let p = make(&[
        Setup::request_handler("Order.Get", on_request),
        Setup::request_handler("Order.List", on_request),
    ])?;
    assert_eq!(p.queues.len(), 1);
    let q = &p.queues[0];
    assert!(matches!(q.kind, QueueKind::Requests(_)));
    assert_eq!(q.queue.name, "orders.direct.exchange.request.queue");
    let xs: Vec<(&str, Kind)> = q
        .exchanges
        .iter()
        .map(|x| (x.name.as_str(), x.kind))
        .collect();
    assert_eq!(
        xs,
        [
            ("orders.headers.exchange.response", Kind::Headers),
            ("orders.direct.exchange.request", Kind::Direct),
        ]
    );
    let keys: Vec<&str> = q.bindings.iter().map(|b| b.routing_key.as_str()).collect();
    assert_eq!(keys, ["Order.Get", "Order.List"]);
    Ok(())
}

#[test]
fn request_handlers_must_agree_on_queue_options_and_use_exact_keys() {
    let r = reason(err(make(&[
        Setup::request_handler("A.Get", on_request).concurrency(2),
        Setup::request_handler("B.Get", on_request).concurrency(3),
    ])));
    assert!(r.contains("concurrency"), "{r}");
    let ok = make(&[
        Setup::request_handler("A.Get", on_request).concurrency(2),
        Setup::request_handler("B.Get", on_request),
    ]);
    assert_eq!(
        ok.map(|p| p.queues[0].options.effective_concurrency()).ok(),
        Some(2)
    );
    let r = reason(err(make(&[Setup::request_handler("A.*", on_request)])));
    assert!(r.contains("wildcard"), "{r}");
}

#[test]
fn response_consumers_bind_on_the_caller() -> Result<()> {
    let p = make(&[
        Setup::service_response_consumer("billing", "Charge.Done", on_event),
        Setup::service_response_consumer("billing", "Refund.Done", on_event),
    ])?;
    assert_eq!(p.queues.len(), 1);
    let q = &p.queues[0];
    assert_eq!(
        q.queue.name,
        "billing.headers.exchange.response.queue.orders"
    );
    assert_eq!(q.exchange, "billing.headers.exchange.response");
    assert_eq!(q.bindings.len(), 2);
    assert!(
        q.bindings
            .iter()
            .all(|b| b.service.as_deref() == Some("orders"))
    );
    Ok(())
}

#[test]
fn nats_only_options_and_amqp_limits_are_refused() {
    let r = reason(err(make(&[
        Setup::event_consumer("K", on_event).start_at(StartAt::New)
    ])));
    assert!(r.contains("start_at"), "{r}");
    let r = err(make(&[
        Setup::event_consumer("K", on_event).options(ConsumerOptions::new().prefetch(70_000))
    ]))
    .to_string();
    assert!(r.contains("65535"), "{r}");
    let long = "k".repeat(300);
    assert!(matches!(
        make(&[Setup::event_consumer(long, on_event)]).map(drop),
        Err(Error::NameTooLong { .. }) | Err(Error::Core(_))
    ));
}

#[test]
fn prefetch_defaults_to_twenty_raised_to_the_concurrency() -> Result<()> {
    let p = make(&[
        Setup::event_consumer("A", on_event).concurrency(50),
        Setup::event_consumer("B", on_event).suffix("b"),
        Setup::event_consumer("C", on_event)
            .suffix("c")
            .options(ConsumerOptions::new().suffix("c").prefetch(3)),
    ])?;
    let prefetch: Vec<u16> = p.queues.iter().map(|q| q.prefetch).collect();
    assert_eq!(prefetch, [50, 20, 3]);
    let p = plan(
        "orders",
        &[Setup::event_consumer("A", on_event)],
        &ConsumerOptions::default(),
        Some(7),
        ids,
    )?;
    assert_eq!(p.queues[0].prefetch, 7);
    Ok(())
}

#[test]
fn queue_arguments_follow_the_options() -> Result<()> {
    let opts = ConsumerOptions::new()
        .dead_letter("dlx")
        .dead_letter_routing_key("dead")
        .single_active_consumer(false);
    let p = make(&[Setup::event_consumer("A", on_event).options(opts)])?;
    let q = &p.queues[0].queue;
    assert_eq!(q.dead_letter_exchange.as_deref(), Some("dlx"));
    assert_eq!(q.dead_letter_routing_key.as_deref(), Some("dead"));
    assert!(!q.single_active_consumer);
    Ok(())
}

#[test]
fn publishers_declare_their_exchange_queue_publishers_nothing() -> Result<()> {
    let p = make(&[
        Setup::event_publisher(),
        Setup::stream_publisher("audit.topic.exchange"),
        Setup::service_publisher("billing"),
        Setup::queue_publisher("task-queue"),
    ])?;
    let xs: Vec<&str> = p
        .publishers
        .iter()
        .map(PublisherPlan::exchange_name)
        .collect();
    assert_eq!(
        xs,
        [
            "events.topic.exchange",
            "audit.topic.exchange",
            "billing.direct.exchange.request",
            ""
        ]
    );
    let eps = serde_json::to_value(&p.topology.endpoints).unwrap_or_default();
    assert_eq!(eps[3]["exchangeName"], "(default)");
    assert_eq!(eps[3]["queueName"], "task-queue");
    assert_eq!(p.topology.transport, Some(messaging_spec::Transport::Amqp));
    Ok(())
}

#[test]
fn jetstream_consumer_settings_are_refused_by_name() {
    // The whole table of refusals is `messaging_core`'s (`plan::options` tests, with
    // `Rules::amqp()`); here, that the AMQP plan applies them and names AMQP.
    use messaging_core::Replay;
    let cases = [
        (
            "start_at",
            ConsumerOptions::new().start_at(StartAt::Sequence(3)),
        ),
        ("max_batch", ConsumerOptions::new().max_batch(5)),
    ];
    for (what, opts) in cases {
        let r = reason(err(make(&[
            Setup::transient_event_consumer("K", on_event).options(opts)
        ])));
        assert!(
            r.starts_with(what) && r.contains("not available on AMQP"),
            "{r}"
        );
    }
    // The defaults AMQP behaves as are accepted.
    let same = ConsumerOptions::new()
        .start_at(StartAt::All)
        .replay(Replay::Instant);
    assert!(make(&[Setup::event_consumer("K", on_event).options(same)]).is_ok());
}
