//! F4: a 3-node cluster with an R3 stream; the stream leader is killed during continuous
//! publish and consume, a new leader is elected, and the node comes back and catches up.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use messaging_nats::async_nats::{self, jetstream};
use messaging_nats::{PendingAck, StreamConfig};
use messaging_spec::{ConsumableEvent, HandlerError};
use messaging_testkit::NatsCluster;
use serde_json::{Value, json};

use crate::support::{self, TestResult};
use messaging_testkit::Tally;

const RATE_PER_S: u64 = 1_000;
const N: usize = 15_000;
const WINDOW: usize = 256;
/// A send later than this behind its schedule counts as "off schedule".
const LATE: Duration = Duration::from_millis(250);

async fn settle_ack(ack: PendingAck, tally: &Tally) {
    match ack.await {
        Ok(receipt) => tally.acked(receipt.id),
        Err(_) => tally.failed(),
    }
}

async fn leader_of(js: &jetstream::Context, stream: &str) -> Option<String> {
    let mut s = js.get_stream(stream).await.ok()?;
    let info = s.info().await.ok()?;
    info.cluster.as_ref()?.leader.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f4_killing_the_stream_leader_loses_nothing_and_publishing_keeps_its_schedule() -> TestResult
{
    let _serial = crate::serial().await;
    let mut cluster = tokio::task::block_in_place(|| NatsCluster::start(3))?;
    let urls = cluster.client_urls();
    let tally = Tally::default();
    let t = tally.clone();
    let counting = move |ev: ConsumableEvent<Value>| {
        t.seen(&ev.metadata.id);
        std::future::ready(Ok::<(), HandlerError>(()))
    };
    let r3 = StreamConfig::new().replicas(3);
    let ledger = support::start(
        messaging_nats::Connection::builder("ledger")
            .urls(urls.clone())
            .stream_config("events", r3.clone())
            .event_consumer("Order.Created", counting),
    )
    .await;
    let shop = support::start(
        messaging_nats::Connection::builder("shop")
            .urls(urls.clone())
            .stream_config("events", r3)
            .event_publisher(),
    )
    .await;
    let events = shop.event_publisher()?;
    // Every send's lateness against a fixed 1 000/s schedule.
    let lateness: Arc<Mutex<Vec<(Instant, Duration)>>> = Arc::default();
    let publishing = {
        let (tally, lateness) = (tally.clone(), Arc::clone(&lateness));
        tokio::spawn(async move {
            let start = tokio::time::Instant::now();
            let mut acks = VecDeque::with_capacity(WINDOW);
            for i in 0..N {
                let due = start + Duration::from_millis(i as u64 * 1_000 / RATE_PER_S);
                tokio::time::sleep_until(due).await;
                if acks.len() == WINDOW
                    && let Some(oldest) = acks.pop_front()
                {
                    settle_ack(oldest, &tally).await;
                }
                let now = tokio::time::Instant::now();
                lateness
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((now.into_std(), now.saturating_duration_since(due)));
                match events
                    .publish("Order.Created", &json!({"n": i}))
                    .send()
                    .await
                {
                    Ok(ack) => acks.push_back(ack),
                    Err(_) => tally.failed(),
                }
            }
            for ack in acks {
                settle_ack(ack, &tally).await;
            }
        })
    };
    let addrs = urls
        .iter()
        .map(|u| u.parse::<async_nats::ServerAddr>())
        .collect::<Result<Vec<_>, _>>()?;
    let raw = async_nats::connect(addrs.as_slice()).await?;
    let js = jetstream::new(raw);
    support::eventually("3 000 acknowledged", || async {
        (tally.acked_count() >= 3_000).then_some(())
    })
    .await;
    let leader = leader_of(&js, "events").await.ok_or("no stream leader")?;
    let index = cluster
        .nodes()
        .iter()
        .position(|n| n.server_name() == Some(leader.as_str()))
        .ok_or("leader is no node")?;
    let killed_at = Instant::now();
    tokio::task::block_in_place(|| cluster.kill_node(index))?;
    let new_leader = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Some(l) = leader_of(&js, "events").await
                && l != leader
            {
                break l;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await?;
    let elected_after = killed_at.elapsed();
    tokio::time::timeout(Duration::from_secs(120), publishing).await??;
    let f = tally.settle("F4 stream leader killed at 1 000/s").await;
    let late: Vec<(Instant, Duration)> = lateness
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .copied()
        .filter(|(at, by)| *at > killed_at && *by > LATE)
        .collect();
    let back_on_schedule = late
        .last()
        .map_or(Duration::ZERO, |(at, _)| at.duration_since(killed_at));
    let worst = late.iter().map(|(_, by)| *by).max().unwrap_or_default();
    figures!(
        "F4 leader {leader} killed; {new_leader} elected after {elected_after:?}; publishing back on schedule {back_on_schedule:?} after the kill (worst lateness {worst:?}); failed publishes {}",
        f.failed
    );

    // The killed node returns and catches up.
    tokio::task::block_in_place(|| cluster.start_node(index))?;
    let caught_up = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let Ok(mut s) = js.get_stream("events").await
                && let Ok(info) = s.info().await
                && let Some(c) = &info.cluster
                && c.replicas.iter().any(|p| p.name == leader)
                && c.replicas
                    .iter()
                    .all(|p| p.current && p.lag.unwrap_or(0) == 0)
            {
                break info.state.messages;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await?;
    figures!("F4 node {leader} back and current: {caught_up} messages replicated");
    assert_eq!(f.lost, 0, "{f:?}");
    assert_eq!(f.failed, 0, "{f:?}");
    assert_eq!(f.acked, N, "{f:?}");
    assert_eq!(caught_up, N as u64);
    assert!(
        back_on_schedule <= Duration::from_secs(15),
        "back on schedule only {back_on_schedule:?} after the kill"
    );
    ledger.close().await?;
    shop.close().await?;
    Ok(())
}
