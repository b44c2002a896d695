//! F6 and F7: handlers slower than AckWait, and a slow consumer under a publish flood.

use std::collections::VecDeque;
use std::time::Duration;

use messaging_nats::Setup;
use messaging_spec::{ConsumableEvent, HandlerError};
use serde_json::{Value, json};

use crate::support::{self, TestResult};
use messaging_testkit::Tally;

async fn ack_id(ack: messaging_nats::PendingAck) -> Option<String> {
    ack.await.ok().map(|r| r.id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f6_a_handler_slower_than_ack_wait_is_not_redelivered() -> TestResult {
    let _serial = crate::serial().await;
    const ACK_WAIT: Duration = Duration::from_secs(1);
    let server = support::server();
    let tally = Tally::default();
    let t = tally.clone();
    let slow = move |ev: ConsumableEvent<Value>| {
        let t = t.clone();
        async move {
            // 3.5 × AckWait: only in-progress acks keep it ours.
            tokio::time::sleep(ACK_WAIT * 7 / 2).await;
            t.seen(&ev.metadata.id);
            Ok::<(), HandlerError>(())
        }
    };
    let worker = support::start(
        support::builder(&server, "worker")
            .ack_wait(ACK_WAIT)
            .setup(Setup::event_consumer("Job.Run", slow).concurrency(3)),
    )
    .await;
    let shop = support::start(support::builder(&server, "shop").event_publisher()).await;
    let events = shop.event_publisher()?;
    for n in 0..3 {
        tally.acked(events.publish("Job.Run", &json!({"n": n})).await?.id);
    }
    let f = tally.settle("F6 handler at 3.5 × AckWait").await;
    let js = support::raw_js(&server).await;
    let info = support::settled(&js, "events", "worker").await;
    assert_eq!(f.lost, 0, "{f:?}");
    assert_eq!(f.duplicates, 0, "{f:?}");
    assert_eq!(
        info.delivered.consumer_sequence, 3,
        "three deliveries, no redelivery"
    );
    assert_eq!(info.num_redelivered, 0);
    worker.close().await?;
    shop.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f7_a_slow_consumer_under_a_flood_holds_only_its_prefetch() -> TestResult {
    let _serial = crate::serial().await;
    const N: usize = 20_000;
    const PREFETCH: u64 = 512; // the default for concurrency 1
    let server = support::server();
    let tally = Tally::default();
    let t = tally.clone();
    let slow = move |ev: ConsumableEvent<Value>| {
        let t = t.clone();
        async move {
            tokio::time::sleep(Duration::from_micros(200)).await;
            t.seen(&ev.metadata.id);
            Ok::<(), HandlerError>(())
        }
    };
    let ledger =
        support::start(support::builder(&server, "ledger").event_consumer("Order.Created", slow))
            .await;
    let shop = support::start(support::builder(&server, "shop").event_publisher()).await;
    let events = shop.event_publisher()?;
    let flood = {
        let tally = tally.clone();
        tokio::spawn(async move {
            let mut acks = VecDeque::new();
            for n in 0..N {
                if acks.len() == 256
                    && let Some(a) = acks.pop_front()
                {
                    match ack_id(a).await {
                        Some(id) => tally.acked(id),
                        None => tally.failed(),
                    }
                }
                match events
                    .publish("Order.Created", &json!({"n": n}))
                    .send()
                    .await
                {
                    Ok(a) => acks.push_back(a),
                    Err(_) => tally.failed(),
                }
            }
            for a in acks {
                match ack_id(a).await {
                    Some(id) => tally.acked(id),
                    None => tally.failed(),
                }
            }
        })
    };
    // Sample what the consumer holds (delivered, not acked) and what waits in the stream.
    let js = support::raw_js(&server).await;
    let (mut max_held, mut max_backlog) = (0u64, 0u64);
    while !flood.is_finished() || tally.calls() < N {
        let info = support::consumer_info(&js, "events", "ledger").await;
        max_held = max_held.max(info.num_ack_pending as u64);
        max_backlog = max_backlog.max(info.num_pending);
        if tally.calls() >= N {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        if tally.figures().acked == N && tally.figures().lost == 0 {
            break;
        }
    }
    flood.await?;
    let f = tally
        .settle("F7 slow consumer under a 20 000-event flood")
        .await;
    figures!(
        "F7 bound: at most {max_held} messages held by the consumer (prefetch {PREFETCH} + 1 in the handler), stream backlog peaked at {max_backlog}"
    );
    assert_eq!(f.lost, 0, "{f:?}");
    assert_eq!(f.acked, N, "{f:?}");
    // Held = backlog (≤ prefetch) + the one being handled; acks in transit add at most
    // a pull's worth.
    assert!(max_held <= 2 * PREFETCH + 1, "held {max_held}");
    assert!(
        max_backlog > 2 * PREFETCH,
        "the flood outran the consumer: {max_backlog}"
    );
    ledger.close().await?;
    shop.close().await?;
    Ok(())
}
