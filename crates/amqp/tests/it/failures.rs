//! The ack table on a real broker: what each handler outcome does to the message,
//! observed through a dead-letter queue (`nack`/`reject` without requeue dead-letter,
//! a requeue does not), `x-delivery-count` and error notifications.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use messaging_amqp::lapin::options::{
    BasicGetOptions, BasicPublishOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use messaging_amqp::lapin::types::FieldTable;
use messaging_amqp::lapin::{self, BasicProperties, ExchangeKind, message::BasicGetMessage};
use messaging_amqp::{ConsumerOptions, Setup};
use messaging_core::{DeadLetterReason, Error as CoreError};
use messaging_spec::{ConsumableEvent, ErrorNotification, HandlerError};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::support::*;

/// A fanout dead-letter exchange and its queue, on a raw connection.
struct DeadLetters {
    exchange: String,
    queue: String,
    channel: lapin::Channel,
    _conn: lapin::Connection,
}

impl DeadLetters {
    async fn new() -> Self {
        let exchange = unique("dlx");
        let queue = unique("dlq");
        let conn = raw().await;
        let made = async {
            let ch = conn.create_channel().await?;
            ch.exchange_declare(
                exchange.as_str().into(),
                ExchangeKind::Fanout,
                ExchangeDeclareOptions::default(),
                FieldTable::default(),
            )
            .await?;
            ch.queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
            ch.queue_bind(
                queue.as_str().into(),
                exchange.as_str().into(),
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
            Ok::<_, lapin::Error>(ch)
        }
        .await;
        match made {
            Ok(channel) => Self {
                exchange,
                queue,
                channel,
                _conn: conn,
            },
            Err(e) => panic!("dead-letter setup: {e}"),
        }
    }

    /// The next dead-lettered message (bounded).
    async fn next(&self) -> BasicGetMessage {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match self
                .channel
                .basic_get(self.queue.as_str().into(), BasicGetOptions { no_ack: true })
                .await
            {
                Ok(Some(m)) => return m,
                Ok(None) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(None) => panic!("nothing dead-lettered within {TIMEOUT:?}"),
                Err(e) => panic!("basic.get: {e}"),
            }
        }
    }

    /// The `x-death` reason of a dead-lettered message (`rejected` for nack/reject).
    fn reason(m: &BasicGetMessage) -> Option<String> {
        let table = m.delivery.properties.headers().as_ref()?;
        let lapin::types::AMQPValue::FieldArray(deaths) = table.inner().get("x-death")? else {
            return None;
        };
        let lapin::types::AMQPValue::FieldTable(first) = deaths.as_slice().first()? else {
            return None;
        };
        match first.inner().get("reason")? {
            lapin::types::AMQPValue::LongString(s) => {
                Some(String::from_utf8_lossy(s.as_bytes()).into_owned())
            }
            _ => None,
        }
    }
}

async fn publish_raw(exchange: &str, key: &str, body: &[u8]) {
    let conn = raw().await;
    let sent = async {
        let ch = conn.create_channel().await?;
        ch.basic_publish(
            exchange.into(),
            key.into(),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default()
                .with_content_type("application/json".into())
                .with_delivery_mode(2),
        )
        .await?
        .await
    }
    .await;
    if let Err(e) = sent {
        panic!("raw publish: {e}");
    }
}

fn errors() -> (
    mpsc::Sender<ErrorNotification>,
    mpsc::Receiver<ErrorNotification>,
) {
    mpsc::channel(64)
}

async fn next_error(rx: &mut mpsc::Receiver<ErrorNotification>) -> ErrorNotification {
    match tokio::time::timeout(TIMEOUT, rx.recv()).await {
        Ok(Some(n)) => n,
        _ => panic!("no error notification within {TIMEOUT:?}"),
    }
}

/// The transport-neutral error an error notification carries.
fn core_err(n: &ErrorNotification) -> &CoreError {
    match n.error.downcast_ref::<CoreError>() {
        Some(e) => e,
        None => panic!(
            "notification error is not a messaging_core::Error: {:?}",
            n.error
        ),
    }
}

/// The cause inside a dead-lettering notification, which must carry `reason`.
fn dead_lettered(n: &ErrorNotification, reason: DeadLetterReason) -> &CoreError {
    match core_err(n) {
        CoreError::DeadLettered {
            reason: r,
            subject,
            source,
            ..
        } if *r == reason => {
            assert!(subject.starts_with("exchange "), "{subject}");
            source
        }
        other => panic!("expected DeadLettered({reason}), got {other:?}"),
    }
}

