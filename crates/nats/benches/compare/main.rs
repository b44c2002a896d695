//! messaging-nats against raw async-nats (and the Go reference imitated by `go-peer`), on
//! one nats-server, in one run, with the order of the contenders rotated every sample.
//!
//! Run it through `scripts/bench.sh` (release build, builds the Go peer). Environment:
//! `BENCH_MESSAGES` (events per consume and windowed-publish run, default 50 000),
//! `BENCH_SYNC` (sync publishes per run, 5 000), `BENCH_REQUESTS` (requests per run, 5 000),
//! `BENCH_SAMPLES` (5), `BENCH_BACKLOG` (events in the memory run, 1 000 000; 0 skips it),
//! `GO_PEER` (path to the go-peer binary; unset skips the Go rows), `BENCH_ONLY` (one of
//! `consume`, `consume16`, `publish`, `sync`, `request`, `backlog`: run just that, e.g. to
//! profile it; `request-raw` or `request-ours`: that side's requests alone). The memory
//! runs re-run this binary as a fresh process (`BENCH_MEMORY_CHILD`).

mod consume;
mod go;
mod measure;
mod publish;
mod report;
mod request;

use std::time::Duration;

use messaging_nats::ConsumerOptions;
use messaging_testkit::NatsServer;
use serde::{Deserialize, Serialize};

use report::{Contender, Table, Workload};

pub(crate) type BoxErr = Box<dyn std::error::Error + Send + Sync>;

/// Bound on each run: a run that stalls fails instead of hanging the bench.
pub(crate) const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// The event: about 256 bytes of JSON.
#[derive(Serialize, Deserialize)]
pub(crate) struct Event {
    id: usize,
    name: String,
    amount: f64,
    note: String,
}

