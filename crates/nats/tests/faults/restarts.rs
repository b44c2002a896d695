//! F1–F3: nats-server is SIGKILLed and restarted (same port, same store) while a
//! publisher sends, while a consumer is mid-batch, and while consumers sit idle.

use std::collections::VecDeque;
use std::time::Duration;

use messaging_nats::{PendingAck, Publisher};
use messaging_spec::{ConsumableEvent, HandlerError};
use messaging_testkit::{NatsServer, TestkitError};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::support::{self, TestResult};
use messaging_testkit::Tally;

const WINDOW: usize = 256;
/// Down this long between the kill and the restart: long enough for clients to notice.
const DOWN: Duration = Duration::from_millis(500);

/// SIGKILL, a pause, then the same server again.
fn crash(server: &mut NatsServer) -> Result<(), TestkitError> {
    tokio::task::block_in_place(|| {
        server.kill()?;
        std::thread::sleep(DOWN);
        server.start_again()
    })
}

async fn settle_ack(ack: PendingAck, tallies: &[Tally]) {
    match ack.await {
        Ok(receipt) => tallies.iter().for_each(|t| t.acked(receipt.id.clone())),
        Err(_) => tallies.iter().for_each(Tally::failed),
    }
}

/// Publishes `n` events in a window of [`WINDOW`], recording each ack or failure.
async fn publish_windowed(events: Publisher, n: usize, tallies: Vec<Tally>) {
    let tally = tallies.as_slice();
    let mut acks = VecDeque::with_capacity(WINDOW);
    for i in 0..n {
        if acks.len() == WINDOW
            && let Some(oldest) = acks.pop_front()
        {
            settle_ack(oldest, tally).await;
        }
        match events
            .publish("Order.Created", &json!({"n": i}))
            .send()
            .await
        {
            Ok(ack) => acks.push_back(ack),
            Err(_) => tally.iter().for_each(Tally::failed),
        }
    }
    for ack in acks {
        settle_ack(ack, tally).await;
    }
}

