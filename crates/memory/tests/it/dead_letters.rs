//! Dead-lettering in memory: what a consumer gives up on is stored in the dead-letter
//! stream with the record of why, as on NATS, and settled.

use std::time::Duration;

use messaging_memory::{Broker, DEFAULT_DEAD_LETTER_STREAM, DeadLetterReason, Setup};
use messaging_spec::{ConsumableEvent, HandlerError};
use serde_json::{Value, json};

use crate::support::{Order, Res, Seen, WAIT, channels};

#[tokio::test(start_paused = true)]
async fn exhausted_rejected_and_undecodable_messages_land_in_the_dead_letter_stream() -> Res {
    let broker = Broker::new();
    let orders = broker
        .connection("orders")
        .event_publisher()
        .start()
        .await?;
    let attempts = Seen::<()>::new();
    let seen = attempts.clone();
    let (ok_tx, err_tx, mut notes) = channels();
    let billing = broker
        .connection("billing")
        .notifications(ok_tx)
        .error_notifications(err_tx)
        .setup(
            Setup::event_consumer("Order.Created", move |_ev: ConsumableEvent<Order>| {
                seen.push(());
                async { Err::<(), _>(HandlerError::retry("database down")) }
            })
            .backoff([Duration::from_secs(1)])
            .max_deliver(3)
            .dead_letter(DEFAULT_DEAD_LETTER_STREAM),
        )
        .setup(
            Setup::event_consumer("Order.Bad", |_ev: ConsumableEvent<Value>| async {
                Err::<(), _>(HandlerError::reject("never valid"))
            })
            .dead_letter(DEFAULT_DEAD_LETTER_STREAM),
        )
        .start()
        .await?;
    let events = orders.event_publisher()?;
    events.publish("Order.Created", &Order { id: 1 }).await?;
    events.publish("Order.Bad", &json!({"n": 2})).await?;
    // Not an Order: undecodable.
    events.publish("Order.Created", &json!({"id": "x"})).await?;

    broker
        .wait_for("three dead letters", WAIT, |b| {
            b.dead_letters(DEFAULT_DEAD_LETTER_STREAM).len() == 3
        })
        .await?;
    let letters = broker.dead_letters(DEFAULT_DEAD_LETTER_STREAM);
    let summary: Vec<(String, DeadLetterReason, i64, u64)> = letters
        .iter()
        .map(|l| {
            (
                l.subject.clone(),
                l.record.reason,
                l.record.deliveries,
                l.record.sequence,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            // The undecodable one (sequence 3) is given up on at once, before the
            // exhausted one's third delivery at +2 s.
            (
                "DEAD_LETTERS.events.Order.Bad".to_owned(),
                DeadLetterReason::Rejected,
                1,
                2
            ),
            (
                "DEAD_LETTERS.events.Order.Created".to_owned(),
                DeadLetterReason::Undecodable,
                1,
                3
            ),
            (
                "DEAD_LETTERS.events.Order.Created".to_owned(),
                DeadLetterReason::Exhausted,
                3,
                1
            ),
        ]
    );
    assert_eq!(attempts.len(), 3);
    let exhausted = &letters[2];
    assert_eq!(exhausted.record.consumer, "billing");
    assert_eq!(exhausted.record.service, "billing");
    assert_eq!(exhausted.record.stream, "events");
    assert_eq!(exhausted.record.subject, "events.Order.Created");
    assert!(exhausted.record.error.contains("database down"));
    assert_eq!(
        serde_json::from_slice::<Order>(&exhausted.body)?,
        Order { id: 1 }
    );
    assert_eq!(exhausted.headers.get_str("ce-source"), Some("orders"));
    let stats = broker
        .consumer_stats("events", "billing")
        .ok_or("no consumer stats")?;
    assert_eq!(
        (stats.termed, stats.exhausted, stats.num_ack_pending),
        (3, 0, 0)
    );
    let dead_lettered = notes
        .err
        .try_recv()
        .into_iter()
        .chain(std::iter::from_fn(|| notes.err.try_recv().ok()))
        .filter(|n| {
            matches!(
                n.error
                    .downcast_ref::<messaging_memory::messaging_core::Error>(),
                Some(messaging_memory::messaging_core::Error::DeadLettered { .. })
            )
        })
        .count();
    assert_eq!(dead_lettered, 3);
    billing.close().await?;
    orders.close().await?;
    Ok(())
}

#[tokio::test]
async fn a_dead_letter_stream_must_not_be_a_stream_the_service_uses() {
    let broker = Broker::new();
    let result = broker
        .connection("billing")
        .setup(
            Setup::event_consumer("Order.Created", |_ev: ConsumableEvent<Value>| async {
                Ok::<(), HandlerError>(())
            })
            .dead_letter("events"),
        )
        .start()
        .await;
    assert!(
        matches!(
            result,
            Err(messaging_memory::Error::Core(
                messaging_memory::messaging_core::Error::InvalidConfig(_)
            ))
        ),
        "{result:?}"
    );
    assert!(broker.streams().is_empty(), "nothing created");
}
