//! Success and error notifications on caller-provided channels. Sending never blocks:
//! a full channel drops the notification and counts the drop.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use messaging_spec::{DeliveryInfo, ErrorNotification, Notification};
use tokio::sync::mpsc;

use crate::error::Error;

#[derive(Debug, Default)]
pub(crate) struct Observer {
    pub(crate) notifications: Option<mpsc::Sender<Notification>>,
    pub(crate) errors: Option<mpsc::Sender<ErrorNotification>>,
    dropped: AtomicU64,
    #[cfg(feature = "metrics")]
    dropped_metric: Option<prometheus::IntCounter>,
}

impl Observer {
    pub(crate) fn new(
        notifications: Option<mpsc::Sender<Notification>>,
        errors: Option<mpsc::Sender<ErrorNotification>>,
    ) -> Self {
        Self {
            notifications,
            errors,
            dropped: AtomicU64::new(0),
            #[cfg(feature = "metrics")]
            dropped_metric: None,
        }
    }

    /// Also counts drops in `nats_notifications_dropped`.
    #[cfg(feature = "metrics")]
    pub(crate) fn with_drop_metric(mut self, counter: Option<prometheus::IntCounter>) -> Self {
        self.dropped_metric = counter;
        self
    }

    fn drop_one(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(c) = &self.dropped_metric {
            c.inc();
        }
    }

    /// True when someone listens, so callers can skip cloning delivery info otherwise.
    pub(crate) fn wants(&self) -> bool {
        self.notifications.is_some() || self.errors.is_some()
    }

    pub(crate) fn success(&self, info: DeliveryInfo, duration: Duration) {
        if let Some(tx) = &self.notifications
            && tx.try_send(Notification::consumer(info, duration)).is_err()
        {
            self.drop_one();
        }
    }

    pub(crate) fn failure(&self, error: Error, info: DeliveryInfo, duration: Duration) {
        if let Some(tx) = &self.errors {
            let n = ErrorNotification::consumer(Arc::new(error), info, duration);
            if tx.try_send(n).is_err() {
                self.drop_one();
            }
        }
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}
