//! Duplicate filters by `ce-id`: the same id stored twice (different `Nats-Msg-Id`s, so
//! the stream keeps both) reaches the handler once, within one instance and, shared,
//! across two.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use messaging_nats::{Connection, Setup};
use messaging_spec::{ConsumableEvent, HandlerError};
use serde_json::{Value, json};

use crate::support::{self, TestResult};

const WINDOW: Duration = Duration::from_secs(60);

fn counting(
    calls: &Arc<AtomicUsize>,
) -> impl Fn(ConsumableEvent<Value>) -> std::future::Ready<Result<(), HandlerError>>
+ Send
+ Sync
+ 'static {
    let calls = Arc::clone(calls);
    move |_ev| {
        calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok(()))
    }
}

async fn publish_twice(shop: &Connection, id: &str) -> TestResult {
    for copy in ["first", "second"] {
        publish_copy(shop, id, copy).await?;
    }
    Ok(())
}

async fn publish_copy(shop: &Connection, id: &str, copy: &str) -> TestResult {
    let events = shop.event_publisher()?;
    {
        let receipt = events
            .publish("Order.Created", &json!({"copy": copy}))
            .id(id)
            .header("Nats-Msg-Id", format!("{id}-{copy}"))
            .await?;
        assert!(!receipt.duplicate, "the stream keeps both copies");
    }
    Ok(())
}

#[tokio::test]
async fn an_id_handled_once_is_acked_without_the_handler_the_second_time() -> TestResult {
    let server = support::server();
    let (plain, filtered) = (Arc::default(), Arc::default());
    let ledger = support::start(
        support::builder(&server, "ledger")
            .event_consumer("Order.Created", counting(&plain))
            .setup(
                Setup::event_consumer("Order.Created", counting(&filtered))
                    .suffix("dedup")
                    .deduplicate(WINDOW),
            ),
    )
    .await;
    let shop = support::start(support::builder(&server, "shop").event_publisher()).await;
    publish_twice(&shop, "order-1").await?;
    let js = support::raw_js(&server).await;
    let info = support::settled(&js, "events", "ledger-dedup").await;
    support::settled(&js, "events", "ledger").await;
    assert_eq!(info.delivered.consumer_sequence, 2, "both copies delivered");
    assert_eq!(plain.load(Ordering::SeqCst), 2);
    assert_eq!(filtered.load(Ordering::SeqCst), 1);
    ledger.close().await?;
    shop.close().await?;
    Ok(())
}

#[tokio::test]
async fn a_shared_filter_spans_instances() -> TestResult {
    let server = support::server();
    let calls = Arc::default();
    let mut instances = Vec::new();
    for _ in 0..2 {
        instances.push(
            support::start(support::builder(&server, "ledger").setup(
                Setup::event_consumer("Order.Created", counting(&calls)).deduplicate_shared(WINDOW),
            ))
            .await,
        );
    }
    let shop = support::start(support::builder(&server, "shop").event_publisher()).await;
    // Second copies only once the first ones are handled: the filter covers ids handled
    // within the window, not two copies in flight at the same moment.
    let js = support::raw_js(&server).await;
    for copy in ["first", "second"] {
        for n in 0..10 {
            publish_copy(&shop, &format!("order-{n}"), copy).await?;
        }
        support::settled(&js, "events", "ledger").await;
    }
    let info = support::settled(&js, "events", "ledger").await;
    assert_eq!(info.delivered.consumer_sequence, 20);
    assert_eq!(calls.load(Ordering::SeqCst), 10, "each id handled once");
    let kv = js.get_key_value("messaging-dedup-ledger").await?;
    assert_eq!(kv.status().await?.values(), 10);
    for conn in instances {
        conn.close().await?;
    }
    shop.close().await?;
    Ok(())
}

#[tokio::test]
async fn a_shared_filter_is_refused_where_there_is_no_shared_store() {
    let amqp = messaging_nats::messaging_core::Rules::amqp();
    let plan = |setup: Setup| {
        messaging_nats::messaging_core::plan(
            &amqp,
            "ledger",
            &[setup],
            &messaging_nats::ConsumerOptions::default(),
        )
    };
    let consumer = || {
        Setup::event_consumer("Order.Created", |_ev: ConsumableEvent<Value>| async {
            Ok::<(), HandlerError>(())
        })
    };
    // AMQP has the in-process filter, but no store to share one.
    assert!(plan(consumer().deduplicate(WINDOW)).is_ok());
    assert!(matches!(
        plan(consumer().deduplicate_shared(WINDOW)),
        Err(messaging_nats::messaging_core::Error::InvalidRegistration { .. })
    ));
}
