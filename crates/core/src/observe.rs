//! Success and error notifications on caller-provided channels. Sending never blocks:
//! a full channel drops the notification and counts the drop.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use messaging_spec::{DeliveryInfo, ErrorNotification, Notification};
use tokio::sync::mpsc;

use crate::error::Error;

/// Called once per dropped notification (a transport counts drops in its metrics).
pub type DropHook = Arc<dyn Fn() + Send + Sync>;

/// Sends notifications for handled deliveries, never blocking the consumer.
#[derive(Default)]
pub struct Observer {
    notifications: Option<mpsc::Sender<Notification>>,
    errors: Option<mpsc::Sender<ErrorNotification>>,
    dropped: AtomicU64,
    on_drop: Option<DropHook>,
}

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observer")
            .field("notifications", &self.notifications.is_some())
            .field("errors", &self.errors.is_some())
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl Observer {
    /// Notifies on the given channels (either may be absent).
    #[must_use]
    pub fn new(
        notifications: Option<mpsc::Sender<Notification>>,
        errors: Option<mpsc::Sender<ErrorNotification>>,
    ) -> Self {
        Self {
            notifications,
            errors,
            dropped: AtomicU64::new(0),
            on_drop: None,
        }
    }

    /// Also calls `hook` for every dropped notification.
    #[must_use]
    pub fn with_drop_hook(mut self, hook: Option<DropHook>) -> Self {
        self.on_drop = hook;
        self
    }

    fn drop_one(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        if let Some(hook) = &self.on_drop {
            hook();
        }
    }

    /// True when someone listens, so callers can skip cloning delivery info otherwise.
    #[must_use]
    pub fn wants(&self) -> bool {
        self.notifications.is_some() || self.errors.is_some()
    }

    /// A delivery was handled.
    pub fn success(&self, info: DeliveryInfo, duration: Duration) {
        if let Some(tx) = &self.notifications
            && tx.try_send(Notification::consumer(info, duration)).is_err()
        {
            self.drop_one();
        }
    }

    /// A delivery failed with `error`.
    pub fn failure(&self, error: Error, info: DeliveryInfo, duration: Duration) {
        if let Some(tx) = &self.errors {
            let n = ErrorNotification::consumer(Arc::new(error), info, duration);
            if tx.try_send(n).is_err() {
                self.drop_one();
            }
        }
    }

    /// Notifications dropped so far because their channel was full.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}