fn counting(
    tally: &Tally,
) -> impl Fn(ConsumableEvent<Value>) -> std::future::Ready<Result<(), HandlerError>>
+ Send
+ Sync
+ 'static {
    let tally = tally.clone();
    move |ev| {
        tally.seen(&ev.metadata.id);
        std::future::ready(Ok(()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f1_kill_while_a_windowed_publisher_sends() -> TestResult {
    let _serial = crate::serial().await;
    const N: usize = 5_000;
    let mut server = support::server();
    let tally = Tally::default();
    let deduped = Tally::default();
    let ledger = support::start(
        support::builder(&server, "ledger")
            .event_consumer("Order.Created", counting(&tally))
            .setup(
                messaging_nats::Setup::event_consumer("Order.Created", counting(&deduped))
                    .suffix("dedup")
                    .deduplicate(Duration::from_secs(120)),
            ),
    )
    .await;
    let shop = support::start(support::builder(&server, "shop").event_publisher()).await;
    let publishing = tokio::spawn(publish_windowed(
        shop.event_publisher()?,
        N,
        vec![tally.clone(), deduped.clone()],
    ));
    support::eventually("a fifth acknowledged", || async {
        (tally.acked_count() >= N / 5).then_some(())
    })
    .await;
    crash(&mut server)?;
    let crashed = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(120), publishing).await??;
    figures!(
        "F1 publishing finished {:?} after the kill",
        crashed.elapsed()
    );
    let f = tally.settle("F1 kill during windowed publish").await;
    let d = deduped
        .settle("F1 same, consumer with deduplicate(120 s)")
        .await;
    assert_eq!((d.lost, d.duplicates), (0, 0), "{d:?}");
    assert_eq!(f.lost, 0, "{f:?}");
    assert_eq!(f.acked + f.failed, N, "{f:?}");
    assert!(f.acked > N / 5, "{f:?}");
    ledger.close().await?;
    shop.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f2_kill_while_a_concurrent_consumer_is_mid_batch() -> TestResult {
    let _serial = crate::serial().await;
    const N: usize = 2_000;
    let mut server = support::server();
    let tally = Tally::default();
    let deduped = Tally::default();
    let shop = support::start(support::builder(&server, "shop").event_publisher()).await;
    publish_windowed(
        shop.event_publisher()?,
        N,
        vec![tally.clone(), deduped.clone()],
    )
    .await;
    assert_eq!(
        tally.figures().acked,
        N,
        "all acknowledged before the fault"
    );
    let slow = |t: &Tally| {
        let t = t.clone();
        move |ev: ConsumableEvent<Value>| {
            let t = t.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(4)).await;
                t.seen(&ev.metadata.id);
                Ok::<(), HandlerError>(())
            }
        }
    };
    // A short AckWait so messages whose acks died with the server come back soon.
    let ledger = support::start(
        support::builder(&server, "ledger")
            .ack_wait(Duration::from_secs(2))
            .setup(
                messaging_nats::Setup::event_consumer("Order.Created", slow(&tally)).concurrency(8),
            )
            .setup(
                messaging_nats::Setup::event_consumer("Order.Created", slow(&deduped))
                    .suffix("dedup")
                    .concurrency(8)
                    .deduplicate_shared(Duration::from_secs(120)),
            ),
    )
    .await;
    support::eventually("a quarter handled", || async {
        (tally.calls() >= N / 4).then_some(())
    })
    .await;
    let before = tally.calls();
    crash(&mut server)?;
    let f = tally.settle("F2 kill mid-batch, concurrency 8").await;
    let d = deduped
        .settle("F2 same, consumer with deduplicate_shared(120 s)")
        .await;
    assert_eq!((d.lost, d.duplicates), (0, 0), "{d:?}");
    assert_eq!(f.lost, 0, "{f:?}");
    assert_eq!((f.acked, f.delivered), (N, N), "{f:?}");
    assert!(
        before < N,
        "the fault came mid-stream ({before} of {N} handled)"
    );
    ledger.close().await?;
    shop.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f3_idle_durable_and_ephemeral_consumers_survive_a_restart() -> TestResult {
    let _serial = crate::serial().await;
    let mut server = support::server();
    let (durable_tx, mut durable) = mpsc::unbounded_channel();
    let (transient_tx, mut transient) = mpsc::unbounded_channel();
    let forward = |tx: mpsc::UnboundedSender<Value>| {
        move |ev: ConsumableEvent<Value>| {
            let _ = tx.send(ev.payload);
            std::future::ready(Ok::<(), HandlerError>(()))
        }
    };
    let ledger = support::start(
        support::builder(&server, "ledger")
            .event_consumer("Order.Created", forward(durable_tx))
            .transient_event_consumer("Order.Created", forward(transient_tx)),
    )
    .await;
    let shop = support::start(support::builder(&server, "shop").event_publisher()).await;
    let events = shop.event_publisher()?;
    events.publish("Order.Created", &json!({"n": 1})).await?;
    assert_eq!(support::recv(&mut durable).await, json!({"n": 1}));
    assert_eq!(support::recv(&mut transient).await, json!({"n": 1}));

    crash(&mut server)?;
    // Publishing retries until the client has reconnected.
    let receipt = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match events.publish("Order.Created", &json!({"n": 2})).await {
                Ok(r) => break r,
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    })
    .await?;
    assert_eq!(receipt.sequence, Some(2));
    // An idle pull lasts up to 5 s and recovery backs off: allow several cycles. The
    // durable may first get event 1 again: its ack can be lost with the server's memory
    // (at-least-once), so a redelivery of it is skipped and counted.
    let within = Duration::from_secs(30);
    let mut again = 0;
    let next = loop {
        match tokio::time::timeout(within, durable.recv()).await? {
            Some(v) if v == json!({"n": 1}) => again += 1,
            other => break other,
        }
    };
    assert_eq!(next, Some(json!({"n": 2})));
    assert_eq!(
        tokio::time::timeout(within, transient.recv()).await?,
        Some(json!({"n": 2}))
    );
    figures!(
        "F3 idle consumers across a restart: durable and ephemeral each delivered 1 / lost 0 (the durable got the event before the kill {again} more time(s))"
    );
    ledger.close().await?;
    shop.close().await?;
    Ok(())
}
