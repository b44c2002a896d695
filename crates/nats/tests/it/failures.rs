//! Failure paths: undecodable bodies, keys without a handler, handler errors and panics,
//! invalid registrations and settings, and publishes that cannot succeed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use messaging_nats::async_nats::{self, jetstream};
use messaging_nats::{Connection, ConnectionBuilder, ConsumerOptions, Error, Publisher, Setup};
use messaging_spec::{ConsumableEvent, ErrorNotification, HandlerError, NameKind};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;

use crate::support::{self, TestResult};

type SpecError = messaging_spec::Error;
type CoreError = messaging_nats::messaging_core::Error;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Order {
    id: u64,
}

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The transport error inside an error notification.
fn nats_error(n: &ErrorNotification) -> &CoreError {
    match n.error.downcast_ref::<CoreError>() {
        Some(e) => e,
        None => panic!(
            "notification error is not a messaging_core::Error: {:?}",
            n.error
        ),
    }
}

async fn ignore(_ev: ConsumableEvent<Value>) -> Result<(), HandlerError> {
    Ok(())
}

/// The server's advisories of one `kind` (`MSG_TERMINATED`, `MAX_DELIVERIES`) for
/// `consumer` on `stream`: the only outside proof that a message was terminated rather
/// than acked. The client is returned too, to keep the subscription alive.
async fn advisories(
    server: &messaging_testkit::NatsServer,
    kind: &str,
    stream: &str,
    consumer: &str,
) -> (async_nats::Client, async_nats::Subscriber) {
    let client = support::raw_client(server).await;
    let subject = format!("$JS.EVENT.ADVISORY.CONSUMER.{kind}.{stream}.{consumer}");
    let sub = match client.subscribe(subject).await {
        Ok(s) => s,
        Err(e) => panic!("subscribing to advisories: {e}"),
    };
    if let Err(e) = client.flush().await {
        panic!("flushing the advisory subscription: {e}");
    }
    (client, sub)
}

/// The next advisory's `(stream_seq, deliveries)`, within the support timeout.
async fn next_advisory(sub: &mut async_nats::Subscriber) -> (u64, u64) {
    let Some(msg) = support::bounded(sub.next()).await else {
        panic!("advisory subscription closed");
    };
    let v: Value = match serde_json::from_slice(&msg.payload) {
        Ok(v) => v,
        Err(e) => panic!("advisory is not JSON: {e}"),
    };
    let num = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or_default();
    (num("stream_seq"), num("deliveries"))
}

