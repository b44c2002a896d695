//! Dead-lettering: a message a consumer gives up on (exhausted, rejected, undecodable)
//! lands in the dead-letter stream with headers saying why, is settled, and can be
//! replayed to its original subject.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use messaging_nats::async_nats::jetstream;
use messaging_nats::{
    Connection, DEFAULT_DEAD_LETTER_STREAM, DeadLetterMessage, DeadLetterReason, Error, Setup,
};
use messaging_spec::{ConsumableEvent, ErrorNotification, HandlerError};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::support::{self, TestResult};

type CoreError = messaging_nats::messaging_core::Error;
const DLQ: &str = DEFAULT_DEAD_LETTER_STREAM;

fn core(n: &ErrorNotification) -> &CoreError {
    match n.error.downcast_ref::<CoreError>() {
        Some(e) => e,
        None => panic!("not a core error: {:?}", n.error),
    }
}

/// The next notification that is a dead-lettering, skipping the retries before it.
async fn next_dead_lettered(
    errors: &mut mpsc::Receiver<ErrorNotification>,
) -> (String, String, DeadLetterReason) {
    loop {
        let n = support::recv(errors).await;
        if let CoreError::DeadLettered {
            routing_key,
            subject,
            reason,
            ..
        } = core(&n)
        {
            return (routing_key.clone(), subject.clone(), *reason);
        }
    }
}

async fn letters(conn: &Connection, n: usize) -> Vec<DeadLetterMessage> {
    support::eventually(&format!("{n} dead letters"), || async {
        let got = conn.dead_letters(DLQ, 1, 100).await.ok()?;
        (got.len() == n).then_some(got)
    })
    .await
}

fn header<'a>(m: &'a DeadLetterMessage, name: &str) -> Option<&'a str> {
    m.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn exhausted_rejected_and_undecodable_messages_are_dead_lettered_then_replayed() -> TestResult
{
    let server = support::server();
    let (errors_tx, mut errors) = mpsc::channel(64);
    let calls = Arc::new(AtomicUsize::new(0));
    let healed = Arc::new(AtomicBool::new(false));
    let (ok_tx, mut ok) = mpsc::unbounded_channel();
    let (c, h) = (Arc::clone(&calls), Arc::clone(&healed));
    let flaky = move |ev: ConsumableEvent<Value>| {
        c.fetch_add(1, Ordering::SeqCst);
        let healed = h.load(Ordering::SeqCst);
        let ok_tx = ok_tx.clone();
        async move {
            if healed {
                let _ = ok_tx.send(ev.payload);
                Ok(())
            } else {
                Err(HandlerError::retry("database unavailable"))
            }
        }
    };
    let reject = |_ev: ConsumableEvent<Value>| async { Err(HandlerError::reject("never valid")) };
    let typed = |_ev: ConsumableEvent<support::OrderCreated>| async { Ok::<(), HandlerError>(()) };
    let registry = prometheus::Registry::new();
    let jobs = support::start(
        support::builder(&server, "jobs")
            .metrics(&registry)
            .error_notifications(errors_tx)
            .setup(
                Setup::event_consumer("Job.Run", flaky)
                    .max_deliver(3)
                    .backoff([Duration::from_millis(50), Duration::from_millis(100)])
                    .dead_letter(DLQ),
            )
            .setup(Setup::event_consumer("Job.Bad", reject).dead_letter(DLQ))
            .setup(Setup::event_consumer("Order.Created", typed).dead_letter(DLQ)),
    )
    .await;
    let shop = support::start(support::builder(&server, "shop").event_publisher()).await;
    let events = shop.event_publisher()?;

    // Exhausted: three failed deliveries, then the dead-letter stream.
    let receipt = events.publish("Job.Run", &json!({"n": 1})).await?;
    let (key, subject, reason) = next_dead_lettered(&mut errors).await;
    assert_eq!(
        (key.as_str(), subject.as_str(), reason),
        (
            "Job.Run",
            "DEAD_LETTERS.events.Job.Run",
            DeadLetterReason::Exhausted
        )
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let [letter] = <[_; 1]>::try_from(letters(&jobs, 1).await).map_err(|_| "one letter")?;
    assert_eq!(letter.subject, "DEAD_LETTERS.events.Job.Run");
    assert_eq!(letter.record.reason, DeadLetterReason::Exhausted);
    assert_eq!(letter.record.subject, "events.Job.Run");
    assert_eq!(letter.record.stream, "events");
    assert_eq!(Some(letter.record.sequence), receipt.sequence);
    assert_eq!(letter.record.consumer, "jobs");
    assert_eq!(letter.record.service, "jobs");
    assert_eq!(letter.record.deliveries, 3);
    assert!(
        letter.record.error.contains("database unavailable"),
        "{}",
        letter.record.error
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&letter.payload)?,
        json!({"n": 1})
    );
    // The original CloudEvents headers travel with it; the dead-letter ones are apart.
    assert_eq!(header(&letter, "ce-type"), Some("Job.Run"));
    assert_eq!(header(&letter, "ce-source"), Some("shop"));
    assert_eq!(header(&letter, "x-dead-letter-reason"), None);

    // Rejected and undecodable: straight to the dead-letter stream, one delivery each.
    events.publish("Job.Bad", &json!({"n": 2})).await?;
    let (_, subject, reason) = next_dead_lettered(&mut errors).await;
    assert_eq!(
        (subject.as_str(), reason),
        ("DEAD_LETTERS.events.Job.Bad", DeadLetterReason::Rejected)
    );
    events
        .publish("Order.Created", &json!({"unexpected": true}))
        .await?;
    let (_, _, reason) = next_dead_lettered(&mut errors).await;
    assert_eq!(reason, DeadLetterReason::Undecodable);
    let all = letters(&jobs, 3).await;
    assert_eq!(
        all.iter().map(|l| l.record.deliveries).collect::<Vec<_>>(),
        [3, 1, 1]
    );
    // Nothing left unsettled on the consumer.
    let js = support::raw_js(&server).await;
    let info = support::settled(&js, "events", "jobs").await;
    assert_eq!(info.num_redelivered, 0);

    let text = prometheus::TextEncoder::new().encode_to_string(&registry.gather())?;
    for reason in ["exhausted", "rejected", "undecodable"] {
        let line = text
            .lines()
            .find(|l| {
                l.starts_with("nats_events_dead_lettered{")
                    && l.contains(&format!("reason=\"{reason}\""))
            })
            .ok_or_else(|| format!("no dead-lettered series for {reason}:\n{text}"))?;
        assert!(line.ends_with(" 1"), "{line}");
    }

    // Replay: the handler works again; the letter goes back to events.Job.Run once.
    healed.store(true, Ordering::SeqCst);
    let replayed = jobs.replay_dead_letter(DLQ, letter.sequence).await?;
    assert_eq!(replayed.subject, "events.Job.Run");
    assert!(Some(replayed.sequence) > receipt.sequence);
    assert_eq!(support::recv(&mut ok).await, json!({"n": 1}));
    assert_eq!(letters(&jobs, 2).await.len(), 2);
    match jobs.replay_dead_letter(DLQ, letter.sequence).await {
        Err(Error::DeadLetter { sequence, .. }) => assert_eq!(sequence, letter.sequence),
        other => panic!("second replay: {other:?}"),
    }
    jobs.close().await?;
    shop.close().await?;
    Ok(())
}

