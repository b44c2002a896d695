//! Log semantics: durable positions, shared durables, fan-out, wildcards, grouped keys,
//! transient start positions, custom streams.

use std::collections::BTreeSet;
use std::time::Duration;

use messaging_memory::{Broker, Connection, Error, Setup, StartAt};
use messaging_spec::{ConsumableEvent, HandlerError};
use tokio::time::Instant;

use crate::support::{Order, Res, Seen, WAIT, recorder};

type Log = Seen<(ConsumableEvent<Order>, Instant)>;

fn ids(seen: &Log) -> Vec<u64> {
    seen.all().iter().map(|(ev, _)| ev.payload.id).collect()
}

fn keys(seen: &Seen<(ConsumableEvent<serde_json::Value>, Instant)>) -> Vec<String> {
    seen.all()
        .iter()
        .map(|(ev, _)| ev.delivery_info.key.clone())
        .collect()
}

async fn publisher(broker: &Broker) -> Result<Connection, Error> {
    broker
        .connection("orders")
        .event_publisher()
        .stream_publisher("audit")
        .start()
        .await
}

async fn publish_ids(conn: &Connection, key: &str, ids: std::ops::Range<u64>) -> Res {
    let events = conn.event_publisher()?;
    for id in ids {
        events.publish(key, &Order { id }).await?;
    }
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn stream_keeps_every_message_with_sequences() -> Res {
    let broker = Broker::new();
    let orders = publisher(&broker).await?;
    let events = orders.event_publisher()?;
    let first = events.publish("Order.Created", &Order { id: 1 }).await?;
    let second = events.publish("Order.Shipped", &Order { id: 1 }).await?;
    assert_eq!(first.sequence, Some(1));
    assert_eq!(second.sequence, Some(2));
    assert_eq!(first.stream.as_deref(), Some("events"));
    assert_eq!(first.subject, "events.Order.Created");
    let info = broker.stream_info("events").ok_or("no stream")?;
    assert_eq!((info.messages, info.last_sequence), (2, 2));
    assert!(info.consumers.is_empty());
    assert_eq!(broker.streams(), ["audit", "events"]);
    // A consumer created later still reads everything (StartAt::All, the default).
    let seen = Log::new();
    let late = broker
        .connection("late")
        .event_consumer("Order.*", recorder(&seen))
        .start()
        .await?;
    broker.wait_for_acked("events", "late", 2, WAIT).await?;
    assert_eq!(ids(&seen), [1, 1]);
    late.close().await?;
    orders.close().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn durable_keeps_its_position_across_close_and_start() -> Res {
    let broker = Broker::new();
    let orders = publisher(&broker).await?;
    let seen = Log::new();
    let start = || {
        broker
            .connection("billing")
            .event_consumer("Order.Created", recorder(&seen))
            .start()
    };
    let billing = start().await?;
    publish_ids(&orders, "Order.Created", 1..3).await?;
    broker.wait_for_acked("events", "billing", 2, WAIT).await?;
    billing.close().await?;

    // While billing is down, the durable keeps its place and counts what is waiting.
    publish_ids(&orders, "Order.Created", 3..6).await?;
    let down = broker
        .consumer_stats("events", "billing")
        .ok_or("durable gone")?;
    assert_eq!((down.instances, down.num_pending, down.acked), (0, 3, 2));

    let billing = start().await?;
    let stats = broker.wait_for_acked("events", "billing", 5, WAIT).await?;
    assert_eq!(
        ids(&seen),
        [1, 2, 3, 4, 5],
        "nothing replayed, nothing lost"
    );
    assert_eq!(
        (
            stats.delivered,
            stats.redelivered,
            stats.num_pending,
            stats.num_ack_pending
        ),
        (5, 0, 0, 0)
    );
    assert_eq!(stats.next_sequence, 6);
    billing.close().await?;
    orders.close().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn instances_of_one_service_share_the_durable_without_duplicates() -> Res {
    let broker = Broker::new();
    let orders = publisher(&broker).await?;
    let a = Seen::<u64>::new();
    let b = Seen::<u64>::new();
    let instance = |seen: &Seen<u64>| {
        let seen = seen.clone();
        broker
            .connection("billing")
            .event_consumer("Order.Created", move |ev: ConsumableEvent<Order>| {
                let seen = seen.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    seen.push(ev.payload.id);
                    Ok::<_, HandlerError>(())
                }
            })
            .start()
    };
    let first = instance(&a).await?;
    let second = instance(&b).await?;
    assert_eq!(
        broker
            .consumer_stats("events", "billing")
            .ok_or("no durable")?
            .instances,
        2
    );
    publish_ids(&orders, "Order.Created", 0..40).await?;
    let stats = broker.wait_for_acked("events", "billing", 40, WAIT).await?;
    let (got_a, got_b) = (a.all(), b.all());
    assert!(
        !got_a.is_empty() && !got_b.is_empty(),
        "both instances work: {got_a:?} {got_b:?}"
    );
    let all: BTreeSet<u64> = got_a.iter().chain(&got_b).copied().collect();
    assert_eq!(got_a.len() + got_b.len(), 40, "each event exactly once");
    assert_eq!(all, (0..40).collect());
    assert_eq!((stats.delivered, stats.redelivered), (40, 0));
    first.close().await?;
    second.close().await?;
    orders.close().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn different_services_and_suffixes_fan_out() -> Res {
    let broker = Broker::new();
    let orders = publisher(&broker).await?;
    let (billing, shipping, audit) = (Log::new(), Log::new(), Log::new());
    let b = broker
        .connection("billing")
        .event_consumer("Order.Created", recorder(&billing))
        .setup(Setup::event_consumer("Order.Created", recorder(&audit)).suffix("audit"))
        .start()
        .await?;
    let s = broker
        .connection("shipping")
        .event_consumer("Order.Created", recorder(&shipping))
        .start()
        .await?;
    assert_eq!(
        broker.consumer_names("events"),
        ["billing", "billing-audit", "shipping"]
    );
    publish_ids(&orders, "Order.Created", 1..4).await?;
    for consumer in ["billing", "billing-audit", "shipping"] {
        broker.wait_for_acked("events", consumer, 3, WAIT).await?;
    }
    for seen in [&billing, &shipping, &audit] {
        assert_eq!(ids(seen), [1, 2, 3]);
    }
    assert_eq!(audit.all()[0].0.delivery_info.destination, "billing-audit");
    b.close().await?;
    s.close().await?;
    orders.close().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn wildcards_follow_the_spec() -> Res {
    let broker = Broker::new();
    let orders = publisher(&broker).await?;
    let star = Seen::new();
    let hash = Seen::new();
    let all = Seen::new();
    let c = broker
        .connection("views")
        .setup(Setup::event_consumer("Order.*", recorder(&star)).suffix("star"))
        .setup(Setup::event_consumer("Order.#", recorder(&hash)).suffix("hash"))
        .setup(Setup::event_consumer("#", recorder(&all)).suffix("all"))
        .start()
        .await?;
    let events = orders.event_publisher()?;
    let body = serde_json::json!({});
    for key in ["Order", "Order.Created", "Order.Created.V2", "Payment.Done"] {
        events.publish(key, &body).await?;
    }
    broker
        .wait_for_acked("events", "views-all", 4, WAIT)
        .await?;
    broker.wait_idle(WAIT).await?;
    assert_eq!(keys(&star), ["Order.Created"], "* is exactly one token");
    assert_eq!(
        keys(&hash),
        ["Order.Created", "Order.Created.V2"],
        "# is one or more tokens"
    );
    assert_eq!(
        keys(&all),
        ["Order", "Order.Created", "Order.Created.V2", "Payment.Done"]
    );
    // Non-matching messages are skipped, not delivered and termed.
    let stats = broker
        .consumer_stats("events", "views-star")
        .ok_or("no consumer")?;
    assert_eq!(
        (stats.delivered, stats.termed, stats.num_pending),
        (1, 0, 0)
    );
    assert_eq!(stats.filters, ["Order.*"]);
    c.close().await?;
    orders.close().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn keys_of_one_service_share_one_consumer_routed_most_specific_first() -> Res {
    let broker = Broker::new();
    let orders = publisher(&broker).await?;
    let by_order = Seen::new();
    let by_created = Seen::new();
    let payments = Seen::new();
    let c = broker
        .connection("svc")
        .event_consumer("Order.*", recorder(&by_order))
        .event_consumer("*.Created", recorder(&by_created))
        .event_consumer("Payment.#", recorder(&payments))
        .start()
        .await?;
    assert_eq!(broker.consumer_names("events"), ["svc"]);
    let events = orders.event_publisher()?;
    let body = serde_json::json!({"x": 1});
    for key in [
        "Order.Created",
        "Order.Shipped",
        "User.Created",
        "Payment.Card.Done",
    ] {
        events.publish(key, &body).await?;
    }
    let stats = broker.wait_for_acked("events", "svc", 4, WAIT).await?;
    assert_eq!(keys(&by_order), ["Order.Created", "Order.Shipped"]);
    assert_eq!(keys(&by_created), ["User.Created"]);
    assert_eq!(keys(&payments), ["Payment.Card.Done"]);
    assert_eq!(stats.filters.len(), 3);
    assert_eq!(stats.delivered, 4);
    c.close().await?;
    orders.close().await?;
    Ok(())
}

async fn transient_keys(
    broker: &Broker,
    orders: &Connection,
    start: StartAt,
) -> Result<Vec<u64>, Box<dyn std::error::Error + Send + Sync>> {
    let seen = Log::new();
    let view = broker
        .connection("dashboard")
        .setup(Setup::transient_event_consumer("Order.Created", recorder(&seen)).start_at(start))
        .start()
        .await?;
    let [(stream, name)] = view.consumers() else {
        return Err("one transient consumer expected".into());
    };
    assert_eq!(stream, "events");
    assert!(name.starts_with("dashboard-transient-"), "{name}");
    publish_ids(orders, "Order.Created", 100..102).await?;
    let stats = broker
        .wait_for_stats(stream, name, WAIT, |s| {
            s.num_pending == 0 && s.num_ack_pending == 0 && s.acked >= 2
        })
        .await?;
    assert!(!stats.durable);
    let name = name.clone();
    assert_eq!(
        seen.all()[0].0.delivery_info.destination,
        "dashboard-transient"
    );
    view.close().await?;
    assert!(
        !broker.consumer_names("events").contains(&name),
        "a transient consumer is deleted on close"
    );
    Ok(ids(&seen))
}

#[tokio::test(start_paused = true)]
async fn transient_consumers_start_where_configured() -> Res {
    let broker = Broker::new();
    let orders = publisher(&broker).await?;
    publish_ids(&orders, "Order.Created", 1..4).await?;
    orders
        .event_publisher()?
        .publish("Order.Shipped", &Order { id: 9 })
        .await?;
    assert_eq!(
        transient_keys(&broker, &orders, StartAt::All).await?,
        [1, 2, 3, 100, 101]
    );
    assert_eq!(
        transient_keys(&broker, &orders, StartAt::New).await?,
        [100, 101]
    );
    // Last: the last message matching the filter (101, published by the run before).
    assert_eq!(
        transient_keys(&broker, &orders, StartAt::Last).await?,
        [101, 100, 101]
    );
    orders.close().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_new_durable_can_start_with_new_messages_only() -> Res {
    let broker = Broker::new();
    let orders = publisher(&broker).await?;
    publish_ids(&orders, "Order.Created", 1..3).await?;
    let seen = Log::new();
    let start = |at| {
        broker
            .connection("live")
            .setup(Setup::event_consumer("Order.Created", recorder(&seen)).start_at(at))
            .start()
    };
    let live = start(StartAt::New).await?;
    publish_ids(&orders, "Order.Created", 3..4).await?;
    broker.wait_for_acked("events", "live", 1, WAIT).await?;
    assert_eq!(ids(&seen), [3]);
    live.close().await?;
    // The server refuses to change an existing durable's deliver policy.
    let refused = start(StartAt::All).await;
    assert!(
        matches!(&refused, Err(Error::Consumer { stream, consumer, reason })
            if stream == "events" && consumer == "live" && reason.contains("deliver policy")),
        "{refused:?}"
    );
    assert_eq!(
        broker
            .consumer_stats("events", "live")
            .ok_or("gone")?
            .instances,
        0,
        "a refused start leaves nothing attached"
    );
    orders.close().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn custom_streams_are_separate_logs() -> Res {
    let broker = Broker::new();
    let orders = publisher(&broker).await?;
    let audit = Log::new();
    let events = Log::new();
    let c = broker
        .connection("auditor")
        .stream_consumer("audit.topic.exchange", "Order.*", recorder(&audit))
        .event_consumer("Order.*", recorder(&events))
        .start()
        .await?;
    orders
        .stream_publisher("audit")?
        .publish("Order.Created", &Order { id: 7 })
        .await?;
    publish_ids(&orders, "Order.Created", 1..2).await?;
    broker.wait_for_acked("audit", "auditor", 1, WAIT).await?;
    broker.wait_for_acked("events", "auditor", 1, WAIT).await?;
    assert_eq!(ids(&audit), [7]);
    assert_eq!(ids(&events), [1]);
    assert_eq!(audit.all()[0].0.delivery_info.source, "audit");
    assert_eq!(broker.stream_info("audit").ok_or("no audit")?.messages, 1);
    c.close().await?;
    orders.close().await?;
    Ok(())
}
