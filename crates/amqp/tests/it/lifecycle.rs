//! Lifecycle: graceful close, the confirm window, prefetch, health, and recovery after the
//! broker closes the connection or deletes a queue.

use std::time::Duration;

use messaging_amqp::lapin::options::BasicGetOptions;
use messaging_amqp::{ConsumerOptions, Error, PublishFailure, Setup};
use messaging_spec::{ConsumableEvent, HandlerError};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::support::*;

fn no_sac() -> ConsumerOptions {
    ConsumerOptions::new().single_active_consumer(false)
}

/// A queue's messages, read with `basic.get` (exact and immediate, unlike the
/// management API's statistics).
async fn take_one(queue: &str) -> Option<Vec<u8>> {
    let conn = raw().await;
    let ch = match conn.create_channel().await {
        Ok(c) => c,
        Err(e) => panic!("channel: {e}"),
    };
    match ch
        .basic_get(queue.into(), BasicGetOptions { no_ack: true })
        .await
    {
        Ok(m) => m.map(|m| m.delivery.data),
        Err(e) => panic!("basic.get {queue}: {e}"),
    }
}

#[tokio::test]
async fn close_waits_for_running_handlers_and_their_acks() -> TestResult {
    let svc = unique("closer");
    let stream = unique("close");
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let (done_tx, mut done) = mpsc::unbounded_channel();
    let slow = move |_: ConsumableEvent<Value>| {
        let started_tx = started_tx.clone();
        let done_tx = done_tx.clone();
        async move {
            let _ = started_tx.send(());
            tokio::time::sleep(Duration::from_millis(800)).await;
            let _ = done_tx.send(());
            Ok::<_, HandlerError>(())
        }
    };
    // basic.get (to look into the queue) needs a queue without single active consumer.
    let conn = start(
        builder(&svc)
            .stream_publisher(&stream)
            .setup(Setup::stream_consumer(&stream, "Slow.Job", slow).options(no_sac())),
    )
    .await;
    conn.stream_publisher(&stream)?
        .publish("Slow.Job", &json!({}))
        .await?;
    recv(&mut started).await;
    let closing = std::time::Instant::now();
    conn.close().await?;
    assert!(
        done.try_recv().is_ok(),
        "close returned before the handler finished"
    );
    assert!(closing.elapsed() >= Duration::from_millis(500));
    let queue = format!("{stream}.topic.exchange.queue.{svc}");
    assert_eq!(
        take_one(&queue).await,
        None,
        "the handled message was acked, not requeued"
    );
    Ok(())
}

