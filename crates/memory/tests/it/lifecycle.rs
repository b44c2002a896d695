//! Start and close: validation before the broker is touched, graceful close, shutdown
//! timeout, drop.

use std::time::Duration;

use messaging_memory::{Broker, Connection, ConsumerOptions, Error, Setup};
use messaging_spec::{ConsumableEvent, HandlerError};
use tokio::time::Instant;

use crate::support::{Order, Res, Seen, WAIT, ms_since};

async fn ok(_ev: ConsumableEvent<Order>) -> Result<(), HandlerError> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn invalid_registrations_fail_before_the_broker_is_touched() -> Res {
    let broker = Broker::new();
    let overlapping = broker
        .connection("svc")
        .event_publisher()
        .event_consumer("Order.*", ok)
        .event_consumer("Order.Created", ok)
        .start()
        .await;
    assert!(
        matches!(
            &overlapping,
            Err(Error::Core(messaging_core::Error::InvalidRegistration {
                index: 2,
                ..
            }))
        ),
        "{overlapping:?}"
    );
    let bad_name = broker
        .connection("bad name")
        .event_publisher()
        .start()
        .await;
    assert!(matches!(bad_name, Err(Error::Spec(_))), "{bad_name:?}");
    let single_active = broker
        .connection("svc")
        .setup(
            Setup::event_consumer("Order.Created", ok)
                .options(ConsumerOptions::new().single_active_consumer(false)),
        )
        .start()
        .await;
    assert!(
        matches!(&single_active, Err(Error::Core(messaging_core::Error::InvalidRegistration { reason, .. })) if reason.contains("single_active_consumer")),
        "{single_active:?}"
    );
    let ack_wait = broker
        .connection("svc")
        .ack_wait(Duration::from_millis(10))
        .event_consumer("Order.Created", ok)
        .start()
        .await;
    assert!(
        matches!(
            ack_wait,
            Err(Error::Core(messaging_core::Error::InvalidConfig(_)))
        ),
        "{ack_wait:?}"
    );
    let backoff_vs_max = broker
        .connection("svc")
        .consumer_defaults(ConsumerOptions::new().backoff([Duration::from_secs(1); 3]))
        .setup(Setup::event_consumer("Order.Created", ok).max_deliver(2))
        .start()
        .await;
    assert!(
        matches!(
            backoff_vs_max,
            Err(Error::Core(
                messaging_core::Error::InvalidRegistration { .. }
            ))
        ),
        "{backoff_vs_max:?}"
    );
    assert!(broker.streams().is_empty(), "no stream was created");
    assert_eq!(broker.published_count(), 0);

    let no_broker = Connection::builder("svc").event_publisher().start().await;
    assert!(
        matches!(&no_broker, Err(Error::Core(messaging_core::Error::InvalidConfig(r))) if r.contains("broker")),
        "{no_broker:?}"
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn close_waits_for_handlers_in_flight() -> Res {
    let broker = Broker::new();
    let done = Seen::<Instant>::new();
    let d = done.clone();
    let billing = broker
        .connection("billing")
        .event_consumer("Order.Created", move |_ev: ConsumableEvent<Order>| {
            let d = d.clone();
            async move {
                tokio::time::sleep(Duration::from_secs(3)).await;
                d.push(Instant::now());
                Ok::<_, HandlerError>(())
            }
        })
        .start()
        .await?;
    let orders = broker
        .connection("orders")
        .event_publisher()
        .start()
        .await?;
    let t0 = Instant::now();
    let events = orders.event_publisher()?;
    events.publish("Order.Created", &Order { id: 1 }).await?;
    events.publish("Order.Created", &Order { id: 2 }).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    billing.close().await?;
    assert_eq!(
        ms_since(t0, Instant::now()),
        3_000,
        "close returned when the handler did"
    );
    let stats = broker.consumer_stats("events", "billing").ok_or("gone")?;
    assert_eq!(
        (
            stats.acked,
            stats.delivered,
            stats.num_pending,
            stats.instances
        ),
        (1, 1, 1, 0),
        "the running one was acked, the next one waits for the next instance"
    );
    assert_eq!(done.len(), 1);
    orders.close().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_close_that_times_out_leaves_the_message_to_the_next_instance() -> Res {
    let broker = Broker::new();
    let handled = Seen::<(&'static str, Instant)>::new();
    let instance = |name: &'static str, work: Duration| {
        let h = handled.clone();
        broker
            .connection("billing")
            .ack_wait(Duration::from_secs(5))
            .shutdown_timeout(Duration::from_secs(2))
            .event_consumer("Order.Created", move |_ev: ConsumableEvent<Order>| {
                let h = h.clone();
                async move {
                    tokio::time::sleep(work).await;
                    h.push((name, Instant::now()));
                    Ok::<_, HandlerError>(())
                }
            })
            .start()
    };
    let slow = instance("slow", Duration::from_secs(60)).await?;
    let orders = broker
        .connection("orders")
        .event_publisher()
        .start()
        .await?;
    let t0 = Instant::now();
    orders
        .event_publisher()?
        .publish("Order.Created", &Order { id: 1 })
        .await?;
    broker
        .wait_for_stats("events", "billing", WAIT, |s| s.delivered == 1)
        .await?;
    let closed = slow.close().await;
    assert!(
        matches!(closed, Err(Error::ShutdownTimeout(d)) if d == Duration::from_secs(2)),
        "{closed:?}"
    );
    assert_eq!(ms_since(t0, Instant::now()), 2_000);
    let next = instance("next", Duration::ZERO).await?;
    broker.wait_for_acked("events", "billing", 1, WAIT).await?;
    // Last in-progress ack at 1.25 s (a quarter of the 5 s AckWait): expiry at 6.25 s.
    let got: Vec<(&str, u128)> = handled
        .all()
        .into_iter()
        .map(|(n, t)| (n, ms_since(t0, t)))
        .collect();
    assert_eq!(got, [("next", 6_250)]);
    // The abandoned handler finishes later; its ack no longer counts.
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(handled.len(), 2);
    let stats = broker.consumer_stats("events", "billing").ok_or("gone")?;
    assert_eq!((stats.delivered, stats.redelivered, stats.acked), (2, 1, 1));
    next.close().await?;
    orders.close().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn dropping_a_connection_unsubscribes_and_deletes_transients() -> Res {
    let broker = Broker::new();
    let conn = broker
        .connection("svc")
        .transient_event_consumer("Order.Created", ok)
        .event_consumer("Order.Shipped", ok)
        .request_handler("Ping", |_ev: ConsumableEvent<serde_json::Value>| async {
            Ok::<_, HandlerError>(())
        })
        .start()
        .await?;
    assert_eq!(broker.consumer_names("events").len(), 2);
    assert_eq!(broker.responders("svc"), 1);
    assert!(conn.is_ready());
    drop(conn);
    assert_eq!(
        broker.consumer_names("events"),
        ["svc"],
        "the durable stays"
    );
    assert_eq!(broker.responders("svc"), 0);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn wait_until_times_out_with_a_typed_error() -> Res {
    let broker = Broker::new();
    let t0 = Instant::now();
    let err = broker
        .wait_until(Duration::from_secs(30), |b| b.published_count() > 0)
        .await
        .err()
        .ok_or("expected a timeout")?;
    assert!(
        matches!(err, Error::WaitTimeout { timeout, .. } if timeout == Duration::from_secs(30)),
        "{err:?}"
    );
    assert_eq!(ms_since(t0, Instant::now()), 30_000);
    let err = broker
        .wait_for_acked("events", "nobody", 1, Duration::from_secs(1))
        .await
        .err()
        .ok_or("expected a timeout")?;
    assert!(err.to_string().contains("1 acks on events/nobody"), "{err}");
    Ok(())
}
