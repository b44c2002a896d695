//! The shared plan under each transport's rules: what is grouped together, what each
//! transport refuses, and the topology it exports — all before any I/O.

use messaging_core::{ConsumerOptions, Error, PublishTarget, Rules, Setup, StartAt, plan};
use messaging_spec::{ConsumableEvent, HandlerError, Transport};

async fn noop(_: ConsumableEvent<serde_json::Value>) -> Result<(), HandlerError> {
    Ok(())
}

async fn answer(ev: ConsumableEvent<u64>) -> Result<u64, HandlerError> {
    Ok(ev.payload + 1)
}

fn reason(e: &Error) -> (usize, &str) {
    match e {
        Error::InvalidRegistration { index, reason, .. } => (*index, reason.as_str()),
        other => panic!("expected InvalidRegistration, got {other:?}"),
    }
}

#[test]
fn durable_registrations_share_a_group_per_suffix() {
    let setups = vec![
        Setup::event_consumer("Order.Created", noop),
        Setup::event_consumer("Order.Paid", noop),
        Setup::event_consumer("Order.Created", noop).suffix("audit"),
    ];
    for rules in [Rules::nats(), Rules::amqp()] {
        let p = plan(&rules, "billing", &setups, &ConsumerOptions::default()).unwrap();
        assert_eq!(p.groups.len(), 2, "{rules:?}");
        assert_eq!(p.groups[0].routes.len(), 2);
        assert_eq!(p.groups[0].suffix, None);
        assert_eq!(
            p.groups[1].suffix.as_ref().map(|s| s.as_str()),
            Some("audit")
        );
        assert_eq!(p.topology.transport, Some(rules.transport.clone()));
        assert_eq!(p.topology.endpoints.len(), 3);
    }
}

#[test]
fn transients_share_one_consumer_on_nats_and_get_one_queue_each_on_amqp() {
    let setups = vec![
        Setup::transient_event_consumer("A.x", noop),
        Setup::transient_event_consumer("B.x", noop),
    ];
    let nats = plan(&Rules::nats(), "dash", &setups, &ConsumerOptions::default()).unwrap();
    assert_eq!(nats.groups.len(), 1);
    assert!(nats.groups[0].transient);
    let amqp = plan(&Rules::amqp(), "dash", &setups, &ConsumerOptions::default()).unwrap();
    assert_eq!(amqp.groups.len(), 2);
}

#[test]
fn overlapping_keys_on_one_consumer_are_refused_on_every_transport() {
    let setups = vec![
        Setup::event_consumer("Order.*", noop),
        Setup::event_consumer("Order.Created", noop),
    ];
    for rules in [Rules::nats(), Rules::amqp()] {
        let e = plan(&rules, "svc", &setups, &ConsumerOptions::default()).unwrap_err();
        let (index, text) = reason(&e);
        assert_eq!(index, 1);
        assert!(text.contains("overlaps"), "{text}");
    }
}

#[test]
fn queue_publish_exists_only_on_amqp() {
    let setups = vec![Setup::event_publisher(), Setup::queue_publisher("tasks")];
    let p = plan(&Rules::amqp(), "svc", &setups, &ConsumerOptions::default()).unwrap();
    assert_eq!(
        p.publishers,
        vec![
            PublishTarget::EventStream,
            PublishTarget::Queue("tasks".into())
        ]
    );
    let e = plan(&Rules::nats(), "svc", &setups, &ConsumerOptions::default()).unwrap_err();
    assert_eq!(reason(&e).0, 1);
    let empty = vec![Setup::queue_publisher("")];
    let e = plan(&Rules::amqp(), "svc", &empty, &ConsumerOptions::default()).unwrap_err();
    assert_eq!(reason(&e).0, 0);
}

#[test]
fn amqp_refuses_start_positions_and_wildcard_request_keys() {
    let start = vec![Setup::event_consumer("A.b", noop).start_at(StartAt::New)];
    assert!(plan(&Rules::nats(), "svc", &start, &ConsumerOptions::default()).is_ok());
    let e = plan(&Rules::amqp(), "svc", &start, &ConsumerOptions::default()).unwrap_err();
    assert_eq!(reason(&e).0, 0);

    let wildcard = vec![Setup::request_handler("Price.*", answer)];
    assert!(
        plan(
            &Rules::nats(),
            "svc",
            &wildcard,
            &ConsumerOptions::default()
        )
        .is_ok()
    );
    let e = plan(
        &Rules::amqp(),
        "svc",
        &wildcard,
        &ConsumerOptions::default(),
    )
    .unwrap_err();
    assert!(reason(&e).1.contains("wildcard"));

    let defaults = ConsumerOptions::new().start_at(StartAt::Last);
    assert!(matches!(
        plan(&Rules::amqp(), "svc", &[], &defaults),
        Err(Error::InvalidConfig(_))
    ));
}

#[test]
fn queue_arguments_exist_only_on_amqp() {
    let setups = vec![
        Setup::event_consumer("A.b", noop).options(
            ConsumerOptions::new()
                .dead_letter("dlx")
                .dead_letter_routing_key("dead")
                .single_active_consumer(false),
        ),
    ];
    let p = plan(&Rules::amqp(), "svc", &setups, &ConsumerOptions::default()).unwrap();
    let dl = p.groups[0].options.get_dead_letter().unwrap();
    assert_eq!(
        (dl.destination.as_str(), dl.routing_key.as_deref()),
        ("dlx", Some("dead"))
    );
    assert_eq!(
        p.groups[0].options.get_single_active_consumer(),
        Some(false)
    );
    let e = plan(&Rules::nats(), "svc", &setups, &ConsumerOptions::default()).unwrap_err();
    assert!(
        reason(&e)
            .1
            .contains("single_active_consumer is not available on NATS")
    );
    // Dead-lettering alone works on NATS too (to a stream the transport ensures).
    let dead_letter_only =
        vec![Setup::event_consumer("A.b", noop).options(ConsumerOptions::new().dead_letter("dlq"))];
    assert!(
        plan(
            &Rules::nats(),
            "svc",
            &dead_letter_only,
            &ConsumerOptions::default()
        )
        .is_ok()
    );
    let empty =
        vec![Setup::event_consumer("A.b", noop).options(ConsumerOptions::new().dead_letter(""))];
    assert!(plan(&Rules::amqp(), "svc", &empty, &ConsumerOptions::default()).is_err());
}

#[test]
fn topology_names_the_transport_and_the_queue_publish_endpoint() {
    let setups = vec![Setup::queue_publisher("tasks")];
    let p = plan(&Rules::amqp(), "svc", &setups, &ConsumerOptions::default()).unwrap();
    assert_eq!(p.topology.transport, Some(Transport::Amqp));
    let json = serde_json::to_value(&p.topology).unwrap();
    assert_eq!(json["endpoints"][0]["pattern"], "queue-publish");
    assert_eq!(json["endpoints"][0]["queueName"], "tasks");
}
