//! Ack tracking: ack, nak with backoff (virtual times), max_deliver, term, undecodable,
//! no handler, panics, AckWait with in-progress acks, concurrency.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use messaging_memory::{Broker, Connection, ConsumerOptions, Setup};
use messaging_spec::{ConsumableEvent, HandlerError};
use tokio::time::Instant;

use crate::support::{Failed, Order, Res, Seen, WAIT, channels, ms_since};

async fn publisher(broker: &Broker) -> Result<Connection, messaging_memory::Error> {
    broker
        .connection("orders")
        .event_publisher()
        .queue_publisher("billing")
        .start()
        .await
}

#[tokio::test(start_paused = true)]
async fn failures_are_retried_with_backoff_at_the_configured_virtual_times() -> Res {
    let broker = Broker::new();
    let orders = publisher(&broker).await?;
    let attempts = Seen::<Instant>::new();
    let (ok_tx, err_tx, mut notes) = channels();
    let seen = attempts.clone();
    let billing = broker
        .connection("billing")
        .notifications(ok_tx)
        .error_notifications(err_tx)
        .setup(
            Setup::event_consumer("Order.Created", move |_ev: ConsumableEvent<Order>| {
                seen.push(Instant::now());
                async { Err::<(), _>(HandlerError::retry("database down")) }
            })
            .backoff([Duration::from_secs(1), Duration::from_secs(30)])
            .max_deliver(3),
        )
        .start()
        .await?;
    let wall = std::time::Instant::now();
    let t0 = Instant::now();
    orders
        .event_publisher()?
        .publish("Order.Created", &Order { id: 1 })
        .await?;
    let stats = broker
        .wait_for_stats("events", "billing", WAIT, |s| s.exhausted == 1)
        .await?;
    let times: Vec<u128> = attempts
        .all()
        .into_iter()
        .map(|t| ms_since(t0, t))
        .collect();
    assert_eq!(
        times,
        [0, 1_000, 31_000],
        "attempt 1 now, then +1 s, then +30 s"
    );
    assert_eq!(
        (
            stats.delivered,
            stats.redelivered,
            stats.naked,
            stats.acked,
            stats.termed
        ),
        (3, 2, 3, 0, 0)
    );
    assert_eq!((stats.num_pending, stats.num_ack_pending), (0, 0));
    // No fourth delivery, however long we wait.
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(attempts.len(), 3);
    let errors = notes.errors();
    assert_eq!(errors.len(), 3);
    for (e, info) in &errors {
        assert_eq!(
            *e,
            Failed::Handler {
                key: "Order.Created".into(),
                retry: true,
                text: "database down".into()
            }
        );
        assert_eq!(info.destination, "billing");
    }
    assert!(notes.successes().is_empty());
    assert!(
        wall.elapsed() < Duration::from_secs(5),
        "31 s of backoff took {:?} of real time",
        wall.elapsed()
    );
    billing.close().await?;
    orders.close().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_nak_without_backoff_redelivers_at_once_then_acks() -> Res {
    let broker = Broker::new();
    let orders = publisher(&broker).await?;
    let calls = Arc::new(AtomicUsize::new(0));
    let times = Seen::<Instant>::new();
    let (c, t) = (Arc::clone(&calls), times.clone());
    let billing = broker
        .connection("billing")
        .event_consumer("Order.Created", move |_ev: ConsumableEvent<Order>| {
            t.push(Instant::now());
            let first = c.fetch_add(1, Ordering::SeqCst) == 0;
            async move {
                if first {
                    return Err(HandlerError::retry("flaky"));
                }
                Ok(())
            }
        })
        .start()
        .await?;
    let t0 = Instant::now();
    orders
        .event_publisher()?
        .publish("Order.Created", &Order { id: 1 })
        .await?;
    let stats = broker.wait_for_acked("events", "billing", 1, WAIT).await?;
    assert_eq!((stats.delivered, stats.naked, stats.acked), (2, 1, 1));
    let ms: Vec<u128> = times.all().into_iter().map(|t| ms_since(t0, t)).collect();
    assert_eq!(ms, [0, 0]);
    billing.close().await?;
    orders.close().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn rejected_undecodable_and_unrouted_messages_are_termed_and_reported() -> Res {
    let broker = Broker::new();
    let orders = publisher(&broker).await?;
    let (ok_tx, err_tx, mut notes) = channels();
    let billing = broker
        .connection("billing")
        .notifications(ok_tx)
        .error_notifications(err_tx)
        .event_consumer("Order.Created", |ev: ConsumableEvent<Order>| async move {
            if ev.payload.id == 0 {
                return Err(HandlerError::reject("id 0 is invalid"));
            }
            Ok(())
        })
        .start()
        .await?;
    let events = orders.event_publisher()?;
    events.publish("Order.Created", &Order { id: 0 }).await?;
    events
        .publish_raw("Order.Created", r#"{"id": "not a number"}"#)
        .await?;
    events.publish_raw("Order.Created", "not json").await?;
    events.publish("Order.Created", &Order { id: 5 }).await?;
    // Sender-selected: straight into billing's queue, whatever its filter.
    let receipt = orders
        .queue_publisher("billing")?
        .publish("Invoice.Due", &Order { id: 6 })
        .await?;
    assert_eq!(receipt.stream.as_deref(), Some("events"));
    let stats = broker
        .wait_for_stats("events", "billing", WAIT, |s| s.settled() == 5)
        .await?;
    assert_eq!(
        (
            stats.delivered,
            stats.acked,
            stats.termed,
            stats.naked,
            stats.redelivered
        ),
        (5, 1, 4, 0, 0),
        "terminated messages are never redelivered"
    );
    let errors: Vec<Failed> = notes.errors().into_iter().map(|(e, _)| e).collect();
    assert_eq!(
        errors,
        [
            Failed::Handler {
                key: "Order.Created".into(),
                retry: false,
                text: "id 0 is invalid".into()
            },
            Failed::Undecodable("Order.Created".into()),
            Failed::Undecodable("Order.Created".into()),
            Failed::NoHandler("Invoice.Due".into()),
        ]
    );
    assert_eq!(notes.successes().len(), 1);
    billing.close().await?;
    orders.close().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_durable_updated_by_a_newer_instance_terms_keys_an_older_one_cannot_route() -> Res {
    let broker = Broker::new();
    let orders = publisher(&broker).await?;
    let (ok_tx, err_tx, mut notes) = channels();
    let old = broker
        .connection("billing")
        .error_notifications(err_tx)
        .notifications(ok_tx)
        .event_consumer("Order.Created", |_ev: ConsumableEvent<Order>| async {
            Ok::<_, HandlerError>(())
        })
        .start()
        .await?;
    // A newer version widens the filter (create-or-update), then goes away again.
    let new = broker
        .connection("billing")
        .event_consumer("Order.#", |_ev: ConsumableEvent<Order>| async {
            Ok::<_, HandlerError>(())
        })
        .start()
        .await?;
    new.close().await?;
    orders
        .event_publisher()?
        .publish("Order.Shipped", &Order { id: 1 })
        .await?;
    let stats = broker
        .wait_for_stats("events", "billing", WAIT, |s| s.termed == 1)
        .await?;
    assert_eq!(stats.filters, ["Order.#"]);
    let errors = notes.errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0, Failed::NoHandler("Order.Shipped".into()));
    old.close().await?;
    orders.close().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn panics_are_caught_and_retried() -> Res {
    let broker = Broker::new();
    let orders = publisher(&broker).await?;
    let (_ok, err_tx, mut notes) = channels();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let billing = broker
        .connection("billing")
        .error_notifications(err_tx)
        .event_consumer("Order.Created", move |_ev: ConsumableEvent<Order>| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            async move {
                assert!(n > 0, "boom");
                Ok::<_, HandlerError>(())
            }
        })
        .start()
        .await?;
    orders
        .event_publisher()?
        .publish("Order.Created", &Order { id: 1 })
        .await?;
    let stats = broker.wait_for_acked("events", "billing", 1, WAIT).await?;
    assert_eq!((stats.delivered, stats.naked, stats.acked), (2, 1, 1));
    let errors = notes.errors();
    assert_eq!(errors.len(), 1);
    assert!(
        matches!(&errors[0].0, Failed::Panicked { key, message } if key == "Order.Created" && message == "boom"),
        "{errors:?}"
    );
    billing.close().await?;
    orders.close().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_handler_slower_than_ack_wait_is_kept_alive_not_redelivered() -> Res {
    let broker = Broker::new();
    let orders = publisher(&broker).await?;
    let billing = broker
        .connection("billing")
        .ack_wait(Duration::from_secs(1))
        .event_consumer("Order.Created", |_ev: ConsumableEvent<Order>| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, HandlerError>(())
        })
        .start()
        .await?;
    orders
        .event_publisher()?
        .publish("Order.Created", &Order { id: 1 })
        .await?;
    let stats = broker.wait_for_acked("events", "billing", 1, WAIT).await?;
    assert_eq!((stats.delivered, stats.redelivered), (1, 0));
    // Every 250 ms (a quarter AckWait) while the 5 s handler ran.
    assert!(
        (19..=20).contains(&stats.progress_acks),
        "{}",
        stats.progress_acks
    );
    billing.close().await?;
    orders.close().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn deliveries_of_a_crashed_instance_are_redelivered_after_ack_wait() -> Res {
    let broker = Broker::new();
    let orders = publisher(&broker).await?;
    let received = Seen::<(&'static str, Instant)>::new();
    let instance = |name: &'static str, hang: bool| {
        let seen = received.clone();
        broker
            .connection("billing")
            .ack_wait(Duration::from_secs(1))
            .event_consumer("Order.Created", move |_ev: ConsumableEvent<Order>| {
                seen.push((name, Instant::now()));
                async move {
                    if hang {
                        std::future::pending::<()>().await;
                    }
                    Ok::<_, HandlerError>(())
                }
            })
            .start()
    };
    let crashing = instance("a", true).await?;
    let t0 = Instant::now();
    orders
        .event_publisher()?
        .publish("Order.Created", &Order { id: 1 })
        .await?;
    // Held for 10 s without a redelivery: the running handler sends in-progress acks.
    tokio::time::sleep(Duration::from_millis(10_100)).await;
    let held = broker
        .consumer_stats("events", "billing")
        .ok_or("no durable")?;
    assert_eq!((held.delivered, held.num_ack_pending), (1, 1));
    crashing.abort();
    let survivor = instance("b", false).await?;
    let stats = broker.wait_for_acked("events", "billing", 1, WAIT).await?;
    let got: Vec<(&str, u128)> = received
        .all()
        .into_iter()
        .map(|(n, t)| (n, ms_since(t0, t)))
        .collect();
    // The last in-progress ack was at 10.0 s, so AckWait expires at 11.0 s.
    assert_eq!(got, [("a", 0), ("b", 11_000)]);
    assert_eq!((stats.delivered, stats.redelivered, stats.acked), (2, 1, 1));
    survivor.close().await?;
    orders.close().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn concurrency_bounds_handlers_in_flight() -> Res {
    let broker = Broker::new();
    let orders = publisher(&broker).await?;
    for (service, n, expected_ms) in [("serial", 1usize, 10_000u128), ("parallel", 4, 3_000)] {
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (r, p) = (Arc::clone(&running), Arc::clone(&peak));
        let c = broker
            .connection(service)
            .setup(
                Setup::event_consumer(
                    service.to_owned() + ".Tick",
                    move |_ev: ConsumableEvent<Order>| {
                        let (r, p) = (Arc::clone(&r), Arc::clone(&p));
                        async move {
                            let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                            p.fetch_max(now, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            r.fetch_sub(1, Ordering::SeqCst);
                            Ok::<_, HandlerError>(())
                        }
                    },
                )
                .options(ConsumerOptions::new().concurrency(n)),
            )
            .start()
            .await?;
        let t0 = Instant::now();
        let events = orders.event_publisher()?;
        for id in 0..10 {
            events
                .publish(&format!("{service}.Tick"), &Order { id })
                .await?;
        }
        broker.wait_for_acked("events", service, 10, WAIT).await?;
        assert_eq!(peak.load(Ordering::SeqCst), n, "{service}");
        assert_eq!(ms_since(t0, Instant::now()), expected_ms, "{service}");
        c.close().await?;
    }
    orders.close().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn an_expired_last_delivery_is_not_redelivered() -> Res {
    let broker = Broker::new();
    let orders = publisher(&broker).await?;
    let crashing = broker
        .connection("billing")
        .ack_wait(Duration::from_secs(1))
        .setup(
            Setup::event_consumer("Order.Created", |_ev: ConsumableEvent<Order>| async {
                std::future::pending::<Result<(), HandlerError>>().await
            })
            .max_deliver(1),
        )
        .start()
        .await?;
    orders
        .event_publisher()?
        .publish("Order.Created", &Order { id: 1 })
        .await?;
    broker
        .wait_for_stats("events", "billing", WAIT, |s| s.delivered == 1)
        .await?;
    let t0 = Instant::now();
    crashing.abort();
    let calls = Seen::<Instant>::new();
    let c = calls.clone();
    let survivor = broker
        .connection("billing")
        .ack_wait(Duration::from_secs(1))
        .setup(
            Setup::event_consumer("Order.Created", move |_ev: ConsumableEvent<Order>| {
                c.push(Instant::now());
                async { Ok::<_, HandlerError>(()) }
            })
            .max_deliver(1),
        )
        .start()
        .await?;
    let stats = broker
        .wait_for_stats("events", "billing", WAIT, |s| s.exhausted == 1)
        .await?;
    assert_eq!(
        ms_since(t0, Instant::now()),
        1_000,
        "given up when AckWait expired"
    );
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        calls.len(),
        0,
        "max_deliver 1: the one delivery was the crashed one"
    );
    assert_eq!((stats.delivered, stats.num_ack_pending), (1, 0));
    survivor.close().await?;
    orders.close().await?;
    Ok(())
}

/// The same guarantees on a multi-threaded runtime and the real clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shared_durable_on_a_multi_threaded_runtime() -> Res {
    let broker = Broker::new();
    let orders = publisher(&broker).await?;
    let seen = Seen::<u64>::new();
    let mut instances = Vec::new();
    for _ in 0..3 {
        let s = seen.clone();
        instances.push(
            broker
                .connection("billing")
                .setup(
                    Setup::event_consumer("Order.Created", move |ev: ConsumableEvent<Order>| {
                        s.push(ev.payload.id);
                        async { Ok::<_, HandlerError>(()) }
                    })
                    .concurrency(4),
                )
                .start()
                .await?,
        );
    }
    let events = orders.event_publisher()?;
    for id in 0..2_000 {
        events.publish("Order.Created", &Order { id }).await?;
    }
    let stats = broker
        .wait_for_acked("events", "billing", 2_000, WAIT)
        .await?;
    let mut ids = seen.all();
    ids.sort_unstable();
    assert_eq!(ids, (0..2_000).collect::<Vec<_>>(), "each exactly once");
    assert_eq!((stats.delivered, stats.redelivered), (2_000, 0));
    for c in instances {
        c.close().await?;
    }
    orders.close().await?;
    Ok(())
}
