//! The fetch/dispatch runtime: no redelivery of queued messages behind slow handlers,
//! hand-back on close, ephemeral clean-up, and resuming a lost ephemeral without replay.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::TryStreamExt;
use messaging_nats::ConsumerOptions;
use messaging_spec::{ConsumableEvent, HandlerError};
use tokio::sync::{Semaphore, mpsc};

use crate::support::{self, Seq, TestResult};

async fn publish_seqs(server: &messaging_testkit::NatsServer, range: std::ops::Range<u32>) {
    let shop = support::start(support::builder(server, "shop").event_publisher()).await;
    let publisher = shop.event_publisher().expect("publisher");
    for n in range {
        publisher
            .publish("Order.Created", &Seq { n })
            .await
            .expect("publish");
    }
    shop.close().await.expect("close");
}

/// With AckWait 1 s and a 300 ms handler, ten queued messages wait up to 3 s: without
/// keep-alive of the backlog the server would redeliver most of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_messages_are_not_redelivered_behind_a_slow_handler() -> TestResult {
    let server = support::server();
    publish_seqs(&server, 0..10).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let conn = support::start(
        support::builder(&server, "slow")
            .ack_wait(Duration::from_secs(1))
            .consumer_defaults(ConsumerOptions::new().concurrency(1).prefetch(10))
            .event_consumer("Order.Created", move |ev: ConsumableEvent<Seq>| {
                let tx = tx.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    let _ = tx.send(ev.payload.n);
                    Ok::<(), HandlerError>(())
                }
            }),
    )
    .await;
    let mut seen = Vec::new();
    for _ in 0..10 {
        seen.push(support::recv(&mut rx).await);
    }
    assert_eq!(seen, (0..10u32).collect::<Vec<_>>());
    let js = support::raw_js(&server).await;
    let info = support::settled(&js, "events", "slow").await;
    assert_eq!(
        info.delivered.consumer_sequence, 10,
        "no message was delivered twice"
    );
    assert_eq!(info.num_redelivered, 0);
    conn.close().await?;
    assert!(rx.try_recv().is_err(), "a duplicate handling arrived late");
    Ok(())
}

