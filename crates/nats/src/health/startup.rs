//! How far the bring-up of a connection has got. Without `optional_broker` it is done
//! before `start()` returns; with it, it runs in the background, and until it is done
//! health and publishers say why: the broker is unreachable, or the bring-up failed and
//! is retried.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_nats::connection::State;

use super::HealthProblem;
use crate::error::{Error, Result};

/// The bring-up state shared by the connection, its publishers and the client's callbacks.
#[derive(Debug)]
pub(crate) struct Startup {
    /// Streams, consumers and request handlers are up (from the start without
    /// `optional_broker`). Read on every publish, so it is an atomic.
    up: AtomicBool,
    /// The connection was closed or dropped: the client must stop trying to connect.
    abandoned: AtomicBool,
    /// The server URLs, redacted, for messages.
    url: String,
    pending: Mutex<Pending>,
}

#[derive(Debug, Default)]
struct Pending {
    /// What async-nats said about the last failed connection attempt.
    connect_error: Option<String>,
    /// The client gave up connecting (`max_reconnects` attempts failed).
    gave_up: bool,
    /// Why the last bring-up attempt failed, while connected.
    failure: Option<String>,
}

/// What the bring-up is waiting for, as health reports it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Waiting {
    /// Nothing: it is done.
    Nothing,
    /// Connected, and setting up (no failure so far).
    SettingUp,
    /// A reason not to be ready.
    Problem(HealthProblem),
}

/// How long the client waits before another connection attempt once the connection was
/// abandoned: in effect never (async-nats cannot cancel its initial connect loop).
const PARKED: Duration = Duration::from_secs(365 * 24 * 3600);

/// async-nats's default reconnect delay: none for the first attempt, then 2^(n-1) ms,
/// capped at 4 s.
fn default_delay(attempts: usize) -> Duration {
    if attempts <= 1 {
        return Duration::ZERO;
    }
    let exp = u32::try_from(attempts - 1).unwrap_or(u32::MAX);
    Duration::from_millis(2_u64.saturating_pow(exp)).min(Duration::from_secs(4))
}

