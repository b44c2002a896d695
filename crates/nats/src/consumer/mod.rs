//! JetStream consumers: one pull consumer per group, a fetch loop, bounded concurrency.

mod backlog;
mod config;
mod dead_letter;
mod dedup;
mod fetch;

pub(crate) use config::create;
pub(crate) use dedup::Dedup;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;

use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::{self, AckKind};
use messaging_spec::DeliveryInfo;
use tokio::sync::Semaphore;

use crate::connection::Shared;
use crate::headers;
use crate::options::StreamConfig;
use crate::otel::SpanFacts;
use crate::plan::GroupPlan;
use backlog::Backlog;
use messaging_core::{Outcome, Settlement, dispatch};

/// Everything a running group needs.
pub(crate) struct GroupRuntime {
    pub(crate) shared: Arc<Shared>,
    pub(crate) group: Arc<GroupPlan>,
    pub(crate) stream_config: StreamConfig,
    pub(crate) label: String,
    /// Highest stream sequence seen, so a lost ephemeral resumes after it.
    pub(crate) last_sequence: AtomicU64,
    /// Server publish time (unix ns) of that message: a stream created after it is a new
    /// stream whose sequences started over.
    pub(crate) last_published: AtomicI64,
    pub(crate) backlog: Backlog,
    /// The duplicate filter, when the group asked for one.
    pub(crate) dedup: Option<Dedup>,
}

impl GroupRuntime {
    pub(crate) fn new(
        shared: Arc<Shared>,
        group: GroupPlan,
        stream_config: StreamConfig,
        label: String,
    ) -> Self {
        Self {
            shared,
            group: Arc::new(group),
            stream_config,
            label,
            last_sequence: AtomicU64::new(0),
            last_published: AtomicI64::new(0),
            backlog: Backlog::default(),
            dedup: None,
        }
    }

    /// With this duplicate filter.
    pub(crate) fn with_dedup(mut self, dedup: Option<Dedup>) -> Self {
        self.dedup = dedup;
        self
    }

    fn remember(&self, consumer: &PullConsumer) {
        if self.group.durable.is_some() {
            return;
        }
        let info = consumer.cached_info();
        if let Ok(mut map) = self.shared.ephemerals.lock() {
            map.insert(
                self.label.clone(),
                (self.group.stream.as_str().to_owned(), info.name.clone()),
            );
        }
    }

    /// Fetches into the backlog and dispatches from it until shutdown, recreating the
    /// consumer (and its stream) when the server loses it.
    pub(crate) async fn run(self, consumer: PullConsumer) {
        let _running = self.shared.loops.token();
        let this = Arc::new(self);
        this.remember(&consumer);
        let ack_wait = consumer.cached_info().config.ack_wait;
        let dispatcher = tokio::spawn(Arc::clone(&this).dispatch_loop(ack_wait));
        this.fetch_loop(consumer).await;
        if let Err(e) = dispatcher.await {
            tracing::error!(consumer = %this.label, error = %e, "dispatch loop failed");
        }
        this.shared.health.fetching(&this.label, false);
    }