#[tokio::test]
async fn a_handler_past_the_shutdown_timeout_is_reported_and_its_message_requeued() -> TestResult {
    let svc = unique("stuck");
    let stream = unique("stuck");
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let conn = start(
        builder(&svc)
            .shutdown_timeout(Duration::from_millis(300))
            .stream_publisher(&stream)
            .setup(
                Setup::stream_consumer(&stream, "Stuck.Job", move |_: ConsumableEvent<Value>| {
                    let started_tx = started_tx.clone();
                    async move {
                        let _ = started_tx.send(());
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        Ok::<_, HandlerError>(())
                    }
                })
                .options(no_sac()),
            ),
    )
    .await;
    conn.stream_publisher(&stream)?
        .publish("Stuck.Job", &json!({"job": 1}))
        .await?;
    recv(&mut started).await;
    assert!(matches!(conn.close().await, Err(Error::ShutdownTimeout(_))));
    let queue = format!("{stream}.topic.exchange.queue.{svc}");
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let back = loop {
        if let Some(m) = take_one(&queue).await {
            break m;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the message never came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(back, br#"{"job":1}"#);
    Ok(())
}

#[tokio::test]
async fn the_confirm_window_bounds_sends_without_deadlock() -> TestResult {
    let stream = unique("window");
    let conn = start(
        builder(&unique("window"))
            .stream_publisher(&stream)
            .max_in_flight_confirms(2)
            .publish_timeout(Duration::from_millis(300)),
    )
    .await;
    let p = conn.stream_publisher(&stream)?;
    let a = p.publish("W.K", &1).send().await?;
    let b = p.publish("W.K", &2).send().await?;
    match p.publish("W.K", &3).send().await {
        Err(Error::Publish {
            kind: PublishFailure::Backpressure,
            attempts: 1,
            ..
        }) => {}
        other => panic!("expected backpressure, got {other:?}"),
    }
    let first = a.await?;
    assert_eq!(first.routing_key, "W.K");
    let c = p.publish("W.K", &4).send().await?;
    b.await?;
    c.await?;
    // A sliding window over many publishes never waits on itself.
    let mut window = std::collections::VecDeque::new();
    for n in 0..200u32 {
        if window.len() == 2
            && let Some(oldest) = window.pop_front()
        {
            let _: messaging_amqp::PublishReceipt = oldest.await?;
        }
        window.push_back(p.publish("W.K", &n).send().await?);
    }
    for c in window {
        c.await?;
    }
    conn.close().await?;
    Ok(())
}

#[tokio::test]
async fn prefetch_and_health_are_what_was_configured() -> TestResult {
    let svc = unique("prefetch");
    let stream = unique("prefetch");
    let (h, _rx) = forward::<Value>();
    let conn = start(builder(&svc).prefetch(7).stream_consumer(&stream, "P.K", h)).await;
    let queue = format!("{stream}.topic.exchange.queue.{svc}");
    let prefetch_of = |queue: &str| {
        mgmt("/api/consumers/%2f").as_array().and_then(|c| {
            c.iter()
                .find(|c| c["queue"]["name"] == queue)
                .map(|c| c["prefetch_count"].clone())
        })
    };
    eventually("the consumer in /api/consumers", || {
        prefetch_of(&queue).is_some()
    })
    .await;
    assert_eq!(prefetch_of(&queue), Some(json!(7)));
    assert!(conn.is_ready());
    let health = conn.health();
    assert_eq!(health.queues, [(queue, true)]);
    conn.close().await?;
    Ok(())
}

#[tokio::test]
async fn a_connection_closed_by_the_broker_recovers_and_keeps_consuming() -> TestResult {
    let svc = unique("recover");
    let stream = unique("recover");
    let name = unique("recover-conn");
    let (h, mut rx) = forward::<Value>();
    let registry = prometheus::Registry::new();
    let conn = start(
        builder(&svc)
            .connection_name(&name)
            .metrics(&registry)
            .stream_publisher(&stream)
            .stream_consumer(&stream, "R.K", h),
    )
    .await;
    let p = conn.stream_publisher(&stream)?;
    p.publish("R.K", &json!({"n": 1})).await?;
    assert_eq!(recv(&mut rx).await.payload, json!({"n": 1}));
    close_connection(&name).await?;
    // The publish waits for the new connection (within the publish timeout) and
    // succeeds: no retry loop here.
    p.publish("R.K", &json!({"n": 2})).await?;
    loop {
        let ev = recv(&mut rx).await;
        if ev.payload == json!({"n": 2}) {
            break;
        }
    }
    eventually("ready again", || conn.is_ready()).await;
    let events = |event: &str| {
        registry
            .gather()
            .iter()
            .filter(|f| f.name() == "amqp_connection_events")
            .flat_map(|f| f.get_metric().iter())
            .filter(|m| m.get_label().iter().any(|l| l.value() == event))
            .map(|m| m.get_counter().get_value())
            .sum::<f64>()
    };
    assert_eq!(events("disconnected"), 1.0);
    assert_eq!(events("reconnected"), 1.0);
    conn.close().await?;
    Ok(())
}

#[tokio::test]
async fn a_deleted_queue_is_declared_and_consumed_again() -> TestResult {
    let svc = unique("redeclare");
    let stream = unique("redeclare");
    let (h, mut rx) = forward::<Value>();
    let conn = start(
        builder(&svc)
            .stream_publisher(&stream)
            .stream_consumer(&stream, "D.K", h),
    )
    .await;
    let queue = format!("{stream}.topic.exchange.queue.{svc}");
    broker().management_delete(&format!("/api/queues/%2f/{queue}"))?;
    eventually("the queue declared again", || {
        queue_info(&queue).is_some() && bindings_of(&queue).len() == 1
    })
    .await;
    eventually("consuming again", || conn.is_ready()).await;
    conn.stream_publisher(&stream)?
        .publish("D.K", &json!({"again": true}))
        .await?;
    assert_eq!(recv(&mut rx).await.payload, json!({"again": true}));
    conn.close().await?;
    Ok(())
}

#[tokio::test]
async fn a_publisher_channel_closed_by_the_broker_is_reopened() -> TestResult {
    let stream = unique("reopen");
    let exchange = format!("{stream}.topic.exchange");
    let conn = start(
        builder(&unique("reopen"))
            .stream_publisher(&stream)
            .publish_retries(2, Duration::from_millis(10)),
    )
    .await;
    let p = conn.stream_publisher(&stream)?;
    p.publish("K", &1).await?;
    // Publishing to a deleted exchange makes the broker close the channel (404).
    broker().management_delete(&format!("/api/exchanges/%2f/{exchange}"))?;
    match p.publish("K", &2).await {
        Err(Error::Publish { attempts: 2, .. }) => {}
        other => panic!("expected the publish to fail, got {other:?}"),
    }
    broker().management_put(
        &format!("/api/exchanges/%2f/{exchange}"),
        &json!({"type": "topic", "durable": true}),
    )?;
    let mut probe = Probe::bind(
        &exchange,
        "K",
        messaging_amqp::lapin::types::FieldTable::default(),
    )
    .await;
    p.publish("K", &3).await?;
    assert_eq!(probe.next().await.data, b"3");
    conn.close().await?;
    Ok(())
}