#[tokio::test]
async fn undecodable_bodies_are_terminated_and_reported() -> TestResult {
    let server = support::server();
    let (errors_tx, mut errors) = mpsc::channel(16);
    let (handler, mut handled) = support::forward::<Order>();
    let _orders = support::start(
        support::builder(&server, "orders")
            .error_notifications(errors_tx)
            .event_consumer("Order.Created", handler),
    )
    .await;
    let (_client, mut terminated) = advisories(&server, "MSG_TERMINATED", "events", "orders").await;
    let shop = support::start(support::builder(&server, "shop").event_publisher()).await;
    let events = shop.event_publisher()?;
    let js = support::raw_js(&server).await;

    let bodies: [&'static [u8]; 2] = [b"not json", br#"{"wrong":"shape"}"#];
    for (delivered, body) in (1u64..).zip(bodies) {
        events.publish_raw("Order.Created", body).await?;
        let n = support::recv(&mut errors).await;
        match nats_error(&n) {
            CoreError::Undecodable {
                routing_key,
                source: SpecError::ParseJson(_),
            } => assert_eq!(routing_key, "Order.Created"),
            other => panic!("expected Undecodable, got {other:?}"),
        }
        assert_eq!(n.delivery_info.key, "Order.Created");
        assert_eq!(n.delivery_info.destination, "orders");
        assert_eq!(n.delivery_info.source, "events");
        assert_eq!(next_advisory(&mut terminated).await, (delivered, 1));
        // Terminated: nothing left to ack, and no delivery beyond the one per message.
        let info = support::settled(&js, "events", "orders").await;
        assert_eq!(info.num_redelivered, 0);
        assert_eq!(info.delivered.consumer_sequence, delivered);
    }

    events.publish("Order.Created", &Order { id: 7 }).await?;
    assert_eq!(support::recv(&mut handled).await.payload, Order { id: 7 });
    let info = support::settled(&js, "events", "orders").await;
    assert_eq!(info.delivered.consumer_sequence, 3);
    assert_eq!(info.delivered.stream_sequence, 3);
    assert_eq!(errors.try_recv().err(), Some(TryRecvError::Empty));
    Ok(())
}

/// The transport's own filters only admit keys it has handlers for, so the consumer's
/// filter is widened behind its back (as a newer instance of the service would).
#[tokio::test]
async fn key_without_handler_is_terminated_and_reported() -> TestResult {
    let server = support::server();
    let (errors_tx, mut errors) = mpsc::channel(16);
    let (orders, mut handled) = support::forward::<Value>();
    let _ledger = support::start(
        support::builder(&server, "ledger")
            .error_notifications(errors_tx)
            .event_consumer("Order.*", orders)
            .event_consumer("Payment.*", ignore),
    )
    .await;
    let js = support::raw_js(&server).await;
    let info = support::consumer_info(&js, "events", "ledger").await;
    assert_eq!(
        info.config.filter_subjects,
        ["events.Order.*", "events.Payment.*"]
    );
    let mut widened = info.config.clone();
    widened.filter_subjects.push("events.Invoice.*".to_owned());
    js.get_stream("events")
        .await?
        .update_consumer(widened)
        .await?;
    let (_client, mut terminated) = advisories(&server, "MSG_TERMINATED", "events", "ledger").await;

    let shop = support::start(support::builder(&server, "shop").event_publisher()).await;
    let events = shop.event_publisher()?;
    events.publish("Invoice.Sent", &json!({"n": 1})).await?;
    let n = support::recv(&mut errors).await;
    match nats_error(&n) {
        CoreError::NoHandler { routing_key } => assert_eq!(routing_key, "Invoice.Sent"),
        other => panic!("expected NoHandler, got {other:?}"),
    }
    assert_eq!(n.delivery_info.key, "Invoice.Sent");
    assert_eq!(next_advisory(&mut terminated).await, (1, 1));
    let info = support::settled(&js, "events", "ledger").await;
    assert_eq!(info.num_redelivered, 0);
    assert_eq!(info.delivered.consumer_sequence, 1);

    events.publish("Order.Created", &json!({"n": 2})).await?;
    let ev = support::recv(&mut handled).await;
    assert_eq!(ev.delivery_info.key, "Order.Created");
    assert_eq!(ev.payload, json!({"n": 2}));
    let info = support::settled(&js, "events", "ledger").await;
    assert_eq!(info.delivered.consumer_sequence, 2);
    assert_eq!(errors.try_recv().err(), Some(TryRecvError::Empty));
    Ok(())
}

/// A `jobs` service whose `Job.Run` handler always fails with `fail`, plus a sentinel
/// handler for `Job.Done` on the same consumer, and the advisories of `kind` for it.
struct Jobs {
    _service: Connection,
    // Dropping a connection closes its publishers too.
    _shop: Connection,
    _client: async_nats::Client,
    advisories: async_nats::Subscriber,
    errors: mpsc::Receiver<ErrorNotification>,
    calls: mpsc::UnboundedReceiver<Instant>,
    done: mpsc::UnboundedReceiver<ConsumableEvent<Value>>,
    events: Publisher,
    js: jetstream::Context,
}

impl Jobs {
    async fn start(
        server: &messaging_testkit::NatsServer,
        fail: fn() -> HandlerError,
        options: fn(Setup) -> Setup,
        kind: &str,
    ) -> Self {
        let (errors_tx, errors) = mpsc::channel(16);
        let (calls_tx, calls) = mpsc::unbounded_channel();
        let failing = move |_ev: ConsumableEvent<Value>| {
            // A closed receiver means the test stopped looking.
            let _ = calls_tx.send(Instant::now());
            std::future::ready(Err::<(), _>(fail()))
        };
        let (sentinel, done) = support::forward::<Value>();
        let service = support::start(
            support::builder(server, "jobs")
                .error_notifications(errors_tx)
                .setup(options(Setup::event_consumer("Job.Run", failing)))
                .event_consumer("Job.Done", sentinel),
        )
        .await;
        let (client, advisories) = advisories(server, kind, "events", "jobs").await;
        let shop = support::start(support::builder(server, "shop").event_publisher()).await;
        let events = match shop.event_publisher() {
            Ok(p) => p,
            Err(e) => panic!("shop publisher: {e:?}"),
        };
        Self {
            _service: service,
            _shop: shop,
            _client: client,
            advisories,
            errors,
            calls,
            done,
            events,
            js: support::raw_js(server).await,
        }
    }

    /// The next error notification, which must be a `Handler` error on `Job.Run`.
    async fn handler_error(&mut self, retry: bool) {
        let n = support::recv(&mut self.errors).await;
        match nats_error(&n) {
            CoreError::Handler {
                routing_key,
                retry: r,
                ..
            } if *r == retry => assert_eq!(routing_key, "Job.Run"),
            other => panic!("expected a Handler error with retry={retry}, got {other:?}"),
        }
    }

    /// Proves no further delivery is coming: the consumer is settled, a sentinel published
    /// afterwards is handled, and the failing handler was not called again meanwhile.
    async fn no_more_deliveries(&mut self) -> jetstream::consumer::Info {
        support::settled(&self.js, "events", "jobs").await;
        if let Err(e) = self.events.publish("Job.Done", &json!({"n": 2})).await {
            panic!("publishing the sentinel: {e:?}");
        }
        assert_eq!(
            support::recv(&mut self.done).await.delivery_info.key,
            "Job.Done"
        );
        assert_eq!(self.calls.try_recv().err(), Some(TryRecvError::Empty));
        assert_eq!(self.errors.try_recv().err(), Some(TryRecvError::Empty));
        support::settled(&self.js, "events", "jobs").await
    }
}

#[tokio::test]
async fn handler_error_is_redelivered_after_backoff_until_max_deliver() -> TestResult {
    const BACKOFF: [Duration; 2] = [ms(300), ms(600)];
    let server = support::server();
    let mut jobs = Jobs::start(
        &server,
        || HandlerError::retry("always fails"),
        |s| s.max_deliver(3).backoff(BACKOFF),
        "MAX_DELIVERIES",
    )
    .await;
    jobs.events.publish("Job.Run", &json!({"n": 1})).await?;

    let at = support::recv_n(&mut jobs.calls, 3).await;
    for (i, delay) in BACKOFF.iter().enumerate() {
        let gap = at[i + 1] - at[i];
        assert!(
            gap >= *delay,
            "retry {i} came after {gap:?}, before {delay:?}"
        );
        assert!(
            gap < *delay + Duration::from_millis(250),
            "retry {i} took {gap:?}"
        );
    }
    for _ in 0..3 {
        jobs.handler_error(true).await;
    }
    // The server gives up after the 3rd delivery.
    assert_eq!(next_advisory(&mut jobs.advisories).await, (1, 3));
    let info = jobs.no_more_deliveries().await;
    assert_eq!(info.delivered.consumer_sequence, 4);
    assert_eq!(info.delivered.stream_sequence, 2);
    Ok(())
}

#[tokio::test]
async fn rejected_message_is_delivered_once() -> TestResult {
    let server = support::server();
    let mut jobs = Jobs::start(
        &server,
        || HandlerError::reject("never valid"),
        |s| s.max_deliver(3),
        "MSG_TERMINATED",
    )
    .await;
    jobs.events.publish("Job.Run", &json!({"n": 1})).await?;

    support::recv(&mut jobs.calls).await;
    jobs.handler_error(false).await;
    assert_eq!(next_advisory(&mut jobs.advisories).await, (1, 1));
    let info = jobs.no_more_deliveries().await;
    assert_eq!(info.delivered.consumer_sequence, 2);
    Ok(())
}

#[tokio::test]
async fn panicking_handler_is_retried_and_the_consumer_survives() -> TestResult {
    let server = support::server();
    let (errors_tx, mut errors) = mpsc::channel(16);
    let (tx, mut handled) = mpsc::unbounded_channel();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let handler = move |ev: ConsumableEvent<Order>| {
        let first = counted.fetch_add(1, Ordering::SeqCst) == 0;
        let tx = tx.clone();
        async move {
            if first {
                panic!("handler exploded");
            }
            let _ = tx.send(ev.payload);
            Ok::<(), HandlerError>(())
        }
    };
    let _orders = support::start(
        support::builder(&server, "orders")
            .error_notifications(errors_tx)
            .event_consumer("Order.Created", handler),
    )
    .await;
    let shop = support::start(support::builder(&server, "shop").event_publisher()).await;
    let events = shop.event_publisher()?;

    events.publish("Order.Created", &Order { id: 1 }).await?;
    let n = support::recv(&mut errors).await;
    match nats_error(&n) {
        CoreError::Panicked {
            routing_key,
            message,
        } => {
            assert_eq!(routing_key, "Order.Created");
            assert_eq!(message, "handler exploded");
        }
        other => panic!("expected Panicked, got {other:?}"),
    }
    // The panic counted as a retry: the same message comes back.
    assert_eq!(support::recv(&mut handled).await, Order { id: 1 });
    events.publish("Order.Created", &Order { id: 2 }).await?;
    assert_eq!(support::recv(&mut handled).await, Order { id: 2 });

    let js = support::raw_js(&server).await;
    let info = support::settled(&js, "events", "orders").await;
    assert_eq!(info.delivered.consumer_sequence, 3);
    assert_eq!(info.delivered.stream_sequence, 2);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(errors.try_recv().err(), Some(TryRecvError::Empty));
    Ok(())
}

/// A payload whose `Deserialize` panics on 13: a panic outside the handler's own code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fragile(u64);

impl<'de> Deserialize<'de> for Fragile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u64::deserialize(d)?;
        assert_ne!(n, 13, "unlucky number");
        Ok(Self(n))
    }
}

