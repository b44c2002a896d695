//! Durable consume + ack of a stream that already holds the events: raw async-nats against
//! the library, the same messages on the wire and the same decode into [`Event`].

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use futures::StreamExt;
use messaging_nats::{Connection, ConsumerOptions};
use messaging_spec::{ConsumableEvent, HandlerError};
use tokio::sync::{Notify, Semaphore};

use crate::measure::{Meter, Sample};
use crate::{BoxErr, Event, RUN_TIMEOUT};

/// Raw async-nats: a durable pull consumer read through `stream()` with `batch` messages
/// per pull, `concurrency` handlers at a time.
pub(crate) async fn raw(
    url: &str,
    stream: &str,
    n: usize,
    batch: usize,
    concurrency: usize,
    server_pid: Option<u32>,
) -> Result<Sample, BoxErr> {
    let durable = format!("raw-{}", uuid::Uuid::new_v4().simple());
    let meter = Meter::start(server_pid);
    let client = async_nats::connect(url).await?;
    let js = jetstream::new(client);
    let consumer = js
        .get_stream(stream)
        .await?
        .create_consumer(pull::Config {
            durable_name: Some(durable.clone()),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await?;
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(batch)
        .messages()
        .await?;
    let deadline = tokio::time::Instant::now() + RUN_TIMEOUT;
    let seen = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(Notify::new());
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut taken = 0;
    while taken < n {
        let msg = match tokio::time::timeout_at(deadline, messages.next()).await {
            Ok(Some(msg)) => msg?,
            Ok(None) => return Err(format!("raw consume ended after {taken} of {n}").into()),
            Err(_) => {
                return Err(format!("raw consume: {taken} of {n} within {RUN_TIMEOUT:?}").into());
            }
        };
        taken += 1;
        if concurrency == 1 {
            let _: Event = serde_json::from_slice(&msg.payload)?;
            msg.ack().await?;
            seen.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let permit = Arc::clone(&permits).acquire_owned().await?;
        let (seen, done) = (Arc::clone(&seen), Arc::clone(&done));
        tokio::spawn(async move {
            if serde_json::from_slice::<Event>(&msg.payload).is_ok()
                && msg.ack().await.is_ok()
                && seen.fetch_add(1, Ordering::Relaxed) + 1 == n
            {
                done.notify_one();
            }
            drop(permit);
        });
    }
    if seen.load(Ordering::Relaxed) < n {
        tokio::time::timeout_at(deadline, done.notified()).await?;
    }
    let sample = meter.stop(n);
    drop(messages);
    js.delete_consumer_from_stream(&durable, stream).await?;
    Ok(sample)
}

/// The library: a durable stream consumer with `options` (the defaults when `None`).
pub(crate) async fn ours(
    url: &str,
    stream: &str,
    n: usize,
    options: Option<ConsumerOptions>,
    server_pid: Option<u32>,
) -> Result<Sample, BoxErr> {
    let seen = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(Notify::new());
    let (s2, d2) = (Arc::clone(&seen), Arc::clone(&done));
    let service = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let meter = Meter::start(server_pid);
    let mut builder = Connection::builder(service.as_str()).url(url);
    if let Some(options) = options {
        builder = builder.consumer_defaults(options);
    }
    let conn = builder
        .stream_consumer(
            stream,
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
    if tokio::time::timeout(RUN_TIMEOUT, done.notified())
        .await
        .is_err()
    {
        let got = seen.load(Ordering::Relaxed);
        return Err(format!("consume: {got} of {n} within {RUN_TIMEOUT:?}").into());
    }
    let sample = meter.stop(n);
    conn.close().await?;
    let js = jetstream::new(async_nats::connect(url).await?);
    js.delete_consumer_from_stream(&service, stream).await?;
    Ok(sample)
}

/// How long the slow handler of the backlog run takes per event.
const SLOW_HANDLER: Duration = Duration::from_millis(2);

/// Resident memory of a fresh process running the library's default consumer on `stream`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Memory {
    /// Before `start()`: the runtime and the binary.
    pub(crate) before: u64,
    /// The highest sample while consuming.
    pub(crate) peak: u64,
    /// Events handled in the time watched.
    pub(crate) handled: usize,
}

/// The environment variable that makes the bench binary a memory child (`url stream ms`).
const MEMORY_CHILD: &str = "BENCH_MEMORY_CHILD";

/// Runs [`memory_child`] in a fresh process (this binary again), so nothing the parent
/// allocated (filling the stream, earlier workloads) counts.
pub(crate) async fn memory_in_fresh_process(
    url: &str,
    stream: &str,
    watch: Duration,
) -> Result<Memory, BoxErr> {
    let exe = std::env::current_exe()?;
    let child = tokio::process::Command::new(exe)
        .arg("--bench")
        .env(
            MEMORY_CHILD,
            format!("{url} {stream} {}", watch.as_millis()),
        )
        .output();
    let out = tokio::time::timeout(watch + crate::RUN_TIMEOUT, child).await??;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse::<u64>().ok())
    };
    match (field("before"), field("peak"), field("handled")) {
        (Some(before), Some(peak), Some(handled)) if out.status.success() => Ok(Memory {
            before,
            peak,
            handled: usize::try_from(handled)?,
        }),
        _ => Err(format!(
            "memory child failed ({}): {text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into()),
    }
}

/// In the child: measures and prints `before=… peak=… handled=…`. `None` when this process
/// is not a memory child.
pub(crate) async fn memory_child_if_asked() -> Option<Result<(), BoxErr>> {
    let spec = std::env::var(MEMORY_CHILD).ok()?;
    let mut parts = spec.split_whitespace();
    let (Some(url), Some(stream), Some(ms)) = (parts.next(), parts.next(), parts.next()) else {
        return Some(Err(format!(
            "{MEMORY_CHILD}={spec:?}: want `url stream ms`"
        )
        .into()));
    };
    let Ok(ms) = ms.parse::<u64>() else {
        return Some(Err(
            format!("{MEMORY_CHILD}: {ms:?} is not milliseconds").into()
        ));
    };
    let measured = memory_child(url, stream, Duration::from_millis(ms)).await;
    Some(measured.map(|m| {
        println!("before={} peak={} handled={}", m.before, m.peak, m.handled);
    }))
}

/// Resident memory while the library's default consumer works through `stream` with a slow
/// handler, sampled every 50 ms for `watch`.
async fn memory_child(url: &str, stream: &str, watch: Duration) -> Result<Memory, BoxErr> {
    let seen = Arc::new(AtomicUsize::new(0));
    let s2 = Arc::clone(&seen);
    let before = crate::measure::rss_bytes();
    let conn = Connection::builder("bench-backlog")
        .url(url)
        .stream_consumer(
            stream,
            "Order.Created",
            move |_ev: ConsumableEvent<Event>| {
                let seen = Arc::clone(&s2);
                async move {
                    tokio::time::sleep(SLOW_HANDLER).await;
                    seen.fetch_add(1, Ordering::Relaxed);
                    Ok::<(), HandlerError>(())
                }
            },
        )
        .start()
        .await?;
    let mut peak = before;
    let end = tokio::time::Instant::now() + watch;
    while tokio::time::Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(50)).await;
        peak = peak.max(crate::measure::rss_bytes());
    }
    conn.close().await?;
    Ok(Memory {
        before,
        peak,
        handled: seen.load(Ordering::Relaxed),
    })
}
