//! Cross-language interop: a Go peer speaking the Go reference transport's wire format
//! (`interop/go-peer`, nats.go) against this library, on a real nats-server. Each test
//! checks one direction of one pattern; see docs/interop.md.
//!
//! Skipped (with `SKIPPED` printed) only when `go` is missing and `CI` is not `true`.

#[path = "interop/peer.rs"]
mod peer;
#[path = "it/support.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use messaging_nats::async_nats::jetstream::stream::StorageType;
use messaging_nats::{Connection, ConsumerOptions, Error, Setup, StreamConfig};
use messaging_spec::{ConsumableEvent, HandlerError};
use messaging_testkit::NatsServer;
use serde_json::value::RawValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::{mpsc, watch};

use peer::{Peer, Served, WireMessage, go_peer};
use support::{
    Charge, Receipt, TestResult, builder, consumer_info, forward, raw_js, recv, server, settled,
    start, stream_info,
};

/// A limit the Rust service sets on `events`, to see whether Go keeps it.
const HOUR: Duration = Duration::from_secs(3600);

/// Bodies with nested values and non-ASCII text: compared byte for byte.
const ORDER_JSON: &str = r#"{"id":7,"item":"ünïcode ✓","tags":["a","b"],"total":12.5}"#;

/// The single value of header `key`; panics when it is absent or repeated.
fn one<'a>(headers: &'a BTreeMap<String, Vec<String>>, key: &str) -> &'a str {
    match headers.get(key).map(Vec::as_slice) {
        Some([v]) => v,
        other => panic!("header {key}: want exactly one value, got {other:?} in {headers:?}"),
    }
}

/// The `ce-id` of a message.
fn ce_id(msg: &WireMessage) -> String {
    one(&msg.headers, "ce-id").to_owned()
}

/// Headers with one value each, in the peer's shape.
fn header_set(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), vec![(*v).to_owned()]))
        .collect()
}

/// The headers a Go reference publish carries, with this message's `ce-id` and `ce-time`.
fn go_headers(service: &str, key: &str, sent: &WireMessage) -> BTreeMap<String, Vec<String>> {
    header_set(&[
        ("ce-specversion", "1.0"),
        ("ce-type", key),
        ("ce-source", service),
        ("ce-datacontenttype", "application/json"),
        ("ce-time", one(&sent.headers, "ce-time")),
        ("ce-id", one(&sent.headers, "ce-id")),
        ("service", service),
    ])
}

/// Checks a `ce-time` written by this library: RFC 3339, UTC, whole seconds, within
/// `[from, to]`.
fn assert_ce_time(value: &str, from: OffsetDateTime, to: OffsetDateTime) {
    let t = match OffsetDateTime::parse(value, &Rfc3339) {
        Ok(t) => t,
        Err(e) => panic!("ce-time {value:?} is not RFC 3339: {e}"),
    };
    assert_eq!(
        messaging_spec::format_ce_time(t),
        value,
        "not UTC whole seconds"
    );
    let from = from.replace_nanosecond(0).unwrap_or(from);
    assert!(
        from <= t && t <= to,
        "ce-time {value} outside [{from}, {to}]"
    );
}

/// Checks a `ce-id` written by this library: a lower-case hyphenated UUID v4, as Go's
/// `uuid.NewString()` makes.
fn assert_uuid_v4(id: &str) {
    match uuid::Uuid::parse_str(id) {
        Ok(u) => {
            assert_eq!(u.get_version_num(), 4, "ce-id {id} is not a v4 UUID");
            assert_eq!(
                u.hyphenated().to_string(),
                id,
                "ce-id {id} is not canonical"
            );
        }
        Err(e) => panic!("ce-id {id:?} is not a UUID: {e}"),
    }
}

