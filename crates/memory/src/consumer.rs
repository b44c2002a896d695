//! One instance's side of a consumer: take the next message when a handler slot is free,
//! run the handler (panics caught, in-progress acks while it runs), settle it with the
//! core's decision table.

use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};
use std::time::Duration;

use messaging_core::erased::ErasedEvent;
use messaging_core::{
    ConsumerGroup, DeadLetterReason, DeadLetterRecord, DeadLetterTarget, DedupFilter, Outcome,
    Route, Settlement, dispatch,
};
use messaging_spec::{DeliveryInfo, RoutingTable, StreamName};
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;

use crate::broker::state::{Delivery, Fetch, Settled, State};
use crate::connection::Shared;

/// Everything one instance needs to consume from one consumer.
pub(crate) struct GroupRuntime {
    shared: Arc<Shared>,
    stream: StreamName,
    consumer: String,
    /// `DeliveryInfo.destination`: the durable name, or `<service>-transient`.
    label: String,
    routes: RoutingTable<Route<dyn ErasedEvent>>,
    backoff: Vec<Duration>,
    max_deliver: Option<i64>,
    concurrency: usize,
    notify: Arc<Notify>,
    dead_letter: Option<DeadLetterTarget>,
    /// The duplicate filter by `ce-id`: this instance's, or with `deduplicate_shared` the
    /// one every instance of the service on this broker shares.
    dedup: Option<Arc<DedupFilter>>,
}

impl GroupRuntime {
    pub(crate) fn new(
        shared: Arc<Shared>,
        group: ConsumerGroup,
        stream: StreamName,
        consumer: String,
        label: String,
        notify: Arc<Notify>,
    ) -> Self {
        let dedup = group.options.get_deduplicate().map(|d| {
            if d.shared {
                shared
                    .broker
                    .lock()
                    .shared_filter(shared.service.as_str(), &label, d.window)
            } else {
                Arc::new(DedupFilter::new(d.window))
            }
        });
        Self {
            dedup,
            shared,
            stream,
            consumer,
            label,
            backoff: group.options.get_backoff().to_vec(),
            max_deliver: group.options.get_max_deliver(),
            concurrency: group.options.effective_concurrency(),
            routes: group.routes,
            notify,
            dead_letter: None,
        }
    }

    /// Dead-letters what this consumer gives up on to `target`.
    pub(crate) fn dead_letter(mut self, target: Option<DeadLetterTarget>) -> Self {
        self.dead_letter = target;
        self
    }

    /// Delivers until shutdown: one message per free handler slot, so instances sharing
    /// a durable split its messages between them, each message to one.
    pub(crate) async fn run(self: Arc<Self>) {
        let shutdown = self.shared.shutdown.clone();
        if self.concurrency == 1 {
            // One at a time: run it here, no task hop per message. `close()` waits for
            // this loop as it waits for handler tasks.
            while let Some(delivery) = self.next().await {
                self.dispatch(delivery).await;
            }
            return;
        }
        let semaphore = Arc::new(Semaphore::new(self.concurrency));
        loop {
            let permit = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                p = Arc::clone(&semaphore).acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let Some(delivery) = self.next().await else {
                break;
            };
            let rt = Arc::clone(&self);
            self.shared.tracker.spawn(async move {
                rt.dispatch(delivery).await;
                drop(permit);
            });
        }
    }

