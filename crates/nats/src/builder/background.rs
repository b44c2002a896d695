//! The bring-up of an `optional_broker` connection: wait for the first connection, set
//! up, and retry with backoff what fails while connected, until it succeeds or the
//! connection is closed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::connection::State;
use messaging_spec::{DeliveryInfo, ErrorNotification};
use tokio::sync::mpsc;

use super::bring_up::{BringUp, Work};
use crate::connection::Shared;
use crate::error::Error;
use crate::events::ConnectionEvents;

/// The wait after the first failed set-up; it doubles up to [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_secs(1);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);
/// How often the wait for the connection checks whether the client gave up.
const GAVE_UP_POLL: Duration = Duration::from_secs(1);

/// What the background bring-up reports failures to.
pub(super) struct Reporter {
    pub(super) errors: Option<mpsc::Sender<ErrorNotification>>,
}

impl Reporter {
    /// An error notification naming the service, carrying the [`Error`].
    fn failed(&self, service: &str, error: Error, took: Duration) {
        let Some(tx) = &self.errors else { return };
        let info = DeliveryInfo::new(service, "", "");
        if tx
            .try_send(ErrorNotification::consumer(Arc::new(error), info, took))
            .is_err()
        {
            tracing::debug!("error notification of a failed set-up dropped: channel full");
        }
    }
}

/// Runs until the bring-up succeeded, the client gave up, or the connection was closed.
/// Spawned on `loops`, so `close()` waits for it (every wait here ends at shutdown).
pub(super) async fn run(
    bring_up: BringUp,
    shared: Arc<Shared>,
    events: Arc<ConnectionEvents>,
    reporter: Reporter,
    first: Work,
) {
    let shutdown = shared.shutdown.clone();
    let startup = Arc::clone(&shared.health.startup);
    let span = bring_up.span.clone();
    let mut work = Some(first);
    let mut delay = FIRST_RETRY_DELAY;
    loop {
        let connected = async {
            while !events.wait_connected(&shared.client, GAVE_UP_POLL).await {
                if startup.gave_up() {
                    return false;
                }
            }
            true
        };
        let connected = tokio::select! {
            () = shutdown.cancelled() => return,
            c = connected => c,
        };
        if !connected {
            tracing::warn!(parent: &span, "gave up connecting to NATS (max_reconnects); the connection stays down");
            return;
        }
        let this = match work
            .take()
            .map_or_else(|| bring_up.replan(&shared.service), Ok)
        {
            Ok(w) => w,
            Err(e) => {
                tracing::error!(parent: &span, error = %e, "planning the set-up again failed");
                startup.failed(e.to_string());
                reporter.failed(shared.service.as_str(), e, Duration::ZERO);
                return;
            }
        };
        let began = Instant::now();
        let attempt = async {
            let prepared = bring_up.prepare(&shared, this).await?;
            bring_up.launch(&shared, prepared, false).await
        };
        let result = tokio::select! {
            () = shutdown.cancelled() => return,
            r = attempt => r,
        };
        match result {
            Ok(()) => {
                startup.finished();
                return;
            }
            // Lost the connection meanwhile: not a set-up failure, wait for it again.
            Err(e) if shared.client.connection_state() != State::Connected => {
                tracing::debug!(parent: &span, error = %e, "connection lost while setting up; waiting for it");
            }
            Err(e) => {
                tracing::warn!(parent: &span, error = %e, retry_in = ?delay, "setting up streams, consumers and handlers failed; retrying");
                startup.failed(e.to_string());
                reporter.failed(shared.service.as_str(), e, began.elapsed());
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(delay) => {}
                }
                delay = delay.saturating_mul(2).min(MAX_RETRY_DELAY);
            }
        }
    }
}
