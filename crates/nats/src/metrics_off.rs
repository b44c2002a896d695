//! Metrics switched off (feature `metrics` disabled): the same recording calls, doing nothing.

use std::time::Duration;

use messaging_core::Outcome;

/// No metrics.
#[derive(Default)]
pub(crate) struct Instruments;

impl Instruments {
    pub(crate) fn consumer(&self, _consumer: &str, _key: &str) -> ConsumerRecorder {
        ConsumerRecorder
    }

    pub(crate) fn publish(&self, _destination: &str, _key: &str) -> PublishRecorder {
        PublishRecorder
    }

    pub(crate) fn enabled(&self) -> bool {
        false
    }

    pub(crate) fn request(&self, _: &str, _: &str, _: RequestResult, _: Duration) {}

    pub(crate) fn request_handled(&self, _key: &str, _ok: bool) {}

    pub(crate) fn lag(&self, _: &str, _: &str, _: u64, _: usize) {}

    pub(crate) fn connection_event(&self, _event: &str) {}
}

/// How a client-side request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestResult {
    Ok,
    Error,
    RemoteError,
}

pub(crate) struct ConsumerRecorder;

impl ConsumerRecorder {
    pub(crate) fn received(&self, _delivered: i64) {}

    pub(crate) fn settled(&self, _outcome: Outcome, _elapsed: Duration) {}

    pub(crate) fn dead_lettered(&self, _reason: messaging_core::DeadLetterReason) {}
}

pub(crate) struct PublishRecorder;

impl PublishRecorder {
    pub(crate) fn succeeded(&self, _elapsed: Duration) {}

    pub(crate) fn failed(&self, _elapsed: Duration) {}
}
