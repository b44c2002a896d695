//! Per-message cost of observability on the consume path, without a broker: recording the
//! metrics of one delivery (received, ack, processed duration) and one non-recording
//! consumer span (trace context extracted from a `traceparent` header, span started and
//! ended). Run with `cargo bench -p messaging-nats --bench observe`; prints ns/message
//! (median of several runs) and checks the 0.5 µs budget for both together.

use std::hint::black_box;
use std::time::Instant;

use messaging_nats::prometheus::Registry;
use messaging_nats::{Metrics, OtelTracing, bench_consumer_spans, bench_record_consumed};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};

const MESSAGES: usize = 200_000;
const RUNS: usize = 7;
const BUDGET_NS: f64 = 500.0;

/// Median nanoseconds per message of `f(MESSAGES)` over [`RUNS`] runs, after a warm-up.
fn per_message(mut f: impl FnMut(usize)) -> f64 {
    f(MESSAGES / 10);
    let mut runs: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f(black_box(MESSAGES));
            #[allow(clippy::cast_precision_loss)] // a few hundred thousand
            let per = start.elapsed().as_nanos() as f64 / MESSAGES as f64;
            per
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs.get(RUNS / 2).copied().unwrap_or(f64::NAN)
}

fn main() -> Result<(), messaging_nats::Error> {
    // `cargo test --all-targets` runs bench binaries too, without `--bench`; debug-build
    // figures would mean nothing.
    if !std::env::args().any(|a| a == "--bench") || cfg!(debug_assertions) {
        return Ok(());
    }
    let registry = Registry::new();
    let metrics = Metrics::register(&registry)?;
    let one_key = per_message(|n| bench_record_consumed(&metrics, "orders", &["Order.Created"], n));
    let keys = [
        "Order.Created",
        "Order.Updated",
        "Order.Deleted",
        "Customer.Created",
    ];
    let four_keys = per_message(|n| bench_record_consumed(&metrics, "orders", &keys, n));

    // No provider installed: the global no-op tracer.
    let noop = per_message(|n| bench_consumer_spans(OtelTracing::new(), n, true));
    let noop_untraced = per_message(|n| bench_consumer_spans(OtelTracing::new(), n, false));
    // An SDK pipeline that samples nothing (a typical "tracing off" production setup).
    let provider = SdkTracerProvider::builder()
        .with_sampler(Sampler::AlwaysOff)
        .build();
    let sampled_out = per_message(|n| {
        bench_consumer_spans(OtelTracing::new().tracer_provider(&provider), n, true);
    });

    println!("metrics, one routing key            {one_key:>8.1} ns/message");
    println!("metrics, four routing keys          {four_keys:>8.1} ns/message");
    println!("span, global no-op tracer           {noop:>8.1} ns/message");
    println!("  same, message without trace context {noop_untraced:>6.1} ns/message");
    println!("span, SDK with AlwaysOff sampler    {sampled_out:>8.1} ns/message");
    let worst = one_key.max(four_keys) + noop.max(sampled_out);
    println!(
        "metrics + non-recording span (worst) {worst:>7.1} ns/message (budget {BUDGET_NS} ns)"
    );
    if worst > BUDGET_NS {
        println!("over budget");
    }
    Ok(())
}
