//! Opt-in duplicate filtering by `ce-id`: at-least-once delivery redelivers after a
//! restart or a lost ack, and a filter keeps handlers from seeing an id twice within a
//! window. The in-process part lives here; a transport may add a shared store (NATS: a
//! JetStream key-value bucket) so several instances agree.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::Settlement;

/// The most ids one in-process filter remembers, however long its window: beyond it the
/// oldest are forgotten first, so memory stays bounded under any rate.
pub const MAX_REMEMBERED: usize = 1_000_000;

/// How long a delivery whose id another delivery is handling right now
/// ([`Check::Running`]) waits before it comes back.
pub const RUNNING_RETRY: Duration = Duration::from_secs(1);

/// How a consumer filters duplicates ([`ConsumerOptions::deduplicate`](crate::ConsumerOptions::deduplicate)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Deduplicate {
    /// How long a handled id is remembered.
    pub window: Duration,
    /// True to share the ids between instances through the transport's store (NATS: a
    /// key-value bucket); the in-process filter is used as well.
    pub shared: bool,
}

/// Ids handled within the window, in this process.
#[derive(Debug)]
pub struct DedupFilter {
    window: Duration,
    inner: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    at: HashMap<String, Instant>,
    order: VecDeque<(Instant, String)>,
    /// Ids a handler is working on now.
    running: HashSet<String>,
}

/// What [`DedupFilter::begin`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Check {
    /// Not seen: handle it, then call [`DedupFilter::finish`].
    Fresh,
    /// Handled within the window: ack it without handling.
    Handled,
    /// Another delivery of it is being handled now: settle this one later (a delayed
    /// retry), when the first has succeeded or failed.
    Running,
}

impl Check {
    /// How to settle a delivery this check keeps from the handler: `None` when it is
    /// [`Check::Fresh`]. A handled duplicate is acked as its first delivery was; one being
    /// handled right now comes back after [`RUNNING_RETRY`], once that one has finished.
    #[must_use]
    pub fn settlement(self) -> Option<Settlement> {
        match self {
            Self::Fresh => None,
            Self::Handled => Some(Settlement::Ack),
            Self::Running => Some(Settlement::Retry(Some(RUNNING_RETRY))),
        }
    }
}

impl DedupFilter {
    /// A filter remembering ids for `window`.
    #[must_use]
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            inner: Mutex::default(),
        }
    }

    fn expire(&self, seen: &mut Seen, now: Instant) {
        while let Some((at, _)) = seen.order.front() {
            if now.duration_since(*at) < self.window && seen.order.len() <= MAX_REMEMBERED {
                break;
            }
            if let Some((at, id)) = seen.order.pop_front()
                && seen.at.get(&id) == Some(&at)
            {
                seen.at.remove(&id);
            }
        }
    }

    /// True when `id` was handled within the window.
    #[must_use]
    pub fn contains(&self, id: &str) -> bool {
        let mut seen = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        self.expire(&mut seen, Instant::now());
        seen.at.contains_key(id)
    }

    /// Remembers that `id` was handled now.
    pub fn insert(&self, id: &str) {
        let now = Instant::now();
        let mut seen = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        seen.at.insert(id.to_owned(), now);
        seen.order.push_back((now, id.to_owned()));
        self.expire(&mut seen, now);
    }

    /// Checks `id` and, when it is [`Check::Fresh`], marks it running.
    #[must_use]
    pub fn begin(&self, id: &str) -> Check {
        let mut seen = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        self.expire(&mut seen, Instant::now());
        if seen.at.contains_key(id) {
            Check::Handled
        } else if !seen.running.insert(id.to_owned()) {
            Check::Running
        } else {
            Check::Fresh
        }
    }

    /// Ends a [`Check::Fresh`] delivery: remembered when it was `handled`, forgotten
    /// otherwise so its redelivery is handled.
    pub fn finish(&self, id: &str, handled: bool) {
        let now = Instant::now();
        let mut seen = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        seen.running.remove(id);
        if handled {
            seen.at.insert(id.to_owned(), now);
            seen.order.push_back((now, id.to_owned()));
        }
        self.expire(&mut seen, now);
    }

    /// Ids remembered now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .at
            .len()
    }

    /// True when nothing is remembered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn ids_are_remembered_for_the_window() {
        let f = DedupFilter::new(Duration::from_secs(60));
        assert!(!f.contains("a"));
        f.insert("a");
        assert!(f.contains("a"));
        tokio::time::advance(Duration::from_secs(59)).await;
        f.insert("b");
        assert!(f.contains("a"));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(!f.contains("a"), "expired after exactly the window");
        assert!(f.contains("b"));
        assert_eq!(f.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_running_id_is_neither_fresh_nor_handled() {
        let f = DedupFilter::new(Duration::from_secs(10));
        assert_eq!(f.begin("a"), Check::Fresh);
        assert_eq!(f.begin("a"), Check::Running);
        f.finish("a", false);
        assert_eq!(
            f.begin("a"),
            Check::Fresh,
            "a failed delivery is handled again"
        );
        f.finish("a", true);
        assert_eq!(f.begin("a"), Check::Handled);
        assert_eq!(Check::Handled.settlement(), Some(Settlement::Ack));
        assert_eq!(f.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn re_inserting_extends_an_id() {
        let f = DedupFilter::new(Duration::from_secs(10));
        f.insert("a");
        tokio::time::advance(Duration::from_secs(8)).await;
        f.insert("a");
        tokio::time::advance(Duration::from_secs(8)).await;
        assert!(f.contains("a"));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(!f.contains("a"));
        assert!(f.is_empty());
    }
}
