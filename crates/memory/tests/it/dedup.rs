//! Duplicate filters by `ce-id`: `deduplicate(window)` per instance, and
//! `deduplicate_shared(window)`, one filter for every instance of a service on the broker.
//! Duplicates are made the way they reach a real consumer: the same `ce-id` stored twice
//! (published again after the broker's 2-minute `Nats-Msg-Id` window).

use std::collections::BTreeMap;
use std::time::Duration;

use messaging_memory::{Broker, Connection, Setup};
use messaging_spec::{ConsumableEvent, HandlerError};

use crate::support::{Order, Res, Seen, WAIT};

const WINDOW: Duration = Duration::from_secs(600);

/// A handler recording the `ce-id` of each event it handles.
fn ids(
    seen: &Seen<String>,
) -> impl Fn(ConsumableEvent<Order>) -> std::future::Ready<Result<(), HandlerError>>
+ Send
+ Sync
+ 'static {
    let seen = seen.clone();
    move |ev| {
        seen.push(ev.metadata.id);
        std::future::ready(Ok(()))
    }
}

/// Publishes `first`, then `again` with the same ids once the broker's own duplicate
/// window has passed, so each is stored (and delivered) twice.
async fn publish_twice(publisher: &Connection, first: &[&str], then: &[&str]) -> Res {
    let events = publisher.event_publisher()?;
    for id in first {
        events
            .publish("Order.Created", &Order { id: 1 })
            .id(*id)
            .await?;
    }
    tokio::time::sleep(Duration::from_secs(121)).await;
    for id in then {
        let receipt = events
            .publish("Order.Created", &Order { id: 1 })
            .id(*id)
            .await?;
        assert!(!receipt.duplicate, "{id} was stored again");
    }
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_filtered_consumer_handles_each_id_once_within_its_window() -> Res {
    let broker = Broker::new();
    let plain = Seen::new();
    let filtered = Seen::new();
    let ledger = broker
        .connection("ledger")
        .event_consumer("Order.Created", ids(&plain))
        .setup(
            Setup::event_consumer("Order.Created", ids(&filtered))
                .suffix("dedup")
                .deduplicate(WINDOW),
        )
        .start()
        .await?;
    let orders = broker
        .connection("orders")
        .event_publisher()
        .start()
        .await?;
    publish_twice(&orders, &["first"], &["first", "next"]).await?;
    broker.wait_for_acked("events", "ledger", 3, WAIT).await?;
    broker
        .wait_for_acked("events", "ledger-dedup", 3, WAIT)
        .await?;
    assert_eq!(plain.all(), ["first", "first", "next"]);
    assert_eq!(
        filtered.all(),
        ["first", "next"],
        "the copy was acked unseen"
    );
    // After the window the id is handled again: the filter forgets.
    tokio::time::sleep(WINDOW).await;
    publish_twice(&orders, &[], &["first"]).await?;
    broker
        .wait_for_acked("events", "ledger-dedup", 4, WAIT)
        .await?;
    assert_eq!(filtered.all(), ["first", "next", "first"]);
    ledger.close().await?;
    orders.close().await?;
    Ok(())
}

/// One instance handles the first copies and closes; another instance of the service
/// starts and gets the second copies. Returns how often each id was handled.
async fn a_second_instance_gets_the_copies(
    shared: bool,
) -> Result<BTreeMap<String, usize>, Box<dyn std::error::Error + Send + Sync>> {
    const IDS: [&str; 3] = ["a", "b", "c"];
    let broker = Broker::new();
    let seen = Seen::new();
    let instance = || {
        let setup = Setup::event_consumer("Order.Created", ids(&seen));
        let setup = if shared {
            setup.deduplicate_shared(WINDOW)
        } else {
            setup.deduplicate(WINDOW)
        };
        broker.connection("ledger").setup(setup).start()
    };
    let orders = broker
        .connection("orders")
        .event_publisher()
        .start()
        .await?;
    let first = instance().await?;
    publish_twice(&orders, &IDS, &[]).await?;
    broker.wait_for_acked("events", "ledger", 3, WAIT).await?;
    first.close().await?;
    let second = instance().await?;
    publish_twice(&orders, &[], &IDS).await?;
    broker.wait_for_acked("events", "ledger", 6, WAIT).await?;
    second.close().await?;
    orders.close().await?;
    let mut counts = BTreeMap::new();
    for id in seen.all() {
        *counts.entry(id).or_insert(0) += 1;
    }
    Ok(counts)
}

fn each(n: usize) -> BTreeMap<String, usize> {
    ["a", "b", "c"]
        .iter()
        .map(|id| ((*id).to_owned(), n))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn instances_sharing_a_filter_handle_each_id_once_between_them() -> Res {
    assert_eq!(a_second_instance_gets_the_copies(true).await?, each(1));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn an_instance_filter_knows_only_its_own_instance() -> Res {
    assert_eq!(a_second_instance_gets_the_copies(false).await?, each(2));
    Ok(())
}
