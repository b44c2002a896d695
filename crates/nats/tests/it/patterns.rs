//! One test per spec pattern, against a real nats-server.

mod requests;

use std::collections::BTreeSet;

use messaging_nats::{ConsumerOptions, Error, Setup};
use messaging_spec::ConsumableEvent;
use time::OffsetDateTime;

use crate::support::{
    Charge, OrderCreated, Receipt, Seq, TestResult, builder, consumer_info, consumer_infos,
    durable_names, forward, raw_js, recv, recv_n, recv_until, server, start, stream_info,
};

fn order() -> OrderCreated {
    OrderCreated {
        id: 42,
        item: "book".to_owned(),
    }
}

/// Handling one message at a time keeps deliveries in stream order, which the sentinel
/// checks rely on.
fn in_order() -> ConsumerOptions {
    ConsumerOptions::new().concurrency(1)
}

/// `(routing key, n)` of each event.
fn keyed(events: &[ConsumableEvent<Seq>]) -> Vec<(String, u32)> {
    events
        .iter()
        .map(|e| (e.delivery_info.key.clone(), e.payload.n))
        .collect()
}

fn pairs(expected: &[(&str, u32)]) -> Vec<(String, u32)> {
    expected
        .iter()
        .map(|(k, n)| ((*k).to_owned(), *n))
        .collect()
}

#[tokio::test]
async fn event_publish_reaches_a_durable_consumer_with_metadata() -> TestResult {
    let server = server();
    let (handler, mut rx) = forward::<OrderCreated>();
    let _consumer =
        start(builder(&server, "notifications").event_consumer("Order.Created", handler)).await;
    let producer = start(builder(&server, "orders").event_publisher()).await;

    let before = OffsetDateTime::now_utc().replace_nanosecond(0)?;
    let receipt = producer
        .event_publisher()?
        .publish("Order.Created", &order())
        .header("x-tenant", "acme")
        .await?;
    assert_eq!(receipt.subject, "events.Order.Created");
    assert_eq!(receipt.stream.as_deref(), Some("events"));
    assert_eq!(receipt.sequence, Some(1));
    assert!(!receipt.duplicate);

    let ev = recv(&mut rx).await;
    let after = OffsetDateTime::now_utc();
    assert_eq!(ev.payload, order());
    let m = &ev.metadata;
    assert_eq!(m.type_, "Order.Created");
    assert_eq!(m.source, "orders");
    assert_eq!(m.spec_version, "1.0");
    assert_eq!(m.data_content_type, "application/json");
    assert!(!m.id.is_empty());
    assert_eq!(m.id, receipt.id);
    let ts = m.timestamp.ok_or("no timestamp")?;
    assert!(
        ts >= before && ts <= after,
        "{ts} not within [{before}, {after}]"
    );
    let d = &ev.delivery_info;
    assert_eq!(d.destination, "notifications");
    assert_eq!(d.source, "events");
    assert_eq!(d.key, "Order.Created");
    assert_eq!(d.headers.get_str("x-tenant"), Some("acme"));
    assert_eq!(d.headers.get_str("service"), Some("orders"));
    assert_eq!(
        durable_names(&raw_js(&server).await, "events").await,
        ["notifications"]
    );
    Ok(())
}

#[tokio::test]
async fn fan_out_gives_each_service_one_copy() -> TestResult {
    let server = server();
    let (h1, mut rx1) = forward::<Seq>();
    let (h2, mut rx2) = forward::<Seq>();
    let _a = start(builder(&server, "notifications").event_consumer("Order.Created", h1)).await;
    let _b = start(builder(&server, "analytics").event_consumer("Order.Created", h2)).await;
    let producer = start(builder(&server, "orders").event_publisher()).await;
    let publisher = producer.event_publisher()?;
    let first = publisher.publish("Order.Created", &Seq { n: 1 }).await?;
    // The second message is the sentinel: nothing but the first may come before it.
    publisher.publish("Order.Created", &Seq { n: 2 }).await?;

    for (rx, durable) in [(&mut rx1, "notifications"), (&mut rx2, "analytics")] {
        let (before, last) = recv_until(rx, |e| e.payload.n == 2).await;
        assert_eq!(keyed(&before), pairs(&[("Order.Created", 1)]));
        assert_eq!(before[0].metadata.id, first.id);
        assert_eq!(before[0].delivery_info.destination, durable);
        assert_eq!(last.delivery_info.destination, durable);
    }
    let names = durable_names(&raw_js(&server).await, "events").await;
    assert_eq!(names, ["analytics", "notifications"]);
    Ok(())
}

