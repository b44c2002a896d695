//! Publishing: the NATS transport's headers and metadata, de-duplication, queue
//! publishes, publish errors, and the transport-neutral traits.

use std::collections::BTreeSet;
use std::time::Duration;

use messaging_core::{EventPublisher, PublishTarget, Requester, TransportError};
use messaging_memory::{Broker, Error};
use messaging_spec::{ConsumableEvent, HandlerError};
use tokio::time::Instant;

use crate::support::{Order, Res, Seen, WAIT, recorder};

fn is_ce_time(t: &str) -> bool {
    // `2026-03-05T10:00:00Z`: UTC, whole seconds.
    t.len() == 20
        && t.ends_with('Z')
        && t.as_bytes().get(10) == Some(&b'T')
        && time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).is_ok()
}

#[tokio::test(start_paused = true)]
async fn stream_publishes_carry_the_nats_transports_headers() -> Res {
    let broker = Broker::new();
    let seen = Seen::<(ConsumableEvent<Order>, Instant)>::new();
    let billing = broker
        .connection("billing")
        .event_consumer("Order.Created", recorder(&seen))
        .start()
        .await?;
    let orders = broker
        .connection("orders")
        .event_publisher()
        .start()
        .await?;
    let receipt = orders
        .event_publisher()?
        .publish("Order.Created", &Order { id: 1 })
        .header("x-tenant", "acme")
        .await?;
    let sent = broker.published();
    assert_eq!(sent.len(), 1);
    let m = &sent[0];
    let keys: BTreeSet<&str> = m.headers.iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "Nats-Msg-Id",
            "ce-datacontenttype",
            "ce-id",
            "ce-source",
            "ce-specversion",
            "ce-time",
            "ce-type",
            "service",
            "x-tenant",
        ])
    );
    assert_eq!(m.header("ce-specversion"), Some("1.0"));
    assert_eq!(m.header("ce-type"), Some("Order.Created"));
    assert_eq!(m.header("ce-source"), Some("orders"));
    assert_eq!(m.header("ce-datacontenttype"), Some("application/json"));
    assert_eq!(m.header("service"), Some("orders"));
    assert_eq!(m.header("ce-id"), Some(receipt.id.as_str()));
    assert_eq!(m.header("Nats-Msg-Id"), Some(receipt.id.as_str()));
    assert!(
        m.header("ce-time").is_some_and(is_ce_time),
        "{:?}",
        m.header("ce-time")
    );
    let id = uuid_like(&receipt.id);
    assert!(id, "ce-id is a UUID: {}", receipt.id);
    assert_eq!(m.target, PublishTarget::EventStream);
    assert_eq!(
        (m.publisher.as_str(), m.subject.as_str()),
        ("orders", "events.Order.Created")
    );
    assert_eq!(m.json::<Order>()?, Order { id: 1 });
    assert_eq!(m.metadata.id, receipt.id);
    assert_eq!(m.metadata.type_, "Order.Created");

    // The consumer sees the same headers, and the metadata the NATS transport gives.
    broker.wait_for_acked("events", "billing", 1, WAIT).await?;
    let (ev, _) = &seen.all()[0];
    assert_eq!(ev.delivery_info.headers, m.headers);
    assert_eq!(
        (
            ev.delivery_info.destination.as_str(),
            ev.delivery_info.source.as_str(),
            ev.delivery_info.key.as_str()
        ),
        ("billing", "events", "Order.Created")
    );
    assert_eq!(ev.metadata.id, receipt.id);
    assert_eq!(ev.metadata.source, "orders");
    assert_eq!(ev.metadata.type_, "Order.Created");
    assert_eq!(ev.metadata.spec_version, "1.0");
    assert_eq!(ev.metadata.data_content_type, "application/json");
    assert!(ev.metadata.timestamp.is_some());
    billing.close().await?;
    orders.close().await?;
    Ok(())
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            14 => c == '4',
            _ => c.is_ascii_hexdigit() && !c.is_ascii_uppercase(),
        })
}

