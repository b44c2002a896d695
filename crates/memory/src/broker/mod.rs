//! [`Broker`]: the in-process "server" every memory connection of a test shares.

mod inspect;
pub(crate) mod state;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::builder::ConnectionBuilder;
use crate::error::{Error, Result};
pub use inspect::{ConsumerStats, DeadLetterMessage, PublishedMessage, StreamInfo};
use state::State;

/// The in-process broker: JetStream-like streams (every message kept, by sequence) with
/// durable and transient consumers, and Core-NATS-like request routing. Cheap to clone;
/// every clone is the same broker.
///
/// Connections find each other through it: start every service of a test with
/// [`Connection::builder(..).broker(&broker)`](crate::ConnectionBuilder::broker) (or
/// [`Broker::connection`]). State lives as long as any clone, so a durable consumer keeps
/// its position when its service closes and starts again on the same `Broker`.
///
/// The inspection methods ([`published`](Self::published),
/// [`consumer_stats`](Self::consumer_stats), [`wait_until`](Self::wait_until), …) let a
/// test assert on what went over the "wire".
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    /// Bumped on every change, for [`Broker::wait_until`].
    changed: watch::Sender<u64>,
}

impl Default for Broker {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("Broker")
            .field("streams", &state.streams.keys().collect::<Vec<_>>())
            .field("published", &state.published.len())
            .finish_non_exhaustive()
    }
}

