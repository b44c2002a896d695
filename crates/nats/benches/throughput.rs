//! Throughput of messaging-nats against raw async-nats, same server, same run.
//!
//! `cargo bench -p messaging-nats --bench throughput` (env `BENCH_MESSAGES`, default 20000).
//! Prints messages/second for each path and the ratio ours / raw.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::pull, stream};
use futures::StreamExt;
use messaging_nats::{Connection, ConsumerOptions};
use messaging_spec::{ConsumableEvent, HandlerError};
use messaging_testkit::NatsServer;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

#[derive(Serialize, Deserialize)]
struct Event {
    id: usize,
    name: String,
    amount: f64,
}

fn event(id: usize) -> Event {
    Event {
        id,
        name: "order".to_owned(),
        amount: 12.5,
    }
}

type BoxErr = Box<dyn std::error::Error + Send + Sync>;

/// Bound on each consume run: a run that stalls fails instead of hanging the bench.
const CONSUME_TIMEOUT: Duration = Duration::from_secs(120);

async fn raw_publish(
    url: &str,
    stream_name: &str,
    n: usize,
    window: usize,
) -> Result<Duration, BoxErr> {
    raw_publish_with(url, stream_name, n, window, false).await
}

/// Raw async-nats, optionally with the same header set the library sends (CloudEvents,
/// `service`, `Nats-Msg-Id`), to separate library overhead from wire/server cost.
async fn raw_publish_with(
    url: &str,
    stream_name: &str,
    n: usize,
    window: usize,
    full_headers: bool,
) -> Result<Duration, BoxErr> {
    let client = async_nats::connect(url).await?;
    let js = jetstream::ContextBuilder::new()
        .max_ack_inflight(window)
        .backpressure_on_inflight(true)
        .build(client);
    js.create_stream(stream::Config {
        name: stream_name.to_owned(),
        subjects: vec![format!("{stream_name}.>")],
        ..Default::default()
    })
    .await?;
    let subject = format!("{stream_name}.Order.Created");
    let start = Instant::now();
    let mut acks = VecDeque::with_capacity(window);
    for i in 0..n {
        if acks.len() == window
            && let Some(ack) = acks.pop_front()
        {
            let _: async_nats::jetstream::publish::PublishAck = ack.await?;
        }
        let body = serde_json::to_vec(&event(i))?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("ce-type", "Order.Created");
        if full_headers {
            let id = uuid::Uuid::new_v4().to_string();
            headers.insert("ce-specversion", "1.0");
            headers.insert("ce-source", "bench-pub");
            headers.insert("ce-datacontenttype", "application/json");
            headers.insert("ce-time", "2026-11-26T10:00:00Z");
            headers.insert("ce-id", id.as_str());
            headers.insert("service", "bench-pub");
            headers.insert("Nats-Msg-Id", id.as_str());
        }
        acks.push_back(
            js.publish_with_headers(subject.clone(), headers, body.into())
                .await?,
        );
    }
    for ack in acks {
        ack.await?;
    }
    Ok(start.elapsed())
}

async fn ours_publish(
    url: &str,
    stream_name: &str,
    n: usize,
    window: usize,
) -> Result<Duration, BoxErr> {
    let conn = Connection::builder("bench-pub")
        .url(url)
        .max_ack_inflight(window)
        .stream_publisher(stream_name)
        .start()
        .await?;
    let publisher = conn.stream_publisher(stream_name)?;
    let start = Instant::now();
    // Acks are awaited in a sliding window: holding more unpolled acks than
    // max_ack_inflight would block the next send.
    let mut acks = VecDeque::with_capacity(window);
    for i in 0..n {
        if acks.len() == window
            && let Some(ack) = acks.pop_front()
        {
            ack.await?;
        }
        acks.push_back(publisher.publish("Order.Created", &event(i)).send().await?);
    }
    for ack in acks {
        ack.await?;
    }
    let elapsed = start.elapsed();
    conn.close().await?;
    Ok(elapsed)
}

