//! Tracing switched off (feature `otel` disabled): the same span calls, doing nothing.

use std::future::Future;

use async_nats::HeaderMap;
use messaging_spec::Headers;

/// No tracer.
#[derive(Default)]
pub(crate) struct Tracing;

/// What a span would be about.
#[allow(dead_code)] // read only with the `otel` feature
pub(crate) struct SpanFacts<'a> {
    pub(crate) destination: &'a str,
    pub(crate) subject: &'a str,
    pub(crate) routing_key: &'a str,
    pub(crate) message_id: Option<&'a str>,
    pub(crate) body_size: usize,
    pub(crate) subscription: Option<&'a str>,
}

impl Tracing {
    pub(crate) fn publish(&self, _facts: &SpanFacts<'_>, _headers: &mut Headers) -> MessageSpan {
        MessageSpan
    }

    pub(crate) fn consume(&self, _facts: &SpanFacts<'_>, _headers: &Headers) -> MessageSpan {
        MessageSpan
    }

    pub(crate) fn inject_nats(&self, _span: &MessageSpan, _headers: &mut HeaderMap) {}
}

/// No span.
pub(crate) struct MessageSpan;

impl MessageSpan {
    pub(crate) fn wrap<F: Future>(&self, fut: F) -> F {
        fut
    }

    pub(crate) fn finish(&self, _error: Option<&crate::error::Error>) {}

    pub(crate) fn failed(&self, _error: &(dyn std::error::Error + 'static)) {}
}