impl Broker {
    /// An empty broker: no streams, no consumers, nothing published.
    #[must_use]
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                changed: watch::Sender::new(0),
            }),
        }
    }

    /// A connection builder for `service` on this broker (the same as
    /// `Connection::builder(service).broker(self)`).
    pub fn connection(&self, service: impl Into<String>) -> ConnectionBuilder {
        ConnectionBuilder::new(service).broker(self)
    }

    /// True when both handles are the same broker.
    #[must_use]
    pub fn same_as(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // Handlers never run under the lock, so a poisoned lock only means a panic in
        // this crate's bookkeeping; the state is still consistent enough to inspect.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the state and tells waiters something changed.
    pub(crate) fn change<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let out = f(&mut self.lock());
        self.changed();
        out
    }

    /// Tells waiters something changed.
    pub(crate) fn changed(&self) {
        self.inner.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    // ---- inspection -------------------------------------------------------------------

    /// Every message published so far (stream events, queue publishes and requests), in
    /// publish order.
    #[must_use]
    pub fn published(&self) -> Vec<PublishedMessage> {
        self.lock()
            .published
            .iter()
            .map(PublishedMessage::from_record)
            .collect()
    }

    /// The published messages with routing key `routing_key`, in publish order.
    #[must_use]
    pub fn published_with_key(&self, routing_key: &str) -> Vec<PublishedMessage> {
        self.lock()
            .published
            .iter()
            .filter(|p| p.msg.routing_key == routing_key)
            .map(PublishedMessage::from_record)
            .collect()
    }

    /// Every message published so far, as [`published`](Self::published), and forgets
    /// them (the streams keep theirs), so a test can look at one step at a time.
    pub fn take_published(&self) -> Vec<PublishedMessage> {
        let taken = std::mem::take(&mut self.lock().published);
        taken.iter().map(PublishedMessage::from_record).collect()
    }

    /// How many messages were published so far.
    #[must_use]
    pub fn published_count(&self) -> usize {
        self.lock().published.len()
    }

    /// The streams that exist (created when a service using them starts).
    #[must_use]
    pub fn streams(&self) -> Vec<String> {
        self.lock().streams.keys().cloned().collect()
    }

    /// A stream's message count and consumers, or `None` when it does not exist.
    #[must_use]
    pub fn stream_info(&self, stream: &str) -> Option<StreamInfo> {
        let state = self.lock();
        let s = state.streams.get(stream)?;
        let count = u64::try_from(s.log.len()).unwrap_or(u64::MAX);
        Some(StreamInfo {
            name: stream.to_owned(),
            messages: count,
            last_sequence: count,
            consumers: s.consumers.keys().cloned().collect(),
        })
    }

    /// The dead letters in `stream` (such as
    /// [`DEFAULT_DEAD_LETTER_STREAM`](messaging_core::DEFAULT_DEAD_LETTER_STREAM)), oldest
    /// first; empty when the stream does not exist.
    #[must_use]
    pub fn dead_letters(&self, stream: &str) -> Vec<DeadLetterMessage> {
        self.lock().streams.get(stream).map_or_else(Vec::new, |s| {
            s.log
                .iter()
                .filter_map(|m| DeadLetterMessage::of(m))
                .collect()
        })
    }

    /// The names of a stream's consumers (empty when the stream does not exist).
    #[must_use]
    pub fn consumer_names(&self, stream: &str) -> Vec<String> {
        self.lock()
            .streams
            .get(stream)
            .map(|s| s.consumers.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The counters and positions of consumer `name` on `stream`, e.g.
    /// `broker.consumer_stats("events", "billing")`.
    #[must_use]
    pub fn consumer_stats(&self, stream: &str, name: &str) -> Option<ConsumerStats> {
        let state = self.lock();
        let s = state.streams.get(stream)?;
        let c = s.consumers.get(name)?;
        Some(ConsumerStats::of(stream, name, c))
    }

    /// How many request subscriptions (one per request handler per running instance)
    /// `service` has.
    #[must_use]
    pub fn responders(&self, service: &str) -> usize {
        self.lock().responders(service)
    }

    // ---- waiting ----------------------------------------------------------------------

    /// Waits until `condition` holds, checking it now, after every change on the broker (a
    /// publish, a delivery, a settlement, a handler finishing, a connection starting or
    /// closing) and every 5 ms, so conditions on the test's own state (what handlers
    /// recorded) work too.
    ///
    /// The wait uses tokio's clock, so under `#[tokio::test(start_paused = true)]` a long
    /// timeout costs no real time.
    ///
    /// # Errors
    /// [`Error::WaitTimeout`] when it still does not hold after `timeout`.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        condition: impl FnMut(&Broker) -> bool,
    ) -> Result<()> {
        self.wait_for("a condition", timeout, condition).await
    }

    /// [`wait_until`](Self::wait_until) with a description for the timeout error.
    ///
    /// # Errors
    /// [`Error::WaitTimeout`] naming `what`.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        mut condition: impl FnMut(&Broker) -> bool,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut changes = self.inner.changed.subscribe();
        let mut poll = tokio::time::interval(POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            changes.borrow_and_update();
            if condition(self) {
                return Ok(());
            }
            tokio::select! {
                biased;
                () = tokio::time::sleep_until(deadline) => {
                    return if condition(self) {
                        Ok(())
                    } else {
                        Err(wait_timeout(what, timeout))
                    };
                }
                // The sender lives as long as `self`, so this never fails.
                _ = changes.changed() => {}
                _ = poll.tick() => {}
            }
        }
    }

    /// Waits until a consumer's stats satisfy `condition`; returns them.
    ///
    /// # Errors
    /// [`Error::WaitTimeout`] (the consumer may not exist at all).
    pub async fn wait_for_stats(
        &self,
        stream: &str,
        consumer: &str,
        timeout: Duration,
        mut condition: impl FnMut(&ConsumerStats) -> bool,
    ) -> Result<ConsumerStats> {
        let mut seen = None;
        let what = format!("consumer {consumer} on stream {stream}");
        self.wait_for(&what, timeout, |b| {
            seen = b.consumer_stats(stream, consumer).filter(|s| condition(s));
            seen.is_some()
        })
        .await?;
        seen.ok_or_else(|| wait_timeout(&what, timeout))
    }

    /// Waits until consumer `consumer` on `stream` has acked at least `n` messages.
    ///
    /// # Errors
    /// [`Error::WaitTimeout`] after `timeout`.
    pub async fn wait_for_acked(
        &self,
        stream: &str,
        consumer: &str,
        n: u64,
        timeout: Duration,
    ) -> Result<ConsumerStats> {
        self.wait_for_stats(stream, consumer, timeout, |s| s.acked >= n)
            .await
            .map_err(|_| wait_timeout(&format!("{n} acks on {stream}/{consumer}"), timeout))
    }

    /// Waits until at least `n` messages with `routing_key` were published; returns them.
    ///
    /// # Errors
    /// [`Error::WaitTimeout`] after `timeout`.
    pub async fn wait_for_published(
        &self,
        routing_key: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<PublishedMessage>> {
        let what = format!("{n} publishes of {routing_key}");
        self.wait_for(&what, timeout, |b| {
            b.lock()
                .published
                .iter()
                .filter(|p| p.msg.routing_key == routing_key)
                .count()
                >= n
        })
        .await?;
        Ok(self.published_with_key(routing_key))
    }

    /// Waits until no consumer that has instances running has anything pending or in
    /// flight.
    ///
    /// # Errors
    /// [`Error::WaitTimeout`] after `timeout`.
    pub async fn wait_idle(&self, timeout: Duration) -> Result<()> {
        self.wait_for("every consumer to be idle", timeout, |b| {
            let state = b.lock();
            state.streams.values().all(|s| {
                s.consumers
                    .values()
                    .all(|c| c.instances == 0 || (c.num_pending() == 0 && c.num_ack_pending() == 0))
            })
        })
        .await
    }
}

/// How often a wait also re-checks its condition without a broker change (for conditions
/// on state of the test's own, such as what handlers recorded).
const POLL: Duration = Duration::from_millis(5);

fn wait_timeout(what: &str, timeout: Duration) -> Error {
    Error::WaitTimeout {
        timeout,
        what: what.to_owned(),
    }
}