#[derive(Debug, serde::Deserialize)]
struct Typed {
    #[allow(dead_code)]
    n: u64,
}

#[tokio::test]
async fn undecodable_bodies_are_nacked_without_requeue() -> TestResult {
    let svc = unique("parse");
    let stream = unique("parse");
    let dl = DeadLetters::new().await;
    let calls = Arc::new(AtomicU32::new(0));
    let c = Arc::clone(&calls);
    let (tx, mut rx) = errors();
    let conn = start(
        builder(&svc).error_notifications(tx).setup(
            Setup::stream_consumer(&stream, "Bad.Body", move |_: ConsumableEvent<Typed>| {
                c.fetch_add(1, Ordering::Relaxed);
                async { Ok::<_, HandlerError>(()) }
            })
            .options(ConsumerOptions::new().dead_letter(&dl.exchange)),
        ),
    )
    .await;
    publish_raw(
        &format!("{stream}.topic.exchange"),
        "Bad.Body",
        br#"{"n":"not a number"}"#,
    )
    .await;
    let n = next_error(&mut rx).await;
    assert!(
        matches!(dead_lettered(&n, DeadLetterReason::Undecodable), CoreError::Undecodable { routing_key, .. } if routing_key == "Bad.Body"),
        "{:?}",
        n.error
    );
    let dead = dl.next().await;
    assert_eq!(DeadLetters::reason(&dead).as_deref(), Some("rejected"));
    assert_eq!(dead.delivery.data, br#"{"n":"not a number"}"#);
    assert_eq!(calls.load(Ordering::Relaxed), 0, "the handler never saw it");
    conn.close().await?;
    Ok(())
}

#[tokio::test]
async fn keys_without_a_handler_are_rejected() -> TestResult {
    let svc = unique("nohandler");
    let stream = unique("nohandler");
    let dl = DeadLetters::new().await;
    let (h, _rx) = forward::<Value>();
    let (tx, mut rx) = errors();
    let conn = start(
        builder(&svc).error_notifications(tx).setup(
            Setup::stream_consumer(&stream, "Known.Key", h)
                .options(ConsumerOptions::new().dead_letter(&dl.exchange)),
        ),
    )
    .await;
    // Someone else binds our queue to a key we have no handler for.
    let exchange = format!("{stream}.topic.exchange");
    let queue = format!("{exchange}.queue.{svc}");
    let raw = raw().await;
    let ch = raw.create_channel().await?;
    ch.queue_bind(
        queue.as_str().into(),
        exchange.as_str().into(),
        "Other.Key".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await?;
    publish_raw(&exchange, "Other.Key", b"{}").await;
    let n = next_error(&mut rx).await;
    assert!(
        matches!(dead_lettered(&n, DeadLetterReason::NoHandler), CoreError::NoHandler { routing_key } if routing_key == "Other.Key")
    );
    assert_eq!(n.delivery_info.key, "Other.Key");
    assert_eq!(
        DeadLetters::reason(&dl.next().await).as_deref(),
        Some("rejected")
    );
    conn.close().await?;
    Ok(())
}

#[tokio::test]
async fn retries_wait_the_backoff_then_stop_at_max_deliver() -> TestResult {
    let svc = unique("retry");
    let stream = unique("retry");
    let dl = DeadLetters::new().await;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let (tx, mut rx) = errors();
    let backoff = [Duration::from_millis(300), Duration::from_millis(600)];
    let conn = start(
        builder(&svc).error_notifications(tx).setup(
            Setup::stream_consumer(&stream, "Flaky", move |ev: ConsumableEvent<Value>| {
                let count = ev.delivery_info.headers.get("x-delivery-count").cloned();
                let _ = seen_tx.send((Instant::now(), count));
                async { Err::<(), _>(HandlerError::retry("downstream unavailable")) }
            })
            .options(
                ConsumerOptions::new()
                    .max_deliver(3)
                    .backoff(backoff)
                    .dead_letter(&dl.exchange),
            ),
        ),
    )
    .await;
    publish_raw(&format!("{stream}.topic.exchange"), "Flaky", b"{}").await;
    let (t1, c1) = recv(&mut seen).await;
    let (t2, c2) = recv(&mut seen).await;
    let (t3, c3) = recv(&mut seen).await;
    assert_eq!(
        (c1, c2, c3),
        (None, Some(json!(1)), Some(json!(2))),
        "x-delivery-count as the broker counts"
    );
    assert!(t2 - t1 >= backoff[0], "{:?}", t2 - t1);
    assert!(t3 - t2 >= backoff[1], "{:?}", t3 - t2);
    let mut kinds = Vec::new();
    for _ in 0..3 {
        kinds.push(next_error(&mut rx).await);
    }
    assert!(matches!(
        core_err(&kinds[0]),
        CoreError::Handler { retry: true, .. }
    ));
    assert!(matches!(
        core_err(&kinds[1]),
        CoreError::Handler { retry: true, .. }
    ));
    match dead_lettered(&kinds[2], DeadLetterReason::Exhausted) {
        CoreError::Exhausted {
            attempts,
            last_error,
            ..
        } => {
            assert_eq!(*attempts, 3);
            assert!(
                last_error.contains("downstream unavailable"),
                "{last_error}"
            );
        }
        other => panic!("expected Exhausted, got {other:?}"),
    }
    assert_eq!(
        DeadLetters::reason(&dl.next().await).as_deref(),
        Some("rejected")
    );
    nothing_within(&mut seen, Duration::from_millis(800)).await;
    conn.close().await?;
    Ok(())
}

#[tokio::test]
async fn panics_are_caught_and_retried_and_rejections_are_not() -> TestResult {
    let svc = unique("panic");
    let stream = unique("panic");
    let dl = DeadLetters::new().await;
    let calls = Arc::new(AtomicU32::new(0));
    let c = Arc::clone(&calls);
    let (done_tx, mut done) = mpsc::unbounded_channel();
    let (tx, mut rx) = errors();
    let conn = start(
        builder(&svc)
            .error_notifications(tx)
            .stream_consumer(&stream, "Boom", move |ev: ConsumableEvent<Value>| {
                let first = c.fetch_add(1, Ordering::Relaxed) == 0;
                let done_tx = done_tx.clone();
                async move {
                    if first {
                        panic!("handler bug");
                    }
                    let _ = done_tx.send(ev.delivery_info.headers.get("x-delivery-count").cloned());
                    Ok::<_, HandlerError>(())
                }
            })
            .setup(
                Setup::stream_consumer(&stream, "Refused", |_: ConsumableEvent<Value>| async {
                    Err::<(), _>(HandlerError::reject("never valid"))
                })
                .suffix("refused")
                .options(
                    ConsumerOptions::new()
                        .suffix("refused")
                        .dead_letter(&dl.exchange),
                ),
            ),
    )
    .await;
    publish_raw(&format!("{stream}.topic.exchange"), "Boom", b"{}").await;
    let n = next_error(&mut rx).await;
    assert!(
        matches!(core_err(&n), CoreError::Panicked { message, .. } if message == "handler bug")
    );
    assert_eq!(
        recv(&mut done).await,
        Some(json!(1)),
        "redelivered once after the panic"
    );
    publish_raw(&format!("{stream}.topic.exchange"), "Refused", b"{}").await;
    let n = next_error(&mut rx).await;
    assert!(matches!(
        dead_lettered(&n, DeadLetterReason::Rejected),
        CoreError::Handler { retry: false, .. }
    ));
    assert_eq!(
        DeadLetters::reason(&dl.next().await).as_deref(),
        Some("rejected")
    );
    conn.close().await?;
    Ok(())
}

#[tokio::test]
async fn a_queue_declared_with_other_arguments_fails_start_and_leaves_nothing_running() -> TestResult
{
    let svc = unique("mismatch");
    let stream = unique("mismatch");
    let name = unique("mismatch-conn");
    let queue = format!("{stream}.topic.exchange.queue.{svc}");
    // Another instance declared the queue without single active consumer.
    broker().management_put(
        &format!("/api/queues/%2f/{queue}"),
        &json!({"durable": true, "arguments": {"x-queue-type": "quorum", "x-expires": 432_000_000}}),
    )?;
    let (h, _rx) = forward::<Value>();
    let started = builder(&svc)
        .connection_name(&name)
        .stream_consumer(&stream, "K", h)
        .start()
        .await;
    match started {
        Err(messaging_amqp::Error::Declare { what, source }) => {
            assert_eq!(what, format!("queue {queue}"));
            assert!(
                source.to_string().contains("PRECONDITION_FAILED"),
                "{source}"
            );
        }
        other => panic!("expected a declare error, got {other:?}"),
    }
    let ours = || {
        mgmt("/api/connections").as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["client_properties"]["connection_name"] == name.as_str())
        })
    };
    eventually("the failed start's connection to be closed", || !ours()).await;
    broker().management_delete(&format!("/api/queues/%2f/{queue}"))?;
    Ok(())
}
