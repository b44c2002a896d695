//! The fetch loop: one long-lived pull on one inbox, topped up as the backlog drains, the
//! way JetStream's own `Consume` works. Everything the server sends lands in the backlog at
//! once, so every message we hold is one the backlog keeps alive.
//!
//! Accounting: `requested` is what outstanding pulls may still deliver. A message takes one
//! off; an expired or ended pull (408/409) takes off what its `Nats-Pending-Messages` says
//! it left. A new pull asks for `capacity - backlog - requested` once that is at least half
//! the capacity, so the backlog plus what is on its way never exceeds the prefetch (after a
//! reconnect, when old pulls may or may not have survived, briefly at most twice that).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use async_nats::jetstream::consumer::pull::BatchConfig;
use async_nats::jetstream::consumer::{DeliverPolicy, PullConsumer};
use async_nats::{StatusCode, Subscriber};
use futures::{FutureExt, StreamExt};

use super::GroupRuntime;
use super::config::{create_from, start_policy};

/// Server-side expiry of one pull; an idle consumer pulls again this often.
const PULL_EXPIRES: Duration = Duration::from_secs(10);
/// The server sends a heartbeat this often while a pull waits with nothing to deliver.
const IDLE_HEARTBEAT: Duration = Duration::from_secs(5);
/// Silence this long (or two heartbeats, when those are longer) while a pull is
/// outstanding means it is gone (server restarted, or the consumer vanished): check the
/// consumer and pull again.
const MISSED_HEARTBEATS: Duration = Duration::from_secs(10);
/// How often the loop looks at the connection and the silence.
const TICK: Duration = Duration::from_millis(500);
/// Health hears "the server delivered" at most this often while messages flow.
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// Messages a consumer holds ahead of its handlers unless told otherwise: pulls of a few
/// hundred cost the server a third of what pulls of sixteen do, and the backlog keeps every
/// held message alive, so a slow handler does not make it redeliver them.
pub(crate) const DEFAULT_PREFETCH: usize = 512;

/// The backlog's capacity: the configured prefetch, else [`DEFAULT_PREFETCH`] (or twice
/// the concurrency, when that is more).
pub(crate) fn prefetch(options: &messaging_core::ConsumerOptions) -> usize {
    options.get_prefetch().unwrap_or_else(|| {
        options
            .effective_concurrency()
            .saturating_mul(2)
            .max(DEFAULT_PREFETCH)
    })
}

/// A pull is worth sending once the backlog has room for this many.
fn threshold(capacity: usize) -> usize {
    (capacity / 2).max(1)
}

/// Outstanding pulls of one consumer.
struct Pulls {
    inbox: async_nats::Subject,
    subscription: Subscriber,
    /// The subscription ended (the client closed, or unsubscribed it).
    closed: bool,
    /// Messages outstanding pulls may still deliver.
    requested: usize,
    /// When the inbox last heard anything.
    heard: Instant,
    /// The client's connect count when the pulls were made: a reconnect may have lost them.
    connects: u64,
    /// The consumer's own limits on one pull (`max_batch`, `max_bytes`; 0 = none).
    max_batch: usize,
    max_bytes: usize,
    /// Expiry and heartbeat of each pull, within the consumer's `max_expires`.
    expires: Duration,
    heartbeat: Duration,
    reported: Instant,
}

/// What one inbox message means for the loop.
enum Heard {
    Message(async_nats::Message),
    /// Heartbeat, or a pull that ended with its leftovers accounted for.
    Nothing,
    /// The pulls are in an unknown state: forget them and pull afresh.
    Reset,
    /// The consumer is gone or JetStream does not answer.
    Lost(String),
}

impl Pulls {
    async fn open(
        rt: &GroupRuntime,
        consumer: &PullConsumer,
    ) -> Result<Self, async_nats::SubscribeError> {
        let client = &rt.shared.client;
        let inbox = async_nats::Subject::from(client.new_inbox());
        let subscription = client.subscribe(inbox.clone()).await?;
        let mut pulls = Self {
            inbox,
            subscription,
            closed: false,
            requested: 0,
            heard: Instant::now(),
            connects: client.statistics().connects.load(Ordering::Relaxed),
            max_batch: 0,
            max_bytes: 0,
            expires: PULL_EXPIRES,
            heartbeat: IDLE_HEARTBEAT,
            reported: Instant::now(),
        };
        pulls.rebind(consumer, rt.group.options.get_idle_heartbeat());
        Ok(pulls)
    }

