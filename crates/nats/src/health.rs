//! Health and readiness: is the connection up, is every consumer bound on the server and
//! fetching? Also the monitor that probes consumers and refreshes lag gauges. Connection
//! events live in `events.rs`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::connection::Shared;

mod startup;

pub(crate) use startup::Startup;
use startup::Waiting;

/// The overall state of a connection, from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HealthStatus {
    /// Connected, and every consumer is bound on the server and fetching: ready.
    Ready,
    /// Connected, but some consumer has not yet confirmed it is bound and fetching since
    /// the connection was (re)established. Not ready; usually brief.
    Connected,
    /// Connected, and the bring-up of a connection started with
    /// [`optional_broker`](crate::ConnectionBuilder::optional_broker) is running: streams,
    /// consumers and request handlers are being set up. Not ready; usually brief.
    Starting,
    /// Something is wrong; see [`Health::problems`]. Not ready.
    Degraded,
}

/// Why a connection is not ready.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HealthProblem {
    /// The client lost its connection and is reconnecting.
    Disconnected,
    /// A connection started with
    /// [`optional_broker`](crate::ConnectionBuilder::optional_broker) has not reached the
    /// broker yet; it keeps trying, then sets up its streams, consumers and handlers.
    BrokerUnreachable {
        /// The server URLs, comma-separated, without user info.
        url: String,
        /// What the client said about its last attempt (`IO error`, `timed out`…), if
        /// anything.
        last_error: Option<String>,
    },
    /// A connection started with
    /// [`optional_broker`](crate::ConnectionBuilder::optional_broker) reached the broker,
    /// but setting up its streams, consumers or handlers failed (e.g. JetStream is not
    /// enabled); it is retried with backoff, and each failure is also an error
    /// notification.
    StartFailed {
        /// The error, as its `Display` shows it.
        reason: String,
    },
    /// The connection was closed (by [`close`](crate::Connection::close), or the reconnect
    /// budget ran out).
    Closed,
    /// The server does not know the consumer (lost, or unreachable).
    ConsumerUnbound {
        /// The consumer's label.
        consumer: String,
        /// What the server or client said.
        reason: String,
    },
    /// The consumer's fetch loop is not running (failed, recovering).
    ConsumerNotFetching {
        /// The consumer's label.
        consumer: String,
    },
    /// Nothing confirmed the consumer (message, probe) for longer than the bound.
    ConsumerStale {
        /// The consumer's label.
        consumer: String,
        /// Time since the last confirmation.
        idle: Duration,
    },
}

impl fmt::Display for HealthProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Disconnected => f.write_str("disconnected from NATS"),
            Self::BrokerUnreachable { url, last_error } => {
                write!(f, "NATS unreachable at {url}")?;
                if let Some(e) = last_error {
                    write!(f, " ({e})")?;
                }
                f.write_str("; still trying")
            }
            Self::StartFailed { reason } => {
                write!(
                    f,
                    "setting up streams, consumers and handlers failed: {reason}; retrying"
                )
            }
            Self::Closed => f.write_str("connection closed"),
            Self::ConsumerUnbound { consumer, reason } => {
                write!(f, "consumer {consumer} is not bound: {reason}")
            }
            Self::ConsumerNotFetching { consumer } => {
                write!(f, "consumer {consumer} is not fetching")
            }
            Self::ConsumerStale { consumer, idle } => {
                write!(f, "consumer {consumer} not confirmed for {idle:?}")
            }
        }
    }
}

/// What one consumer is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerHealth {
    /// The consumer's label (durable name, or `<service>-transient`).
    pub consumer: String,
    /// Its stream.
    pub stream: String,
    /// The server confirmed it exists since the connection was last (re)established.
    pub bound: bool,
    /// Its fetch loop holds an open pull.
    pub fetching: bool,
    /// Time since the last confirmation (a delivered message or a successful probe).
    pub since_last_activity: Option<Duration>,
}

/// A snapshot of a connection's health, for logs and a `/ready` endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// The overall state.
    pub status: HealthStatus,
    /// Why it is not [`HealthStatus::Ready`] (empty when ready or merely warming up).
    pub problems: Vec<HealthProblem>,
    /// Every JetStream consumer of the connection.
    pub consumers: Vec<ConsumerHealth>,
}

