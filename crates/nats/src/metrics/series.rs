//! Label handles per (group, routing key), cached and created on first use so recording
//! allocates nothing after the first message of its kind.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use prometheus::{Histogram, HistogramVec, IntCounter, IntCounterVec};

use super::Collectors;

/// The label values of one series family member, kept for lazy handle creation.
pub(super) struct Labels {
    pub(super) group: Box<str>,
    pub(super) key: Box<str>,
}

impl Labels {
    pub(super) fn counter<'a>(
        &self,
        cell: &'a OnceLock<IntCounter>,
        vec: &IntCounterVec,
    ) -> &'a IntCounter {
        cell.get_or_init(|| vec.with_label_values(&[&*self.group, &*self.key]))
    }

    pub(super) fn histogram<'a>(
        &self,
        cell: &'a OnceLock<Histogram>,
        vec: &HistogramVec,
        result: &str,
    ) -> &'a Histogram {
        cell.get_or_init(|| vec.with_label_values(&[&*self.group, &*self.key, result]))
    }
}

pub(super) trait Series: Send + Sync + 'static {
    fn new(labels: Labels) -> Self;
}

/// Handles for one (group, mapped routing key), created on first use.
pub(super) struct Group<S> {
    pub(super) label: Box<str>,
    pub(super) keys: RwLock<HashMap<Box<str>, Arc<S>>>,
}

/// Groups (consumers, streams, services) by label, each with its routing keys.
pub(super) struct Table<S> {
    pub(super) groups: RwLock<HashMap<Box<str>, Arc<Group<S>>>>,
}

impl<S: Series> Table<S> {
    pub(super) fn new() -> Self {
        Self {
            groups: RwLock::new(HashMap::new()),
        }
    }

    pub(super) fn group(&self, label: &str) -> Arc<Group<S>> {
        if let Some(g) = self.groups.read().ok().and_then(|m| m.get(label).cloned()) {
            return g;
        }
        let mut map = match self.groups.write() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        Arc::clone(map.entry(label.into()).or_insert_with(|| {
            Arc::new(Group {
                label: label.into(),
                keys: RwLock::new(HashMap::new()),
            })
        }))
    }

    pub(super) fn get(&self, collectors: &Collectors, group: &str, key: &str) -> Arc<S> {
        let key = collectors.label(key);
        let group = self.group(group);
        if let Some(s) = group.keys.read().ok().and_then(|m| m.get(&*key).cloned()) {
            return s;
        }
        let mut map = match group.keys.write() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        let labels = Labels {
            group: group.label.clone(),
            key: key.as_ref().into(),
        };
        Arc::clone(
            map.entry(key.into())
                .or_insert_with(|| Arc::new(S::new(labels))),
        )
    }
}

pub(super) struct ConsumerSeries {
    pub(super) labels: Labels,
    pub(super) received: OnceLock<IntCounter>,
    pub(super) redelivered: OnceLock<IntCounter>,
    pub(super) ack: OnceLock<IntCounter>,
    pub(super) nak: OnceLock<IntCounter>,
    pub(super) term: OnceLock<IntCounter>,
    pub(super) without_handler: OnceLock<IntCounter>,
    pub(super) not_parsable: OnceLock<IntCounter>,
    pub(super) processed_ack: OnceLock<Histogram>,
    pub(super) processed_nak: OnceLock<Histogram>,
}

impl Series for ConsumerSeries {
    fn new(labels: Labels) -> Self {
        Self {
            labels,
            received: OnceLock::new(),
            redelivered: OnceLock::new(),
            ack: OnceLock::new(),
            nak: OnceLock::new(),
            term: OnceLock::new(),
            without_handler: OnceLock::new(),
            not_parsable: OnceLock::new(),
            processed_ack: OnceLock::new(),
            processed_nak: OnceLock::new(),
        }
    }
}

pub(super) struct PublishSeries {
    pub(super) labels: Labels,
    pub(super) succeed: OnceLock<IntCounter>,
    pub(super) failed: OnceLock<IntCounter>,
    pub(super) ok: OnceLock<Histogram>,
    pub(super) error: OnceLock<Histogram>,
}

impl Series for PublishSeries {
    fn new(labels: Labels) -> Self {
        Self {
            labels,
            succeed: OnceLock::new(),
            failed: OnceLock::new(),
            ok: OnceLock::new(),
            error: OnceLock::new(),
        }
    }
}

pub(super) struct RequestSeries {
    pub(super) labels: Labels,
    pub(super) ok: OnceLock<Histogram>,
    pub(super) error: OnceLock<Histogram>,
    pub(super) remote_error: OnceLock<Histogram>,
    pub(super) handled_ok: OnceLock<IntCounter>,
    pub(super) handled_error: OnceLock<IntCounter>,
}

impl Series for RequestSeries {
    fn new(labels: Labels) -> Self {
        Self {
            labels,
            ok: OnceLock::new(),
            error: OnceLock::new(),
            remote_error: OnceLock::new(),
            handled_ok: OnceLock::new(),
            handled_error: OnceLock::new(),
        }
    }
}

impl RequestSeries {
    pub(super) fn handled(&self, vec: &IntCounterVec, ok: bool) -> &IntCounter {
        let (cell, result) = if ok {
            (&self.handled_ok, "OK")
        } else {
            (&self.handled_error, "ERROR")
        };
        cell.get_or_init(|| {
            vec.with_label_values(&[&*self.labels.group, &*self.labels.key, result])
        })
    }
}
