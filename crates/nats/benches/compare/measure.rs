//! What one run costs: wall time, this process's CPU time, the server's CPU time; and
//! min / median / max over rotated samples.

use std::time::{Duration, Instant};

use rustix::time::{ClockId, clock_gettime};

use crate::BoxErr;

/// CPU time this process has used so far (all threads).
pub(crate) fn process_cpu() -> Duration {
    let t = clock_gettime(ClockId::ProcessCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// CPU time (user + system) of another process, from `/proc/<pid>/stat`, in clock ticks of
/// 10 ms. Coarse, but a run lasts long enough for it to mean something.
fn other_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; count from after its ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// Resident memory of this process, in bytes.
pub(crate) fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// A running measurement.
pub(crate) struct Meter {
    wall: Instant,
    cpu: Duration,
    server_pid: Option<u32>,
    server_cpu: Option<Duration>,
}

impl Meter {
    pub(crate) fn start(server_pid: Option<u32>) -> Self {
        Self {
            wall: Instant::now(),
            cpu: process_cpu(),
            server_pid,
            server_cpu: server_pid.and_then(other_cpu),
        }
    }

    pub(crate) fn stop(&self, messages: usize) -> Sample {
        let server = match (self.server_pid.and_then(other_cpu), self.server_cpu) {
            (Some(now), Some(then)) => Some(now.saturating_sub(then)),
            _ => None,
        };
        Sample {
            messages,
            wall: self.wall.elapsed(),
            cpu: process_cpu().saturating_sub(self.cpu),
            server,
        }
    }
}

/// One run of one workload.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    pub(crate) messages: usize,
    pub(crate) wall: Duration,
    /// Client CPU: this process, every thread.
    pub(crate) cpu: Duration,
    pub(crate) server: Option<Duration>,
}

impl Sample {
    /// From a measurement made elsewhere (the Go peer).
    pub(crate) fn external(messages: usize, wall: Duration, cpu: Duration) -> Self {
        Self {
            messages,
            wall,
            cpu,
            server: None,
        }
    }

    pub(crate) fn rate(&self) -> f64 {
        self.messages as f64 / self.wall.as_secs_f64()
    }

    pub(crate) fn cpu_us_per_message(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.messages as f64
    }

    pub(crate) fn server_us_per_message(&self) -> Option<f64> {
        self.server
            .map(|s| s.as_secs_f64() * 1e6 / self.messages as f64)
    }
}

/// Min, median and max of some figure.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Spread {
    pub(crate) min: f64,
    pub(crate) median: f64,
    pub(crate) max: f64,
}

impl Spread {
    pub(crate) fn of(mut values: Vec<f64>) -> Option<Self> {
        values.retain(|v| v.is_finite());
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let mid = values.len() / 2;
        let median = if values.len().is_multiple_of(2) {
            f64::midpoint(values[mid - 1], values[mid])
        } else {
            values[mid]
        };
        Some(Self {
            min: values[0],
            median,
            max: values[values.len() - 1],
        })
    }
}

/// Percentile (0..=100) of sorted latencies.
pub(crate) fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = (sorted.len() * p).div_ceil(100).saturating_sub(1);
    sorted[idx.min(sorted.len() - 1)]
}

/// Operations one side makes before the other takes its turn, in the workloads whose
/// contenders run side by side (request-reply, sync publish).
const CHUNK: usize = 100;

/// One side's run: its sample and the latencies, sorted.
pub(crate) struct Latencies {
    pub(crate) sample: Sample,
    pub(crate) sorted: Vec<Duration>,
}

/// What one side has spent so far in a sample.
#[derive(Default)]
pub(crate) struct Tally {
    wall: Duration,
    cpu: Duration,
    latencies: Vec<Duration>,
}

impl Tally {
    pub(crate) fn into_latencies(mut self) -> Latencies {
        self.latencies.sort();
        Latencies {
            // Server CPU is not split by side: /proc counts it in 10 ms ticks.
            sample: Sample::external(self.latencies.len(), self.wall, self.cpu),
            sorted: self.latencies,
        }
    }
}

/// Runs `n` operations on each of two sides, taking turns in chunks of [`CHUNK`] with the
/// order flipping every chunk (`a_first`: who opens), so drift in the machine's speed
/// weighs on both alike. Returns what each side spent.
pub(crate) async fn side_by_side<A, AF, B, BF>(
    n: usize,
    a_first: bool,
    a: A,
    b: B,
) -> Result<(Tally, Tally), BoxErr>
where
    A: Fn(usize) -> AF,
    AF: Future<Output = Result<(), BoxErr>>,
    B: Fn(usize) -> BF,
    BF: Future<Output = Result<(), BoxErr>>,
{
    let (mut ta, mut tb) = (Tally::default(), Tally::default());
    for (chunk, start) in (0..n).step_by(CHUNK).enumerate() {
        let range = start..(start + CHUNK).min(n);
        if a_first == chunk.is_multiple_of(2) {
            turn(&mut ta, range.clone(), &a).await?;
            turn(&mut tb, range, &b).await?;
        } else {
            turn(&mut tb, range.clone(), &b).await?;
            turn(&mut ta, range, &a).await?;
        }
    }
    Ok((ta, tb))
}

/// Times operations `range` made one after another, adding them to `tally`.
async fn turn<F, Fut>(
    tally: &mut Tally,
    range: std::ops::Range<usize>,
    one: &F,
) -> Result<(), BoxErr>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<(), BoxErr>>,
{
    let wall = Instant::now();
    let cpu = process_cpu();
    for i in range {
        let sent = Instant::now();
        one(i).await?;
        tally.latencies.push(sent.elapsed());
    }
    tally.cpu += process_cpu().saturating_sub(cpu);
    tally.wall += wall.elapsed();
    Ok(())
}
