//! Failures caught before or instead of delivery: invalid registrations and settings (no
//! broker I/O), a start that fails, and publishes that cannot succeed.

use super::*;

#[cfg(feature = "metrics")]
#[tokio::test]
async fn failed_start_unregisters_its_metrics() -> TestResult {
    let registry = messaging_nats::prometheus::Registry::new();
    // A port nobody listens on any more.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let result = Connection::builder("orders")
        .url(format!("nats://127.0.0.1:{closed}"))
        .metrics(&registry)
        .event_publisher()
        .start()
        .await;
    match result {
        Err(Error::ConnectFailed { .. }) => {}
        other => panic!("expected Error::ConnectFailed, got {other:?}"),
    }
    let server = support::server();
    let conn = support::start(
        support::builder(&server, "orders")
            .metrics(&registry)
            .event_publisher(),
    )
    .await;
    conn.event_publisher()?
        .publish("Order.Created", &Order { id: 1 })
        .await?;
    let families = registry.gather();
    assert!(
        families
            .iter()
            .any(|f| f.name() == "nats_events_publish_succeed")
    );
    conn.close().await?;
    Ok(())
}

type Check = fn(&Error) -> bool;

/// The registration after the stream publisher (index 1) is named, with no spec error.
fn first_registration_invalid(e: &Error) -> bool {
    matches!(
        e,
        Error::Core(messaging_nats::messaging_core::Error::InvalidRegistration {
            index: 1,
            source: None,
            ..
        })
    )
}

/// Registrations and settings that must be refused before the broker is touched. Every
/// builder also registers a stream publisher, so a start that got through would leave a
/// stream behind.
fn invalid_builders(
    server: &messaging_testkit::NatsServer,
) -> Vec<(&'static str, ConnectionBuilder, Check)> {
    let base = |service: &str| support::builder(server, service).stream_publisher("audit");
    let bad_service: Check = |e| {
        matches!(
            e,
            Error::Spec(SpecError::InvalidName {
                kind: NameKind::Service,
                ..
            })
        )
    };
    let bad_key =
        |key: &'static str| -> ConnectionBuilder { base("orders").event_consumer(key, ignore) };
    vec![
        ("service orders.v2", base("orders.v2"), bad_service),
        ("service with space", base("has space"), bad_service),
        (
            "key Order..Created",
            bad_key("Order..Created"),
            |e| matches!(e, Error::Core(messaging_nats::messaging_core::Error::InvalidRegistration { index: 1, source: Some(SpecError::InvalidRoutingKey { key, .. }), .. }) if key == "Order..Created"),
        ),
        (
            "key Order.#.x",
            bad_key("Order.#.x"),
            |e| matches!(e, Error::Core(messaging_nats::messaging_core::Error::InvalidRegistration { index: 1, source: Some(SpecError::InvalidRoutingKey { key, .. }), .. }) if key == "Order.#.x"),
        ),
        (
            "suffix with a dot",
            base("orders").setup(Setup::event_consumer("Order.Created", ignore).suffix("a.b")),
            |e| {
                matches!(
                    e,
                    Error::Core(messaging_nats::messaging_core::Error::InvalidRegistration {
                        index: 1,
                        source: Some(SpecError::InvalidName {
                            kind: NameKind::Suffix,
                            ..
                        }),
                        ..
                    })
                )
            },
        ),
        (
            "overlapping keys on one consumer",
            base("orders")
                .event_consumer("Order.*", ignore)
                .event_consumer("Order.Created", ignore),
            |e| {
                matches!(
                    e,
                    Error::Core(messaging_nats::messaging_core::Error::InvalidRegistration {
                        index: 2,
                        source: None,
                        ..
                    })
                )
            },
        ),
        (
            "backoff longer than max_deliver",
            base("orders").setup(
                Setup::event_consumer("Order.Created", ignore)
                    .max_deliver(2)
                    .backoff([ms(10), ms(20), ms(30)]),
            ),
            |e| {
                matches!(
                    e,
                    Error::Core(messaging_nats::messaging_core::Error::InvalidRegistration {
                        index: 1,
                        source: None,
                        ..
                    })
                )
            },
        ),
        (
            "duplicate publisher",
            base("orders").stream_publisher("audit.topic.exchange"),
            |e| {
                matches!(
                    e,
                    Error::Core(messaging_nats::messaging_core::Error::InvalidRegistration {
                        index: 1,
                        source: None,
                        ..
                    })
                )
            },
        ),
        (
            "zero request timeout",
            base("orders").request_timeout(Duration::ZERO),
            |e| {
                matches!(
                    e,
                    Error::Core(messaging_nats::messaging_core::Error::InvalidConfig(_))
                )
            },
        ),
        (
            "default backoff longer than a registration's max_deliver",
            base("orders")
                .consumer_defaults(ConsumerOptions::new().backoff([ms(10), ms(20), ms(30)]))
                .setup(Setup::event_consumer("Order.Created", ignore).max_deliver(2)),
            first_registration_invalid,
        ),
        (
            "registration's backoff longer than the default max_deliver",
            base("orders")
                .consumer_defaults(ConsumerOptions::new().max_deliver(2))
                .setup(Setup::event_consumer("Order.Created", ignore).backoff([
                    ms(10),
                    ms(20),
                    ms(30),
                ])),
            first_registration_invalid,
        ),
        (
            "options of one consumer that only clash together",
            base("orders")
                .setup(Setup::event_consumer("Order.Created", ignore).max_deliver(2))
                .setup(Setup::event_consumer("Order.Paid", ignore).backoff([
                    ms(10),
                    ms(20),
                    ms(30),
                ])),
            first_registration_invalid,
        ),
        (
            "request handler with a default max_deliver below its backoff",
            base("orders")
                .consumer_defaults(ConsumerOptions::new().max_deliver(1))
                .setup(
                    Setup::request_handler("Orders.Get", |ev: ConsumableEvent<Value>| async move {
                        Ok::<_, HandlerError>(ev.payload)
                    })
                    .backoff([ms(10), ms(20)]),
                ),
            first_registration_invalid,
        ),
        (
            "suffix in consumer_defaults",
            base("orders")
                .consumer_defaults(ConsumerOptions::new().suffix("audit"))
                .event_consumer("Order.Created", ignore),
            |e| {
                matches!(
                    e,
                    Error::Core(messaging_nats::messaging_core::Error::InvalidConfig(_))
                )
            },
        ),
        (
            "concurrency beyond any semaphore",
            base("orders")
                .setup(Setup::event_consumer("Order.Created", ignore).concurrency(usize::MAX)),
            first_registration_invalid,
        ),
        (
            "default prefetch of zero",
            base("orders")
                .consumer_defaults(ConsumerOptions::new().prefetch(0))
                .event_consumer("Order.Created", ignore),
            |e| {
                matches!(
                    e,
                    Error::Core(messaging_nats::messaging_core::Error::InvalidConfig(_))
                )
            },
        ),
        (
            "zero health check interval",
            base("orders").health_check_interval(Duration::ZERO),
            |e| {
                matches!(
                    e,
                    Error::Core(messaging_nats::messaging_core::Error::InvalidConfig(_))
                )
            },
        ),
        (
            "health check interval that would overflow",
            base("orders").health_check_interval(Duration::MAX),
            |e| {
                matches!(
                    e,
                    Error::Core(messaging_nats::messaging_core::Error::InvalidConfig(_))
                )
            },
        ),
    ]
}