    /// Hands backlog messages to handlers as permits free up, keeping waiting messages
    /// alive; on shutdown naks whatever is still waiting so another instance gets it now.
    async fn dispatch_loop(self: Arc<Self>, ack_wait: Duration) {
        let _running = self.shared.loops.token();
        let shutdown = self.shared.shutdown.clone();
        let concurrency = self.group.options.effective_concurrency();
        let semaphore = Arc::new(Semaphore::new(concurrency));
        let inline = concurrency == 1;
        let keep_alive = dispatch::keep_alive_period(ack_wait);
        let mut ticker = tokio::time::interval(keep_alive);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut kept_alive = Instant::now();
        loop {
            if inline && !shutdown.is_cancelled() {
                // One at a time with messages waiting: no select (its waiters and timer cost
                // more per message than a quick handler does); the keep-alive is due by the
                // clock instead.
                if let Some(msg) = self.backlog.pop() {
                    if kept_alive.elapsed() >= keep_alive {
                        self.keep_alive(keep_alive).await;
                        kept_alive = Instant::now();
                    }
                    self.dispatch_inline(msg, ack_wait, &mut ticker, keep_alive)
                        .await;
                    continue;
                }
            }
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                _ = ticker.tick() => self.keep_alive(keep_alive).await,
                permit = Arc::clone(&semaphore).acquire_owned(), if !self.backlog.is_empty() => {
                    let Ok(permit) = permit else { break };
                    if let Some(msg) = self.backlog.pop() {
                        if inline {
                            self.dispatch_inline(msg, ack_wait, &mut ticker, keep_alive).await;
                            drop(permit);
                        } else {
                            let rt = Arc::clone(&self);
                            self.shared.tracker.spawn(async move {
                                rt.dispatch(msg, ack_wait).await;
                                drop(permit);
                            });
                        }
                    }
                }
                () = self.backlog.ready.notified(), if self.backlog.is_empty() => {}
            }
        }
        for msg in self.backlog.drain() {
            if let Err(e) = msg.ack_with(AckKind::Nak(None)).await {
                tracing::debug!(consumer = %self.label, error = %e, "nak of buffered message failed");
            }
        }
    }

    /// One at a time: runs the handler here (no task hop per message), still keeping the
    /// backlog alive while it runs.
    async fn dispatch_inline(
        &self,
        msg: jetstream::Message,
        ack_wait: Duration,
        ticker: &mut tokio::time::Interval,
        keep_alive: Duration,
    ) {
        let handled = self.dispatch(msg, ack_wait);
        tokio::pin!(handled);
        // Polled first: a handler done at once never touches the timer.
        if futures::poll!(&mut handled).is_ready() {
            return;
        }
        loop {
            tokio::select! {
                biased;
                () = &mut handled => break,
                _ = ticker.tick() => self.keep_alive(keep_alive).await,
            }
        }
    }

    async fn keep_alive(&self, older_than: Duration) {
        for reply in self.backlog.stale(older_than) {
            if let Err(e) = self
                .shared
                .client
                .publish(reply, Bytes::from_static(b"+WPI"))
                .await
            {
                tracing::debug!(consumer = %self.label, error = %e, "progress ack failed");
            }
        }
    }

    async fn dispatch(&self, msg: jetstream::Message, ack_wait: Duration) {
        let start = Instant::now();
        let stream = self.group.stream.as_str();
        let subject = msg.subject.as_str();
        let key = subject
            .strip_prefix(stream)
            .and_then(|rest| rest.strip_prefix('.'))
            .unwrap_or(subject);
        let raw_headers = headers::from_nats(msg.headers.as_ref());
        let info = DeliveryInfo::new(self.label.as_str(), stream, key).with_headers(raw_headers);
        let metadata = dispatch::metadata_for(&info.headers, &info);
        let (delivered, sequence, published) = msg.info().map_or((1, 0, 0), |i| {
            let ns = i64::try_from(i.published.unix_timestamp_nanos()).unwrap_or(i64::MAX);
            (i.delivered, i.stream_sequence, ns)
        });
        if self.last_sequence.fetch_max(sequence, Ordering::Relaxed) < sequence {
            self.last_published.store(published, Ordering::Relaxed);
        }
        let recorder = self.shared.metrics.consumer(&self.label, key);
        recorder.received(delivered);
        // Copied only for a duplicate filter: the handler takes the headers.
        let id = self
            .dedup
            .as_ref()
            .and_then(|_| info.headers.get_str(messaging_spec::CE_ID))
            .map(str::to_owned);
        let fresh = match (&self.dedup, &id) {
            (Some(dedup), Some(id)) => {
                let check = dedup.begin(id).await;
                if let Some(settlement) = check.settlement() {
                    if let Err(e) = msg.ack_with(ack_kind(settlement)).await {
                        tracing::debug!(consumer = %self.label, routing_key = %key, error = %e, "settling a duplicate failed");
                    }
                    tracing::debug!(consumer = %self.label, routing_key = %key, id = %id, ?check, "duplicate not handled");
                    return;
                }
                true
            }
            _ => false,
        };
        let report = self.shared.observer.wants().then(|| info.clone());
        let (outcome, error) = match self.group.routes.route(key) {
            None => (
                Outcome::NoHandler,
                Some(messaging_core::Error::NoHandler {
                    routing_key: key.to_owned(),
                }),
            ),
            Some(route) => {
                let facts = SpanFacts {
                    destination: stream,
                    subject,
                    routing_key: key,
                    message_id: info.headers.get_str(messaging_spec::CE_ID),
                    body_size: msg.payload.len(),
                    subscription: Some(&self.label),
                };
                let span = self.shared.otel.consume(&facts, &info.headers);
                let fut = span.wrap(route.handler.call(metadata, info, msg.payload.clone()));
                let period = Some(dispatch::keep_alive_period(ack_wait));
                let result = dispatch::run_guarded(fut, period, || async {
                    if let Err(e) = msg.ack_with(AckKind::Progress).await {
                        tracing::debug!(error = %e, "progress ack failed");
                    }
                })
                .await;
                let (outcome, error) = dispatch::classify(result, key);
                span.finish(error.as_ref());
                (outcome, error)
            }
        };
        if let (true, Some(dedup), Some(id)) = (fresh, &self.dedup, &id) {
            dedup.finish(id, outcome == Outcome::Handled).await;
        }
        let backoff = self.group.options.get_backoff();
        let (action, error) = match &self.group.dead_letter {
            None => (messaging_core::decide(outcome, delivered, backoff), error),
            Some(target) => {
                let max = self.group.options.get_max_deliver();
                let action = messaging_core::decide_with_limit(outcome, delivered, backoff, max);
                match (action, error) {
                    (Settlement::Reject, Some(e)) => {
                        let facts = Given {
                            key,
                            outcome,
                            sequence,
                            delivered,
                        };
                        self.dead_letter(target, &msg, &facts, e, &recorder).await
                    }
                    (action, error) => (action, error),
                }
            }
        };
        if let Err(e) = msg.ack_with(ack_kind(action)).await {
            tracing::warn!(consumer = %self.label, routing_key = %key, error = %e, "ack failed");
        }
        let elapsed = start.elapsed();
        recorder.settled(outcome, elapsed);
        match (&error, action) {
            (None, _) => {
                tracing::debug!(consumer = %self.label, routing_key = %key, ?elapsed, "message processed");
            }
            (Some(e), Settlement::Retry(delay)) => {
                tracing::error!(consumer = %self.label, routing_key = %key, error = %e, ?delay, delivered, "handler failed, naking for redelivery");
            }
            (Some(e), _) => {
                tracing::warn!(consumer = %self.label, routing_key = %key, error = %e, "terminating message");
            }
        }
        if let Some(info) = report {
            match error {
                None => self.shared.observer.success(info, elapsed),
                Some(e) => self.shared.observer.failure(e, info, elapsed),
            }
        }
    }
    /// Publishes a message given up on to the dead-letter stream, then it is terminated;
    /// if that publish fails it is delivered again later, so nothing is dropped.
    async fn dead_letter(
        &self,
        target: &messaging_core::DeadLetterTarget,
        msg: &jetstream::Message,
        given: &Given<'_>,
        cause: messaging_core::Error,
        recorder: &crate::metrics::ConsumerRecorder,
    ) -> (Settlement, Option<messaging_core::Error>) {
        let Some(reason) = messaging_core::DeadLetterReason::for_outcome(given.outcome) else {
            return (Settlement::Reject, Some(cause));
        };
        let record = messaging_core::DeadLetterRecord::new(
            reason,
            &cause.to_string(),
            msg.subject.as_str(),
            self.group.stream.as_str(),
            given.sequence,
            &self.label,
            self.shared.service.as_str(),
            given.delivered,
        );
        match dead_letter::publish(&self.shared, target, msg, &record).await {
            Ok(subject) => {
                recorder.dead_lettered(reason);
                let error = messaging_core::Error::DeadLettered {
                    routing_key: given.key.to_owned(),
                    subject,
                    reason,
                    source: Box::new(cause),
                };
                (Settlement::Reject, Some(error))
            }
            Err(e) => {
                tracing::warn!(consumer = %self.label, routing_key = %given.key, error = %e, "dead-letter publish failed; the message will be delivered again");
                (
                    Settlement::Retry(Some(dead_letter::RETRY_AFTER_FAILED_PUBLISH)),
                    Some(cause),
                )
            }
        }
    }
}

/// What a dispatch learned about one delivery, for the dead-letter record.
struct Given<'a> {
    key: &'a str,
    outcome: Outcome,
    sequence: u64,
    delivered: i64,
}

/// The JetStream acknowledgement for a core settlement.
fn ack_kind(settlement: Settlement) -> AckKind {
    match settlement {
        Settlement::Ack => AckKind::Ack,
        Settlement::Retry(delay) => AckKind::Nak(delay),
        Settlement::Reject => AckKind::Term,
    }
}
