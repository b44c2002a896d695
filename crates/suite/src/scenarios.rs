//! The scenarios. Each one starts its own services with unique names and routing keys, so
//! scenarios can share one broker and run in parallel; each panics with a message naming
//! the transport when the behaviour differs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use messaging_core::{
    ConsumerOptions, Error as CoreError, EventPublisher, Requester, Setup, TransportError,
};
use messaging_spec::{ConsumableEvent, HandlerError};
use serde::{Deserialize, Serialize};

use crate::harness::{Harness, Started};
use crate::wait::Inbox;

pub use crate::dead_letters::dead_letter_exhausted;

/// The event every scenario publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Its id.
    pub id: u64,
}

/// A request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    /// Amount to charge.
    pub cents: u64,
}

/// A reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// What was charged.
    pub charged: u64,
}

/// A fresh token, so services, keys and queues of one run never meet another's.
pub(crate) fn token() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("t{}", &id[..10])
}

/// A handler that reports `(routing key, order id)`.
pub(crate) fn recorder(
    inbox: &Inbox<(String, u64)>,
) -> impl Fn(ConsumableEvent<Order>) -> std::future::Ready<Result<(), HandlerError>>
+ Send
+ Sync
+ Clone
+ 'static {
    let tx = inbox.tx.clone();
    move |ev: ConsumableEvent<Order>| {
        let _ = tx.send((ev.delivery_info.key.clone(), ev.payload.id));
        std::future::ready(Ok(()))
    }
}

pub(crate) async fn start<H: Harness>(
    h: &H,
    service: &str,
    setups: Vec<Setup>,
) -> Started<H::Conn> {
    match h.start(service, setups).await {
        Ok(s) => s,
        Err(e) => panic!("[{}] starting {service}: {e}", h.name()),
    }
}

pub(crate) async fn publish<P: EventPublisher>(name: &str, p: &P, key: &str, id: u64) {
    if let Err(e) = p.publish_event(key, &Order { id }).await {
        panic!("[{name}] publishing {key} #{id}: {e}");
    }
}

pub(crate) async fn close<H: Harness>(h: &H, s: Started<H::Conn>) {
    if let Err(e) = h.close(s.conn).await {
        panic!("[{}] close: {e}", h.name());
    }
}

pub(crate) fn events<H: Harness>(h: &H, s: &Started<H::Conn>) -> H::Events {
    h.events(&s.conn)
        .unwrap_or_else(|e| panic!("[{}] event publisher: {e}", h.name()))
}

/// An event published by one service reaches a durable consumer of another, with the
/// CloudEvents metadata the spec requires.
pub async fn publish_then_consume<H: Harness>(h: &H) {
    let t = token();
    let key = format!("{t}.Order.Created");
    let seen = Arc::new(std::sync::Mutex::new(None));
    let inbox = Inbox::<(String, u64)>::default();
    let tx = inbox.tx.clone();
    let meta = Arc::clone(&seen);
    let handler = move |ev: ConsumableEvent<Order>| {
        if let Ok(mut m) = meta.lock() {
            *m = Some((ev.metadata.source.clone(), ev.metadata.type_.clone()));
        }
        let _ = tx.send((ev.delivery_info.key.clone(), ev.payload.id));
        std::future::ready(Ok::<_, HandlerError>(()))
    };
    let mut inbox = inbox;
    let consumer = start(
        h,
        &format!("{t}-notify"),
        vec![Setup::event_consumer(key.clone(), handler)],
    )
    .await;
    let producer = start(h, &format!("{t}-orders"), vec![Setup::event_publisher()]).await;
    publish(h.name(), &events(h, &producer), &key, 1).await;
    assert_eq!(
        inbox.next("the event").await,
        (key.clone(), 1),
        "[{}]",
        h.name()
    );
    let meta = seen.lock().map(|m| m.clone()).unwrap_or_default();
    assert_eq!(
        meta,
        Some((format!("{t}-orders"), key)),
        "[{}] ce-source / ce-type",
        h.name()
    );
    close(h, consumer).await;
    close(h, producer).await;
}

