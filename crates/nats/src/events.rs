//! Connection events from async-nats: logged, counted, fed to health, and used by
//! `start()` to wait for the first connection.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use crate::connection::Shared;
use crate::permissions::Violations;

/// Connection events: logged, counted, and fed to health. Slow-consumer warnings are
/// rate-limited (one per window, with the number suppressed) because they come in floods.
pub(crate) struct ConnectionEvents {
    service: String,
    slow: Mutex<SlowConsumerLog>,
    was_disconnected: std::sync::atomic::AtomicBool,
    /// Set once the connection is built; events before that wait in `early`.
    shared: OnceLock<Weak<Shared>>,
    early: Mutex<Vec<&'static str>>,
    /// Wakes `start()` waiting for the first connection.
    connected: tokio::sync::watch::Sender<bool>,
    /// Permission violations, to explain the timeouts they cause.
    pub(crate) violations: Arc<Violations>,
}

impl fmt::Debug for ConnectionEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionEvents")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct SlowConsumerLog {
    last_logged: Option<Instant>,
    suppressed: u64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// How often `wait_connected` looks at the client's state besides the event.
const CONNECT_POLL: Duration = Duration::from_millis(50);

/// At most one slow-consumer warning per window.
const SLOW_CONSUMER_LOG_WINDOW: Duration = Duration::from_secs(10);

impl ConnectionEvents {
    pub(crate) fn new(service: &str) -> Self {
        Self {
            service: service.to_owned(),
            slow: Mutex::new(SlowConsumerLog::default()),
            was_disconnected: std::sync::atomic::AtomicBool::new(false),
            shared: OnceLock::new(),
            early: Mutex::new(Vec::new()),
            connected: tokio::sync::watch::Sender::new(false),
            violations: Arc::default(),
        }
    }

    /// Waits until `client` is connected, for at most `bound`; true when it is.
    pub(crate) async fn wait_connected(
        &self,
        client: &async_nats::Client,
        bound: Duration,
    ) -> bool {
        let mut changed = self.connected.subscribe();
        let connected = async {
            while client.connection_state() != async_nats::connection::State::Connected {
                // The event wakes us at once; the poll covers an event the client dropped
                // (its event queue is bounded).
                let _ = tokio::time::timeout(CONNECT_POLL, changed.changed()).await;
            }
        };
        tokio::time::timeout(bound, connected).await.is_ok()
    }

    /// Feeds events to this connection's metrics and health, counting those that came
    /// before (the first `connected` usually does).
    pub(crate) fn attach(&self, shared: &Arc<Shared>) {
        let mut early = lock(&self.early);
        let _ = self.shared.set(Arc::downgrade(shared));
        for name in early.drain(..) {
            shared.metrics.connection_event(name);
        }
    }

    /// Logs, counts and records one event.
    pub(crate) fn on_event(&self, event: &async_nats::Event) {
        let shared = self.shared.get().and_then(Weak::upgrade);
        let shared = shared.as_deref();
        let service = self.service.as_str();
        let name = match event {
            async_nats::Event::Connected => {
                self.connected.send_replace(true);
                if self.was_disconnected.swap(false, Ordering::AcqRel) {
                    tracing::info!(%service, "reconnected to NATS");
                    "reconnected"
                } else {
                    tracing::info!(%service, "connected to NATS");
                    "connected"
                }
            }
            async_nats::Event::Disconnected => {
                self.connected.send_replace(false);
                self.was_disconnected.store(true, Ordering::Release);
                if let Some(s) = shared {
                    s.health.disconnected();
                }
                tracing::warn!(%service, "disconnected from NATS; reconnecting");
                "disconnected"
            }
            async_nats::Event::SlowConsumer(sid) => {
                self.slow_consumer(*sid);
                "slow_consumer"
            }
            async_nats::Event::LameDuckMode => {
                tracing::warn!(%service, "server entered lame duck mode");
                "lame_duck"
            }
            async_nats::Event::Draining => "draining",
            async_nats::Event::Closed => {
                tracing::info!(%service, "NATS connection closed");
                "closed"
            }
            async_nats::Event::ServerError(e) => {
                let violation = match e {
                    async_nats::ServerError::Other(text) => self.violations.record(text),
                    _ => None,
                };
                match violation {
                    // A configuration problem, not a transient one: what failed because of
                    // it reports Error::PermissionDenied.
                    Some(v) => {
                        tracing::error!(%service, permission = v.permission.config_key(), subject = %v.subject, "the NATS server denied this connection permission to {} {:?}", v.permission, v.subject);
                    }
                    None => tracing::warn!(%service, error = %e, "NATS server error"),
                }
                "server_error"
            }
            async_nats::Event::ClientError(e) => {
                tracing::warn!(%service, error = %e, "NATS client error");
                "client_error"
            }
        };
        match shared {
            Some(s) => {
                s.metrics.connection_event(name);
                if matches!(event, async_nats::Event::Connected) {
                    s.health.probe_now.notify_one();
                }
            }
            None => {
                let mut early = lock(&self.early);
                // attach() may have run since the check above.
                match self.shared.get().and_then(Weak::upgrade) {
                    Some(s) => s.metrics.connection_event(name),
                    None => early.push(name),
                }
            }
        }
    }

    fn slow_consumer(&self, sid: u64) {
        let mut log = lock(&self.slow);
        let now = Instant::now();
        let due = log
            .last_logged
            .is_none_or(|t| now.saturating_duration_since(t) >= SLOW_CONSUMER_LOG_WINDOW);
        if due {
            let suppressed = std::mem::take(&mut log.suppressed);
            log.last_logged = Some(now);
            tracing::warn!(service = %self.service, sid, suppressed, "slow consumer: messages dropped");
        } else {
            log.suppressed += 1;
        }
    }
}
