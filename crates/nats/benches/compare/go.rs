//! The Go reference's hot paths, imitated with nats.go by `interop/go-peer` (its
//! `bench-consume` and `bench-publish` commands). Skipped unless `GO_PEER` names the binary.

use std::time::Duration;

use serde::Deserialize;

use crate::BoxErr;
use crate::measure::Sample;

#[derive(Deserialize)]
struct Report {
    count: usize,
    elapsed_ns: u64,
    cpu_user_ns: u64,
    cpu_sys_ns: u64,
}

/// The go-peer binary, when the bench was given one.
pub(crate) fn peer() -> Option<String> {
    std::env::var("GO_PEER").ok().filter(|p| !p.is_empty())
}

async fn run(peer: &str, args: &[&str]) -> Result<Sample, BoxErr> {
    let out = tokio::process::Command::new(peer)
        .args(args)
        .output()
        .await?;
    if !out.status.success() {
        return Err(format!(
            "go-peer {} failed: {}",
            args.first().copied().unwrap_or_default(),
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let report: Report = serde_json::from_str(line.trim())?;
    Ok(Sample::external(
        report.count,
        Duration::from_nanos(report.elapsed_ns),
        Duration::from_nanos(report.cpu_user_ns + report.cpu_sys_ns),
    ))
}

pub(crate) async fn consume(
    peer: &str,
    url: &str,
    stream: &str,
    n: usize,
    concurrency: usize,
) -> Result<Sample, BoxErr> {
    let durable = format!("gobench-{}", uuid::Uuid::new_v4().simple());
    let (n, c) = (n.to_string(), concurrency.to_string());
    run(
        peer,
        &[
            "bench-consume",
            "--url",
            url,
            "--stream",
            stream,
            "--count",
            &n,
            "--concurrency",
            &c,
            "--durable",
            &durable,
        ],
    )
    .await
}

pub(crate) async fn publish(
    peer: &str,
    url: &str,
    stream: &str,
    n: usize,
) -> Result<Sample, BoxErr> {
    let n = n.to_string();
    run(
        peer,
        &[
            "bench-publish",
            "--url",
            url,
            "--stream",
            stream,
            "--count",
            &n,
            "--ensure",
        ],
    )
    .await
}