impl Health {
    /// True only when connected and every consumer is bound and confirmed recently.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.status == HealthStatus::Ready
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            HealthStatus::Ready => f.write_str("ready"),
            HealthStatus::Connected => f.write_str("connected; consumers not yet confirmed"),
            HealthStatus::Starting => {
                f.write_str("connected; setting up streams, consumers and handlers")
            }
            HealthStatus::Degraded => {
                f.write_str("degraded: ")?;
                for (i, p) in self.problems.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{p}")?;
                }
                Ok(())
            }
        }
    }
}

/// What one consumer is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConsumerState {
    pub(crate) stream: String,
    /// The server's name for it (the durable, or the ephemeral's generated name).
    pub(crate) name: Option<String>,
    pub(crate) fetching: bool,
    pub(crate) last_fetch: Option<Instant>,
    last_activity: Option<Instant>,
    /// Connection epoch in which the server last confirmed it.
    bound_epoch: Option<u64>,
    unbound: Option<String>,
}

#[derive(Debug)]
pub(crate) struct HealthTracker {
    consumers: Mutex<BTreeMap<String, ConsumerState>>,
    /// Incremented on every disconnect: confirmations from before do not count.
    epoch: AtomicU64,
    /// Wakes the monitor early (after a reconnect).
    pub(crate) probe_now: Notify,
    /// How long a consumer may go unconfirmed before it is stale.
    pub(crate) max_silence: Duration,
    pub(crate) interval: Duration,
    /// Whether the bring-up is done (always, without `optional_broker`).
    pub(crate) startup: Arc<Startup>,
}

/// Default interval of consumer probes and lag refreshes.
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

impl Default for HealthTracker {
    fn default() -> Self {
        Self::new(DEFAULT_INTERVAL)
    }
}