/// Asserts that Rust parsed a Go publish into exactly the metadata the reference would.
fn assert_go_metadata<T>(ev: &ConsumableEvent<T>, service: &str, key: &str, sent: &WireMessage) {
    let md = &ev.metadata;
    assert_eq!(md.id, one(&sent.headers, "ce-id"));
    assert_eq!(md.type_, key);
    assert_eq!(md.source, service);
    assert_eq!(md.spec_version, "1.0");
    assert_eq!(md.data_content_type, "application/json");
    // The peer keeps the reference's format: UTC, whole seconds.
    let time = OffsetDateTime::parse(one(&sent.headers, "ce-time"), &Rfc3339).ok();
    assert_eq!(
        time.map(messaging_spec::format_ce_time).as_deref(),
        Some(one(&sent.headers, "ce-time"))
    );
    assert_eq!(md.timestamp, time);
    // Every header Go sent reaches the handler unchanged, and nothing else.
    let seen: BTreeMap<String, Vec<String>> = ev
        .delivery_info
        .headers
        .iter_str()
        .map(|(k, v)| (k.to_owned(), vec![v.to_owned()]))
        .collect();
    assert_eq!(seen, go_headers(service, key, sent));
}

/// A handler that forwards every `ce-id` it sees, and holds the first message until
/// released, so the Go peer can take the rest from the shared durable meanwhile.
fn holding_handler(
    ids: mpsc::UnboundedSender<String>,
    holding: mpsc::UnboundedSender<()>,
    release: watch::Receiver<bool>,
) -> impl Fn(
    ConsumableEvent<Box<RawValue>>,
) -> futures::future::BoxFuture<'static, Result<(), HandlerError>>
+ Send
+ Sync
+ 'static {
    let first = Arc::new(AtomicBool::new(true));
    move |ev| {
        let ids = ids.clone();
        let holding = holding.clone();
        let mut release = release.clone();
        let first = first.swap(false, Ordering::SeqCst);
        Box::pin(async move {
            if first {
                let _ = holding.send(());
                if release.wait_for(|r| *r).await.is_err() {
                    return Err(HandlerError::retry("test dropped the release signal"));
                }
            }
            let _ = ids.send(ev.metadata.id);
            Ok(())
        })
    }
}

/// A fresh server and the Go peer pointed at it; `None` when the tests are skipped.
async fn server_and_peer() -> Option<(NatsServer, Peer)> {
    let go = go_peer().await?;
    let server = server();
    let peer = go.on(&server.client_url());
    Some((server, peer))
}

/// Service `rust-billing`: a durable consumer of `Order.Created` with raw payloads, on an
/// `events` stream it creates with a one-hour `max_age`.
async fn rust_billing(
    server: &NatsServer,
) -> (
    Connection,
    mpsc::UnboundedReceiver<ConsumableEvent<Box<RawValue>>>,
) {
    let (handler, events) = forward::<Box<RawValue>>();
    let conn = start(
        builder(server, "rust-billing")
            .stream_config("events", StreamConfig::new().max_age(HOUR))
            .event_consumer("Order.Created", handler),
    )
    .await;
    (conn, events)
}

/// Asserts where a delivery says it came from: destination, source, key.
fn assert_delivery<T>(ev: &ConsumableEvent<T>, want: (&str, &str, &str)) {
    let di = &ev.delivery_info;
    assert_eq!(
        (di.destination.as_str(), di.source.as_str(), di.key.as_str()),
        want
    );
}

#[tokio::test]
async fn go_publish_reaches_a_rust_durable_consumer() -> TestResult {
    let Some((server, go)) = server_and_peer().await else {
        return Ok(());
    };
    let (billing, mut events) = rust_billing(&server).await;

    let out = go
        .publish("go-orders", "Order.Created", ORDER_JSON, &["--count", "2"])
        .await;
    assert!(!out.stream_created, "the Rust service created the stream");
    assert_eq!(out.published.len(), 2);
    for sent in &out.published {
        assert_eq!(sent.subject, "events.Order.Created");
        let ev = recv(&mut events).await;
        assert_eq!(ev.payload.get(), ORDER_JSON);
        assert_go_metadata(&ev, "go-orders", "Order.Created", sent);
        assert_delivery(&ev, ("rust-billing", "events", "Order.Created"));
        assert_eq!(
            ev.delivery_info.headers.get_str("service"),
            Some("go-orders")
        );
    }
    // The peer only creates a missing stream: the limit Rust set is still there.
    let info = stream_info(&raw_js(&server).await, "events").await;
    assert_eq!(info.config.max_age, HOUR);
    billing.close().await?;
    Ok(())
}