/// Close while the only handler is busy: the backlog goes back to the server at once, so
/// another instance gets those messages without waiting for AckWait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_hands_back_the_backlog_at_once() -> TestResult {
    let server = support::server();
    publish_seqs(&server, 0..8).await;
    let gate = Arc::new(Semaphore::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let (g, s) = (Arc::clone(&gate), Arc::clone(&started));
    let first = support::start(
        support::builder(&server, "worker")
            .consumer_defaults(ConsumerOptions::new().concurrency(1).prefetch(8))
            .event_consumer("Order.Created", move |_ev: ConsumableEvent<Seq>| {
                let (g, s) = (Arc::clone(&g), Arc::clone(&s));
                async move {
                    s.fetch_add(1, Ordering::SeqCst);
                    let _permit = g.acquire().await.map_err(HandlerError::retry)?;
                    Ok::<(), HandlerError>(())
                }
            }),
    )
    .await;
    support::eventually("first handler running", || async {
        (started.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    // close() marks the connection closed and cancels the loops on its first poll; only
    // then may the first handler finish (a spawned close might not have run yet).
    let mut closing = std::pin::pin!(first.close());
    assert!(futures::poll!(&mut closing).is_pending());
    gate.add_permits(1);
    closing.await?;
    assert_eq!(
        started.load(Ordering::SeqCst),
        1,
        "only the first message was handled"
    );

    // AckWait is 30 s; the other seven must come back within the 10 s receive bound.
    let (handler, mut rx) = support::forward::<Seq>();
    let second = support::start(
        support::builder(&server, "worker").event_consumer("Order.Created", handler),
    )
    .await;
    let mut got: Vec<u32> = support::recv_n(&mut rx, 7)
        .await
        .into_iter()
        .map(|e| e.payload.n)
        .collect();
    got.sort_unstable();
    assert_eq!(got, (1..8).collect::<Vec<_>>());
    second.close().await?;
    Ok(())
}

#[tokio::test]
async fn close_deletes_ephemeral_consumers() -> TestResult {
    let server = support::server();
    let (handler, _rx) = support::forward::<Seq>();
    let (durable, _rx2) = support::forward::<Seq>();
    let conn = support::start(
        support::builder(&server, "dash")
            .transient_event_consumer("Order.Created", handler)
            .event_consumer("Order.Paid", durable),
    )
    .await;
    let js = support::raw_js(&server).await;
    assert_eq!(support::consumer_infos(&js, "events").await.len(), 2);
    conn.close().await?;
    let left: Vec<Option<String>> = support::consumer_infos(&js, "events")
        .await
        .into_iter()
        .map(|c| c.config.durable_name)
        .collect();
    assert_eq!(left, vec![Some("dash".to_owned())]);
    Ok(())
}

/// The server loses a transient consumer (here: deleted behind our back). It is recreated
/// after the last message it saw, so history is not replayed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_ephemeral_resumes_without_replay() -> TestResult {
    let server = support::server();
    let (handler, mut rx) = support::forward::<Seq>();
    let conn = support::start(
        support::builder(&server, "live").transient_event_consumer("Order.Created", handler),
    )
    .await;
    publish_seqs(&server, 0..3).await;
    let first: Vec<u32> = support::recv_n(&mut rx, 3)
        .await
        .into_iter()
        .map(|e| e.payload.n)
        .collect();
    assert_eq!(first, vec![0, 1, 2]);

    let js = support::raw_js(&server).await;
    let stream = js.get_stream("events").await?;
    let names: Vec<String> = stream.consumer_names().try_collect().await?;
    assert_eq!(names.len(), 1);
    stream.delete_consumer(&names[0]).await?;
    support::eventually("consumer recreated", || async {
        let names: Vec<String> = stream.consumer_names().try_collect().await.ok()?;
        (names.len() == 1).then_some(())
    })
    .await;

    publish_seqs(&server, 3..4).await;
    let next = support::recv(&mut rx).await;
    assert_eq!(
        next.payload.n, 3,
        "resumed after the last seen message, no replay"
    );
    conn.close().await?;
    assert!(rx.try_recv().is_err());
    Ok(())
}

/// The default start replays what the stream holds (the reference's behaviour);
/// `StartAt::New` only sees what is published afterwards.
#[tokio::test]
async fn start_at_new_skips_history_and_the_default_replays_it() -> TestResult {
    let server = support::server();
    publish_seqs(&server, 0..3).await;
    let (replay, mut replayed) = support::forward::<Seq>();
    let (live, mut lived) = support::forward::<Seq>();
    // Two services: transient registrations of one service on one stream share a consumer.
    let replaying = support::start(
        support::builder(&server, "replay-view").transient_event_consumer("Order.Created", replay),
    )
    .await;
    let living = support::start(
        support::builder(&server, "live-view").setup(
            messaging_nats::Setup::transient_stream_consumer("events", "Order.Paid", live)
                .start_at(messaging_nats::StartAt::New),
        ),
    )
    .await;
    let js = support::raw_js(&server).await;
    let mut policies: Vec<String> = support::consumer_infos(&js, "events")
        .await
        .into_iter()
        .map(|c| format!("{:?}", c.config.deliver_policy))
        .collect();
    policies.sort();
    assert_eq!(policies, vec!["All".to_owned(), "New".to_owned()]);

    let shop = support::start(support::builder(&server, "shop").event_publisher()).await;
    let publisher = shop.event_publisher()?;
    publisher.publish("Order.Paid", &Seq { n: 10 }).await?;
    publisher.publish("Order.Created", &Seq { n: 3 }).await?;
    let seen: Vec<u32> = support::recv_n(&mut replayed, 4)
        .await
        .into_iter()
        .map(|e| e.payload.n)
        .collect();
    assert_eq!(seen, vec![0, 1, 2, 3]);
    assert_eq!(support::recv(&mut lived).await.payload.n, 10);
    shop.close().await?;
    replaying.close().await?;
    living.close().await?;
    assert!(
        lived.try_recv().is_err(),
        "history must not reach the StartAt::New consumer"
    );
    Ok(())
}