impl HealthTracker {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            consumers: Mutex::new(BTreeMap::new()),
            epoch: AtomicU64::new(0),
            probe_now: Notify::new(),
            max_silence: interval.saturating_mul(3),
            interval,
            startup: Arc::new(Startup::done()),
        }
    }

    /// Reports `startup` until it is done.
    pub(crate) fn with_startup(mut self, startup: Arc<Startup>) -> Self {
        self.startup = startup;
        self
    }

    fn with<R>(&self, f: impl FnOnce(&mut BTreeMap<String, ConsumerState>) -> R) -> R {
        match self.consumers.lock() {
            Ok(mut m) => f(&mut m),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    pub(crate) fn register(&self, label: &str, stream: &str) {
        self.with(|map| {
            map.entry(label.to_owned()).or_insert(ConsumerState {
                stream: stream.to_owned(),
                name: None,
                fetching: false,
                last_fetch: None,
                last_activity: None,
                bound_epoch: None,
                unbound: None,
            });
        });
    }

    /// The consumer was (re)created or found on the server under `name`.
    pub(crate) fn bound(&self, label: &str, name: &str) {
        let epoch = self.epoch.load(Ordering::Acquire);
        self.with(|map| {
            if let Some(s) = map.get_mut(label) {
                name.clone_into(s.name.get_or_insert_with(String::new));
                s.bound_epoch = Some(epoch);
                s.last_activity = Some(Instant::now());
                s.unbound = None;
            }
        });
    }

    /// A probe could not find the consumer.
    pub(crate) fn unbound(&self, label: &str, reason: String) {
        self.with(|map| {
            if let Some(s) = map.get_mut(label) {
                s.bound_epoch = None;
                s.unbound = Some(reason);
            }
        });
    }

    pub(crate) fn fetching(&self, label: &str, fetching: bool) {
        self.with(|map| {
            if let Some(s) = map.get_mut(label) {
                s.fetching = fetching;
            }
        });
    }

    /// A message arrived: the consumer is bound and fetching.
    pub(crate) fn fetched(&self, label: &str) {
        let epoch = self.epoch.load(Ordering::Acquire);
        self.with(|map| {
            if let Some(s) = map.get_mut(label) {
                let now = Instant::now();
                s.fetching = true;
                s.last_fetch = Some(now);
                s.last_activity = Some(now);
                s.bound_epoch = Some(epoch);
                s.unbound = None;
            }
        });
    }

    pub(crate) fn disconnected(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn snapshot(&self) -> BTreeMap<String, ConsumerState> {
        self.with(|m| m.clone())
    }

    /// The health at `now` given the client's connection state.
    pub(crate) fn health(
        &self,
        state: &async_nats::connection::State,
        closed: bool,
        now: Instant,
    ) -> Health {
        let epoch = self.epoch.load(Ordering::Acquire);
        let mut problems = Vec::new();
        let mut starting = false;
        if closed {
            problems.push(HealthProblem::Closed);
        } else {
            match self.startup.waiting(state) {
                Waiting::Problem(p) => problems.push(p),
                Waiting::SettingUp => starting = true,
                Waiting::Nothing if *state != async_nats::connection::State::Connected => {
                    problems.push(HealthProblem::Disconnected);
                }
                Waiting::Nothing => {}
            }
        }
        let mut warming = false;
        let consumers = self.with(|map| {
            map.iter()
                .map(|(label, s)| {
                    let idle = s.last_activity.map(|t| now.saturating_duration_since(t));
                    let bound = s.bound_epoch == Some(epoch);
                    if let Some(reason) = &s.unbound {
                        problems.push(HealthProblem::ConsumerUnbound {
                            consumer: label.clone(),
                            reason: reason.clone(),
                        });
                    } else if !s.fetching && s.last_activity.is_some() {
                        problems.push(HealthProblem::ConsumerNotFetching {
                            consumer: label.clone(),
                        });
                    } else if let Some(idle) = idle.filter(|i| *i > self.max_silence) {
                        problems.push(HealthProblem::ConsumerStale {
                            consumer: label.clone(),
                            idle,
                        });
                    } else if !bound || !s.fetching {
                        warming = true;
                    }
                    ConsumerHealth {
                        consumer: label.clone(),
                        stream: s.stream.clone(),
                        bound,
                        fetching: s.fetching,
                        since_last_activity: idle,
                    }
                })
                .collect()
        });
        let status = if !problems.is_empty() {
            HealthStatus::Degraded
        } else if starting {
            HealthStatus::Starting
        } else if warming {
            HealthStatus::Connected
        } else {
            HealthStatus::Ready
        };
        Health {
            status,
            problems,
            consumers,
        }
    }
}

/// Probes every consumer on the server at the tracker's interval (and right after a
/// reconnect): confirms it is bound, and refreshes the lag gauges. Stops at shutdown.
pub(crate) async fn monitor(shared: Arc<Shared>) {
    let shutdown = shared.shutdown.clone();
    let interval = shared.health.interval;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
            () = shared.health.probe_now.notified() => {}
        }
        if shared.client.connection_state() != async_nats::connection::State::Connected {
            continue;
        }
        for (label, state) in shared.health.snapshot() {
            let Some(name) = state.name else { continue };
            let probe = async {
                let stream = shared.js.get_stream_no_info(state.stream.as_str()).await?;
                stream
                    .consumer_info(name.as_str())
                    .await
                    .map_err(crate::error::BoxError::from)
            };
            let result = tokio::select! {
                () = shutdown.cancelled() => return,
                r = probe => r,
            };
            match result {
                Ok(info) => {
                    shared.health.bound(&label, &name);
                    shared.metrics.lag(
                        &label,
                        &state.stream,
                        info.num_pending,
                        info.num_ack_pending,
                    );
                }
                Err(e) => {
                    tracing::debug!(consumer = %label, error = %e, "consumer probe failed");
                    shared.health.unbound(&label, e.to_string());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_nats::connection::State;

    #[test]
    fn ready_needs_connection_binding_and_fetching() {
        let t = HealthTracker::new(Duration::from_secs(5));
        t.register("svc", "events");
        let h = t.health(&State::Connected, false, Instant::now());
        assert_eq!(h.status, HealthStatus::Connected);
        assert!(!h.is_ready());
        t.fetching("svc", true);
        assert_eq!(
            t.health(&State::Connected, false, Instant::now()).status,
            HealthStatus::Connected
        );
        t.bound("svc", "svc");
        assert!(
            t.health(&State::Connected, false, Instant::now())
                .is_ready()
        );
        let down = t.health(&State::Disconnected, false, Instant::now());
        assert_eq!(down.status, HealthStatus::Degraded);
        assert_eq!(down.problems, vec![HealthProblem::Disconnected]);
    }

    #[test]
    fn a_disconnect_voids_earlier_confirmations() {
        let t = HealthTracker::new(Duration::from_secs(5));
        t.register("svc", "events");
        t.fetching("svc", true);
        t.fetched("svc");
        assert!(
            t.health(&State::Connected, false, Instant::now())
                .is_ready()
        );
        t.disconnected();
        let h = t.health(&State::Connected, false, Instant::now());
        assert_eq!(h.status, HealthStatus::Connected);
        assert!(!h.consumers.first().is_some_and(|c| c.bound));
        t.bound("svc", "svc");
        assert!(
            t.health(&State::Connected, false, Instant::now())
                .is_ready()
        );
    }

    #[test]
    fn unbound_and_stopped_consumers_degrade_with_a_reason() {
        let t = HealthTracker::new(Duration::from_secs(5));
        t.register("a", "events");
        t.register("b", "events");
        t.bound("a", "a");
        t.fetching("a", true);
        t.unbound("a", "consumer not found".to_owned());
        t.bound("b", "b");
        let h = t.health(&State::Connected, true, Instant::now());
        assert_eq!(h.status, HealthStatus::Degraded);
        assert_eq!(
            h.problems,
            vec![
                HealthProblem::Closed,
                HealthProblem::ConsumerUnbound {
                    consumer: "a".to_owned(),
                    reason: "consumer not found".to_owned()
                },
                HealthProblem::ConsumerNotFetching {
                    consumer: "b".to_owned()
                },
            ]
        );
        assert_eq!(
            h.to_string(),
            "degraded: connection closed; consumer a is not bound: consumer not found; consumer b is not fetching"
        );
    }

    #[test]
    fn a_pending_start_is_unreachable_then_starting_then_as_usual() {
        let startup = Arc::new(Startup::pending("nats://h:1".to_owned()));
        let t = HealthTracker::new(Duration::from_secs(5)).with_startup(Arc::clone(&startup));
        let h = t.health(&State::Pending, false, Instant::now());
        assert_eq!(h.status, HealthStatus::Degraded);
        assert_eq!(
            h.problems,
            vec![HealthProblem::BrokerUnreachable {
                url: "nats://h:1".to_owned(),
                last_error: None
            }]
        );
        assert_eq!(
            h.to_string(),
            "degraded: NATS unreachable at nats://h:1; still trying"
        );
        let h = t.health(&State::Connected, false, Instant::now());
        assert_eq!(h.status, HealthStatus::Starting);
        assert!(!h.is_ready());
        assert_eq!(
            h.to_string(),
            "connected; setting up streams, consumers and handlers"
        );
        // Closed wins.
        let h = t.health(&State::Pending, true, Instant::now());
        assert_eq!(h.problems, vec![HealthProblem::Closed]);
        startup.finished();
        assert!(
            t.health(&State::Connected, false, Instant::now())
                .is_ready()
        );
        assert_eq!(
            t.health(&State::Disconnected, false, Instant::now())
                .problems,
            vec![HealthProblem::Disconnected]
        );
    }

    #[test]
    fn the_staleness_bound_saturates() {
        let t = HealthTracker::new(Duration::MAX);
        assert_eq!(t.max_silence, Duration::MAX);
    }

    #[test]
    fn a_consumer_unconfirmed_past_the_bound_is_stale() {
        let t = HealthTracker::new(Duration::from_millis(1));
        t.register("a", "events");
        t.bound("a", "a");
        t.fetching("a", true);
        let h = t.health(
            &State::Connected,
            false,
            Instant::now() + Duration::from_millis(4),
        );
        assert!(matches!(
            h.problems.as_slice(),
            [HealthProblem::ConsumerStale { consumer, .. }] if consumer == "a"
        ));
    }
}
