//! The results table: per workload and contender, min / median / max of throughput (or
//! latency), client and server CPU per message, and the ratio to raw async-nats.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::measure::Latencies;
use crate::measure::{Sample, Spread, percentile};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Workload {
    Consume,
    Consume16,
    PublishWindowed,
    PublishSync,
    Request,
}

impl Workload {
    fn title(self) -> &'static str {
        match self {
            Self::Consume => "durable consume + ack, decoded struct, 1 at a time",
            Self::Consume16 => "durable consume + ack, concurrency 16",
            Self::PublishWindowed => "windowed publish, 256 acks in flight, same headers",
            Self::PublishSync => "sync publish (each awaits its ack), same headers",
            Self::Request => "request-reply, sequential",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Contender {
    RawConsume { batch: usize },
    OursConsume { tuned: bool },
    GoConsume,
    RawPublish,
    OursPublish,
    GoPublish,
    RawRequest,
    OursRequest,
}

impl Contender {
    fn is_raw(self) -> bool {
        matches!(
            self,
            Self::RawConsume { .. } | Self::RawPublish | Self::RawRequest
        )
    }

    fn label(self, workload: Workload) -> String {
        match (self, workload) {
            (Self::RawConsume { batch }, _) => format!("raw async-nats, batch {batch}"),
            (Self::OursConsume { .. }, Workload::Consume16) => "messaging-nats".to_owned(),
            (Self::OursConsume { tuned: false }, _) => "messaging-nats, defaults".to_owned(),
            (Self::OursConsume { tuned: true }, _) => "messaging-nats, prefetch(2048)".to_owned(),
            (Self::GoConsume | Self::GoPublish, _) => "Go reference (go-peer, nats.go)".to_owned(),
            (Self::RawPublish | Self::RawRequest, _) => "raw async-nats".to_owned(),
            (Self::OursPublish | Self::OursRequest, _) => "messaging-nats".to_owned(),
        }
    }
}

#[derive(Default)]
struct Runs {
    samples: Vec<Sample>,
    latencies: Vec<Vec<Duration>>,
}

#[derive(Default)]
pub(crate) struct Table {
    rows: BTreeMap<(Workload, Contender), Runs>,
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn spread(runs: &Runs, f: impl Fn(&Sample) -> Option<f64>) -> Option<Spread> {
    Spread::of(runs.samples.iter().filter_map(f).collect())
}

impl Table {
    pub(crate) fn add(&mut self, workload: Workload, contender: Contender, sample: Sample) {
        self.rows
            .entry((workload, contender))
            .or_default()
            .samples
            .push(sample);
    }

    pub(crate) fn add_latencies(&mut self, contender: Contender, run: Latencies) {
        let runs = self.rows.entry((Workload::Request, contender)).or_default();
        runs.samples.push(run.sample);
        runs.latencies.push(run.sorted);
    }

    /// The best raw median rate of a workload, the ratios' denominator.
    fn raw_rate(&self, workload: Workload) -> Option<f64> {
        self.rows
            .iter()
            .filter(|((w, c), _)| *w == workload && c.is_raw())
            .filter_map(|(_, runs)| spread(runs, |s| Some(s.rate())))
            .map(|s| s.median)
            .max_by(f64::total_cmp)
    }

    fn raw_runs(&self, workload: Workload) -> Option<&Runs> {
        self.rows
            .iter()
            .find(|((w, c), _)| *w == workload && c.is_raw())
            .map(|(_, r)| r)
    }

    pub(crate) fn print(&self) {
        let mut current = None;
        for ((workload, contender), runs) in &self.rows {
            if current != Some(*workload) {
                current = Some(*workload);
                println!();
                println!("{}", workload.title());
                if *workload == Workload::Request {
                    println!(
                        "  {:<40} {:>22} {:>22} {:>14}",
                        "", "p50 µs med (min–max)", "p99 µs med (min–max)", "client µs/req"
                    );
                } else {
                    println!(
                        "  {:<40} {:>26} {:>7} {:>14} {:>14}",
                        "", "msg/s median (min–max)", "ratio", "client µs/msg", "server µs/msg"
                    );
                }
            }
            let label = contender.label(*workload);
            let cpu = spread(runs, |s| Some(s.cpu_us_per_message())).map_or(f64::NAN, |s| s.median);
            if *workload == Workload::Request {
                let p = |q: usize| {
                    Spread::of(
                        runs.latencies
                            .iter()
                            .map(|l| us(percentile(l, q)))
                            .collect(),
                    )
                };
                let show = |s: Option<Spread>| {
                    s.map_or_else(String::new, |s| {
                        format!("{:.0} ({:.0}–{:.0})", s.median, s.min, s.max)
                    })
                };
                let raw_cpu = self
                    .raw_runs(*workload)
                    .and_then(|r| spread(r, |s| Some(s.cpu_us_per_message())))
                    .map_or(f64::NAN, |s| s.median);
                println!(
                    "  {label:<40} {:>22} {:>22} {:>8.1} ({:.2}×)",
                    show(p(50)),
                    show(p(99)),
                    cpu,
                    cpu / raw_cpu
                );
                continue;
            }
            let Some(rate) = spread(runs, |s| Some(s.rate())) else {
                continue;
            };
            let ratio = self
                .raw_rate(*workload)
                .map_or(f64::NAN, |r| rate.median / r);
            let server = spread(runs, Sample::server_us_per_message)
                .map_or_else(|| "–".to_owned(), |s| format!("{:.1}", s.median));
            println!(
                "  {label:<40} {:>26} {ratio:>7.2} {cpu:>14.1} {server:>14}",
                format!("{:.0} ({:.0}–{:.0})", rate.median, rate.min, rate.max),
            );
        }
    }
}