    /// Limits of a (re)created consumer; outstanding pulls belong to the old one. The
    /// server refuses pulls beyond them, so every pull stays within.
    fn rebind(&mut self, consumer: &PullConsumer, heartbeat: Option<Duration>) {
        let config = &consumer.cached_info().config;
        self.max_batch = usize::try_from(config.max_batch).unwrap_or(0);
        self.max_bytes = usize::try_from(config.max_bytes).unwrap_or(0);
        self.expires = if config.max_expires.is_zero() {
            PULL_EXPIRES
        } else {
            PULL_EXPIRES.min(config.max_expires)
        };
        // The server wants the heartbeat well inside the expiry.
        self.heartbeat = heartbeat.unwrap_or(IDLE_HEARTBEAT).min(self.expires / 2);
        self.requested = 0;
    }

    /// Pulls what the backlog has room for, when that is worth a request.
    async fn top_up(
        &mut self,
        consumer: &PullConsumer,
        capacity: usize,
        queued: usize,
    ) -> Result<(), async_nats::jetstream::consumer::pull::BatchRequestError> {
        let free = capacity.saturating_sub(queued + self.requested);
        if free < threshold(capacity) {
            return Ok(());
        }
        let batch = if self.max_batch > 0 {
            free.min(self.max_batch)
        } else {
            free
        };
        if self.requested == 0 {
            // Silence counts from the first pull, not from the last message.
            self.heard = Instant::now();
        }
        consumer
            .request_batch(
                BatchConfig {
                    batch,
                    expires: Some(self.expires),
                    no_wait: false,
                    max_bytes: self.max_bytes,
                    idle_heartbeat: self.heartbeat,
                    ..BatchConfig::default()
                },
                self.inbox.clone(),
            )
            .await?;
        self.requested += batch;
        Ok(())
    }

    /// What the inbox's next item means; `None`: the inbox closed.
    fn heard(&mut self, next: Option<async_nats::Message>) -> Heard {
        match next {
            Some(message) => self.classify(message),
            None => {
                self.closed = true;
                Heard::Lost("the pull inbox closed".to_owned())
            }
        }
    }

    fn classify(&mut self, message: async_nats::Message) -> Heard {
        self.heard = Instant::now();
        match message.status {
            None | Some(StatusCode::OK) => {
                self.requested = self.requested.saturating_sub(1);
                Heard::Message(message)
            }
            Some(StatusCode::IDLE_HEARTBEAT) => Heard::Nothing,
            Some(StatusCode::NO_RESPONDERS) => {
                Heard::Lost("JetStream did not answer the pull".to_owned())
            }
            Some(StatusCode::TIMEOUT | StatusCode::REQUEST_TERMINATED) => {
                let description = message.description.as_deref().unwrap_or_default();
                if description.contains("Consumer Deleted") || description.contains("push based") {
                    return Heard::Lost(description.to_owned());
                }
                let left = message
                    .headers
                    .as_ref()
                    .and_then(|h| h.get("Nats-Pending-Messages"))
                    .and_then(|v| v.as_str().parse::<usize>().ok());
                match left {
                    Some(left) => {
                        self.requested = self.requested.saturating_sub(left);
                        Heard::Nothing
                    }
                    None => {
                        if description.starts_with("Exceeded") {
                            tracing::warn!(reason = %description, "the server refused a pull");
                        }
                        Heard::Reset
                    }
                }
            }
            Some(status) => {
                tracing::debug!(%status, description = ?message.description, "unexpected status on the pull inbox");
                Heard::Reset
            }
        }
    }

    /// What a tick finds: after a reconnect the pulls may be lost (pull afresh); long
    /// silence with a pull outstanding means they are (check the consumer).
    fn doubtful(&self, client: &async_nats::Client) -> Option<Heard> {
        if client.statistics().connects.load(Ordering::Relaxed) != self.connects {
            Some(Heard::Reset)
        } else if self.requested > 0
            && self.heard.elapsed() >= MISSED_HEARTBEATS.max(self.heartbeat * 2)
        {
            Some(Heard::Lost("missed heartbeats".to_owned()))
        } else {
            None
        }
    }

    fn reset(&mut self, client: &async_nats::Client) {
        self.requested = 0;
        self.connects = client.statistics().connects.load(Ordering::Relaxed);
        self.heard = Instant::now();
    }
}