#[tokio::test]
async fn panic_while_decoding_is_caught_and_nakd() -> TestResult {
    let server = support::server();
    let (errors_tx, mut errors) = mpsc::channel(16);
    let (handler, mut handled) = support::forward::<Fragile>();
    let _orders = support::start(
        support::builder(&server, "orders")
            .error_notifications(errors_tx)
            .setup(Setup::event_consumer("Order.Created", handler).max_deliver(2)),
    )
    .await;
    let (_client, mut given_up) = advisories(&server, "MAX_DELIVERIES", "events", "orders").await;
    let shop = support::start(support::builder(&server, "shop").event_publisher()).await;
    let events = shop.event_publisher()?;

    events.publish("Order.Created", &13).await?;
    // Nak'ed, not terminated: delivered twice, then the server gives up.
    for _ in 0..2 {
        let n = support::recv(&mut errors).await;
        match nats_error(&n) {
            CoreError::Panicked { routing_key, .. } => assert_eq!(routing_key, "Order.Created"),
            other => panic!("expected Panicked, got {other:?}"),
        }
    }
    assert_eq!(next_advisory(&mut given_up).await, (1, 2));

    events.publish("Order.Created", &7).await?;
    assert_eq!(support::recv(&mut handled).await.payload, Fragile(7));
    let js = support::raw_js(&server).await;
    let info = support::settled(&js, "events", "orders").await;
    assert_eq!(info.delivered.consumer_sequence, 3);
    assert_eq!(errors.try_recv().err(), Some(TryRecvError::Empty));
    Ok(())
}

