//! Per-message cost of reading a message's headers, without a broker: the spec `Headers`
//! filled from the eight headers the library publishes (as a transport does for every
//! delivery), then what every handler's metadata needs (`has_ce_headers`,
//! `validate_ce_headers`, `metadata_from_headers`), then both dropped. Run with
//! `cargo bench -p messaging-spec --bench headers`; prints ns/message (median of runs).

use std::borrow::Cow;
use std::hint::black_box;
use std::time::Instant;

use messaging_spec::{Headers, has_ce_headers, metadata_from_headers, validate_ce_headers};

const MESSAGES: usize = 500_000;
const RUNS: usize = 9;

/// The headers of one event, in the order a NATS header map may yield them.
const WIRE: [(&str, &str); 8] = [
    ("service", "orders"),
    ("ce-time", "2026-12-02T18:00:00Z"),
    ("Nats-Msg-Id", "7f1c2a4e-3b5d-4c6e-8f90-123456789abc"),
    ("ce-type", "Order.Created"),
    ("ce-specversion", "1.0"),
    ("ce-id", "7f1c2a4e-3b5d-4c6e-8f90-123456789abc"),
    ("ce-datacontenttype", "application/json"),
    ("ce-source", "orders"),
];

/// Known names are borrowed, as the transports do; values are copied.
fn key(k: &'static str) -> Cow<'static, str> {
    Cow::Borrowed(k)
}

fn read_one() -> usize {
    let mut headers = Headers::new();
    headers.extend(
        black_box(WIRE)
            .into_iter()
            .map(|(k, v)| (key(k), serde_json::Value::String(v.to_owned()))),
    );
    let has = has_ce_headers(&headers);
    let warnings = validate_ce_headers(&headers);
    let metadata = metadata_from_headers(&headers);
    usize::from(has) + warnings.len() + metadata.id.len()
}

fn main() {
    // `cargo test --all-targets` runs bench binaries too, without `--bench`; debug-build
    // figures would mean nothing.
    if !std::env::args().any(|a| a == "--bench") || cfg!(debug_assertions) {
        return;
    }
    let mut runs: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let mut sum = 0;
            for _ in 0..MESSAGES {
                sum += read_one();
            }
            black_box(sum);
            #[allow(clippy::cast_precision_loss)] // half a million
            let per = start.elapsed().as_nanos() as f64 / MESSAGES as f64;
            per
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    let median = runs.get(RUNS / 2).copied().unwrap_or(f64::NAN);
    let (min, max) = (runs[0], runs[RUNS - 1]);
    println!(
        "headers of one message read into Headers + metadata: {median:.0} ns (min {min:.0}, max {max:.0})"
    );
}