/// Two services consuming the same key each get every event.
pub async fn fan_out<H: Harness>(h: &H) {
    let t = token();
    let key = format!("{t}.Order.Created");
    let mut a = Inbox::default();
    let mut b = Inbox::default();
    let ca = start(
        h,
        &format!("{t}-a"),
        vec![Setup::event_consumer(key.clone(), recorder(&a))],
    )
    .await;
    let cb = start(
        h,
        &format!("{t}-b"),
        vec![Setup::event_consumer(key.clone(), recorder(&b))],
    )
    .await;
    let p = start(h, &format!("{t}-p"), vec![Setup::event_publisher()]).await;
    let events = events(h, &p);
    publish(h.name(), &events, &key, 1).await;
    publish(h.name(), &events, &key, 2).await;
    for inbox in [&mut a, &mut b] {
        let mut ids = vec![
            inbox.next("fan-out #1").await.1,
            inbox.next("fan-out #2").await.1,
        ];
        ids.sort_unstable();
        assert_eq!(ids, vec![1, 2], "[{}] each service gets both", h.name());
    }
    for s in [ca, cb, p] {
        close(h, s).await;
    }
}

/// `*` matches one token, `#` one or more; non-matching keys never arrive (checked with a
/// sentinel published after them).
pub async fn wildcards<H: Harness>(h: &H) {
    let t = token();
    let mut star = Inbox::default();
    let mut hash = Inbox::default();
    let cs = start(
        h,
        &format!("{t}-star"),
        vec![Setup::event_consumer(
            format!("{t}.*.Created"),
            recorder(&star),
        )],
    )
    .await;
    let ch = start(
        h,
        &format!("{t}-hash"),
        vec![Setup::event_consumer(
            format!("{t}.Order.#"),
            recorder(&hash),
        )],
    )
    .await;
    let p = start(h, &format!("{t}-p"), vec![Setup::event_publisher()]).await;
    let events = events(h, &p);
    publish(h.name(), &events, &format!("{t}.Order.Created"), 1).await; // both
    publish(h.name(), &events, &format!("{t}.Order.Line.Created"), 2).await; // hash only
    publish(h.name(), &events, &format!("{t}.Invoice.Sent"), 3).await; // neither
    publish(h.name(), &events, &format!("{t}.Invoice.Created"), 4).await; // star only: sentinel
    publish(h.name(), &events, &format!("{t}.Order.Done"), 5).await; // hash only: sentinel
    assert_eq!(star.next("star #1").await.1, 1, "[{}]", h.name());
    assert_eq!(
        star.next("star sentinel").await.1,
        4,
        "[{}] `*` is one token",
        h.name()
    );
    let mut got = vec![
        hash.next("hash").await.1,
        hash.next("hash").await.1,
        hash.next("hash").await.1,
    ];
    got.sort_unstable();
    assert_eq!(
        got,
        vec![1, 2, 5],
        "[{}] `#` is one or more tokens",
        h.name()
    );
    assert!(
        star.drain().is_empty() && hash.drain().is_empty(),
        "[{}] extra deliveries",
        h.name()
    );
    for s in [cs, ch, p] {
        close(h, s).await;
    }
}

/// Several keys of one service on one consumer, each routed to its own handler.
pub async fn grouped_keys<H: Harness>(h: &H) {
    let t = token();
    let mut created = Inbox::default();
    let mut paid = Inbox::default();
    let c = start(
        h,
        &format!("{t}-svc"),
        vec![
            Setup::event_consumer(format!("{t}.Order.Created"), recorder(&created)),
            Setup::event_consumer(format!("{t}.Order.Paid"), recorder(&paid)),
        ],
    )
    .await;
    let p = start(h, &format!("{t}-p"), vec![Setup::event_publisher()]).await;
    let events = events(h, &p);
    publish(h.name(), &events, &format!("{t}.Order.Paid"), 2).await;
    publish(h.name(), &events, &format!("{t}.Order.Created"), 1).await;
    assert_eq!(
        created.next("created").await,
        (format!("{t}.Order.Created"), 1)
    );
    assert_eq!(paid.next("paid").await, (format!("{t}.Order.Paid"), 2));
    close(h, c).await;
    close(h, p).await;
}

