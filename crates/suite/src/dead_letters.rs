//! Dead-lettering, the same on every transport: what a consumer gives up on is settled
//! once, reported as `DeadLettered` with the reason, and never delivered again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use messaging_core::{
    ConsumerOptions, DEFAULT_DEAD_LETTER_STREAM, DeadLetterReason, Error as CoreError, Setup,
};
use messaging_spec::{ConsumableEvent, HandlerError};

use crate::harness::Harness;
use crate::scenarios::{Order, close, events, publish, recorder, start, token};
use crate::wait::Inbox;

/// A handler that always fails, with `max_deliver(2)` and `dead_letter`: two deliveries,
/// then one `DeadLettered { reason: Exhausted }` notification, and a later event on
/// another key of the same service is handled as usual. (On AMQP the destination is an
/// exchange the caller declares; the notification does not depend on it.)
pub async fn dead_letter_exhausted<H: Harness>(h: &H) {
    let t = token();
    let poison = format!("{t}.Order.Poison");
    let good = format!("{t}.Order.Created");
    let calls = Arc::new(AtomicU32::new(0));
    let n = Arc::clone(&calls);
    let failing = move |_ev: ConsumableEvent<Order>| {
        n.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Err::<(), _>(HandlerError::retry("always down")))
    };
    let options = ConsumerOptions::new()
        .max_deliver(2)
        .backoff([Duration::from_millis(20)])
        .dead_letter(DEFAULT_DEAD_LETTER_STREAM);
    let mut inbox = Inbox::default();
    let mut c = start(
        h,
        &format!("{t}-svc"),
        vec![
            Setup::event_consumer(poison.clone(), failing).options(options.clone()),
            Setup::event_consumer(good.clone(), recorder(&inbox)).options(options),
        ],
    )
    .await;
    let p = start(h, &format!("{t}-p"), vec![Setup::event_publisher()]).await;
    let events = events(h, &p);
    publish(h.name(), &events, &poison, 1).await;
    let dead = loop {
        let n = tokio::time::timeout(crate::WAIT, c.errors.recv())
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("[{}] no DeadLettered notification", h.name()));
        if let Some(CoreError::DeadLettered {
            routing_key,
            reason,
            source,
            ..
        }) = n.error.downcast_ref::<CoreError>()
        {
            break (routing_key.clone(), *reason, source.to_string());
        }
    };
    assert_eq!(
        (dead.0.as_str(), dead.1),
        (poison.as_str(), DeadLetterReason::Exhausted),
        "[{}]",
        h.name()
    );
    assert!(dead.2.contains("always down"), "[{}] {}", h.name(), dead.2);
    publish(h.name(), &events, &good, 2).await;
    assert_eq!(inbox.next("the good event").await.1, 2, "[{}]", h.name());
    close(h, c).await;
    close(h, p).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "[{}] two deliveries, then dead-lettered",
        h.name()
    );
}