#[tokio::test]
async fn custom_stream_accepts_plain_and_amqp_style_names() -> TestResult {
    let server = server();
    let (h1, mut rx1) = forward::<Seq>();
    let (h2, mut rx2) = forward::<Seq>();
    let _plain =
        start(builder(&server, "auditor").stream_consumer("audit", "Audit.Entry", h1)).await;
    let _amqp = start(builder(&server, "archiver").stream_consumer(
        "audit.topic.exchange",
        "Audit.Entry",
        h2,
    ))
    .await;
    let producer = start(builder(&server, "orders").stream_publisher("audit.topic.exchange")).await;

    let by_amqp_name = producer.stream_publisher("audit.topic.exchange")?;
    let by_plain_name = producer.stream_publisher("audit")?;
    let r1 = by_amqp_name.publish("Audit.Entry", &Seq { n: 1 }).await?;
    let r2 = by_plain_name.publish("Audit.Entry", &Seq { n: 2 }).await?;
    for r in [&r1, &r2] {
        assert_eq!(r.subject, "audit.Audit.Entry");
        assert_eq!(r.stream.as_deref(), Some("audit"));
    }
    assert_eq!((r1.sequence, r2.sequence), (Some(1), Some(2)));

    for (rx, durable) in [(&mut rx1, "auditor"), (&mut rx2, "archiver")] {
        let got = recv_n(rx, 2).await;
        assert_eq!(
            keyed(&got),
            pairs(&[("Audit.Entry", 1), ("Audit.Entry", 2)])
        );
        for ev in &got {
            assert_eq!(ev.delivery_info.source, "audit");
            assert_eq!(ev.delivery_info.destination, durable);
            assert_eq!(ev.metadata.source, "orders");
            assert_eq!(ev.metadata.type_, "Audit.Entry");
        }
    }
    let js = raw_js(&server).await;
    let info = stream_info(&js, "audit").await;
    assert_eq!(info.config.subjects, ["audit.>"]);
    assert_eq!(
        info.config.storage,
        messaging_nats::async_nats::jetstream::stream::StorageType::File
    );
    assert_eq!(info.state.messages, 2);
    assert_eq!(durable_names(&js, "audit").await, ["archiver", "auditor"]);
    assert!(
        js.get_stream("events").await.is_err(),
        "no events stream expected"
    );
    Ok(())
}

#[tokio::test]
async fn transient_consumer_receives_without_a_durable() -> TestResult {
    let server = server();
    let (handler, mut rx) = forward::<Seq>();
    let _dash =
        start(builder(&server, "dashboard").transient_event_consumer("Order.Created", handler))
            .await;
    let producer = start(builder(&server, "orders").event_publisher()).await;
    producer
        .event_publisher()?
        .publish("Order.Created", &Seq { n: 7 })
        .await?;

    let ev = recv(&mut rx).await;
    assert_eq!(ev.payload, Seq { n: 7 });
    assert_eq!(ev.delivery_info.destination, "dashboard-transient");
    assert_eq!(ev.delivery_info.source, "events");
    assert_eq!(ev.delivery_info.key, "Order.Created");
    let infos = consumer_infos(&raw_js(&server).await, "events").await;
    assert_eq!(infos.len(), 1);
    assert_eq!(infos[0].config.durable_name, None);
    assert_eq!(infos[0].config.filter_subject, "events.Order.Created");
    Ok(())
}

#[tokio::test]
async fn name_suffixes_make_separate_durables_in_one_service() -> TestResult {
    let server = server();
    let (ha, mut rxa) = forward::<Seq>();
    let (hb, mut rxb) = forward::<Seq>();
    let _billing = start(
        builder(&server, "billing")
            .setup(Setup::event_consumer("Order.Created", ha).suffix("a"))
            .setup(Setup::event_consumer("Order.Created", hb).suffix("b")),
    )
    .await;
    let producer = start(builder(&server, "orders").event_publisher()).await;
    let publisher = producer.event_publisher()?;
    publisher.publish("Order.Created", &Seq { n: 1 }).await?;
    publisher.publish("Order.Created", &Seq { n: 2 }).await?;

    for (rx, durable) in [(&mut rxa, "billing-a"), (&mut rxb, "billing-b")] {
        let (before, last) = recv_until(rx, |e| e.payload.n == 2).await;
        assert_eq!(keyed(&before), pairs(&[("Order.Created", 1)]));
        assert_eq!(before[0].delivery_info.destination, durable);
        assert_eq!(last.delivery_info.destination, durable);
    }
    let js = raw_js(&server).await;
    assert_eq!(
        durable_names(&js, "events").await,
        ["billing-a", "billing-b"]
    );
    for durable in ["billing-a", "billing-b"] {
        let info = consumer_info(&js, "events", durable).await;
        assert_eq!(info.config.filter_subject, "events.Order.Created");
    }
    Ok(())
}

