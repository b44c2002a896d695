//! Metrics (`amqp_events_*` on a caller-given registry), OpenTelemetry spans carried
//! across the broker, and notifications.

use messaging_amqp::{OtelTracing, prometheus};
use messaging_spec::{ConsumableEvent, HandlerError};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::support::*;

fn scrape(registry: &prometheus::Registry) -> String {
    prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap_or_default()
}

#[tokio::test]
async fn metrics_use_the_reference_names_and_labels() -> TestResult {
    let svc = unique("metrics");
    let stream = unique("metrics");
    let registry = prometheus::Registry::new();
    let (h, mut rx) = forward::<Value>();
    let (tx, mut notes) = mpsc::channel(8);
    let conn = start(
        builder(&svc)
            .metrics(&registry)
            .notifications(tx)
            .stream_publisher(&stream)
            .stream_consumer(&stream, "M.Ok", h),
    )
    .await;
    let exchange = format!("{stream}.topic.exchange");
    let queue = format!("{exchange}.queue.{svc}");
    conn.stream_publisher(&stream)?
        .publish("M.Ok", &json!({}))
        .await?;
    recv(&mut rx).await;
    let Ok(Some(note)) = tokio::time::timeout(TIMEOUT, notes.recv()).await else {
        panic!("no success notification");
    };
    assert_eq!(note.delivery_info.key, "M.Ok");
    assert_eq!(note.delivery_info.destination, queue);
    let want = [
        format!("amqp_events_publish_succeed{{exchange=\"{exchange}\",routing_key=\"M.Ok\"}} 1\n"),
        format!("amqp_events_received{{queue=\"{queue}\",routing_key=\"M.Ok\"}} 1\n"),
        format!("amqp_events_ack{{queue=\"{queue}\",routing_key=\"M.Ok\"}} 1\n"),
        format!(
            "amqp_events_processed_duration_count{{queue=\"{queue}\",result=\"ACK\",routing_key=\"M.Ok\"}} 1\n"
        ),
        format!(
            "amqp_events_publish_duration_count{{exchange=\"{exchange}\",result=\"OK\",routing_key=\"M.Ok\"}} 1\n"
        ),
    ];
    // The ack is counted right after the handler returns; poll for it (bounded).
    eventually("the metrics", || {
        let text = scrape(&registry);
        want.iter().all(|w| text.contains(w.as_str()))
    })
    .await;
    // A second connection on the same registry must share the metrics, not re-register.
    let again = builder(&unique("dup"))
        .metrics(&registry)
        .event_publisher()
        .start()
        .await;
    assert!(matches!(again, Err(messaging_amqp::Error::Metrics(_))));
    conn.close().await?;
    Ok(())
}

#[tokio::test]
async fn spans_cross_the_broker_as_parent_and_child() -> TestResult {
    let svc = unique("traced");
    let stream = unique("traced");
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let (h, mut rx) = forward::<Value>();
    let conn = start(
        builder(&svc)
            .otel(OtelTracing::new().tracer_provider(&provider))
            .stream_publisher(&stream)
            .stream_consumer(&stream, "Traced.Event", h),
    )
    .await;
    conn.stream_publisher(&stream)?
        .publish("Traced.Event", &json!({}))
        .await?;
    let ev = recv(&mut rx).await;
    let traceparent = ev
        .delivery_info
        .headers
        .get_str("traceparent")
        .unwrap_or_default()
        .to_owned();
    assert!(traceparent.starts_with("00-"), "{traceparent}");
    let mut spans = Vec::new();
    eventually("both spans to end", || {
        spans = exporter.get_finished_spans().unwrap_or_default();
        spans.len() >= 2
    })
    .await;
    let producer = spans.iter().find(|s| s.name == "publish Traced.Event");
    let consumer = spans
        .iter()
        .find(|s| s.name == format!("queue.{svc}#Traced.Event"));
    let (Some(producer), Some(consumer)) = (producer, consumer) else {
        panic!(
            "spans: {:?}",
            spans.iter().map(|s| s.name.clone()).collect::<Vec<_>>()
        );
    };
    assert_eq!(consumer.parent_span_id, producer.span_context.span_id());
    assert_eq!(
        consumer.span_context.trace_id(),
        producer.span_context.trace_id()
    );
    let attr = |s: &opentelemetry_sdk::trace::SpanData, k: &str| {
        s.attributes
            .iter()
            .find(|kv| kv.key.as_str() == k)
            .map(|kv| kv.value.to_string())
    };
    assert_eq!(
        attr(producer, "messaging.system").as_deref(),
        Some("rabbitmq")
    );
    assert_eq!(
        attr(consumer, "messaging.system").as_deref(),
        Some("rabbitmq")
    );
    assert_eq!(
        attr(consumer, "messaging.rabbitmq.routing_key").as_deref(),
        Some("Traced.Event")
    );
    assert_eq!(
        attr(producer, "messaging.destination.name"),
        Some(format!("{stream}.topic.exchange"))
    );
    conn.close().await?;
    Ok(())
}

#[tokio::test]
async fn dropped_notifications_are_counted_not_blocking() -> TestResult {
    let svc = unique("drops");
    let stream = unique("drops");
    let (tx, _keep) = mpsc::channel(1);
    let (done_tx, mut done) = mpsc::unbounded_channel();
    let conn = start(
        builder(&svc)
            .notifications(tx)
            .stream_publisher(&stream)
            .stream_consumer(&stream, "N.K", move |_: ConsumableEvent<Value>| {
                let _ = done_tx.send(());
                async { Ok::<_, HandlerError>(()) }
            }),
    )
    .await;
    let p = conn.stream_publisher(&stream)?;
    for n in 0..3 {
        p.publish("N.K", &n).await?;
    }
    for _ in 0..3 {
        recv(&mut done).await;
    }
    eventually("two dropped notifications", || {
        conn.dropped_notifications() == 2
    })
    .await;
    conn.close().await?;
    Ok(())
}