/// A transient consumer receives what is published while it runs.
pub async fn transient<H: Harness>(h: &H) {
    let t = token();
    let key = format!("{t}.Live");
    let mut inbox = Inbox::default();
    let c = start(
        h,
        &format!("{t}-dash"),
        vec![Setup::transient_event_consumer(
            key.clone(),
            recorder(&inbox),
        )],
    )
    .await;
    let p = start(h, &format!("{t}-p"), vec![Setup::event_publisher()]).await;
    publish(h.name(), &events(h, &p), &key, 7).await;
    assert_eq!(inbox.next("transient").await, (key, 7), "[{}]", h.name());
    close(h, c).await;
    close(h, p).await;
}

fn billing_setup(key: &str) -> Setup {
    Setup::request_handler(key.to_owned(), |ev: ConsumableEvent<Charge>| async move {
        if ev.payload.cents == 0 {
            return Err(HandlerError::reject("nothing to charge"));
        }
        Ok::<_, HandlerError>(Receipt {
            charged: ev.payload.cents,
        })
    })
}

/// A typed request gets its typed reply; concurrent requests each get their own.
pub async fn request_reply<H: Harness>(h: &H) {
    let t = token();
    let key = format!("{t}.Charge");
    let billing = start(h, &format!("{t}-billing"), vec![billing_setup(&key)]).await;
    let caller = start(
        h,
        &format!("{t}-shop"),
        vec![Setup::service_publisher(format!("{t}-billing"))],
    )
    .await;
    let calls = h
        .calls(&caller.conn, &format!("{t}-billing"))
        .unwrap_or_else(|e| panic!("[{}] service publisher: {e}", h.name()));
    let one: Receipt = calls
        .send_request(&key, &Charge { cents: 500 })
        .await
        .unwrap_or_else(|e| panic!("[{}] request: {e}", h.name()));
    assert_eq!(one, Receipt { charged: 500 }, "[{}]", h.name());
    let many = (1..=8u64).map(|c| {
        let calls = calls.clone();
        let key = key.clone();
        async move {
            calls
                .send_request::<_, Receipt>(&key, &Charge { cents: c })
                .await
        }
    });
    let replies = futures::future::join_all(many).await;
    for (i, r) in replies.into_iter().enumerate() {
        let want = u64::try_from(i).unwrap_or_default() + 1;
        match r {
            Ok(r) => assert_eq!(
                r.charged,
                want,
                "[{}] concurrent reply {i} mixed up",
                h.name()
            ),
            Err(e) => panic!("[{}] concurrent request {i}: {e}", h.name()),
        }
    }
    close(h, caller).await;
    close(h, billing).await;
}

/// A handler's error reaches the caller as a remote error with the handler's text.
pub async fn remote_error<H: Harness>(h: &H) {
    let t = token();
    let key = format!("{t}.Charge");
    let billing = start(h, &format!("{t}-billing"), vec![billing_setup(&key)]).await;
    let caller = start(
        h,
        &format!("{t}-shop"),
        vec![Setup::service_publisher(format!("{t}-billing"))],
    )
    .await;
    let calls = h
        .calls(&caller.conn, &format!("{t}-billing"))
        .unwrap_or_else(|e| panic!("[{}] service publisher: {e}", h.name()));
    match calls
        .send_request::<_, Receipt>(&key, &Charge { cents: 0 })
        .await
    {
        Err(e) => assert_eq!(
            e.remote_message(),
            Some("nothing to charge"),
            "[{}] {e}",
            h.name()
        ),
        Ok(r) => panic!("[{}] a refused request was answered: {r:?}", h.name()),
    }
    close(h, caller).await;
    close(h, billing).await;
}

