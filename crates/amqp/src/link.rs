//! The connection to RabbitMQ, and a new one when it is lost.
//!
//! lapin's own recovery is off: after a broker SIGKILL, lapin 4.12.3's I/O loop can spin
//! in "reconnecting" without ever reconnecting (frames serialised but unwritten keep it
//! from leaving its loop). Instead a supervisor task notices the loss, connects again
//! with backoff, re-declares the exchanges, and swaps the new connection in; every
//! channel holder (publishers, consumers, the requests channel) opens a fresh channel on
//! it when its old one fails.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use futures::StreamExt;
use lapin::uri::AMQPUri;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::declare::ExchangeSpec;
use crate::metrics::Instruments;

/// The first wait between two connection attempts; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How often the supervisor looks at the connection's state besides lapin's events.
const POLL: Duration = Duration::from_secs(1);

/// Where and how to connect again: the parsed URL (with its secret: never logged, no
/// `Debug`), the connection name, the redacted URL for logs, the connect timeout.
pub(crate) struct Target {
    pub(crate) uri: AMQPUri,
    pub(crate) name: String,
    pub(crate) redacted: String,
    pub(crate) timeout: Duration,
}

/// The current connection, replaced by the supervisor after a loss.
pub(crate) struct Link {
    current: RwLock<Arc<lapin::Connection>>,
    /// Bumped on every swap, so waiters learn of a new connection.
    generation: watch::Sender<u64>,
    target: Target,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("url", &self.target.redacted)
            .field("generation", &*self.generation.borrow())
            .finish_non_exhaustive()
    }
}

impl Link {
    pub(crate) fn new(connection: Arc<lapin::Connection>, target: Target) -> Self {
        Self {
            current: RwLock::new(connection),
            generation: watch::Sender::new(0),
            target,
        }
    }

    /// The connection in use now (possibly one that is down).
    pub(crate) fn current(&self) -> Arc<lapin::Connection> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Whether the connection in use is up.
    pub(crate) fn is_connected(&self) -> bool {
        self.current().status().connected()
    }

    /// The redacted URL, for messages.
    pub(crate) fn url(&self) -> &str {
        &self.target.redacted
    }

    /// A connection that is up, waiting up to `within` for the supervisor to replace a
    /// lost one; `None` when none came.
    pub(crate) async fn connected(&self, within: Duration) -> Option<Arc<lapin::Connection>> {
        let deadline = Instant::now() + within;
        let mut changes = self.generation.subscribe();
        loop {
            let connection = self.current();
            if connection.status().connected() {
                return Some(connection);
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                // Timed out, or the supervisor is gone (the connection was closed).
                Ok(Err(_)) | Err(_) => return None,
            }
        }
    }

    /// Watches the connection until `shutdown`, and replaces it whenever it is lost.
    /// Counts `disconnected` and `reconnected` in `metrics`.
    pub(crate) async fn supervise(
        self: Arc<Self>,
        shutdown: CancellationToken,
        exchanges: Vec<ExchangeSpec>,
        metrics: Instruments,
    ) {
        loop {
            let connection = self.current();
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = lost(&connection) => {}
            }
            if shutdown.is_cancelled() {
                return;
            }
            drop(connection);
            let since = Instant::now();
            metrics.connection_event("disconnected");
            tracing::warn!(url = %self.target.redacted, "lost the connection to RabbitMQ; connecting again");
            let Some(fresh) = self.reconnect(&shutdown).await else {
                return;
            };
            redeclare(&fresh, &exchanges).await;
            *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(fresh);
            self.generation.send_modify(|g| *g += 1);
            metrics.connection_event("reconnected");
            tracing::info!(url = %self.target.redacted, after = ?since.elapsed(), "connected to RabbitMQ again");
        }
    }

    /// Connects with backoff until it works; `None` on shutdown.
    async fn reconnect(&self, shutdown: &CancellationToken) -> Option<lapin::Connection> {
        let mut delay = FIRST_BACKOFF;
        let mut attempts = 0u32;
        loop {
            let t = &self.target;
            let attempt = crate::connect::connect(t.uri.clone(), &t.name, &t.redacted, t.timeout);
            let outcome = tokio::select! {
                () = shutdown.cancelled() => return None,
                r = attempt => r,
            };
            match outcome {
                Ok(c) => return Some(c),
                Err(e) => {
                    attempts += 1;
                    // Once the backoff is at its cap, one line per attempt: an outage of
                    // minutes logs a line every 2 s, not thousands.
                    if attempts == 1 || delay == MAX_BACKOFF {
                        tracing::warn!(url = %t.redacted, attempts, error = %e, retry_in = ?delay, "reconnecting to RabbitMQ failed");
                    } else {
                        tracing::debug!(url = %t.redacted, attempts, error = %e, retry_in = ?delay, "reconnecting to RabbitMQ failed");
                    }
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return None,
                () = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(MAX_BACKOFF);
        }
    }
}

/// Resolves once `connection` is no longer up: on lapin's error event, or at the next
/// look at its state (a close by the broker sends no event).
async fn lost(connection: &lapin::Connection) {
    let mut events = connection.events_listener();
    loop {
        if !connection.status().connected() {
            return;
        }
        tokio::select! {
            event = events.next() => {
                if event.is_none() {
                    return;
                }
            }
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Declares the exchanges again (a broker that lost its data has none); the queues and
/// bindings are declared again by their consumers. A failure is logged and left to them.
async fn redeclare(connection: &lapin::Connection, exchanges: &[ExchangeSpec]) {
    let setup = match connection.create_channel().await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "could not open a channel to declare the exchanges again");
            return;
        }
    };
    for x in exchanges {
        if let Err(e) = x.declare(&setup).await {
            tracing::warn!(error = %e, "declaring an exchange again failed");
            break;
        }
    }
    if setup.status().connected() {
        let _ = setup.close(200, "OK".into()).await;
    }
}