#[tokio::test]
async fn wildcards_match_one_or_many_tokens_and_exact_keys_only_themselves() -> TestResult {
    let server = server();
    let (hs, mut star) = forward::<Seq>();
    let (hh, mut hash) = forward::<Seq>();
    let (he, mut exact) = forward::<Seq>();
    let _s = start(
        builder(&server, "star")
            .consumer_defaults(in_order())
            .event_consumer("Order.*", hs),
    )
    .await;
    let _h = start(
        builder(&server, "hash")
            .consumer_defaults(in_order())
            .event_consumer("Order.#", hh),
    )
    .await;
    let _e = start(
        builder(&server, "exact")
            .consumer_defaults(in_order())
            .event_consumer("Order.Created", he),
    )
    .await;
    let producer = start(builder(&server, "orders").event_publisher()).await;
    let publisher = producer.event_publisher()?;
    let keys = [
        "Order",
        "User.Created",
        "Order.Created.V2",
        "Order.Updated",
        "Order.Created",
        "Order.Shipped",
        // Sentinel for all three consumers.
        "Order.Created",
    ];
    for (n, key) in (1..).zip(keys) {
        publisher.publish(key, &Seq { n }).await?;
    }
    let sentinel = |e: &ConsumableEvent<Seq>| e.payload.n == 7;

    let (before, _) = recv_until(&mut star, sentinel).await;
    let want = [
        ("Order.Updated", 4),
        ("Order.Created", 5),
        ("Order.Shipped", 6),
    ];
    assert_eq!(keyed(&before), pairs(&want));

    let (before, _) = recv_until(&mut hash, sentinel).await;
    let want = [
        ("Order.Created.V2", 3),
        ("Order.Updated", 4),
        ("Order.Created", 5),
        ("Order.Shipped", 6),
    ];
    assert_eq!(keyed(&before), pairs(&want));

    let (before, _) = recv_until(&mut exact, sentinel).await;
    assert_eq!(keyed(&before), pairs(&[("Order.Created", 5)]));

    let js = raw_js(&server).await;
    assert_eq!(
        consumer_info(&js, "events", "hash")
            .await
            .config
            .filter_subject,
        "events.Order.>"
    );
    assert_eq!(
        consumer_info(&js, "events", "star")
            .await
            .config
            .filter_subject,
        "events.Order.*"
    );
    Ok(())
}

#[tokio::test]
async fn several_keys_share_one_consumer_and_the_most_specific_handler_wins() -> TestResult {
    let server = server();
    let (ha, mut order_any) = forward::<Seq>();
    let (hb, mut any_created) = forward::<Seq>();
    let _grouped = start(
        builder(&server, "grouped")
            .consumer_defaults(in_order())
            .event_consumer("Order.*", ha)
            .event_consumer("*.Created", hb),
    )
    .await;
    let js = raw_js(&server).await;
    assert_eq!(durable_names(&js, "events").await, ["grouped"]);
    let info = consumer_info(&js, "events", "grouped").await;
    assert_eq!(
        info.config.filter_subjects,
        ["events.Order.*", "events.*.Created"]
    );
    assert_eq!(info.config.filter_subject, "");

    let producer = start(builder(&server, "orders").event_publisher()).await;
    let publisher = producer.event_publisher()?;
    let keys = [
        "Order.Created", // both match; `Order.*` is more specific (literal first token)
        "User.Created",
        "Order.Deleted",
        "User.Deleted", // neither
        "Order.End",    // sentinel of `Order.*`
        "Sentinel.Created",
    ];
    for (n, key) in (1..).zip(keys) {
        publisher.publish(key, &Seq { n }).await?;
    }
    let (before, _) = recv_until(&mut order_any, |e| e.payload.n == 5).await;
    assert_eq!(
        keyed(&before),
        pairs(&[("Order.Created", 1), ("Order.Deleted", 3)])
    );
    let (before, _) = recv_until(&mut any_created, |e| e.payload.n == 6).await;
    assert_eq!(keyed(&before), pairs(&[("User.Created", 2)]));
    for ev in before {
        assert_eq!(ev.delivery_info.destination, "grouped");
    }
    Ok(())
}