impl GroupRuntime {
    /// Pulls into the backlog until shutdown, recreating the consumer (and its stream) when
    /// the server loses it.
    pub(super) async fn fetch_loop(&self, mut consumer: PullConsumer) {
        let shutdown = self.shared.shutdown.clone();
        let capacity = prefetch(&self.group.options);
        let mut failures = 0u32;
        self.shared.health.fetching(&self.label, true);
        self.shared
            .health
            .bound(&self.label, &consumer.cached_info().name);
        let mut pulls = loop {
            match Pulls::open(self, &consumer).await {
                Ok(p) => break p,
                Err(e) => {
                    tracing::warn!(consumer = %self.label, error = %e, "subscribing to the pull inbox failed");
                    if !self.pause(&mut failures).await {
                        return;
                    }
                }
            }
        };
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if let Err(e) = pulls.top_up(&consumer, capacity, self.backlog.len()).await {
                tracing::warn!(consumer = %self.label, error = %e, "pull request failed");
                if !self.recover(&mut consumer, &mut failures).await {
                    break;
                }
                pulls.rebind(&consumer, self.group.options.get_idle_heartbeat());
                continue;
            }
            // Room for the next pull: a backlog below this (fewer than 0 means never, until
            // outstanding pulls deliver or end).
            let room_below = (capacity - threshold(capacity))
                .checked_sub(pulls.requested)
                .map_or(0, |n| n + 1);
            if self.backlog.wake_below(room_below) {
                continue;
            }
            if shutdown.is_cancelled() {
                break;
            }
            // What the server already sent is taken without a select: its waiters and
            // timer cost more per message than the message does, and pulls arrive in
            // bursts.
            let ready = pulls
                .subscription
                .next()
                .now_or_never()
                .map(|next| pulls.heard(next));
            let heard = if let Some(heard) = ready {
                heard
            } else {
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => break,
                    next = pulls.subscription.next() => pulls.heard(next),
                    () = self.backlog.space.notified() => continue,
                    _ = tick.tick() => match pulls.doubtful(&self.shared.client) {
                        Some(heard) => heard,
                        None => continue,
                    },
                }
            };
            match heard {
                Heard::Message(message) => {
                    failures = 0;
                    if pulls.reported.elapsed() >= REPORT_EVERY {
                        pulls.reported = Instant::now();
                        self.shared.health.fetched(&self.label);
                    }
                    self.backlog.push(jetstream::Message {
                        message,
                        context: self.shared.js.clone(),
                    });
                }
                Heard::Nothing => {
                    pulls.reported = Instant::now();
                    self.shared.health.fetched(&self.label);
                }
                Heard::Reset => {
                    tracing::debug!(consumer = %self.label, "pulling afresh");
                    pulls.reset(&self.shared.client);
                }
                Heard::Lost(why) => {
                    tracing::info!(consumer = %self.label, why = %why, "checking the consumer");
                    self.shared.health.fetching(&self.label, false);
                    if pulls.closed {
                        match Pulls::open(self, &consumer).await {
                            Ok(p) => pulls = p,
                            Err(e) => {
                                tracing::warn!(consumer = %self.label, error = %e, "subscribing to the pull inbox failed");
                            }
                        }
                    }
                    if !self.recover(&mut consumer, &mut failures).await {
                        break;
                    }
                    pulls.rebind(&consumer, self.group.options.get_idle_heartbeat());
                    pulls.reset(&self.shared.client);
                    self.shared.health.fetching(&self.label, true);
                }
            }
        }
    }

    /// Waits before the next attempt, longer each time. False when shutting down.
    async fn pause(&self, failures: &mut u32) -> bool {
        let delay = Duration::from_millis(100u64 << (*failures).min(6));
        *failures = failures.saturating_add(1);
        tokio::select! {
            () = self.shared.shutdown.cancelled() => false,
            () = tokio::time::sleep(delay) => true,
        }
    }

    /// A lost ephemeral resumes after the last message it saw instead of replaying the
    /// stream, unless the stream itself is newer than that message (its sequences started
    /// over). A lost durable, or one that saw nothing yet, starts where a new one would.
    async fn resume_policy(&self) -> DeliverPolicy {
        let last = self.last_sequence.load(Ordering::Relaxed);
        if self.group.durable.is_some() || last == 0 {
            return start_policy(&self.group);
        }
        let published = self.last_published.load(Ordering::Relaxed);
        let created = match self.shared.js.get_stream(self.group.stream.as_str()).await {
            Ok(s) => s.cached_info().created.unix_timestamp_nanos(),
            Err(_) => return start_policy(&self.group),
        };
        if created > i128::from(published) {
            // A new stream: everything in it came after what we saw.
            DeliverPolicy::All
        } else {
            DeliverPolicy::ByStartSequence {
                start_sequence: last + 1,
            }
        }
    }

    /// Makes sure the consumer still exists; recreates it (and the stream) if not.
    /// Returns false when shutting down.
    async fn recover(&self, consumer: &mut PullConsumer, failures: &mut u32) -> bool {
        loop {
            if !self.pause(failures).await {
                return false;
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
                let deliver = self.resume_policy().await;
                create_from(&self.shared, &self.group, deliver).await
            }
            .await;
            match recreated {
                Ok(c) => {
                    tracing::info!(consumer = %self.label, "consumer recreated");
                    *consumer = c;
                    self.remember(consumer);
                    self.shared
                        .health
                        .bound(&self.label, &consumer.cached_info().name);
                    return true;
                }
                Err(e) => tracing::warn!(consumer = %self.label, error = %e, "recreate failed"),
            }
        }
    }
}
