//! Tracing switched off (feature `otel` disabled): the same span calls, doing nothing
//! beyond a `tracing` span with the message's fields.

use std::future::Future;

use messaging_spec::Headers;

/// No tracer.
#[derive(Default)]
pub(crate) struct Tracing;

/// What a span would be about.
#[allow(dead_code)] // only some are logged without the `otel` feature
pub(crate) struct SpanFacts<'a> {
    pub(crate) exchange: &'a str,
    pub(crate) routing_key: &'a str,
    pub(crate) message_id: Option<&'a str>,
    pub(crate) body_size: usize,
    pub(crate) queue: Option<&'a str>,
}

impl Tracing {
    pub(crate) fn publish(&self, _facts: &SpanFacts<'_>, _headers: &mut Headers) -> MessageSpan {
        MessageSpan(tracing::Span::none())
    }

    pub(crate) fn consume(&self, facts: &SpanFacts<'_>, _headers: &Headers) -> MessageSpan {
        MessageSpan(tracing::info_span!(
            "message",
            exchange = facts.exchange,
            queue = facts.queue,
            routing_key = facts.routing_key,
            ce_id = facts.message_id
        ))
    }
}

/// Only a `tracing` span.
pub(crate) struct MessageSpan(tracing::Span);

impl MessageSpan {
    pub(crate) fn wrap<F: Future>(&self, fut: F) -> tracing::instrument::Instrumented<F> {
        tracing::Instrument::instrument(fut, self.0.clone())
    }

    pub(crate) fn enter(&self) {}

    pub(crate) fn finish(&self, _error: Option<&(dyn std::error::Error + 'static)>) {}
}