#[tokio::test]
async fn custom_headers_travel_and_reserved_or_invalid_ones_are_rejected() -> TestResult {
    let server = server();
    let (handler, mut rx) = forward::<Seq>();
    let _c =
        start(builder(&server, "notifications").event_consumer("Order.Created", handler)).await;
    let producer = start(
        builder(&server, "orders")
            .event_publisher()
            .service_publisher("billing"),
    )
    .await;
    let publisher = producer.event_publisher()?;

    let cases = [
        ("service", "fake", "reserved service"),
        ("bad key", "v", "invalid key bad key"),
        ("a:b", "v", "invalid key a:b"),
        ("", "v", "invalid key "),
        ("x-ok", "a\r\nb", "invalid value of x-ok"),
    ];
    for (key, value, want) in cases {
        let got = publisher
            .publish("Order.Created", &Seq { n: 0 })
            .header(key, value)
            .await;
        let got = match got {
            Err(Error::ReservedHeader(k)) => format!("reserved {k}"),
            Err(Error::InvalidHeader(k)) => format!("invalid key {k}"),
            Err(Error::InvalidHeaderValue(k)) => format!("invalid value of {k}"),
            other => format!("unexpected {other:?}"),
        };
        assert_eq!(got, want, "header {key:?}");
    }
    let call = producer
        .service_publisher("billing")?
        .request::<Receipt, _>("Billing.Charge", &Charge { cents: 1 })
        .header("service", "fake")
        .await;
    assert!(matches!(call, Err(Error::ReservedHeader(k)) if k == "service"));
    // Nothing rejected reached the stream.
    assert_eq!(
        stream_info(&raw_js(&server).await, "events")
            .await
            .state
            .messages,
        0
    );

    publisher
        .publish("Order.Created", &Seq { n: 1 })
        .headers([("x-tenant", "acme"), ("X-Mixed-Case", "Kept")])
        .header("ce-correlationid", "corr-9")
        .header("ce-subject", "order-42")
        .await?;
    let ev = recv(&mut rx).await;
    assert_eq!(ev.payload, Seq { n: 1 });
    let h = &ev.delivery_info.headers;
    assert_eq!(h.get_str("x-tenant"), Some("acme"));
    assert_eq!(h.get_str("X-Mixed-Case"), Some("Kept"));
    assert_eq!(ev.metadata.correlation_id, "corr-9");
    assert_eq!(ev.metadata.subject, "order-42");
    assert_eq!(ev.metadata.type_, "Order.Created");
    Ok(())
}

#[tokio::test]
async fn windowed_publishing_stores_every_message_in_order() -> TestResult {
    let server = server();
    let producer = start(builder(&server, "orders").event_publisher()).await;
    let publisher = producer.event_publisher()?;
    let mut pending = Vec::new();
    for n in 0..200 {
        pending.push(
            publisher
                .publish("Order.Created", &Seq { n })
                .send()
                .await?,
        );
    }
    let mut sequences = Vec::new();
    let mut ids = BTreeSet::new();
    for ack in pending {
        let receipt = ack.await?;
        assert!(!receipt.duplicate);
        sequences.push(receipt.sequence.ok_or("no sequence")?);
        ids.insert(receipt.id);
    }
    assert_eq!(sequences, (1..=200).collect::<Vec<u64>>());
    assert_eq!(ids.len(), 200);
    assert_eq!(
        stream_info(&raw_js(&server).await, "events")
            .await
            .state
            .messages,
        200
    );
    Ok(())
}

#[tokio::test]
async fn publishing_one_id_twice_stores_it_once() -> TestResult {
    let server = server();
    let (handler, mut rx) = forward::<Seq>();
    let _c = start(
        builder(&server, "notifications")
            .consumer_defaults(in_order())
            .event_consumer("Order.Created", handler),
    )
    .await;
    let producer = start(builder(&server, "orders").event_publisher()).await;
    let publisher = producer.event_publisher()?;

    let first = publisher
        .publish("Order.Created", &Seq { n: 1 })
        .id("order-42")
        .await?;
    let second = publisher
        .publish("Order.Created", &Seq { n: 2 })
        .id("order-42")
        .await?;
    assert_eq!((first.id.as_str(), first.duplicate), ("order-42", false));
    assert_eq!((second.id.as_str(), second.duplicate), ("order-42", true));
    assert_eq!(second.sequence, first.sequence);
    assert_eq!(
        stream_info(&raw_js(&server).await, "events")
            .await
            .state
            .messages,
        1
    );

    publisher.publish("Order.Created", &Seq { n: 3 }).await?;
    let (before, _) = recv_until(&mut rx, |e| e.payload.n == 3).await;
    assert_eq!(keyed(&before), pairs(&[("Order.Created", 1)]));
    assert_eq!(before[0].metadata.id, "order-42");
    Ok(())
}