#[tokio::test(start_paused = true)]
async fn callers_cloudevents_win_and_service_is_reserved() -> Res {
    let broker = Broker::new();
    let orders = broker
        .connection("orders")
        .event_publisher()
        .start()
        .await?;
    let events = orders.event_publisher()?;
    let receipt = events
        .publish("Order.Created", &Order { id: 1 })
        .headers([
            ("ce-type", "com.example.order"),
            ("ce-correlationid", "c-9"),
        ])
        .id("order-1")
        .await?;
    assert_eq!(receipt.id, "order-1");
    let m = &broker.published()[0];
    assert_eq!(m.header("ce-type"), Some("com.example.order"));
    assert_eq!(m.header("ce-id"), Some("order-1"));
    assert_eq!(m.header("Nats-Msg-Id"), Some("order-1"));
    assert_eq!(m.metadata.correlation_id, "c-9");

    let reserved = events
        .publish("Order.Created", &Order { id: 2 })
        .header("service", "spoofed")
        .await;
    assert!(
        matches!(&reserved, Err(Error::ReservedHeader(k)) if k == "service"),
        "{reserved:?}"
    );
    let bad_key = events
        .publish("Order.Created", &1)
        .header("bad key", "v")
        .await;
    assert!(
        matches!(bad_key, Err(Error::InvalidHeader(_))),
        "{bad_key:?}"
    );
    let bad_value = events
        .publish("Order.Created", &1)
        .header("k", "a\nb")
        .await;
    assert!(
        matches!(bad_value, Err(Error::InvalidHeaderValue(_))),
        "{bad_value:?}"
    );
    let wildcard = events.publish("Order.*", &1).await;
    assert!(matches!(wildcard, Err(Error::Spec(_))), "{wildcard:?}");
    assert_eq!(broker.published_count(), 1, "nothing invalid was published");
    let missing = orders.stream_publisher("audit");
    assert!(
        matches!(missing, Err(Error::PublisherNotRegistered(_))),
        "{missing:?}"
    );
    orders.close().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn the_same_id_is_stored_once_within_the_duplicate_window() -> Res {
    let broker = Broker::new();
    let orders = broker
        .connection("orders")
        .event_publisher()
        .start()
        .await?;
    let events = orders.event_publisher()?;
    let first = events
        .publish("Order.Created", &Order { id: 1 })
        .id("x")
        .await?;
    let again = events
        .publish("Order.Created", &Order { id: 1 })
        .id("x")
        .await?;
    assert!(!first.duplicate);
    assert!(again.duplicate);
    assert_eq!(again.sequence, first.sequence);
    assert_eq!(broker.stream_info("events").ok_or("no stream")?.messages, 1);
    // nats-server's default window is two minutes.
    tokio::time::sleep(Duration::from_secs(121)).await;
    let later = events
        .publish("Order.Created", &Order { id: 1 })
        .id("x")
        .await?;
    assert!(!later.duplicate);
    assert_eq!(later.sequence, Some(2));
    let flags: Vec<bool> = broker.published().iter().map(|m| m.duplicate).collect();
    assert_eq!(flags, [false, true, false]);
    let seqs: Vec<Option<u64>> = broker.take_published().iter().map(|m| m.sequence).collect();
    assert_eq!(seqs, [Some(1), Some(1), Some(2)]);
    assert_eq!(broker.published_count(), 0, "taken");
    assert_eq!(
        broker.stream_info("events").ok_or("no stream")?.messages,
        2,
        "the stream keeps its own"
    );
    orders.close().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn queue_publishes_reach_one_durable_and_nothing_else() -> Res {
    let broker = Broker::new();
    let billing_seen = Seen::<(ConsumableEvent<Order>, Instant)>::new();
    let audit_seen = Seen::<(ConsumableEvent<Order>, Instant)>::new();
    let billing = broker
        .connection("billing")
        .event_consumer("Invoice.*", recorder(&billing_seen))
        .stream_consumer("audit", "Invoice.*", recorder(&audit_seen))
        .start()
        .await?;
    let auditor_seen = Seen::<(ConsumableEvent<Order>, Instant)>::new();
    let auditor = broker
        .connection("auditor")
        .event_consumer("Invoice.*", recorder(&auditor_seen))
        .start()
        .await?;
    let sender = broker
        .connection("sender")
        .queue_publisher("billing")
        .queue_publisher("audit.topic.exchange.queue.billing")
        .queue_publisher("nobody")
        .start()
        .await?;
    let r = sender
        .queue_publisher("billing")?
        .publish("Invoice.Due", &Order { id: 1 })
        .await?;
    assert_eq!(
        (r.stream.as_deref(), r.sequence, r.subject.as_str()),
        (Some("events"), None, "billing")
    );
    let r = sender
        .queue_publisher("audit.topic.exchange.queue.billing")?
        .publish("Invoice.Due", &Order { id: 2 })
        .await?;
    assert_eq!(r.stream.as_deref(), Some("audit"));
    let dropped = sender
        .queue_publisher("nobody")?
        .publish("Invoice.Due", &Order { id: 3 })
        .await?;
    assert_eq!(
        dropped.stream, None,
        "no such consumer: dropped, like an unroutable AMQP message"
    );
    broker.wait_for_acked("events", "billing", 1, WAIT).await?;
    broker.wait_for_acked("audit", "billing", 1, WAIT).await?;
    broker.wait_idle(WAIT).await?;
    assert_eq!(billing_seen.all()[0].0.payload.id, 1);
    assert_eq!(audit_seen.all()[0].0.payload.id, 2);
    assert_eq!(
        auditor_seen.len(),
        0,
        "sender-selected: other services do not see it"
    );
    assert_eq!(
        broker.stream_info("events").ok_or("no stream")?.messages,
        0,
        "not stored in the stream"
    );
    let kinds: Vec<String> = broker
        .published()
        .iter()
        .map(|m| m.target.to_string())
        .collect();
    assert_eq!(
        kinds,
        [
            "queue-publish:billing",
            "queue-publish:audit.topic.exchange.queue.billing",
            "queue-publish:nobody"
        ]
    );
    assert_eq!(broker.published()[0].header("Nats-Msg-Id"), None);
    billing.close().await?;
    auditor.close().await?;
    sender.close().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn publishers_of_a_closed_connection_fail() -> Res {
    let broker = Broker::new();
    let orders = broker
        .connection("orders")
        .event_publisher()
        .start()
        .await?;
    let events = orders.event_publisher()?;
    orders.close().await?;
    let closed = events.publish("Order.Created", &Order { id: 1 }).await;
    assert!(matches!(closed, Err(Error::Closed)), "{closed:?}");
    Ok(())
}

// ---- service code written against messaging-core, run on memory ----------------------

async fn place_order<P: EventPublisher>(events: &P, id: u64) -> Result<(), P::Error> {
    events.publish_event("Order.Created", &Order { id }).await
}

async fn price_of<R: Requester>(billing: &R, id: u64) -> Result<u64, String> {
    billing
        .send_request::<_, u64>("Price.Get", &Order { id })
        .await
        .map_err(|e| {
            e.remote_message()
                .map_or_else(|| e.to_string(), |m| format!("remote: {m}"))
        })
}

#[tokio::test(start_paused = true)]
async fn transport_neutral_traits() -> Res {
    let broker = Broker::new();
    let billing = broker
        .connection("billing")
        .request_handler("Price.Get", |ev: ConsumableEvent<Order>| async move {
            if ev.payload.id == 0 {
                return Err(HandlerError::reject("no such order"));
            }
            Ok(ev.payload.id * 100)
        })
        .start()
        .await?;
    let orders = broker
        .connection("orders")
        .event_publisher()
        .service_publisher("billing")
        .start()
        .await?;
    place_order(&orders.event_publisher()?, 7).await?;
    assert_eq!(
        broker.published_with_key("Order.Created")[0]
            .json::<Order>()?
            .id,
        7
    );
    let billing_pub = orders.service_publisher("billing")?;
    assert_eq!(price_of(&billing_pub, 3).await, Ok(300));
    assert_eq!(
        price_of(&billing_pub, 0).await,
        Err("remote: no such order".to_owned())
    );
    billing.close().await?;
    orders.close().await?;
    Ok(())
}
