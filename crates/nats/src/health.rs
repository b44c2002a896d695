//! Liveness of consumers: which are bound and fetching, and when they last fetched.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

/// What one consumer is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConsumerState {
    pub(crate) fetching: bool,
    pub(crate) last_fetch: Option<Instant>,
}

#[derive(Debug, Default)]
pub(crate) struct HealthTracker {
    consumers: Mutex<BTreeMap<String, ConsumerState>>,
}

impl HealthTracker {
    pub(crate) fn register(&self, label: &str) {
        if let Ok(mut map) = self.consumers.lock() {
            map.entry(label.to_owned()).or_insert(ConsumerState {
                fetching: false,
                last_fetch: None,
            });
        }
    }

    pub(crate) fn fetching(&self, label: &str, fetching: bool) {
        if let Ok(mut map) = self.consumers.lock() {
            if let Some(s) = map.get_mut(label) {
                s.fetching = fetching;
            }
        }
    }

    pub(crate) fn fetched(&self, label: &str) {
        if let Ok(mut map) = self.consumers.lock() {
            if let Some(s) = map.get_mut(label) {
                s.fetching = true;
                s.last_fetch = Some(Instant::now());
            }
        }
    }

    #[allow(dead_code)] // read by the health API
    pub(crate) fn snapshot(&self) -> BTreeMap<String, ConsumerState> {
        self.consumers.lock().map(|m| m.clone()).unwrap_or_default()
    }
}