#[tokio::test]
async fn panic_while_decoding_a_request_is_an_error_reply() -> TestResult {
    let server = support::server();
    let (errors_tx, mut errors) = mpsc::channel(16);
    let _billing = support::start(
        support::builder(&server, "billing")
            .error_notifications(errors_tx)
            .request_handler(
                "Billing.Charge",
                |ev: ConsumableEvent<Fragile>| async move { Ok::<_, HandlerError>(ev.payload.0) },
            ),
    )
    .await;
    let orders =
        support::start(support::builder(&server, "orders").service_publisher("billing")).await;
    let billing = orders.service_publisher("billing")?;

    match billing.request::<u64, _>("Billing.Charge", &13).await {
        Err(Error::Core(CoreError::Remote { service, .. })) => assert_eq!(service, "billing"),
        other => panic!("expected Error::Remote, got {other:?}"),
    }
    let n = support::recv(&mut errors).await;
    match nats_error(&n) {
        CoreError::Panicked { routing_key, .. } => assert_eq!(routing_key, "Billing.Charge"),
        other => panic!("expected Panicked, got {other:?}"),
    }
    // The handler is still there.
    assert_eq!(billing.request::<u64, _>("Billing.Charge", &7).await?, 7);
    Ok(())
}

/// A failed start must not leave its collectors behind, or every retry would fail with a
/// duplicate registration.
mod validation;
