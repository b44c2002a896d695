//! What was acknowledged and what was handled, by `ce-id`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Bound on waiting for every acknowledged event to be handled after a fault.
pub(crate) const CATCH_UP: Duration = Duration::from_secs(60);

/// The figures a fault test prints and asserts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Figures {
    /// Publishes the stream acknowledged.
    pub(crate) acked: usize,
    /// Publishes that failed (not acknowledged, so not owed to anyone).
    pub(crate) failed: usize,
    /// Distinct acknowledged ids a handler saw.
    pub(crate) delivered: usize,
    /// Handler calls beyond the first for an id.
    pub(crate) duplicates: usize,
    /// Acknowledged ids no handler saw.
    pub(crate) lost: usize,
}

#[derive(Default)]
struct Inner {
    acked: HashSet<String>,
    failed: usize,
    seen: HashMap<String, usize>,
}

/// Shared between the publisher task, the handlers and the test.
#[derive(Clone, Default)]
pub(crate) struct Tally(Arc<Mutex<Inner>>);

impl Tally {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The stream acknowledged `id`.
    pub(crate) fn acked(&self, id: String) {
        self.with(|t| t.acked.insert(id));
    }

    /// A publish failed.
    pub(crate) fn failed(&self) {
        self.with(|t| t.failed += 1);
    }

    /// A handler saw `id`.
    pub(crate) fn seen(&self, id: &str) {
        self.with(|t| *t.seen.entry(id.to_owned()).or_default() += 1);
    }

    /// Acknowledged so far.
    pub(crate) fn acked_count(&self) -> usize {
        self.with(|t| t.acked.len())
    }

    /// Handler calls so far.
    pub(crate) fn calls(&self) -> usize {
        self.with(|t| t.seen.values().sum())
    }

    /// The figures now.
    pub(crate) fn figures(&self) -> Figures {
        self.with(|t| Figures {
            acked: t.acked.len(),
            failed: t.failed,
            delivered: t.acked.iter().filter(|id| t.seen.contains_key(*id)).count(),
            duplicates: t.seen.values().map(|n| n - 1).sum(),
            lost: t
                .acked
                .iter()
                .filter(|id| !t.seen.contains_key(*id))
                .count(),
        })
    }

    /// Waits (bounded by [`CATCH_UP`]) until every acknowledged id was handled, prints the
    /// figures under `name` and returns them.
    pub(crate) async fn settle(&self, name: &str) -> Figures {
        let deadline = tokio::time::Instant::now() + CATCH_UP;
        loop {
            let f = self.figures();
            if f.lost == 0 || tokio::time::Instant::now() >= deadline {
                figures!(
                    "{name}: acked {} / delivered {} / duplicates {} / lost {} (failed publishes {})",
                    f.acked,
                    f.delivered,
                    f.duplicates,
                    f.lost,
                    f.failed
                );
                return f;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
