//! JetStream consumers: one pull consumer per group, a fetch loop, bounded concurrency.

pub(crate) mod ack;
pub(crate) mod dispatch;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::{self, AckKind};
use futures::{FutureExt, StreamExt};
use messaging_spec::DeliveryInfo;
use tokio::sync::Semaphore;

use crate::connection::Shared;
use crate::error::{Error, Result};
use crate::headers;
use crate::options::StreamConfig;
use crate::otel::SpanFacts;
use crate::plan::GroupPlan;
use ack::{AckAction, Outcome};

/// The server's consumer config for a group: explicit ack, deliver all, singular
/// `filter_subject` for one key and `filter_subjects` for several (as the reference).
pub(crate) fn consumer_config(group: &GroupPlan, ack_wait: Option<Duration>) -> pull::Config {
    let (filter_subject, filter_subjects) = match group.filters.as_slice() {
        [one] => (one.clone(), Vec::new()),
        many => (String::new(), many.to_vec()),
    };
    pull::Config {
        durable_name: group.durable.clone(),
        filter_subject,
        filter_subjects,
        ack_policy: AckPolicy::Explicit,
        deliver_policy: DeliverPolicy::All,
        max_deliver: group.options.max_deliver.unwrap_or_default(),
        backoff: group.options.backoff.clone().unwrap_or_default(),
        ack_wait: ack_wait.unwrap_or_default(),
        ..pull::Config::default()
    }
}

pub(crate) async fn create(shared: &Shared, group: &GroupPlan) -> Result<PullConsumer> {
    let config = consumer_config(group, shared.timing.ack_wait);
    let stream = shared
        .js
        .get_stream(group.stream.as_str())
        .await
        .map_err(|e| consumer_error(group, e))?;
    stream
        .create_consumer(config)
        .await
        .map_err(|e| consumer_error(group, e))
}

fn consumer_error(group: &GroupPlan, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Consumer {
        stream: group.stream.as_str().to_owned(),
        consumer: group
            .durable
            .clone()
            .unwrap_or_else(|| "(ephemeral)".to_owned()),
        source: Box::new(e),
    }
}

/// Everything a running group needs.
pub(crate) struct GroupRuntime {
    pub(crate) shared: Arc<Shared>,
    pub(crate) group: Arc<GroupPlan>,
    pub(crate) stream_config: StreamConfig,
    pub(crate) label: String,
}