/// A body the handler cannot decode is settled once with an `Undecodable` notification,
/// and the consumer goes on to the next message.
pub async fn decode_failure<H: Harness>(h: &H) {
    let t = token();
    let key = format!("{t}.Order.Created");
    let mut inbox = Inbox::default();
    let mut c = start(
        h,
        &format!("{t}-svc"),
        vec![Setup::event_consumer(key.clone(), recorder(&inbox))],
    )
    .await;
    let p = start(h, &format!("{t}-p"), vec![Setup::event_publisher()]).await;
    let events = events(h, &p);
    if let Err(e) = events.publish_event(&key, "not an order").await {
        panic!("[{}] publishing a bad body: {e}", h.name());
    }
    publish(h.name(), &events, &key, 2).await;
    let n = tokio::time::timeout(crate::WAIT, c.errors.recv())
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("[{}] no error notification", h.name()));
    assert!(
        matches!(n.error.downcast_ref::<CoreError>(), Some(CoreError::Undecodable { routing_key, .. }) if *routing_key == key),
        "[{}] want Undecodable, got {:?}",
        h.name(),
        n.error
    );
    assert_eq!(inbox.next("the good event").await.1, 2, "[{}]", h.name());
    // The bad one is not redelivered: only one notification.
    close(h, c).await;
    close(h, p).await;
}

/// A retryable failure is redelivered (after the backoff) until the handler succeeds.
pub async fn handler_retry<H: Harness>(h: &H) {
    let t = token();
    let key = format!("{t}.Order.Created");
    let calls = Arc::new(AtomicU32::new(0));
    let mut inbox = Inbox::default();
    let tx = inbox.tx.clone();
    let n = Arc::clone(&calls);
    let handler = move |ev: ConsumableEvent<Order>| {
        let attempt = n.fetch_add(1, Ordering::SeqCst) + 1;
        let _ = tx.send((ev.delivery_info.key, u64::from(attempt)));
        std::future::ready(if attempt < 3 {
            Err(HandlerError::retry("not yet"))
        } else {
            Ok(())
        })
    };
    let options = ConsumerOptions::new()
        .backoff([Duration::from_millis(50)])
        .max_deliver(5);
    let c = start(
        h,
        &format!("{t}-svc"),
        vec![Setup::event_consumer(key.clone(), handler).options(options)],
    )
    .await;
    let p = start(h, &format!("{t}-p"), vec![Setup::event_publisher()]).await;
    publish(h.name(), &events(h, &p), &key, 1).await;
    for want in 1..=3 {
        assert_eq!(inbox.next("attempt").await.1, want, "[{}]", h.name());
    }
    close(h, c).await;
    close(h, p).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "[{}] no delivery after success",
        h.name()
    );
}

/// A panicking handler does not take the service down: the message is retried.
pub async fn panics<H: Harness>(h: &H) {
    let t = token();
    let key = format!("{t}.Order.Created");
    let calls = Arc::new(AtomicU32::new(0));
    let mut inbox = Inbox::default();
    let tx = inbox.tx.clone();
    let n = Arc::clone(&calls);
    let handler = move |ev: ConsumableEvent<Order>| {
        let attempt = n.fetch_add(1, Ordering::SeqCst) + 1;
        assert!(attempt > 1, "handler panics on its first attempt");
        let _ = tx.send((ev.delivery_info.key.clone(), ev.payload.id));
        std::future::ready(Ok::<_, HandlerError>(()))
    };
    let mut c = start(
        h,
        &format!("{t}-svc"),
        vec![Setup::event_consumer(key.clone(), handler)],
    )
    .await;
    let p = start(h, &format!("{t}-p"), vec![Setup::event_publisher()]).await;
    publish(h.name(), &events(h, &p), &key, 9).await;
    assert_eq!(inbox.next("after the panic").await.1, 9, "[{}]", h.name());
    let n = tokio::time::timeout(crate::WAIT, c.errors.recv())
        .await
        .ok()
        .flatten();
    assert!(
        matches!(
            n.as_ref().and_then(|n| n.error.downcast_ref::<CoreError>()),
            Some(CoreError::Panicked { .. })
        ),
        "[{}] want a Panicked notification, got {n:?}",
        h.name()
    );
    close(h, c).await;
    close(h, p).await;
}