pub(crate) fn event(id: usize) -> Event {
    Event {
        id,
        name: "order".to_owned(),
        amount: 12.5,
        note: "x".repeat(200),
    }
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// Each sample starts with a different contender, so none always runs first.
fn rotate<T>(contenders: &mut [T], sample: usize) {
    let len = contenders.len().max(1);
    contenders.rotate_left(sample % len);
}

/// The library tuned for throughput, for comparison with its defaults.
fn tuned() -> ConsumerOptions {
    ConsumerOptions::new().prefetch(2048)
}

#[tokio::main]
async fn main() -> Result<(), BoxErr> {
    // `cargo test --all-targets` runs bench binaries too, without `--bench`: nothing to
    // measure there.
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    if cfg!(debug_assertions) {
        eprintln!("the comparison means nothing in a debug build: run scripts/bench.sh");
        std::process::exit(2);
    }
    if let Some(done) = consume::memory_child_if_asked().await {
        return done;
    }
    let n = env("BENCH_MESSAGES", 50_000);
    let sync_n = env("BENCH_SYNC", 5_000);
    let requests = env("BENCH_REQUESTS", 5_000);
    let samples = env("BENCH_SAMPLES", 5).max(1);
    let backlog = env("BENCH_BACKLOG", 1_000_000);
    let peer = go::peer();
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let runs = |what: &str| only.is_empty() || only == what;
    let server = NatsServer::start()?;
    let url = server.client_url();
    let pid = server.pid();
    println!(
        "nats-server {url}; {n} events per consume/publish run, {sync_n} sync publishes, \
         {requests} requests, {samples} rotated samples; Go peer: {}",
        peer.as_deref().unwrap_or("not given (GO_PEER unset)")
    );
    if let Some(side) = only.strip_prefix("request-") {
        return request::alone(&url, requests, side == "ours").await;
    }
    publish::fill(&url, "bench", n).await?;
    let mut table = Table::default();
    for s in 0..samples {
        eprintln!("sample {} of {samples}", s + 1);
        let mut contenders = vec![
            Contender::RawConsume { batch: 200 },
            Contender::RawConsume { batch: 500 },
            Contender::OursConsume { tuned: false },
            Contender::OursConsume { tuned: true },
        ];
        if !runs("consume") {
            contenders.clear();
        } else if peer.is_some() {
            contenders.push(Contender::GoConsume);
        }
        rotate(&mut contenders, s);
        for c in contenders {
            let sample = match c {
                Contender::RawConsume { batch } => {
                    consume::raw(&url, "bench", n, batch, 1, pid).await?
                }
                Contender::OursConsume { tuned: t } => {
                    consume::ours(&url, "bench", n, t.then(tuned), pid).await?
                }
                Contender::GoConsume => match &peer {
                    Some(p) => go::consume(p, &url, "bench", n, 1).await?,
                    None => continue,
                },
                _ => continue,
            };
            table.add(Workload::Consume, c, sample);
        }
        let mut contenders = vec![
            Contender::RawConsume { batch: 500 },
            Contender::OursConsume { tuned: false },
        ];
        if !runs("consume16") {
            contenders.clear();
        }
        rotate(&mut contenders, s);
        for c in contenders {
            let sample = match c {
                Contender::RawConsume { batch } => {
                    consume::raw(&url, "bench", n, batch, 16, pid).await?
                }
                _ => {
                    let options = ConsumerOptions::new().concurrency(16);
                    consume::ours(&url, "bench", n, Some(options), pid).await?
                }
            };
            table.add(Workload::Consume16, c, sample);
        }
        let mut contenders = vec![Contender::RawPublish, Contender::OursPublish];
        if !runs("publish") {
            contenders.clear();
        }
        rotate(&mut contenders, s);
        for c in contenders {
            let name = format!("pub{s}");
            let sample = match c {
                Contender::RawPublish => publish::raw(&url, &name, n, 256, pid).await?,
                _ => publish::ours(&url, &name, n, 256, pid).await?,
            };
            table.add(Workload::PublishWindowed, c, sample);
        }
        if runs("sync") {
            let (raw, ours) = publish::sync_both(&url, s, sync_n, s % 2 == 0).await?;
            table.add(Workload::PublishSync, Contender::RawPublish, raw);
            table.add(Workload::PublishSync, Contender::OursPublish, ours);
            if let Some(p) = &peer {
                let go = go::publish(p, &url, &format!("gosync{s}"), sync_n).await?;
                table.add(Workload::PublishSync, Contender::GoPublish, go);
            }
        }
        if runs("request") {
            let (raw, ours) = request::both(&url, requests, s % 2 == 0).await?;
            table.add_latencies(Contender::RawRequest, raw);
            table.add_latencies(Contender::OursRequest, ours);
        }
    }
    table.print();
    if backlog > 0 && runs("backlog") {
        // The same consumer, each in a fresh process, on a stream 100 times smaller and on
        // the backlog: if memory followed the stream, the second would be far larger.
        let small = (backlog / 100).max(1);
        publish::fill(&url, "small", small).await?;
        publish::fill(&url, "backlog", backlog).await?;
        let watch = Duration::from_secs(10);
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let mut peaks = Vec::new();
        for (stream, events) in [("small", small), ("backlog", backlog)] {
            let m = consume::memory_in_fresh_process(&url, stream, watch).await?;
            println!(
                "memory: fresh process, default consumer (prefetch 512), slow handler, \
                 {watch:?}, stream of {events} events: resident {:.1} MiB before start(), \
                 peak {:.1} MiB (+{:.1}); {} events handled",
                mib(m.before),
                mib(m.peak),
                mib(m.peak.saturating_sub(m.before)),
                m.handled
            );
            peaks.push(m.peak);
        }
        if let [small_peak, backlog_peak] = peaks[..] {
            println!(
                "memory: the {backlog}-event backlog peaks {:+.1} MiB against the \
                 {small}-event stream",
                (backlog_peak as f64 - small_peak as f64) / (1024.0 * 1024.0)
            );
        }
    }
    drop(server);
    Ok(())
}