#[tokio::test]
async fn the_reference_stream_update_is_accepted_on_a_rust_stream() -> TestResult {
    let Some((server, go)) = server_and_peer().await else {
        return Ok(());
    };
    let (billing, mut events) = rust_billing(&server).await;

    // What the reference's Start really does: CreateOrUpdateStream with its full config.
    let mode = ["--stream-mode", "reference"];
    let out = go
        .publish("go-orders", "Order.Created", ORDER_JSON, &mode)
        .await;
    assert!(!out.stream_created);
    let ev = recv(&mut events).await;
    assert_go_metadata(&ev, "go-orders", "Order.Created", &out.published[0]);
    let info = stream_info(&raw_js(&server).await, "events").await;
    assert_eq!(info.config.subjects, vec!["events.>".to_owned()]);
    assert_eq!(info.config.storage, StorageType::File);
    // Last starter wins: the reference's zero limits replaced the Rust service's.
    assert_eq!(info.config.max_age, Duration::ZERO);
    billing.close().await?;
    Ok(())
}

#[tokio::test]
async fn rust_publish_reaches_go_durable_consumers() -> TestResult {
    let Some((server, go)) = server_and_peer().await else {
        return Ok(());
    };
    let orders = start(builder(&server, "rust-orders").event_publisher()).await;
    let publisher = orders.event_publisher()?;
    let bodies = [
        serde_json::json!({"id": 1, "item": "ünïcode ✓"}),
        serde_json::json!({"id": 2, "nested": {"list": [1, 2.5, null, true]}}),
    ];
    let from = OffsetDateTime::now_utc();
    let first = publisher.publish("Order.Created", &bodies[0]).await?;
    let second = publisher
        .publish("Order.Created", &bodies[1])
        .header("x-tenant", "acme")
        .await?;
    let to = OffsetDateTime::now_utc();
    let receipts = [first, second];

    for (service, key, filter) in [
        ("go-notifications", "Order.Created", "events.Order.Created"),
        ("go-audit", "Order.#", "events.Order.>"),
    ] {
        let got = go.consume(service, key, &["--expect", "2"]).await;
        // The consumer exactly as the reference creates it.
        assert_eq!(got.consumer["durable_name"], service);
        assert_eq!(got.consumer["filter_subject"], filter);
        assert_eq!(got.consumer["ack_policy"], "explicit");
        assert_eq!(got.consumer["deliver_policy"], "all");
        assert!(got.consumer.get("filter_subjects").is_none());
        assert_eq!(got.messages.len(), 2);
        for ((msg, receipt), body) in got.messages.iter().zip(&receipts).zip(&bodies) {
            assert_eq!(msg.subject, "events.Order.Created");
            assert_eq!(msg.body.as_bytes(), serde_json::to_vec(body)?.as_slice());
            assert_eq!(msg.delivered, 1);
            let id = one(&msg.headers, "ce-id");
            assert_eq!(id, receipt.id);
            assert_uuid_v4(id);
            let time = one(&msg.headers, "ce-time");
            assert_ce_time(time, from, to);
            let mut want = header_set(&[
                ("ce-specversion", "1.0"),
                ("ce-type", "Order.Created"),
                ("ce-source", "rust-orders"),
                ("ce-datacontenttype", "application/json"),
                ("ce-time", time),
                ("ce-id", id),
                ("service", "rust-orders"),
                // Not sent by Go; Go consumers ignore it.
                ("Nats-Msg-Id", id),
            ]);
            if receipt.id == receipts[1].id {
                want.insert("x-tenant".to_owned(), vec!["acme".to_owned()]);
            }
            assert_eq!(msg.headers, want);
        }
    }
    orders.close().await?;
    Ok(())
}