/// `close()` waits for a handler in flight, which settles its message: a new instance
/// of the service does not get it again (checked with a sentinel).
pub async fn close_with_work_in_flight<H: Harness>(h: &H) {
    let t = token();
    let key = format!("{t}.Order.Created");
    let service = format!("{t}-svc");
    let mut started = Inbox::default();
    let finished = Arc::new(AtomicU32::new(0));
    let tx = started.tx.clone();
    let done = Arc::clone(&finished);
    let slow = move |ev: ConsumableEvent<Order>| {
        let tx = tx.clone();
        let done = Arc::clone(&done);
        async move {
            let _ = tx.send((ev.delivery_info.key.clone(), ev.payload.id));
            tokio::time::sleep(Duration::from_millis(300)).await;
            done.fetch_add(1, Ordering::SeqCst);
            Ok::<_, HandlerError>(())
        }
    };
    let c = start(h, &service, vec![Setup::event_consumer(key.clone(), slow)]).await;
    let p = start(h, &format!("{t}-p"), vec![Setup::event_publisher()]).await;
    let events = events(h, &p);
    publish(h.name(), &events, &key, 1).await;
    assert_eq!(started.next("handler started").await.1, 1);
    close(h, c).await;
    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "[{}] close returned before the handler finished",
        h.name()
    );

    let mut again = Inbox::default();
    let c2 = start(
        h,
        &service,
        vec![Setup::event_consumer(key.clone(), recorder(&again))],
    )
    .await;
    publish(h.name(), &events, &key, 2).await;
    assert_eq!(
        again.next("sentinel").await.1,
        2,
        "[{}] the handled message came back",
        h.name()
    );
    close(h, c2).await;
    close(h, p).await;
}

/// Queue publish where the transport has it; a typed refusal before any I/O elsewhere.
pub async fn queue_publish<H: Harness>(h: &H) {
    let t = token();
    if !h.capabilities().queue_publish {
        match h
            .start(
                &format!("{t}-p"),
                vec![Setup::queue_publisher(format!("{t}-tasks"))],
            )
            .await
        {
            Err(e) => assert!(
                e.to_string().contains("queue publish"),
                "[{}] {e}",
                h.name()
            ),
            Ok(_) => panic!("[{}] accepted a queue publisher it cannot serve", h.name()),
        }
        return;
    }
    // The destination is a service's durable queue: the consumer declares it.
    let mut inbox = Inbox::default();
    let key = format!("{t}.Task");
    let c = start(
        h,
        &format!("{t}-worker"),
        vec![Setup::event_consumer(key.clone(), recorder(&inbox))],
    )
    .await;
    let queue = format!("events.topic.exchange.queue.{t}-worker");
    let p = start(
        h,
        &format!("{t}-p"),
        vec![Setup::queue_publisher(queue.clone())],
    )
    .await;
    let q = h
        .queue(&p.conn, &queue)
        .unwrap_or_else(|e| panic!("[{}] queue publisher: {e}", h.name()));
    publish(h.name(), &q, &key, 3).await;
    assert_eq!(
        inbox.next("queue publish").await,
        (key, 3),
        "[{}]",
        h.name()
    );
    close(h, c).await;
    close(h, p).await;
}

/// Wildcard request keys where the transport routes them; a refusal before I/O elsewhere.
pub async fn wildcard_requests<H: Harness>(h: &H) {
    let t = token();
    let setups = vec![billing_setup(&format!("{t}.Charge.*"))];
    match h.start(&format!("{t}-billing"), setups).await {
        Ok(s) => {
            assert!(
                h.capabilities().wildcard_requests,
                "[{}] accepted a wildcard request key",
                h.name()
            );
            close(h, s).await;
        }
        Err(e) => {
            assert!(
                !h.capabilities().wildcard_requests,
                "[{}] refused a wildcard request key: {e}",
                h.name()
            );
            assert!(e.to_string().contains("wildcard"), "[{}] {e}", h.name());
        }
    }
}