#[tokio::test]
async fn invalid_registrations_fail_before_any_stream_exists() -> TestResult {
    let server = support::server();
    let cases = invalid_builders(&server);
    let count = cases.len();
    for (what, builder, check) in cases {
        match builder.topology() {
            Err(e) => assert!(check(&e), "{what}: topology() gave {e:?}"),
            Ok(t) => panic!("{what}: topology() accepted it: {t:?}"),
        }
        match builder.start().await {
            Err(e) => assert!(check(&e), "{what}: start() gave {e:?}"),
            Ok(_) => panic!("{what}: start() accepted it"),
        }
    }
    let js = support::raw_js(&server).await;
    assert_eq!(support::stream_names(&js).await, Vec::<String>::new());
    println!("invalid registrations: {count} cases passed");
    Ok(())
}

#[tokio::test]
async fn publish_after_close_fails_closed() -> TestResult {
    let server = support::server();
    let conn = support::start(support::builder(&server, "shop").event_publisher()).await;
    let events = conn.event_publisher()?;
    conn.close().await?;
    match events.publish("Order.Created", &Order { id: 1 }).await {
        Err(Error::Closed) => {}
        other => panic!("expected Closed, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn publish_with_invalid_routing_key_fails_and_stores_nothing() -> TestResult {
    let server = support::server();
    let conn = support::start(support::builder(&server, "shop").event_publisher()).await;
    let events = conn.event_publisher()?;
    for bad in ["a..b", "Order.*"] {
        match events.publish(bad, &Order { id: 1 }).await {
            Err(Error::Spec(SpecError::InvalidRoutingKey { key, .. })) => assert_eq!(key, bad),
            other => panic!("{bad}: expected InvalidRoutingKey, got {other:?}"),
        }
    }
    let js = support::raw_js(&server).await;
    assert_eq!(support::stream_info(&js, "events").await.state.messages, 0);
    Ok(())
}

#[tokio::test]
async fn publish_to_a_deleted_stream_fails_after_the_configured_attempts() -> TestResult {
    let server = support::server();
    let conn = support::start(
        support::builder(&server, "auditor")
            .publish_retries(4, ms(20))
            .stream_publisher("audit"),
    )
    .await;
    let audit = conn.stream_publisher("audit")?;
    let first = audit.publish("Audit.Entry", &json!({"n": 1})).await?;
    assert_eq!(first.sequence, Some(1));

    let js = support::raw_js(&server).await;
    js.delete_stream("audit").await?;
    match audit.publish("Audit.Entry", &json!({"n": 2})).await {
        Err(Error::Publish {
            subject, attempts, ..
        }) => {
            assert_eq!(subject, "audit.Audit.Entry");
            assert_eq!(attempts, 4);
        }
        other => panic!("expected Publish error, got {other:?}"),
    }
    // The publisher does not recreate the stream behind the operator's back.
    assert_eq!(support::stream_names(&js).await, Vec::<String>::new());
    Ok(())
}
