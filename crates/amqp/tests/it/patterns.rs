//! The messaging patterns end to end: publish and consume, fan-out, wildcards, grouped
//! keys on one queue, suffixes, transient queues, and validation before any I/O.

use std::time::Duration;

use messaging_spec::ConsumableEvent;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::support::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct OrderCreated {
    id: u64,
    note: String,
}

#[tokio::test]
async fn events_reach_every_service_that_consumes_them() -> TestResult {
    let tag = unique("T");
    let key = format!("{tag}.Order.Created");
    let (h1, mut notifications) = forward::<OrderCreated>();
    let (h2, mut analytics) = forward::<OrderCreated>();
    let orders = start(builder(&unique("orders")).event_publisher()).await;
    let n = start(builder(&unique("notifications")).event_consumer(&key, h1)).await;
    let a = start(builder(&unique("analytics")).event_consumer(&key, h2)).await;
    let sent = OrderCreated {
        id: 42,
        note: "first".into(),
    };
    let receipt = orders.event_publisher()?.publish(&key, &sent).await?;
    assert_eq!(receipt.exchange, "events.topic.exchange");
    assert_eq!(receipt.routing_key, key);
    for rx in [&mut notifications, &mut analytics] {
        let ev: ConsumableEvent<OrderCreated> = recv(rx).await;
        assert_eq!(ev.payload, sent);
        assert_eq!(ev.metadata.id, receipt.id);
        assert_eq!(ev.metadata.type_, key);
        assert_eq!(ev.metadata.source, orders.service_name().as_str());
        assert_eq!(ev.metadata.spec_version, "1.0");
        assert_eq!(ev.delivery_info.key, key);
        assert_eq!(ev.delivery_info.source, "events.topic.exchange");
    }
    for c in [orders, n, a] {
        c.close().await?;
    }
    Ok(())
}

#[tokio::test]
async fn wildcards_follow_broker_topic_semantics() -> TestResult {
    let stream = unique("wild");
    let (star, mut star_rx) = forward::<Value>();
    let (exact, mut exact_rx) = forward::<Value>();
    let (hash, mut hash_rx) = forward::<Value>();
    let publisher = start(builder(&unique("pub")).stream_publisher(&stream)).await;
    let a = start(builder(&unique("star")).stream_consumer(&stream, "Order.*", star)).await;
    let b = start(builder(&unique("exact")).stream_consumer(&stream, "Order.Created", exact)).await;
    let c = start(builder(&unique("hash")).stream_consumer(&stream, "Order.#", hash)).await;
    let p = publisher.stream_publisher(&stream)?;
    p.publish("Order.Created", &json!({"n": 1})).await?;
    p.publish("Order.Updated", &json!({"n": 2})).await?;
    p.publish("Order.Line.Added", &json!({"n": 3})).await?;
    // The broker delivers `Order` to an `Order.#` binding (zero words): it must not be lost.
    p.publish("Order", &json!({"n": 4})).await?;
    let keys = |evs: Vec<ConsumableEvent<Value>>| -> Vec<String> {
        evs.into_iter().map(|e| e.delivery_info.key).collect()
    };
    assert_eq!(
        keys(vec![recv(&mut star_rx).await, recv(&mut star_rx).await]),
        ["Order.Created", "Order.Updated"]
    );
    assert_eq!(keys(vec![recv(&mut exact_rx).await]), ["Order.Created"]);
    assert_eq!(
        keys(vec![
            recv(&mut hash_rx).await,
            recv(&mut hash_rx).await,
            recv(&mut hash_rx).await
        ]),
        ["Order.Created", "Order.Updated", "Order.Line.Added"]
    );
    // Everything was published before the last deliveries arrived: nothing more comes.
    nothing_within(&mut star_rx, Duration::from_millis(300)).await;
    nothing_within(&mut exact_rx, Duration::from_millis(100)).await;
    for conn in [publisher, a, b, c] {
        conn.close().await?;
    }
    Ok(())
}

