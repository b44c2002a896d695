//! The wire format, checked with a raw async-nats client: what the library sends, and what
//! it accepts from publishers that are not this library (Go, Node, AMQP bridges, legacy).

use std::collections::BTreeMap;

use futures::StreamExt;
use messaging_nats::Error;
use messaging_nats::async_nats::{HeaderMap, Message};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::datetime;

use crate::support::{
    Charge, OrderCreated, Receipt, TestResult, bounded, builder, forward, raw_client, raw_js, recv,
    server, start,
};

/// Every header with its values, as strings.
fn header_map(msg: &Message) -> BTreeMap<String, Vec<String>> {
    msg.headers
        .iter()
        .flat_map(HeaderMap::iter)
        .map(|(k, vs)| {
            (
                k.to_string(),
                vs.iter().map(|v| v.as_str().to_owned()).collect(),
            )
        })
        .collect()
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, *v);
    }
    h
}

#[tokio::test]
async fn published_events_carry_the_exact_subject_headers_and_body() -> TestResult {
    let server = server();
    let raw = raw_client(&server).await;
    let mut sub = raw.subscribe("events.Order.Created").await?;
    raw.flush().await?; // the subscription is registered before anything is published
    let orders = start(builder(&server, "orders").event_publisher()).await;

    let before = OffsetDateTime::now_utc().replace_nanosecond(0)?;
    let receipt = orders
        .event_publisher()?
        .publish(
            "Order.Created",
            &OrderCreated {
                id: 42,
                item: "book".to_owned(),
            },
        )
        .await?;
    let after = OffsetDateTime::now_utc();
    let msg = bounded(sub.next()).await.ok_or("subscription ended")?;

    assert_eq!(msg.subject.as_str(), "events.Order.Created");
    assert_eq!(msg.payload.as_ref(), br#"{"id":42,"item":"book"}"#);
    let h = header_map(&msg);
    let one = |k: &str| -> Result<String, String> {
        match h.get(k).map(Vec::as_slice) {
            Some([v]) => Ok(v.clone()),
            other => Err(format!("header {k}: expected one value, got {other:?}")),
        }
    };
    let keys: Vec<&str> = h.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "Nats-Msg-Id",
            "ce-datacontenttype",
            "ce-id",
            "ce-source",
            "ce-specversion",
            "ce-time",
            "ce-type",
            "service",
        ]
    );
    assert_eq!(one("ce-specversion")?, "1.0");
    assert_eq!(one("ce-type")?, "Order.Created");
    assert_eq!(one("ce-source")?, "orders");
    assert_eq!(one("ce-datacontenttype")?, "application/json");
    assert_eq!(one("service")?, "orders");

    let id = one("ce-id")?;
    let uuid = uuid::Uuid::parse_str(&id)?;
    assert_eq!(uuid.get_version_num(), 4);
    assert_eq!(uuid.hyphenated().to_string(), id, "lower-case hyphenated");
    assert_eq!(one("Nats-Msg-Id")?, id);
    assert_eq!(receipt.id, id);

    // RFC 3339, UTC with `Z`, whole seconds: `YYYY-MM-DDTHH:MM:SSZ`.
    let time = one("ce-time")?;
    assert_eq!(time.len(), 20, "{time}");
    assert!(time.ends_with('Z'), "{time}");
    let parsed = OffsetDateTime::parse(&time, &Rfc3339)?;
    assert_eq!(parsed.nanosecond(), 0);
    assert!(parsed >= before && parsed <= after, "{time}");
    Ok(())
}

