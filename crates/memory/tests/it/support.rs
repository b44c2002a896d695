//! Shared helpers: a recorder handlers write into, and the tests' result type.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use messaging_spec::{ConsumableEvent, ErrorNotification, HandlerError, Notification};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::time::Instant;

pub(crate) type Res = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Generous bound on every wait: with the paused clock it costs nothing, and a test that
/// cannot make progress fails with a typed timeout instead of hanging.
pub(crate) const WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Order {
    pub(crate) id: u64,
}

/// Everything handlers saw, shared between the test and its handlers.
#[derive(Debug)]
pub(crate) struct Seen<T> {
    items: Arc<Mutex<Vec<T>>>,
}

impl<T> Clone for Seen<T> {
    fn clone(&self) -> Self {
        Self {
            items: Arc::clone(&self.items),
        }
    }
}

impl<T: Clone> Seen<T> {
    pub(crate) fn new() -> Self {
        Self {
            items: Arc::new(Mutex::new(Vec::new())),
        }
    }

    pub(crate) fn push(&self, item: T) {
        self.items
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(item);
    }

    pub(crate) fn all(&self) -> Vec<T> {
        self.items
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn len(&self) -> usize {
        self.items
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// A handler recording each event (payload type `T`) with the virtual time it ran.
pub(crate) fn recorder<T>(
    seen: &Seen<(ConsumableEvent<T>, Instant)>,
) -> impl Fn(ConsumableEvent<T>) -> std::future::Ready<Result<(), HandlerError>> + Send + Sync + 'static
where
    T: Clone + Send + Sync + 'static,
{
    let seen = seen.clone();
    move |ev| {
        seen.push((ev, Instant::now()));
        std::future::ready(Ok(()))
    }
}

/// Receiving ends of a connection's notification channels.
pub(crate) struct Notes {
    pub(crate) ok: mpsc::Receiver<Notification>,
    pub(crate) err: mpsc::Receiver<ErrorNotification>,
}

pub(crate) fn channels() -> (
    mpsc::Sender<Notification>,
    mpsc::Sender<ErrorNotification>,
    Notes,
) {
    let (ok_tx, ok) = mpsc::channel(1024);
    let (err_tx, err) = mpsc::channel(1024);
    (ok_tx, err_tx, Notes { ok, err })
}

/// An error notification, reduced to what the tests compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failed {
    NoHandler(String),
    Handler {
        key: String,
        retry: bool,
        text: String,
    },
    Panicked {
        key: String,
        message: String,
    },
    Undecodable(String),
    Other(String),
}

impl Failed {
    fn of(e: &(dyn std::error::Error + Send + Sync + 'static)) -> Self {
        use messaging_core::Error as E;
        match e.downcast_ref::<E>() {
            Some(E::NoHandler { routing_key }) => Self::NoHandler(routing_key.clone()),
            Some(E::Handler {
                routing_key,
                retry,
                source,
            }) => Self::Handler {
                key: routing_key.clone(),
                retry: *retry,
                text: source.to_string(),
            },
            Some(E::Panicked {
                routing_key,
                message,
            }) => Self::Panicked {
                key: routing_key.clone(),
                message: message.clone(),
            },
            Some(E::Undecodable { routing_key, .. }) => Self::Undecodable(routing_key.clone()),
            _ => Self::Other(e.to_string()),
        }
    }
}

impl Notes {
    /// Every error notification received so far, with its delivery info.
    pub(crate) fn errors(&mut self) -> Vec<(Failed, messaging_spec::DeliveryInfo)> {
        let mut out = Vec::new();
        while let Ok(n) = self.err.try_recv() {
            out.push((Failed::of(&*n.error), n.delivery_info));
        }
        out
    }

    /// Every success notification received so far.
    pub(crate) fn successes(&mut self) -> Vec<Notification> {
        let mut out = Vec::new();
        while let Ok(n) = self.ok.try_recv() {
            out.push(n);
        }
        out
    }
}

/// Virtual milliseconds since `t0`.
pub(crate) fn ms_since(t0: Instant, t: Instant) -> u128 {
    t.duration_since(t0).as_millis()
}