#[tokio::test]
async fn grouped_keys_share_one_queue_and_partial_overlaps_go_to_the_most_specific() -> TestResult {
    let svc = unique("grouped");
    let stream = unique("grp");
    let (created, mut created_rx) = forward::<Value>();
    let (payments, mut payments_rx) = forward::<Value>();
    let (any_created, mut any_rx) = forward::<Value>();
    let conn = start(
        builder(&svc)
            .stream_publisher(&stream)
            .stream_consumer(&stream, "Order.*", created)
            .stream_consumer(&stream, "Payment.#", payments)
            .stream_consumer(&stream, "*.Created", any_created),
    )
    .await;
    let queue = format!("{stream}.topic.exchange.queue.{svc}");
    let mut keys: Vec<String> = bindings_of(&queue)
        .iter()
        .map(|b| b["routing_key"].as_str().unwrap_or_default().to_owned())
        .collect();
    keys.sort();
    assert_eq!(keys, ["*.Created", "Order.*", "Payment.#"]);
    let p = conn.stream_publisher(&stream)?;
    p.publish("Order.Created", &json!({})).await?;
    p.publish("Payment.Done", &json!({})).await?;
    p.publish("User.Created", &json!({})).await?;
    // Both Order.* and *.Created match: the literal first token is more specific.
    assert_eq!(
        recv(&mut created_rx).await.delivery_info.key,
        "Order.Created"
    );
    assert_eq!(
        recv(&mut payments_rx).await.delivery_info.key,
        "Payment.Done"
    );
    assert_eq!(recv(&mut any_rx).await.delivery_info.key, "User.Created");
    nothing_within(&mut any_rx, Duration::from_millis(200)).await;
    assert_eq!(recv_none(&mut created_rx), 0);
    conn.close().await?;
    Ok(())
}

fn recv_none<T>(rx: &mut tokio::sync::mpsc::UnboundedReceiver<T>) -> usize {
    let mut n = 0;
    while rx.try_recv().is_ok() {
        n += 1;
    }
    n
}

