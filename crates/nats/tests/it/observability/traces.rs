//! Traces with an in-memory exporter: publish → consume is one trace with the exact
//! parent and attributes; request-reply carries the trace both ways.

use std::collections::BTreeMap;

use messaging_nats::OtelTracing;
use messaging_nats::opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{charge, ok};
use crate::support::{self, TestResult};

fn pipeline() -> (InMemorySpanExporter, SdkTracerProvider) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    (exporter, provider)
}

fn span<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    let found: Vec<&SpanData> = spans.iter().filter(|s| s.name == name).collect();
    match found.as_slice() {
        [one] => one,
        other => panic!(
            "expected one span {name:?}, found {}; all: {:?}",
            other.len(),
            spans.iter().map(|s| s.name.as_ref()).collect::<Vec<_>>()
        ),
    }
}

fn attrs(span: &SpanData) -> BTreeMap<String, String> {
    span.attributes
        .iter()
        .map(|kv| (kv.key.to_string(), kv.value.to_string()))
        .collect()
}

fn expect(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn assert_child(child: &SpanData, parent: &SpanData) {
    assert_eq!(
        child.span_context.trace_id(),
        parent.span_context.trace_id(),
        "{} and {} are in different traces",
        child.name,
        parent.name
    );
    assert_eq!(child.parent_span_id, parent.span_context.span_id());
    assert!(child.parent_span_is_remote);
}

fn finished(exporter: &InMemorySpanExporter) -> Vec<SpanData> {
    match exporter.get_finished_spans() {
        Ok(s) => s,
        Err(e) => panic!("reading spans: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_span_is_the_child_of_its_publish_span() -> TestResult {
    let server = support::server();
    let (exporter, provider) = pipeline();
    let tracing = OtelTracing::new().tracer_provider(&provider);
    let (done_tx, mut done) = mpsc::channel(4);
    let consumer = support::start(
        support::builder(&server, "obs-trace-b")
            .otel(tracing.clone())
            .notifications(done_tx)
            .event_consumer("Trace.Me", ok),
    )
    .await;
    let producer = support::start(
        support::builder(&server, "obs-trace-a")
            .otel(tracing)
            .event_publisher(),
    )
    .await;
    let body = json!({ "n": 1 });
    let size = serde_json::to_vec(&body)?.len().to_string();
    let receipt = producer
        .event_publisher()?
        .publish("Trace.Me", &body)
        .await?;
    support::recv(&mut done).await;

    let spans = finished(&exporter);
    assert_eq!(spans.len(), 2);
    let publish = span(&spans, "publish Trace.Me");
    let consume = span(&spans, "obs-trace-b#Trace.Me");
    assert_eq!(publish.span_kind, SpanKind::Producer);
    assert_eq!(consume.span_kind, SpanKind::Consumer);
    assert_eq!(publish.status, Status::Ok);
    assert_eq!(consume.status, Status::Ok);
    assert_child(consume, publish);
    assert_eq!(
        attrs(publish),
        expect(&[
            ("messaging.system", "nats"),
            ("messaging.operation", "publish"),
            ("messaging.destination.name", "events"),
            ("messaging.nats.subject", "events.Trace.Me"),
            ("messaging.client_id", "obs-trace-a"),
            ("messaging.message.id", &receipt.id),
            ("messaging.message.body.size", &size),
        ])
    );
    assert_eq!(
        attrs(consume),
        expect(&[
            ("messaging.system", "nats"),
            ("messaging.operation", "receive"),
            ("messaging.destination.name", "events"),
            ("messaging.destination.subscription", "obs-trace-b"),
            ("messaging.nats.subject", "events.Trace.Me"),
            ("messaging.client_id", "obs-trace-b"),
            ("messaging.message.id", &receipt.id),
            ("messaging.message.body.size", &size),
        ])
    );
    producer.close().await?;
    consumer.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_reply_carries_the_trace_both_ways() -> TestResult {
    let server = support::server();
    let (exporter, provider) = pipeline();
    let tracing = OtelTracing::new().tracer_provider(&provider);
    let billing = support::start(
        support::builder(&server, "obs-trace-billing")
            .otel(tracing.clone())
            .request_handler("Billing.Charge", charge),
    )
    .await;
    let (done_tx, mut done) = mpsc::channel(4);
    let (replies, mut reply_rx) = support::forward::<Value>();
    let shop = support::start(
        support::builder(&server, "obs-trace-shop")
            .otel(tracing)
            .notifications(done_tx)
            .service_publisher("obs-trace-billing")
            .service_response_consumer("obs-trace-billing", "Billing.Charge", replies),
    )
    .await;
    let reply: Value = shop
        .service_publisher("obs-trace-billing")?
        .request("Billing.Charge", &json!({ "cents": 100 }))
        .await?;
    assert_eq!(reply, json!({ "ok": true }));
    assert_eq!(support::recv(&mut reply_rx).await.payload, reply);
    support::recv(&mut done).await;

    let spans = finished(&exporter);
    assert_eq!(spans.len(), 3);
    let request = span(&spans, "publish Billing.Charge");
    let handler = span(&spans, "obs-trace-billing#Billing.Charge");
    let response = span(&spans, "obs-trace-shop#Billing.Charge");
    assert_eq!(request.span_kind, SpanKind::Producer);
    assert_child(handler, request);
    assert_child(response, handler);
    let subject = "obs-trace-billing.request.Billing.Charge";
    let handler_attrs = attrs(handler);
    assert_eq!(
        handler_attrs
            .get("messaging.destination.name")
            .map(String::as_str),
        Some(subject)
    );
    assert_eq!(
        handler_attrs
            .get("messaging.nats.subject")
            .map(String::as_str),
        Some(subject)
    );
    assert_eq!(
        attrs(request)
            .get("messaging.destination.name")
            .map(String::as_str),
        Some("obs-trace-billing")
    );
    assert_eq!(
        attrs(request)
            .get("messaging.nats.subject")
            .map(String::as_str),
        Some(subject)
    );
    shop.close().await?;
    billing.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_handler_ends_its_span_in_error() -> TestResult {
    let server = support::server();
    let (exporter, provider) = pipeline();
    let (err_tx, mut failed) = mpsc::channel(4);
    let conn = support::start(
        support::builder(&server, "obs-trace-fail")
            .otel(OtelTracing::new().tracer_provider(&provider))
            .error_notifications(err_tx)
            .event_publisher()
            .event_consumer("Trace.Bad", super::fail)
            .consumer_defaults(messaging_nats::ConsumerOptions::new().max_deliver(1)),
    )
    .await;
    conn.event_publisher()?
        .publish("Trace.Bad", &json!({}))
        .await?;
    support::recv(&mut failed).await;
    let spans = finished(&exporter);
    let consume = span(&spans, "obs-trace-fail#Trace.Bad");
    assert!(matches!(&consume.status, Status::Error { .. }));
    assert_child(consume, span(&spans, "publish Trace.Bad"));
    conn.close().await?;
    Ok(())
}
