//! [`Health`]: is the connection up and is every queue consumed? Cheap: no I/O, read from
//! lapin's connection state and flags the consumer loops keep.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// One queue's consumer, as the connection's health sees it.
#[derive(Debug, Clone)]
pub(crate) struct QueueHealth {
    pub(crate) queue: String,
    pub(crate) consuming: Arc<AtomicBool>,
}

impl QueueHealth {
    pub(crate) fn new(queue: impl Into<String>) -> Self {
        Self {
            queue: queue.into(),
            consuming: Arc::new(AtomicBool::new(false)),
        }
    }

    pub(crate) fn set(&self, consuming: bool) {
        self.consuming.store(consuming, Ordering::Release);
    }
}

/// A snapshot of a connection's health.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// lapin reports the connection as connected (false while it recovers).
    pub connected: bool,
    /// [`Connection::close`](crate::Connection::close) has begun.
    pub closed: bool,
    /// Each queue and whether its consumer is running.
    pub queues: Vec<(String, bool)>,
}

impl Health {
    pub(crate) fn new(connected: bool, closed: bool, queues: &[QueueHealth]) -> Self {
        Self {
            connected,
            closed,
            queues: queues
                .iter()
                .map(|q| (q.queue.clone(), q.consuming.load(Ordering::Acquire)))
                .collect(),
        }
    }

    /// Connected, not closing, and every queue consumed.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.connected && !self.closed && self.queues.iter().all(|(_, up)| *up)
    }

    /// The queues whose consumer is not running.
    #[must_use]
    pub fn stopped_queues(&self) -> Vec<&str> {
        self.queues
            .iter()
            .filter(|(_, up)| !up)
            .map(|(q, _)| q.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_connected_and_consuming() {
        let q = QueueHealth::new("q");
        let h = Health::new(true, false, std::slice::from_ref(&q));
        assert!(!h.is_ready());
        assert_eq!(h.stopped_queues(), ["q"]);
        q.set(true);
        assert!(Health::new(true, false, std::slice::from_ref(&q)).is_ready());
        assert!(!Health::new(false, false, std::slice::from_ref(&q)).is_ready());
        assert!(!Health::new(true, true, std::slice::from_ref(&q)).is_ready());
        assert!(Health::new(true, false, &[]).is_ready());
    }
}