async fn raw_consume(url: &str, stream_name: &str, n: usize) -> Result<Duration, BoxErr> {
    let client = async_nats::connect(url).await?;
    let js = jetstream::new(client);
    let s = js.get_stream(stream_name).await?;
    let consumer = s
        .create_consumer(pull::Config {
            durable_name: Some("raw".to_owned()),
            ..Default::default()
        })
        .await?;
    let start = Instant::now();
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(64)
        .messages()
        .await?;
    let deadline = tokio::time::Instant::now() + CONSUME_TIMEOUT;
    let mut seen = 0;
    while seen < n {
        let msg = match tokio::time::timeout_at(deadline, messages.next()).await {
            Ok(Some(msg)) => msg?,
            Ok(None) => return Err(format!("raw consume ended after {seen} of {n}").into()),
            Err(_) => {
                return Err(
                    format!("raw consume got {seen} of {n} within {CONSUME_TIMEOUT:?}").into(),
                );
            }
        };
        let _: Event = serde_json::from_slice(&msg.payload)?;
        msg.ack().await?;
        seen += 1;
    }
    Ok(start.elapsed())
}

async fn ours_consume(
    url: &str,
    stream_name: &str,
    n: usize,
    concurrency: usize,
) -> Result<Duration, BoxErr> {
    let seen = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(Notify::new());
    let (s2, d2) = (Arc::clone(&seen), Arc::clone(&done));
    let start = Instant::now();
    let conn = Connection::builder(format!("bench-sub-{concurrency}"))
        .url(url)
        .consumer_defaults(ConsumerOptions::new().concurrency(concurrency).prefetch(64))
        .stream_consumer(
            stream_name,
            "Order.Created",
            move |_ev: ConsumableEvent<Event>| {
                let (seen, done) = (Arc::clone(&s2), Arc::clone(&d2));
                async move {
                    if seen.fetch_add(1, Ordering::Relaxed) + 1 == n {
                        done.notify_one();
                    }
                    Ok::<(), HandlerError>(())
                }
            },
        )
        .start()
        .await?;
    if tokio::time::timeout(CONSUME_TIMEOUT, done.notified())
        .await
        .is_err()
    {
        let got = seen.load(Ordering::Relaxed);
        return Err(format!("consume got {got} of {n} within {CONSUME_TIMEOUT:?}").into());
    }
    let elapsed = start.elapsed();
    conn.close().await?;
    Ok(elapsed)
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn row(what: &str, n: usize, raw: Duration, ours: Duration) {
    println!(
        "{what:<34} raw {:>9.0} msg/s   ours {:>9.0} msg/s   ratio {:.2}",
        rate(n, raw),
        rate(n, ours),
        rate(n, ours) / rate(n, raw)
    );
}

#[tokio::main]
async fn main() -> Result<(), BoxErr> {
    let n: usize = std::env::var("BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let server = NatsServer::start()?;
    let url = server.client_url();
    println!("messages per run: {n}; server {url}");
    for window in [1usize, 256] {
        let raw = raw_publish(
            &url,
            &format!("rawpub{window}"),
            n.min(if window == 1 { 2_000 } else { n }),
            window,
        )
        .await?;
        let ours = ours_publish(
            &url,
            &format!("ourpub{window}"),
            n.min(if window == 1 { 2_000 } else { n }),
            window,
        )
        .await?;
        row(
            &format!("publish, {window} ack(s) in flight"),
            n.min(if window == 1 { 2_000 } else { n }),
            raw,
            ours,
        );
    }
    let raw_full = raw_publish_with(&url, "rawfull", n, 256, true).await?;
    let ours = ours_publish(&url, "ourpub2", n, 256).await?;
    row("publish, 256 in flight, same headers", n, raw_full, ours);
    // Consume what the windowed publishes stored (n messages each stream).
    let raw = raw_consume(&url, "rawpub256", n).await?;
    let ours = ours_consume(&url, "ourpub256", n, 1).await?;
    row("consume + ack, serial", n, raw, ours);
    let ours16 = ours_consume(&url, "ourpub256", n, 16).await?;
    row("consume + ack, ours concurrency 16", n, raw, ours16);
    drop(server);
    Ok(())
}