impl GroupRuntime {
    /// Fetches and dispatches until shutdown, recreating the consumer (and its stream)
    /// when the server loses it, e.g. an ephemeral consumer after a restart.
    pub(crate) async fn run(self, mut consumer: PullConsumer) {
        let this = Arc::new(self);
        let shutdown = this.shared.shutdown.clone();
        let semaphore = Arc::new(Semaphore::new(this.group.options.effective_concurrency()));
        let prefetch = this.group.options.effective_prefetch();
        let mut failures = 0u32;
        'outer: while !shutdown.is_cancelled() {
            let ack_wait = consumer.cached_info().config.ack_wait;
            let messages = consumer
                .stream()
                .max_messages_per_batch(prefetch)
                .heartbeat(Duration::from_secs(5))
                .expires(Duration::from_secs(30))
                .messages()
                .await;
            let mut messages = match messages {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(consumer = %this.label, error = %e, "failed to start fetching");
                    if !this.recover(&mut consumer, &mut failures).await {
                        break;
                    }
                    continue;
                }
            };
            this.shared.health.fetching(&this.label, true);
            // Just created, or confirmed by recover(): the server knows it.
            this.shared
                .health
                .bound(&this.label, &consumer.cached_info().name);
            loop {
                let permit = tokio::select! {
                    () = shutdown.cancelled() => break 'outer,
                    p = Arc::clone(&semaphore).acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break 'outer,
                    },
                };
                let next = tokio::select! {
                    () = shutdown.cancelled() => {
                        drop(permit);
                        nak_buffered(&mut messages).await;
                        break 'outer;
                    }
                    n = messages.next() => n,
                };
                match next {
                    Some(Ok(msg)) => {
                        failures = 0;
                        this.shared.health.fetched(&this.label);
                        let rt = Arc::clone(&this);
                        this.shared.tracker.spawn(async move {
                            rt.dispatch(msg, ack_wait).await;
                            drop(permit);
                        });
                    }
                    Some(Err(e)) => {
                        drop(permit);
                        tracing::warn!(consumer = %this.label, error = %e, "fetch error");
                        this.shared.health.fetching(&this.label, false);
                        if !this.recover(&mut consumer, &mut failures).await {
                            break 'outer;
                        }
                        continue 'outer;
                    }
                    None => {
                        drop(permit);
                        continue 'outer;
                    }
                }
            }
        }
        this.shared.health.fetching(&this.label, false);
    }

    /// Makes sure the consumer still exists; recreates it (and the stream) if not.
    /// Returns false when shutting down.
    async fn recover(&self, consumer: &mut PullConsumer, failures: &mut u32) -> bool {
        let shutdown = &self.shared.shutdown;
        loop {
            let delay = Duration::from_millis(100 * 2u64.pow((*failures).min(6)));
            *failures = failures.saturating_add(1);
            tokio::select! {
                () = shutdown.cancelled() => return false,
                () = tokio::time::sleep(delay) => {}
            }
            match consumer.info().await {
                Ok(_) => return true,
                Err(e) => {
                    tracing::info!(consumer = %self.label, error = %e, "consumer unavailable; recreating");
                }
            }
            let recreated = async {
                crate::stream::ensure(&self.shared.js, &self.group.stream, &self.stream_config)
                    .await?;
                create(&self.shared, &self.group).await
            }
            .await;
            match recreated {
                Ok(c) => {
                    tracing::info!(consumer = %self.label, "consumer recreated");
                    *consumer = c;
                    return true;
                }
                Err(e) => tracing::warn!(consumer = %self.label, error = %e, "recreate failed"),
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
            .unwrap_or(subject)
            .to_owned();
        let raw_headers = headers::from_nats(msg.headers.as_ref());
        let info =
            DeliveryInfo::new(self.label.as_str(), stream, key.as_str()).with_headers(raw_headers);
        let metadata = dispatch::metadata_for(&info.headers, &info);
        let delivered = msg.info().map(|i| i.delivered).unwrap_or(1);
        let recorder = self.shared.metrics.consumer(&self.label, &key);
        recorder.received(delivered);
        let report = self.shared.observer.wants().then(|| info.clone());
        let (outcome, error) = match self.group.routes.route(&key) {
            None => (
                Outcome::NoHandler,
                Some(Error::NoHandler {
                    routing_key: key.clone(),
                }),
            ),
            Some(route) => {
                let facts = SpanFacts {
                    destination: stream,
                    subject,
                    routing_key: &key,
                    message_id: info.headers.get_str(messaging_spec::CE_ID),
                    body_size: msg.payload.len(),
                    subscription: Some(&self.label),
                };
                let span = self.shared.otel.consume(&facts, &info.headers);
                let fut = span.wrap(route.handler.call(metadata, info, msg.payload.clone()));
                let period = (!ack_wait.is_zero()).then_some(ack_wait / 2);
                let result = dispatch::run_guarded(fut, period, || async {
                    if let Err(e) = msg.ack_with(AckKind::Progress).await {
                        tracing::debug!(error = %e, "progress ack failed");
                    }
                })
                .await;
                let (outcome, error) = dispatch::classify(result, &key);
                span.finish(error.as_ref());
                (outcome, error)
            }
        };
        let backoff = self.group.options.backoff.as_deref().unwrap_or_default();
        let action = ack::decide(outcome, delivered, backoff);
        let kind = match action {
            AckAction::Ack => AckKind::Ack,
            AckAction::Nak(delay) => AckKind::Nak(delay),
            AckAction::Term => AckKind::Term,
        };
        if let Err(e) = msg.ack_with(kind).await {
            tracing::warn!(consumer = %self.label, routing_key = %key, error = %e, "ack failed");
        }
        let elapsed = start.elapsed();
        recorder.settled(outcome, elapsed);
        match (&error, action) {
            (None, _) => {
                tracing::debug!(consumer = %self.label, routing_key = %key, ?elapsed, "message processed");
            }
            (Some(e), AckAction::Nak(delay)) => {
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
}

/// Hands back messages that were fetched but never dispatched, so another instance gets
/// them now rather than after AckWait.
async fn nak_buffered(messages: &mut pull::Stream) {
    while let Some(Some(Ok(msg))) = messages.next().now_or_never() {
        if let Err(e) = msg.ack_with(AckKind::Nak(None)).await {
            tracing::debug!(error = %e, "nak of buffered message failed");
        }
    }
}