#[tokio::test]
async fn overlapping_keys_are_refused_before_anything_is_declared() {
    let svc = unique("overlap");
    let stream = unique("ovl");
    let (h1, _rx1) = forward::<Value>();
    let (h2, _rx2) = forward::<Value>();
    let b = builder(&svc)
        .stream_consumer(&stream, "Order.*", h1)
        .stream_consumer(&stream, "Order.Created", h2);
    let text = match b.topology() {
        Ok(_) => panic!("overlap must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(
        text.contains("overlaps") && text.contains("suffix"),
        "{text}"
    );
    let (h1, _rx1) = forward::<Value>();
    let (h2, _rx2) = forward::<Value>();
    let started = builder(&svc)
        .stream_consumer(&stream, "Order.*", h1)
        .stream_consumer(&stream, "Order.Created", h2)
        .start()
        .await;
    assert!(matches!(
        started,
        Err(messaging_amqp::Error::Core(
            messaging_core::Error::InvalidRegistration { index: 1, .. }
        ))
    ));
    assert!(exchange_info(&format!("{stream}.topic.exchange")).is_none());
    assert!(queue_info(&format!("{stream}.topic.exchange.queue.{svc}")).is_none());
}

#[tokio::test]
async fn suffixes_make_separate_queues_that_each_get_a_copy() -> TestResult {
    let svc = unique("backend");
    let tag = unique("S");
    let key = format!("{tag}.Order.Created");
    let (h1, mut r1) = forward::<Value>();
    let (h2, mut r2) = forward::<Value>();
    let pubc = start(builder(&unique("orders")).event_publisher()).await;
    let conn = start(
        builder(&svc)
            .setup(messaging_amqp::Setup::event_consumer(&key, h1).suffix("reminders"))
            .setup(messaging_amqp::Setup::event_consumer(&key, h2).suffix("reporting")),
    )
    .await;
    for s in ["reminders", "reporting"] {
        assert!(queue_info(&format!("events.topic.exchange.queue.{svc}-{s}")).is_some());
    }
    pubc.event_publisher()?
        .publish(&key, &json!({"x": 1}))
        .await?;
    let a = recv(&mut r1).await;
    let b = recv(&mut r2).await;
    assert_eq!(a.metadata.id, b.metadata.id);
    assert_eq!(
        a.delivery_info.destination,
        format!("events.topic.exchange.queue.{svc}-reminders")
    );
    assert_eq!(
        b.delivery_info.destination,
        format!("events.topic.exchange.queue.{svc}-reporting")
    );
    conn.close().await?;
    pubc.close().await?;
    Ok(())
}

#[tokio::test]
async fn transient_queues_get_messages_and_are_gone_after_close() -> TestResult {
    let svc = unique("dashboard");
    let stream = unique("telemetry");
    let (h, mut rx) = forward::<Value>();
    let b = builder(&svc)
        .stream_publisher(&stream)
        .transient_stream_consumer(&stream, "Metric.Recorded", h);
    let planned = b.topology()?;
    let conn = start(b).await;
    assert_eq!(
        &planned,
        conn.topology(),
        "builder and connection agree, UUID included"
    );
    let queue = conn
        .topology()
        .endpoints
        .iter()
        .find(|e| e.ephemeral)
        .map(|e| e.queue_name.clone())
        .unwrap_or_default();
    assert!(
        queue.starts_with(&format!("{stream}.topic.exchange.queue.{svc}-")),
        "{queue}"
    );
    assert!(queue_info(&queue).is_some());
    conn.stream_publisher(&stream)?
        .publish("Metric.Recorded", &json!({"value": 72.5}))
        .await?;
    assert_eq!(recv(&mut rx).await.payload, json!({"value": 72.5}));
    conn.close().await?;
    eventually("the transient queue to expire", || {
        queue_info(&queue).is_none()
    })
    .await;
    Ok(())
}

#[tokio::test]
async fn publishing_needs_a_registered_publisher_and_a_concrete_key() -> TestResult {
    let conn = start(builder(&unique("nopub")).event_publisher()).await;
    assert!(matches!(
        conn.stream_publisher("audit"),
        Err(messaging_amqp::Error::PublisherNotRegistered(_))
    ));
    let p = conn.event_publisher()?;
    assert!(matches!(
        p.publish("Order.*", &json!({})).await,
        Err(messaging_amqp::Error::Spec(_))
    ));
    assert!(matches!(
        p.publish("Order.Created", &json!({}))
            .header("service", "x")
            .await,
        Err(messaging_amqp::Error::ReservedHeader(_))
    ));
    conn.close().await?;
    assert!(matches!(
        p.publish("Order.Created", &json!({})).await,
        Err(messaging_amqp::Error::Closed)
    ));
    Ok(())
}

#[tokio::test]
async fn concurrency_runs_several_handlers_of_one_queue_at_once() -> TestResult {
    let svc = unique("parallel");
    let stream = unique("parallel");
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(4));
    let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel();
    let handler = move |ev: ConsumableEvent<u32>| {
        let barrier = std::sync::Arc::clone(&barrier);
        let done_tx = done_tx.clone();
        async move {
            // Only passes when four handlers run at the same time.
            tokio::time::timeout(TIMEOUT, barrier.wait()).await?;
            let _ = done_tx.send(ev.payload);
            Ok::<_, messaging_spec::HandlerError>(())
        }
    };
    let conn = start(
        builder(&svc)
            .stream_publisher(&stream)
            .setup(messaging_amqp::Setup::stream_consumer(&stream, "Job", handler).concurrency(4)),
    )
    .await;
    let p = conn.stream_publisher(&stream)?;
    for n in 0..4u32 {
        p.publish("Job", &n).await?;
    }
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(recv(&mut done).await);
    }
    got.sort_unstable();
    assert_eq!(got, [0, 1, 2, 3]);
    conn.close().await?;
    Ok(())
}
