//! Metrics switched off (feature `metrics` disabled): the same recording calls, doing nothing.

use std::time::Duration;

use messaging_core::Outcome;

/// No metrics.
#[derive(Default, Clone)]
pub(crate) struct Instruments;

impl Instruments {
    pub(crate) fn consumer(&self, _queue: &str, _key: &str) -> ConsumerRecorder {
        ConsumerRecorder
    }

    pub(crate) fn connection_event(&self, _event: &'static str) {}

    pub(crate) fn publish(&self, _exchange: &str, _key: &str) -> PublishRecorder {
        PublishRecorder
    }
}

pub(crate) struct ConsumerRecorder;

impl ConsumerRecorder {
    pub(crate) fn received(&self) {}

    pub(crate) fn settled(&self, _outcome: Outcome, _elapsed: Duration) {}

    pub(crate) fn dead_lettered(&self, _reason: messaging_core::DeadLetterReason) {}
}

pub(crate) struct PublishRecorder;

impl PublishRecorder {
    pub(crate) fn succeeded(&self, _elapsed: Duration) {}

    pub(crate) fn failed(&self, _elapsed: Duration) {}
}
