//! The in-process duplicate filter by `ce-id` on RabbitMQ: the same id published twice
//! reaches a filtered consumer once (the copy is acked without the handler), while a
//! plain consumer of the same key sees both. The shared filter needs a store the AMQP
//! transport does not have, and is refused before the broker is touched.

use std::time::Duration;

use messaging_amqp::Setup;
use messaging_spec::{ConsumableEvent, HandlerError};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::support::{self, TestResult};

const WINDOW: Duration = Duration::from_secs(60);

/// A handler sending each event's `copy` field to `tx`.
fn copies(
    tx: mpsc::UnboundedSender<String>,
) -> impl Fn(ConsumableEvent<Value>) -> std::future::Ready<Result<(), HandlerError>>
+ Send
+ Sync
+ 'static {
    move |ev| {
        let copy = ev.payload["copy"].as_str().unwrap_or_default().to_owned();
        let _ = tx.send(copy);
        std::future::ready(Ok(()))
    }
}

#[tokio::test]
async fn an_id_handled_once_is_acked_without_the_handler_the_second_time() -> TestResult {
    let key = support::unique("Dedup.Created").replace('-', "_");
    let (plain_tx, mut plain) = mpsc::unbounded_channel();
    let (filtered_tx, mut filtered) = mpsc::unbounded_channel();
    let ledger = support::start(
        support::builder(&support::unique("ledger"))
            .event_consumer(key.as_str(), copies(plain_tx))
            .setup(
                Setup::event_consumer(key.as_str(), copies(filtered_tx))
                    .suffix("dedup")
                    .deduplicate(WINDOW),
            ),
    )
    .await;
    let shop = support::start(support::builder(&support::unique("shop")).event_publisher()).await;
    let events = shop.event_publisher()?;
    for (id, copy) in [
        ("order-1", "first"),
        ("order-1", "second"),
        ("order-2", "next"),
    ] {
        events
            .publish(key.as_str(), &json!({ "copy": copy }))
            .id(id)
            .await?;
    }
    let mut seen_plain = Vec::new();
    for _ in 0..3 {
        seen_plain.push(support::recv(&mut plain).await);
    }
    assert_eq!(seen_plain, ["first", "second", "next"]);
    // One consumer handles its queue in order: once `next` is in, the second copy of
    // order-1 was settled without the handler.
    let mut seen_filtered = Vec::new();
    for _ in 0..2 {
        seen_filtered.push(support::recv(&mut filtered).await);
    }
    assert_eq!(seen_filtered, ["first", "next"]);
    support::nothing_within(&mut filtered, Duration::from_millis(300)).await;
    ledger.close().await?;
    shop.close().await?;
    Ok(())
}

#[tokio::test]
async fn a_shared_filter_is_refused_before_the_broker_is_touched() {
    let result = messaging_amqp::Connection::builder("ledger")
        // Nothing listens here: the error must come before any connection attempt.
        .url("amqp://127.0.0.1:1/%2f")
        .setup(
            Setup::event_consumer("Order.Created", |_ev: ConsumableEvent<Value>| {
                std::future::ready(Ok::<(), HandlerError>(()))
            })
            .deduplicate_shared(WINDOW),
        )
        .start()
        .await;
    match result {
        Err(messaging_amqp::Error::Core(messaging_core::Error::InvalidRegistration {
            index,
            reason,
            ..
        })) => {
            assert_eq!(index, 0);
            assert_eq!(reason, "deduplicate_shared is not available on AMQP yet");
        }
        Err(other) => panic!("expected a refused option, got {other:?}"),
        Ok(_) => panic!("deduplicate_shared was accepted on AMQP"),
    }
}
