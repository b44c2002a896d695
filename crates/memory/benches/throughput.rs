//! Throughput of the in-memory transport: events published to the `events` stream and
//! consumed by one durable consumer, with the full path (JSON, CloudEvents headers, plan
//! routing, handler, ack).
//!
//! `cargo bench -p messaging-memory --bench throughput` (release; env `BENCH_EVENTS`,
//! default 100 000). Prints events/second for publishing alone, for consuming a backlog,
//! and for publishing and consuming at the same time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use messaging_memory::{Broker, Connection, Error};
use messaging_spec::{ConsumableEvent, HandlerError};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Event {
    id: u64,
    name: String,
    amount: f64,
}

type BoxErr = Box<dyn std::error::Error + Send + Sync>;

/// Bound on each consume run: a stalled run fails instead of hanging the bench.
const CONSUME_TIMEOUT: Duration = Duration::from_secs(300);

fn rate(n: u64, d: Duration) -> f64 {
    #[allow(clippy::cast_precision_loss)] // event counts are far below 2^52
    let n = n as f64;
    n / d.as_secs_f64()
}

async fn publish(conn: &Connection, n: u64) -> Result<Duration, Error> {
    let events = conn.event_publisher()?;
    let started = Instant::now();
    for id in 0..n {
        let ev = Event {
            id,
            name: "order".to_owned(),
            amount: 12.5,
        };
        events.publish("Bench.Event", &ev).await?;
    }
    Ok(started.elapsed())
}

async fn sink(broker: &Broker, service: &str, seen: &Arc<AtomicU64>) -> Result<Connection, Error> {
    let seen = Arc::clone(seen);
    broker
        .connection(service)
        .event_consumer("Bench.Event", move |ev: ConsumableEvent<Event>| {
            seen.fetch_add(u64::from(ev.payload.amount > 0.0), Ordering::Relaxed);
            std::future::ready(Ok::<_, HandlerError>(()))
        })
        .start()
        .await
}

async fn run(n: u64) -> Result<(), BoxErr> {
    // 1. Publish only, then consume the backlog.
    let broker = Broker::new();
    let source = broker
        .connection("source")
        .event_publisher()
        .start()
        .await?;
    let published = publish(&source, n).await?;
    let seen = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let backlog = sink(&broker, "backlog", &seen).await?;
    broker
        .wait_for_acked("events", "backlog", n, CONSUME_TIMEOUT)
        .await?;
    let consumed = started.elapsed();
    assert_eq!(seen.load(Ordering::Relaxed), n);
    backlog.close().await?;
    source.close().await?;

    // 2. Publish and consume at once (a consumer is live while publishing).
    let broker = Broker::new();
    let seen = Arc::new(AtomicU64::new(0));
    let live = sink(&broker, "live", &seen).await?;
    let source = broker
        .connection("source")
        .event_publisher()
        .start()
        .await?;
    let started = Instant::now();
    publish(&source, n).await?;
    broker
        .wait_for_acked("events", "live", n, CONSUME_TIMEOUT)
        .await?;
    let both = started.elapsed();
    assert_eq!(seen.load(Ordering::Relaxed), n);
    live.close().await?;
    source.close().await?;

    println!("messaging-memory throughput, {n} events (release, multi-thread runtime)");
    println!(
        "  publish only            {:>12.0} events/s  ({published:.2?})",
        rate(n, published)
    );
    println!(
        "  consume backlog         {:>12.0} events/s  ({consumed:.2?})",
        rate(n, consumed)
    );
    println!(
        "  publish + consume live  {:>12.0} events/s  ({both:.2?})",
        rate(n, both)
    );
    Ok(())
}

fn main() -> Result<(), BoxErr> {
    let n = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000u64);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(n))
}
