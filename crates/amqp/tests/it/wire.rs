//! The wire, checked from outside: declarations through the management API, and
//! published properties and headers through a raw lapin peer, both ways.

use messaging_amqp::ConsumerOptions;
use messaging_amqp::lapin::BasicProperties;
use messaging_amqp::lapin::options::BasicPublishOptions;
use messaging_amqp::lapin::types::{AMQPValue, FieldTable, LongString};
use messaging_spec::{ConsumableEvent, HandlerError};
use serde_json::{Value, json};

use crate::support::*;

async fn ignore(_: ConsumableEvent<Value>) -> Result<(), HandlerError> {
    Ok(())
}

async fn answer(_: ConsumableEvent<Value>) -> Result<Value, HandlerError> {
    Ok(json!({"ok": true}))
}

#[tokio::test]
async fn declarations_are_the_reference_ones() -> TestResult {
    let svc = unique("wire");
    let target = unique("wire-target");
    let stream = unique("wirestream");
    let dlx = unique("wire-dlx");
    let conn = start(
        builder(&svc)
            .event_publisher()
            .service_publisher(&target)
            .queue_publisher(unique("never-declared"))
            .event_consumer(format!("{svc}.Created"), ignore)
            .transient_event_consumer(format!("{svc}.Live"), ignore)
            .setup(
                messaging_amqp::Setup::stream_consumer(&stream, "Audit.#", ignore)
                    .suffix("dl")
                    .options(
                        ConsumerOptions::new()
                            .suffix("dl")
                            .dead_letter(&dlx)
                            .dead_letter_routing_key("dead")
                            .single_active_consumer(false),
                    ),
            )
            .request_handler("Order.Get", answer)
            .service_response_consumer(&target, "Reply.Key", ignore),
    )
    .await;

    for (name, kind) in [
        ("events.topic.exchange".to_owned(), "topic"),
        (format!("{stream}.topic.exchange"), "topic"),
        (format!("{target}.direct.exchange.request"), "direct"),
        (format!("{svc}.direct.exchange.request"), "direct"),
        (format!("{svc}.headers.exchange.response"), "headers"),
        (format!("{target}.headers.exchange.response"), "headers"),
    ] {
        let x = exchange_info(&name).unwrap_or_else(|| panic!("exchange {name} missing"));
        assert_eq!(x["type"], kind, "{name}");
        assert_eq!(x["durable"], true, "{name}");
        assert_eq!(x["auto_delete"], false, "{name}");
        assert_eq!(x["internal"], false, "{name}");
        assert_eq!(x["arguments"], json!({}), "{name}");
    }

    let durable = json!({"x-queue-type": "quorum", "x-single-active-consumer": true, "x-expires": 432_000_000});
    for name in [
        format!("events.topic.exchange.queue.{svc}"),
        format!("{svc}.direct.exchange.request.queue"),
        format!("{target}.headers.exchange.response.queue.{svc}"),
    ] {
        let q = queue_info(&name).unwrap_or_else(|| panic!("queue {name} missing"));
        assert_eq!(q["durable"], true, "{name}");
        assert_eq!(q["auto_delete"], false, "{name}");
        assert_eq!(q["exclusive"], false, "{name}");
        assert_eq!(q["arguments"], durable, "{name}");
        assert_eq!(q["type"], "quorum", "{name}");
    }
    let suffixed = queue_info(&format!("{stream}.topic.exchange.queue.{svc}-dl"));
    assert_eq!(
        suffixed.map(|q| q["arguments"].clone()),
        Some(json!({
            "x-queue-type": "quorum", "x-single-active-consumer": false, "x-expires": 432_000_000,
            "x-dead-letter-exchange": dlx, "x-dead-letter-routing-key": "dead"
        }))
    );
    let prefix = format!("events.topic.exchange.queue.{svc}-");
    let transient: Vec<Value> = mgmt("/api/queues/%2f")
        .as_array()
        .map(|qs| {
            qs.iter()
                .filter(|q| q["name"].as_str().is_some_and(|n| n.starts_with(&prefix)))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(transient.len(), 1);
    assert_eq!(
        transient[0]["arguments"],
        json!({"x-queue-type": "quorum", "x-single-active-consumer": true, "x-expires": 1000})
    );
    assert_eq!(transient[0]["durable"], true);
    assert_eq!(transient[0]["auto_delete"], false);
    let uuid = transient[0]["name"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches(&prefix);
    assert_eq!(
        uuid::Uuid::parse_str(uuid)
            .map(|u| u.get_version_num())
            .ok(),
        Some(4)
    );
    let eph = conn
        .topology()
        .endpoints
        .iter()
        .find(|e| e.ephemeral)
        .map(|e| e.queue_name.clone());
    assert_eq!(
        eph.as_deref(),
        transient[0]["name"].as_str(),
        "topology names the declared queue"
    );

    let b = bindings_of(&format!("events.topic.exchange.queue.{svc}"));
    assert_eq!(b.len(), 1);
    assert_eq!(b[0]["source"], "events.topic.exchange");
    assert_eq!(b[0]["routing_key"], format!("{svc}.Created"));
    assert_eq!(b[0]["arguments"], json!({}));
    let b = bindings_of(&format!("{svc}.direct.exchange.request.queue"));
    assert_eq!(b.len(), 1);
    assert_eq!(
        (&b[0]["source"], &b[0]["routing_key"]),
        (
            &json!(format!("{svc}.direct.exchange.request")),
            &json!("Order.Get")
        )
    );
    let b = bindings_of(&format!("{target}.headers.exchange.response.queue.{svc}"));
    assert_eq!(b.len(), 1);
    assert_eq!(b[0]["routing_key"], "Reply.Key");
    assert_eq!(b[0]["arguments"], json!({ "service": svc }));

    let queue = format!("events.topic.exchange.queue.{svc}");
    let consumer_of = |queue: &str| -> Option<Value> {
        mgmt("/api/consumers/%2f")
            .as_array()?
            .iter()
            .find(|c| c["queue"]["name"] == queue)
            .cloned()
    };
    // The management API lists consumers from its statistics, a few seconds late.
    eventually("the consumer in /api/consumers", || {
        consumer_of(&queue).is_some()
    })
    .await;
    let ours = [consumer_of(&queue).unwrap_or_default()];
    assert_eq!(
        ours[0]["prefetch_count"], 20,
        "the reference's prefetch is applied"
    );
    assert_eq!(ours[0]["ack_required"], true);
    conn.close().await?;
    Ok(())
}

#[tokio::test]
async fn published_messages_carry_the_reference_properties_and_headers() -> TestResult {
    let svc = unique("props");
    let stream = unique("propstream");
    let conn = start(builder(&svc).stream_publisher(&stream)).await;
    let mut probe = Probe::bind(
        &format!("{stream}.topic.exchange"),
        "#",
        FieldTable::default(),
    )
    .await;
    let receipt = conn
        .stream_publisher(&stream)?
        .publish("Audit.Entry", &json!({"action": "login"}))
        .header("x-tenant", "acme")
        .header("ce-subject", "user-1")
        .await?;
    let d = probe.next().await;
    assert_eq!(d.exchange.as_str(), format!("{stream}.topic.exchange"));
    assert_eq!(d.routing_key.as_str(), "Audit.Entry");
    assert_eq!(
        serde_json::from_slice::<Value>(&d.data)?,
        json!({"action": "login"})
    );
    let p = &d.properties;
    assert_eq!(
        p.content_type().as_ref().map(|s| s.as_str()),
        Some("application/json")
    );
    assert_eq!(*p.delivery_mode(), Some(2));
    assert!(p.message_id().is_none() && p.timestamp().is_none() && p.correlation_id().is_none());
    assert!(
        p.reply_to().is_none()
            && p.kind().is_none()
            && p.app_id().is_none()
            && p.expiration().is_none()
    );
    let mut keys: Vec<String> = p
        .headers()
        .as_ref()
        .map(|t| t.inner().keys().map(|k| k.as_str().to_owned()).collect())
        .unwrap_or_default();
    keys.sort();
    assert_eq!(
        keys,
        [
            "cloudEvents:datacontenttype",
            "cloudEvents:id",
            "cloudEvents:source",
            "cloudEvents:specversion",
            "cloudEvents:subject",
            "cloudEvents:time",
            "cloudEvents:type",
            "service",
            "x-tenant",
        ]
    );
    assert_eq!(long_string(&d, "service").as_deref(), Some(svc.as_str()));
    assert_eq!(
        long_string(&d, "cloudEvents:source").as_deref(),
        Some(svc.as_str())
    );
    assert_eq!(
        long_string(&d, "cloudEvents:type").as_deref(),
        Some("Audit.Entry")
    );
    assert_eq!(
        long_string(&d, "cloudEvents:specversion").as_deref(),
        Some("1.0")
    );
    assert_eq!(
        long_string(&d, "cloudEvents:datacontenttype").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        long_string(&d, "cloudEvents:subject").as_deref(),
        Some("user-1")
    );
    assert_eq!(long_string(&d, "cloudEvents:id"), Some(receipt.id.clone()));
    assert_eq!(long_string(&d, "x-tenant").as_deref(), Some("acme"));
    let time = long_string(&d, "cloudEvents:time").unwrap_or_default();
    assert!(
        time::OffsetDateTime::parse(&time, &time::format_description::well_known::Rfc3339).is_ok(),
        "{time}"
    );
    assert!(time.ends_with('Z') && !time.contains('.'), "{time}");
    conn.close().await?;
    Ok(())
}

fn table(pairs: &[(&str, &str)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in pairs {
        t.insert((*k).into(), AMQPValue::LongString(LongString::from(*v)));
    }
    t
}

#[tokio::test]
async fn reference_style_and_legacy_messages_are_read() -> TestResult {
    let svc = unique("reader");
    let stream = unique("readstream");
    let (handler, mut rx) = forward::<Value>();
    let conn = start(builder(&svc).stream_consumer(&stream, "#", handler)).await;
    let raw = raw().await;
    let ch = raw.create_channel().await?;
    let exchange = format!("{stream}.topic.exchange");
    let publish = |key: &'static str, headers: FieldTable| {
        let ch = ch.clone();
        let exchange = exchange.clone();
        async move {
            ch.basic_publish(
                exchange.as_str().into(),
                key.into(),
                BasicPublishOptions::default(),
                br#"{"n":1}"#,
                BasicProperties::default()
                    .with_content_type("application/json".into())
                    .with_delivery_mode(2)
                    .with_headers(headers),
            )
            .await?
            .await
        }
    };
    publish(
        "Go.Style",
        table(&[
            ("cloudEvents:specversion", "1.0"),
            ("cloudEvents:type", "Go.Style"),
            ("cloudEvents:source", "go-svc"),
            ("cloudEvents:id", "id-1"),
            ("cloudEvents:time", "2026-03-05T10:00:00Z"),
            ("cloudEvents_subject", "jms-subject"),
            ("x-custom", "kept"),
        ]),
    )
    .await?;
    let ev = recv(&mut rx).await;
    assert_eq!(ev.metadata.source, "go-svc");
    assert_eq!(ev.metadata.id, "id-1");
    assert_eq!(ev.metadata.type_, "Go.Style");
    assert_eq!(ev.metadata.subject, "jms-subject");
    assert_eq!(ev.delivery_info.key, "Go.Style");
    assert_eq!(ev.delivery_info.source, exchange);
    assert_eq!(
        ev.delivery_info.destination,
        format!("{exchange}.queue.{svc}")
    );
    let h = &ev.delivery_info.headers;
    assert_eq!(h.get_str("ce-id"), Some("id-1"));
    assert_eq!(h.get_str("ce-subject"), Some("jms-subject"));
    assert_eq!(h.get_str("x-custom"), Some("kept"));
    assert!(!h.contains_key("cloudEvents:id") && !h.contains_key("cloudEvents_subject"));
    assert_eq!(ev.payload, json!({"n": 1}));

    publish("Legacy.Event", FieldTable::default()).await?;
    let ev = recv(&mut rx).await;
    assert_eq!(
        ev.metadata.source, exchange,
        "legacy source is the exchange, as the reference"
    );
    assert_eq!(ev.metadata.type_, "Legacy.Event");
    assert_eq!(ev.metadata.id.len(), 36);
    conn.close().await?;
    Ok(())
}

#[tokio::test]
async fn queue_publish_copies_to_the_queue_with_cc_and_declares_nothing() -> TestResult {
    let svc = unique("qpub");
    let queue = unique("task-queue");
    let missing = unique("no-such-queue");
    let conn = start(
        builder(&svc)
            .queue_publisher(&queue)
            .queue_publisher(&missing),
    )
    .await;
    assert!(
        queue_info(&queue).is_none(),
        "the destination queue is not declared"
    );
    assert!(exchange_info(&queue).is_none());
    // Unroutable (the queue does not exist): confirmed, not an error (TCK scenario 12).
    conn.queue_publisher(&missing)?
        .publish(&missing, &json!({"x": 0}))
        .await?;
    broker().management_put(
        &format!("/api/queues/%2f/{queue}"),
        &json!({"durable": false, "auto_delete": true}),
    )?;
    let raw = raw().await;
    let ch = raw.create_channel().await?;
    conn.queue_publisher(&queue)?
        .publish("", &json!({"task": 1}))
        .await?;
    let got = tokio::time::timeout(TIMEOUT, async {
        loop {
            if let Some(m) = ch
                .basic_get(
                    queue.as_str().into(),
                    messaging_amqp::lapin::options::BasicGetOptions { no_ack: true },
                )
                .await?
            {
                return Ok::<_, messaging_amqp::lapin::Error>(m);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await??;
    assert_eq!(got.delivery.exchange.as_str(), "");
    assert_eq!(got.delivery.routing_key.as_str(), "");
    let cc = got
        .delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|t| t.inner().get("CC").cloned());
    assert_eq!(
        cc,
        Some(AMQPValue::FieldArray(
            vec![AMQPValue::LongString(queue.as_str().into())].into()
        ))
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&got.delivery.data)?,
        json!({"task": 1})
    );
    broker().management_delete(&format!("/api/queues/%2f/{queue}"))?;
    conn.close().await?;
    Ok(())
}