    /// The next message, waiting for a publish, a nak delay or an AckWait to expire.
    async fn next(&self) -> Option<Delivery> {
        let shutdown = &self.shared.shutdown;
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if shutdown.is_cancelled() {
                return None;
            }
            let broker = &self.shared.broker;
            let fetched = broker
                .lock()
                .fetch(self.stream.as_str(), &self.consumer, Instant::now());
            let wake = match fetched {
                Fetch::Message(d) => {
                    broker.changed();
                    return Some(d);
                }
                Fetch::Gone => return None,
                Fetch::Wait { wake, changed } => {
                    if changed {
                        broker.changed();
                    }
                    wake
                }
            };
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return None,
                () = &mut notified => {}
                () = until(wake) => {}
            }
        }
    }

    async fn dispatch(&self, d: Delivery) {
        let start = Instant::now();
        let stream = self.stream.as_str();
        let key = d.msg.routing_key.as_str();
        let info =
            DeliveryInfo::new(self.label.as_str(), stream, key).with_headers(d.msg.headers.clone());
        let id = self
            .dedup
            .as_ref()
            .and_then(|_| info.headers.get_str(messaging_spec::CE_ID))
            .map(str::to_owned);
        if let (Some(filter), Some(id)) = (&self.dedup, &id) {
            let action = filter.begin(id).settlement();
            if let Some(action) = action {
                tracing::debug!(consumer = %self.label, routing_key = %key, id = %id, ?action, "duplicate not handled");
                self.settle_unhandled(&d, action);
                return;
            }
        }
        let metadata = dispatch::metadata_for(&info.headers, &info);
        let report = self.shared.observer.wants().then(|| info.clone());
        let (outcome, error) = match self.routes.route(key) {
            None => (
                Outcome::NoHandler,
                Some(messaging_core::Error::NoHandler {
                    routing_key: key.to_owned(),
                }),
            ),
            Some(route) => {
                let fut = route.handler.call(metadata, info, d.msg.body.clone());
                let period = Some(messaging_core::dispatch::keep_alive_period(
                    self.shared.timing.ack_wait(),
                ));
                let guarded = dispatch::run_guarded(fut, period, || {
                    self.progress(&d);
                    std::future::ready(())
                });
                let result = tokio::select! {
                    biased;
                    () = self.shared.killed.cancelled() => {
                        // A crash: the id was not handled, and must not stay "running".
                        if let (Some(filter), Some(id)) = (&self.dedup, &id) {
                            filter.finish(id, false);
                        }
                        return;
                    }
                    r = guarded => r,
                };
                dispatch::classify(result, key)
            }
        };
        if let (Some(filter), Some(id)) = (&self.dedup, &id) {
            filter.finish(id, outcome == Outcome::Handled);
        }
        let (action, error) = match &self.dead_letter {
            None => (
                messaging_core::decide(outcome, d.delivered, &self.backoff),
                error,
            ),
            Some(_) => {
                let action = messaging_core::decide_with_limit(
                    outcome,
                    d.delivered,
                    &self.backoff,
                    self.max_deliver,
                );
                (action, error)
            }
        };
        let mut dead_lettered = None;
        let settled = if let Some(mut broker) = self.live_broker() {
            if let (Some(target), Settlement::Reject, Some(e), Some(reason)) = (
                &self.dead_letter,
                action,
                &error,
                DeadLetterReason::for_outcome(outcome),
            ) {
                // Published and settled under one lock: nothing is lost between the two.
                let record = DeadLetterRecord::new(
                    reason,
                    &e.to_string(),
                    &d.msg.subject,
                    stream,
                    d.msg.sequence,
                    &self.label,
                    self.shared.service.as_str(),
                    d.delivered,
                );
                let subject = target.subject(&d.msg.subject);
                let mut headers = d.msg.headers.clone();
                for (name, value) in record.headers() {
                    headers.insert(name, value);
                }
                headers.insert("Nats-Msg-Id", record.message_id());
                let key = subject
                    .strip_prefix(target.stream.as_str())
                    .and_then(|k| k.strip_prefix('.'))
                    .unwrap_or(&subject)
                    .to_owned();
                let stored = broker.publish_stream(
                    target.stream.as_str(),
                    subject.clone(),
                    key,
                    headers,
                    d.msg.body.clone(),
                    Some(&record.message_id()),
                    Instant::now(),
                );
                if stored.is_some() {
                    dead_lettered = Some((subject, reason));
                }
            }
            self.settle_in(&mut broker, &d, action)
        } else {
            Settled::Stale
        };
        let error = match (dead_lettered, error) {
            (Some((subject, reason)), Some(source)) => Some(messaging_core::Error::DeadLettered {
                routing_key: key.to_owned(),
                subject,
                reason,
                source: Box::new(source),
            }),
            (_, error) => error,
        };
        let elapsed = start.elapsed();
        match (&error, action) {
            (None, _) => {
                tracing::debug!(consumer = %self.label, routing_key = %key, ?elapsed, "message processed");
            }
            (Some(e), Settlement::Retry(delay)) => {
                tracing::error!(consumer = %self.label, routing_key = %key, error = %e, ?delay, delivered = d.delivered, exhausted = settled == Settled::Exhausted, "handler failed, naking for redelivery");
            }
            (Some(e), _) => {
                tracing::warn!(consumer = %self.label, routing_key = %key, error = %e, "terminating message");
            }
        }
        if settled == Settled::Stale {
            tracing::debug!(consumer = %self.label, routing_key = %key, "settlement dropped: the delivery is no longer ours");
        }
        if let Some(info) = report {
            match error {
                None => self.shared.observer.success(info, elapsed),
                Some(e) => self.shared.observer.failure(e, info, elapsed),
            }
        }
        // Waiters look only now, so a test that saw the ack also finds the notification.
        self.shared.broker.changed();
    }

    /// Settles a delivery no handler saw (a duplicate), unless this instance is gone.
    fn settle_unhandled(&self, d: &Delivery, action: Settlement) {
        if let Some(mut broker) = self.live_broker() {
            self.settle_in(&mut broker, d, action);
            drop(broker);
            self.shared.broker.changed();
        }
    }

    /// An in-progress ack, unless this instance is gone.
    fn progress(&self, d: &Delivery) {
        if let Some(mut broker) = self.live_broker() {
            let stream = self.stream.as_str();
            broker.progress(stream, &self.consumer, d.msg.uid, d.lease, Instant::now());
        }
    }

    /// Settles `d` as this consumer, now.
    fn settle_in(&self, broker: &mut State, d: &Delivery, action: Settlement) -> Settled {
        let stream = self.stream.as_str();
        broker.settle(
            stream,
            &self.consumer,
            d.msg.uid,
            d.lease,
            action,
            Instant::now(),
        )
    }

    /// The broker's state to settle with, or `None` once this instance is gone: its
    /// leases were released and may belong to another instance by now.
    fn live_broker(&self) -> Option<MutexGuard<'_, State>> {
        (!self.shared.abandoned.load(Ordering::Acquire)).then(|| self.shared.broker.lock())
    }
}

/// Completes at `at`; never without one.
async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