#[tokio::test]
async fn go_and_rust_instances_share_one_durable() -> TestResult {
    const TOTAL: usize = 20;
    let Some((server, go)) = server_and_peer().await else {
        return Ok(());
    };
    let js = raw_js(&server).await;
    let (ids_tx, mut ids) = mpsc::unbounded_channel();
    let (holding_tx, mut holding) = mpsc::unbounded_channel();
    let (release, release_rx) = watch::channel(false);
    // One message in the handler, at most one queued: the rest stays on the server.
    let handler = holding_handler(ids_tx, holding_tx, release_rx);
    let rust = start(
        builder(&server, "inventory").setup(
            Setup::event_consumer("Order.Created", handler)
                .options(ConsumerOptions::new().concurrency(1).prefetch(1)),
        ),
    )
    .await;
    let before = consumer_info(&js, "events", "inventory").await.config;

    let count = TOTAL.to_string();
    let out = go
        .publish(
            "go-orders",
            "Order.Created",
            ORDER_JSON,
            &["--count", &count],
        )
        .await;
    let published: BTreeSet<String> = out.published.iter().map(ce_id).collect();
    assert_eq!(published.len(), TOTAL);
    recv(&mut holding).await;

    // A Go instance of the same service: create-or-update of the same durable, then it
    // takes everything the Rust instance has not taken.
    let got = go.consume("inventory", "Order.Created", &["--drain"]).await;
    assert_eq!(got.consumer["durable_name"], "inventory");
    assert_eq!(got.consumer["filter_subject"], "events.Order.Created");
    let after = consumer_info(&js, "events", "inventory").await.config;
    assert_eq!(
        serde_json::to_value(&after)?,
        serde_json::to_value(&before)?,
        "Go's create-or-update changed the consumer Rust created"
    );
    assert!(got.messages.iter().all(|m| m.delivered == 1));
    let go_ids: Vec<String> = got.messages.iter().map(ce_id).collect();

    release.send(true)?;
    let mut rust_ids = Vec::new();
    while rust_ids.len() + go_ids.len() < TOTAL {
        rust_ids.push(recv(&mut ids).await);
    }
    let go_set: BTreeSet<String> = go_ids.iter().cloned().collect();
    let rust_set: BTreeSet<String> = rust_ids.iter().cloned().collect();
    assert_eq!(go_set.len(), go_ids.len(), "Go got a message twice");
    assert_eq!(rust_set.len(), rust_ids.len(), "Rust got a message twice");
    assert!(go_set.is_disjoint(&rust_set), "a message went to both");
    assert_eq!(&go_set | &rust_set, published);
    assert!(!go_ids.is_empty() && !rust_ids.is_empty(), "not split");
    eprintln!(
        "shared durable: Go took {}, Rust {}",
        go_ids.len(),
        rust_ids.len()
    );

    // The Rust instance keeps consuming after the Go one updated the durable and left.
    let one_more = go
        .publish("go-orders", "Order.Created", ORDER_JSON, &[])
        .await;
    assert_eq!(recv(&mut ids).await, ce_id(&one_more.published[0]));
    let info = settled(&js, "events", "inventory").await;
    assert_eq!(info.delivered.stream_sequence, TOTAL as u64 + 1);
    assert_eq!(info.num_redelivered, 0);
    rust.close().await?;
    Ok(())
}

