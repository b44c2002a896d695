//! What a fault test's publisher had acknowledged and what its handlers saw, by `ce-id`,
//! shared by the NATS and RabbitMQ fault suites.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Bound on waiting for every acknowledged event to be handled after a fault.
pub const CATCH_UP: Duration = Duration::from_secs(60);

/// The figures a fault test prints and asserts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Figures {
    /// Publishes the stream acknowledged.
    pub acked: usize,
    /// Publishes that failed (not acknowledged, so not owed to anyone).
    pub failed: usize,
    /// Distinct acknowledged ids a handler saw.
    pub delivered: usize,
    /// Handler calls beyond the first for an id.
    pub duplicates: usize,
    /// Acknowledged ids no handler saw.
    pub lost: usize,
}

impl fmt::Display for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "acked {} / delivered {} / duplicates {} / lost {} (failed publishes {})",
            self.acked, self.delivered, self.duplicates, self.lost, self.failed
        )
    }
}

#[derive(Debug, Default)]
struct Inner {
    acked: HashSet<String>,
    failed: usize,
    seen: HashMap<String, usize>,
}

impl Inner {
    fn figures(&self, acked: &HashSet<String>) -> Figures {
        let delivered = acked
            .iter()
            .filter(|id| self.seen.contains_key(*id))
            .count();
        Figures {
            acked: acked.len(),
            failed: self.failed,
            delivered,
            duplicates: self.seen.values().map(|n| n - 1).sum(),
            lost: acked.len() - delivered,
        }
    }
}

/// Shared between the publisher task, the handlers and the test.
#[derive(Clone, Debug, Default)]
pub struct Tally(Arc<Mutex<Inner>>);

impl Tally {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The stream acknowledged `id`.
    pub fn acked(&self, id: String) {
        self.with(|t| t.acked.insert(id));
    }

    /// A publish failed.
    pub fn failed(&self) {
        self.with(|t| t.failed += 1);
    }

    /// A handler saw `id`.
    pub fn seen(&self, id: &str) {
        self.with(|t| *t.seen.entry(id.to_owned()).or_default() += 1);
    }

    /// Acknowledged so far.
    pub fn acked_count(&self) -> usize {
        self.with(|t| t.acked.len())
    }

    /// Handler calls so far.
    pub fn calls(&self) -> usize {
        self.with(|t| t.seen.values().sum())
    }

    /// Distinct ids handled so far.
    pub fn handled(&self) -> usize {
        self.with(|t| t.seen.len())
    }

    /// The ids acknowledged so far.
    pub fn acked_ids(&self) -> HashSet<String> {
        self.with(|t| t.acked.clone())
    }

    /// The figures now.
    pub fn figures(&self) -> Figures {
        self.with(|t| t.figures(&t.acked))
    }

    /// The figures of these handlers against another tally's acknowledgements (a second
    /// consumer of the same events).
    pub fn figures_for(&self, acked: &HashSet<String>) -> Figures {
        self.with(|t| t.figures(acked))
    }

    /// Waits (bounded by [`CATCH_UP`]) until every acknowledged id was handled, prints the
    /// figures under `name` and returns them.
    pub async fn settle(&self, name: &str) -> Figures {
        let deadline = tokio::time::Instant::now() + CATCH_UP;
        loop {
            let f = self.figures();
            if f.lost == 0 || tokio::time::Instant::now() >= deadline {
                // Past the test harness's capture, so the figures show in CI output.
                let _ = writeln!(std::io::stdout().lock(), "{name}: {f}");
                return f;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_count_by_id_against_either_tally() {
        let (publisher, twin) = (Tally::default(), Tally::default());
        publisher.acked("a".into());
        publisher.acked("b".into());
        publisher.failed();
        publisher.seen("a");
        publisher.seen("a");
        twin.seen("b");
        let want = Figures {
            acked: 2,
            failed: 1,
            delivered: 1,
            duplicates: 1,
            lost: 1,
        };
        assert_eq!(publisher.figures(), want);
        assert_eq!(
            twin.figures_for(&publisher.acked_ids()),
            Figures {
                failed: 0,
                duplicates: 0,
                ..want
            }
        );
        assert_eq!((publisher.calls(), publisher.handled()), (2, 1));
        assert_eq!(
            want.to_string(),
            "acked 2 / delivered 1 / duplicates 1 / lost 1 (failed publishes 1)"
        );
    }
}