fn lock(m: &Mutex<Pending>) -> std::sync::MutexGuard<'_, Pending> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Startup {
    /// A bring-up that `start()` finished itself.
    pub(crate) fn done() -> Self {
        Self {
            up: AtomicBool::new(true),
            abandoned: AtomicBool::new(false),
            url: String::new(),
            pending: Mutex::default(),
        }
    }

    /// A bring-up left to the background, for a broker at `url` (redacted).
    pub(crate) fn pending(url: String) -> Self {
        Self {
            up: AtomicBool::new(false),
            abandoned: AtomicBool::new(false),
            url,
            pending: Mutex::default(),
        }
    }

    /// Streams, consumers and request handlers are up.
    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// The bring-up finished.
    pub(crate) fn finished(&self) {
        *lock(&self.pending) = Pending::default();
        self.up.store(true, Ordering::Release);
    }

    /// A bring-up attempt failed while connected; it is retried.
    pub(crate) fn failed(&self, reason: String) {
        lock(&self.pending).failure = Some(reason);
    }

    /// The connection was closed or dropped: no further connection attempts.
    pub(crate) fn abandon(&self) {
        self.abandoned.store(true, Ordering::Release);
    }

    /// The delay before connection attempt number `attempts`: async-nats's default, or
    /// (once abandoned) so long that the client in effect stops trying.
    pub(crate) fn reconnect_delay(&self, attempts: usize) -> Duration {
        if self.abandoned.load(Ordering::Acquire) {
            PARKED
        } else {
            default_delay(attempts)
        }
    }

    /// Records what a client event says about connecting (only until the bring-up is done).
    pub(crate) fn on_event(&self, event: &async_nats::Event) {
        if self.is_up() {
            return;
        }
        let mut p = lock(&self.pending);
        match event {
            async_nats::Event::Connected => p.connect_error = None,
            async_nats::Event::ClientError(async_nats::ClientError::MaxReconnects) => {
                p.gave_up = true;
            }
            async_nats::Event::ClientError(e) => {
                let text = e.to_string();
                let text = text.strip_prefix("nats: ").unwrap_or(&text);
                p.connect_error = Some(text.to_owned());
            }
            _ => {}
        }
    }

    /// The client gave up connecting.
    pub(crate) fn gave_up(&self) -> bool {
        lock(&self.pending).gave_up
    }

    /// What health reports while the bring-up is not done, given the client's state.
    pub(crate) fn waiting(&self, state: &State) -> Waiting {
        if self.is_up() {
            return Waiting::Nothing;
        }
        let p = lock(&self.pending);
        if p.gave_up {
            return Waiting::Problem(HealthProblem::BrokerUnreachable {
                url: self.url.clone(),
                last_error: Some(
                    "gave up after max_reconnects attempts; start the connection again".to_owned(),
                ),
            });
        }
        if *state != State::Connected {
            return Waiting::Problem(HealthProblem::BrokerUnreachable {
                url: self.url.clone(),
                last_error: p.connect_error.clone(),
            });
        }
        match &p.failure {
            Some(reason) => Waiting::Problem(HealthProblem::StartFailed {
                reason: reason.clone(),
            }),
            None => Waiting::SettingUp,
        }
    }

    /// `Ok` once the bring-up is done; before, [`Error::NotConnected`] saying why.
    pub(crate) fn check(&self, state: &State) -> Result<()> {
        if self.is_up() {
            return Ok(());
        }
        Err(self.not_connected(state))
    }

    #[cold]
    fn not_connected(&self, state: &State) -> Error {
        const RETRYING: &str = "; it keeps trying in the background (optional_broker), retry later";
        let reason = match self.waiting(state) {
            Waiting::Problem(HealthProblem::BrokerUnreachable {
                last_error: Some(e),
                ..
            }) if self.gave_up() => format!("the client {e}"),
            Waiting::Problem(HealthProblem::BrokerUnreachable { last_error, .. }) => {
                let last = last_error.map(|e| format!(" ({e})")).unwrap_or_default();
                format!("the server is unreachable{last}{RETRYING}")
            }
            Waiting::Problem(HealthProblem::StartFailed { reason }) => {
                format!("setting up streams, consumers and handlers failed: {reason}{RETRYING}")
            }
            Waiting::Problem(other) => format!("{other}{RETRYING}"),
            Waiting::SettingUp | Waiting::Nothing => {
                format!("streams, consumers and request handlers are being set up{RETRYING}")
            }
        };
        Error::NotConnected {
            url: self.url.clone(),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_is_async_nats_default_until_abandoned() {
        let s = Startup::pending("nats://h:1".to_owned());
        let delays: Vec<_> = [1, 2, 3, 11, 12, 13, 100]
            .map(|n| s.reconnect_delay(n))
            .to_vec();
        let ms = Duration::from_millis;
        assert_eq!(
            delays,
            [ms(0), ms(2), ms(4), ms(1024), ms(2048), ms(4000), ms(4000)]
        );
        s.abandon();
        assert_eq!(s.reconnect_delay(1), PARKED);
    }

    #[test]
    fn waiting_says_why_until_finished() {
        let s = Startup::pending("nats://h:1".to_owned());
        assert!(
            matches!(s.check(&State::Pending), Err(Error::NotConnected { ref url, .. }) if url == "nats://h:1")
        );
        s.on_event(&async_nats::Event::ClientError(
            async_nats::ClientError::Other("IO error".to_owned()),
        ));
        assert_eq!(
            s.waiting(&State::Pending),
            Waiting::Problem(HealthProblem::BrokerUnreachable {
                url: "nats://h:1".to_owned(),
                last_error: Some("IO error".to_owned()),
            })
        );
        s.on_event(&async_nats::Event::Connected);
        assert_eq!(s.waiting(&State::Connected), Waiting::SettingUp);
        s.failed("JetStream is not enabled".to_owned());
        assert_eq!(
            s.waiting(&State::Connected),
            Waiting::Problem(HealthProblem::StartFailed {
                reason: "JetStream is not enabled".to_owned()
            })
        );
        let Err(Error::NotConnected { reason, .. }) = s.check(&State::Connected) else {
            panic!("expected NotConnected");
        };
        assert!(reason.contains("JetStream is not enabled"), "{reason}");
        s.finished();
        assert_eq!(s.waiting(&State::Disconnected), Waiting::Nothing);
        assert!(s.check(&State::Disconnected).is_ok());
    }

    #[test]
    fn giving_up_is_reported() {
        let s = Startup::pending("nats://h:1".to_owned());
        s.on_event(&async_nats::Event::ClientError(
            async_nats::ClientError::MaxReconnects,
        ));
        assert!(s.gave_up());
        let Waiting::Problem(HealthProblem::BrokerUnreachable { last_error, .. }) =
            s.waiting(&State::Pending)
        else {
            panic!("expected BrokerUnreachable");
        };
        assert!(last_error.is_some_and(|e| e.contains("max_reconnects")));
    }
}