#[tokio::test]
async fn a_failed_dead_letter_publish_keeps_the_message() -> TestResult {
    let server = support::server();
    let (errors_tx, mut errors) = mpsc::channel(64);
    let (calls_tx, mut calls) = mpsc::unbounded_channel();
    let reject = move |_ev: ConsumableEvent<Value>| {
        let _ = calls_tx.send(());
        async { Err(HandlerError::reject("never valid")) }
    };
    let jobs = support::start(
        support::builder(&server, "jobs")
            .error_notifications(errors_tx)
            .setup(Setup::event_consumer("Job.Bad", reject).dead_letter(DLQ)),
    )
    .await;
    // The dead-letter stream disappears: the publish fails, the message must stay.
    let js = support::raw_js(&server).await;
    js.delete_stream(DLQ).await?;
    let shop = support::start(support::builder(&server, "shop").event_publisher()).await;
    shop.event_publisher()?
        .publish("Job.Bad", &json!({"n": 1}))
        .await?;
    support::recv(&mut calls).await;
    let n = support::recv(&mut errors).await;
    assert!(
        matches!(core(&n), CoreError::Handler { .. }),
        "{:?}",
        n.error
    );
    let info = support::consumer_info(&js, "events", "jobs").await;
    assert_eq!(
        info.num_ack_pending, 1,
        "the message is held for redelivery"
    );
    // Once the stream is back, the redelivery is dead-lettered.
    js.create_stream(jetstream::stream::Config {
        name: DLQ.to_owned(),
        subjects: vec![format!("{DLQ}.>")],
        ..Default::default()
    })
    .await?;
    let (_, _, reason) = next_dead_lettered(&mut errors).await;
    assert_eq!(reason, DeadLetterReason::Rejected);
    let letters = letters(&jobs, 1).await;
    assert_eq!(letters[0].record.deliveries, 2);
    jobs.close().await?;
    shop.close().await?;
    Ok(())
}

#[tokio::test]
async fn dead_letter_destinations_are_checked_before_connecting() {
    let ignore = |_ev: ConsumableEvent<Value>| async { Ok::<(), HandlerError>(()) };
    for bad in ["events", "jobs", "a.b", ""] {
        // No server: validation must fail before any connection attempt.
        let result = Connection::builder("jobs")
            .url("nats://127.0.0.1:1")
            .setup(Setup::event_consumer("Job.Run", ignore).dead_letter(bad))
            .start()
            .await;
        match result {
            Err(Error::Core(
                CoreError::InvalidConfig(_) | CoreError::InvalidRegistration { .. },
            )) => {}
            other => panic!("dead_letter({bad:?}) gave {other:?}"),
        }
    }
}