#[tokio::test]
async fn raw_jetstream_messages_with_full_ce_headers_keep_their_metadata() -> TestResult {
    let server = server();
    let (handler, mut rx) = forward::<OrderCreated>();
    let _c =
        start(builder(&server, "notifications").event_consumer("Order.Created", handler)).await;
    let js = raw_js(&server).await;
    let h = headers(&[
        ("ce-specversion", "1.0"),
        ("ce-type", "Order.Created"),
        ("ce-source", "go-orders"),
        ("ce-id", "evt-1"),
        ("ce-time", "2024-05-06T07:08:09Z"),
        ("ce-datacontenttype", "application/json"),
        ("ce-subject", "order-7"),
        ("ce-correlationid", "corr-1"),
        ("service", "go-orders"),
    ]);
    js.publish_with_headers("events.Order.Created", h, r#"{"id":7,"item":"pen"}"#.into())
        .await?
        .await?;

    let ev = recv(&mut rx).await;
    assert_eq!(
        ev.payload,
        OrderCreated {
            id: 7,
            item: "pen".to_owned()
        }
    );
    let m = &ev.metadata;
    assert_eq!(m.id, "evt-1");
    assert_eq!(m.type_, "Order.Created");
    assert_eq!(m.source, "go-orders");
    assert_eq!(m.spec_version, "1.0");
    assert_eq!(m.data_content_type, "application/json");
    assert_eq!(m.subject, "order-7");
    assert_eq!(m.correlation_id, "corr-1");
    assert_eq!(m.timestamp, Some(datetime!(2024-05-06 07:08:09 UTC)));
    assert_eq!(ev.delivery_info.key, "Order.Created");
    assert_eq!(ev.delivery_info.source, "events");
    assert_eq!(
        ev.delivery_info.headers.get_str("service"),
        Some("go-orders")
    );
    Ok(())
}

/// AMQP's `cloudEvents:<attr>` keys cannot exist on NATS (a header name ends at the first
/// colon), so the prefix that a bridge can carry is the JMS-style `cloudEvents_<attr>`;
/// both are normalised by the same rule, and `ce-` keys win over them.
#[tokio::test]
async fn prefixed_cloud_events_headers_are_normalised_to_metadata() -> TestResult {
    let server = server();
    let (handler, mut rx) = forward::<serde_json::Value>();
    let _c = start(builder(&server, "notifications").event_consumer("Order.*", handler)).await;
    let js = raw_js(&server).await;
    let prefixed = headers(&[
        ("cloudEvents_specversion", "1.0"),
        ("cloudEvents_type", "Order.Created"),
        ("cloudEvents_source", "amqp-orders"),
        ("cloudEvents_id", "amqp-1"),
        ("cloudEvents_time", "2024-01-02T03:04:05Z"),
        ("cloudEvents_datacontenttype", "application/json"),
    ]);
    js.publish_with_headers("events.Order.Created", prefixed, "{}".into())
        .await?
        .await?;
    let mixed = headers(&[
        ("cloudEvents_type", "Ignored.Type"),
        ("ce-type", "Order.Updated"),
        ("cloudEvents_source", "amqp-orders"),
        ("cloudEvents_id", "amqp-2"),
    ]);
    js.publish_with_headers("events.Order.Updated", mixed, "{}".into())
        .await?
        .await?;

    let ev = recv(&mut rx).await;
    let m = &ev.metadata;
    assert_eq!(
        (m.id.as_str(), m.type_.as_str(), m.source.as_str()),
        ("amqp-1", "Order.Created", "amqp-orders")
    );
    assert_eq!(m.spec_version, "1.0");
    assert_eq!(m.data_content_type, "application/json");
    assert_eq!(m.timestamp, Some(datetime!(2024-01-02 03:04:05 UTC)));
    // Delivery info keeps the headers as sent.
    assert_eq!(
        ev.delivery_info.headers.get_str("cloudEvents_id"),
        Some("amqp-1")
    );

    let ev = recv(&mut rx).await;
    let m = &ev.metadata;
    assert_eq!(
        (m.id.as_str(), m.type_.as_str(), m.source.as_str()),
        ("amqp-2", "Order.Updated", "amqp-orders")
    );
    Ok(())
}

#[tokio::test]
async fn legacy_messages_without_ce_headers_are_enriched() -> TestResult {
    let server = server();
    let (handler, mut rx) = forward::<OrderCreated>();
    let _c =
        start(builder(&server, "notifications").event_consumer("Order.Created", handler)).await;
    let js = raw_js(&server).await;
    let before = OffsetDateTime::now_utc();
    js.publish("events.Order.Created", r#"{"id":1,"item":"old"}"#.into())
        .await?
        .await?;

    let ev = recv(&mut rx).await;
    let after = OffsetDateTime::now_utc();
    assert_eq!(
        ev.payload,
        OrderCreated {
            id: 1,
            item: "old".to_owned()
        }
    );
    let m = &ev.metadata;
    assert_eq!(m.type_, "Order.Created");
    assert_eq!(m.source, "events");
    assert_eq!(m.spec_version, "1.0");
    assert_eq!(m.data_content_type, "application/json");
    assert!(!m.id.is_empty());
    let ts = m.timestamp.ok_or("no timestamp")?;
    assert!(ts >= before && ts <= after, "{ts}");
    assert!(ev.delivery_info.headers.is_empty());
    Ok(())
}

#[tokio::test]
async fn go_style_replies_without_headers_decode_or_surface_as_remote_errors() -> TestResult {
    let server = server();
    let raw = raw_client(&server).await;
    let mut requests = raw.subscribe("billing.request.Billing.*").await?;
    raw.flush().await?;
    let responder = raw.clone();
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    // Answers like the Go handler: a plain JSON body, no headers.
    let serve = tokio::spawn(async move {
        while let Some(msg) = requests.next().await {
            let body: &'static str = if msg.subject.as_str().ends_with(".Fail") {
                r#"{"error":"boom"}"#
            } else {
                r#"{"cents":5,"by":"go"}"#
            };
            if let Some(reply) = msg.reply.clone() {
                let _ = responder.publish(reply, body.into()).await;
            }
            let _ = seen_tx.send(msg);
        }
    });
    let orders = start(builder(&server, "orders").service_publisher("billing")).await;
    let billing = orders.service_publisher("billing")?;

    let ok: Receipt = billing
        .request("Billing.Charge", &Charge { cents: 5 })
        .await?;
    assert_eq!(
        ok,
        Receipt {
            cents: 5,
            by: "go".to_owned()
        }
    );
    let failed = billing
        .request::<Receipt, _>("Billing.Fail", &Charge { cents: 5 })
        .await;
    match failed {
        Err(Error::Core(messaging_nats::messaging_core::Error::Remote { service, message })) => {
            assert_eq!(service, "billing");
            assert_eq!(message, "boom");
        }
        other => panic!("expected Error::Remote, got {other:?}"),
    }

    // What the Go service received.
    let request = recv(&mut seen).await;
    assert_eq!(request.subject.as_str(), "billing.request.Billing.Charge");
    assert_eq!(request.payload.as_ref(), br#"{"cents":5}"#);
    let h = header_map(&request);
    let get = |k: &str| h.get(k).and_then(|v| v.first()).map(String::as_str);
    assert_eq!(get("service"), Some("orders"));
    assert_eq!(get("ce-type"), Some("Billing.Charge"));
    assert_eq!(get("ce-source"), Some("orders"));
    assert_eq!(get("ce-specversion"), Some("1.0"));
    assert_eq!(
        get("Nats-Msg-Id"),
        None,
        "core requests are not deduplicated"
    );
    assert_eq!(
        recv(&mut seen).await.subject.as_str(),
        "billing.request.Billing.Fail"
    );
    serve.abort();
    Ok(())
}