#[tokio::test]
async fn rust_request_to_a_go_service_gets_its_typed_reply_or_its_error() -> TestResult {
    let Some((server, go)) = server_and_peer().await else {
        return Ok(());
    };
    let web = start(builder(&server, "rust-web").service_publisher("go-billing")).await;
    let billing = web.service_publisher("go-billing")?;
    let charge = Charge { cents: 500 };

    let reply = r#"{"cents":500,"by":"go-billing"}"#;
    let running = go
        .serve("go-billing", "Billing.Charge", &["--reply", reply])
        .await;
    let from = OffsetDateTime::now_utc();
    let receipt: Receipt = billing.request("Billing.Charge", &charge).await?;
    let to = OffsetDateTime::now_utc();
    let by = "go-billing".to_owned();
    assert_eq!(receipt, Receipt { cents: 500, by });
    let served: Served = running.finish().await;
    assert_eq!(served.subject, "go-billing.request.Billing.Charge");
    assert_eq!(served.replies, vec![reply.to_owned()]);
    let [req] = served.requests.as_slice() else {
        panic!("want one request, got {:?}", served.requests)
    };
    assert_eq!(req.subject, "go-billing.request.Billing.Charge");
    assert_eq!(req.body, serde_json::to_string(&charge)?);
    assert_uuid_v4(one(&req.headers, "ce-id"));
    assert_ce_time(one(&req.headers, "ce-time"), from, to);
    // The reference's header set: no Nats-Msg-Id on a Core request.
    assert_eq!(req.headers, go_headers("rust-web", "Billing.Charge", req));

    let running = go
        .serve("go-billing", "Billing.Charge", &["--error", "boom"])
        .await;
    match billing
        .request::<Receipt, _>("Billing.Charge", &charge)
        .await
    {
        Err(Error::Core(messaging_nats::messaging_core::Error::Remote { service, message })) => {
            assert_eq!((service.as_str(), message.as_str()), ("go-billing", "boom"));
        }
        other => panic!("want Error::Remote, got {other:?}"),
    }
    let served: Served = running.finish().await;
    assert_eq!(served.replies, vec![r#"{"error":"boom"}"#.to_owned()]);
    web.close().await?;
    Ok(())
}

#[tokio::test]
async fn go_request_to_a_rust_handler_gets_its_json_or_the_error_body() -> TestResult {
    let Some((server, go)) = server_and_peer().await else {
        return Ok(());
    };
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let billing = start(
        builder(&server, "rust-billing")
            .request_handler("Billing.Charge", move |ev: ConsumableEvent<Charge>| {
                let seen = seen_tx.clone();
                async move {
                    let by = "rust-billing".to_owned();
                    let receipt = Receipt {
                        cents: ev.payload.cents,
                        by,
                    };
                    let _ = seen.send(ev);
                    Ok::<_, HandlerError>(receipt)
                }
            })
            .request_handler("Billing.Refund", |_: ConsumableEvent<Charge>| async {
                Err::<Receipt, _>(HandlerError::reject("refunds are closed"))
            }),
    )
    .await;
    let body = r#"{"cents":500}"#;

    let out = go
        .request("go-web", "rust-billing", "Billing.Charge", body)
        .await;
    let by = "rust-billing".to_owned();
    let want = serde_json::to_string(&Receipt { cents: 500, by })?;
    assert_eq!(out.reply.body, want);
    let ev = recv(&mut seen).await;
    assert_eq!(ev.payload, Charge { cents: 500 });
    assert_go_metadata(&ev, "go-web", "Billing.Charge", &out.request);
    let subject = "rust-billing.request.Billing.Charge";
    assert_delivery(&ev, ("rust-billing", subject, "Billing.Charge"));

    let out = go
        .request("go-web", "rust-billing", "Billing.Refund", body)
        .await;
    assert_eq!(out.reply.body, r#"{"error":"refunds are closed"}"#);
    // Extra reply headers, which the reference neither sends nor reads.
    assert_eq!(
        out.reply.headers.get("Nats-Service-Error"),
        Some(&vec!["refunds are closed".to_owned()])
    );
    billing.close().await?;
    Ok(())
}
