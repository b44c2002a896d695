//! Responses: the reference's way (to our `<service>.headers.exchange.response` with
//! `service = <recipient>`), direct replies to a typed request's `reply_to`, and handing
//! typed-request replies to the caller's response handlers.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use messaging_core::dispatch;
use messaging_spec::{DeliveryInfo, ServiceName, normalize_ce_headers};

use crate::connection::Shared;
use crate::error::{Error, Result};
use crate::headers;
use crate::otel::{MessageSpan, SpanFacts};
use crate::plan::QueuePlan;
use crate::publisher::{Draft, PublishReceipt, confirm_with_retries};
use crate::reply::Reply;

/// Publishes a response for `recipient` on our response exchange and waits for the
/// confirm. `parent` is the request handler's span, when there is one.
pub(crate) async fn publish_response(
    shared: &Shared,
    recipient: &ServiceName,
    routing_key: &str,
    body: Bytes,
    parent: Option<&MessageSpan>,
) -> Result<PublishReceipt> {
    let exchange = messaging_spec::naming::service_response_exchange_name(shared.service.as_str());
    let prepared = Draft {
        shared,
        exchange: &exchange,
        routing_key,
        wire_key: None,
        service_header: recipient.as_str(),
        cc: None,
        custom: &[],
        id: None,
        body,
        parent,
    }
    .prepare()?;
    send(shared, prepared).await
}

/// Replies to a typed request: default exchange, routing key = its `reply_to`, the same
/// `correlation_id`. `service` names the caller when the request said who it is.
pub(crate) async fn reply_direct(
    shared: &Shared,
    reply_to: &str,
    correlation_id: Option<&str>,
    routing_key: &str,
    caller: Option<&str>,
    body: Bytes,
    parent: &MessageSpan,
) -> Result<PublishReceipt> {
    let mut prepared = Draft {
        shared,
        exchange: "",
        routing_key,
        wire_key: Some(reply_to),
        service_header: caller.unwrap_or(shared.service.as_str()),
        cc: None,
        custom: &[],
        id: None,
        body,
        parent: Some(parent),
    }
    .prepare()?;
    if let Some(id) = correlation_id {
        prepared.outgoing.correlation_id = Some(crate::declare::short("correlation id", id)?);
    }
    send(shared, prepared).await
}

async fn send(shared: &Shared, prepared: crate::publisher::Prepared) -> Result<PublishReceipt> {
    let channel = shared.responder().await?;
    let first = channel.send(&prepared.outgoing).await;
    match confirm_with_retries(channel, &prepared, &shared.timing, first).await {
        Ok(_) => {
            prepared.recorder.succeeded(prepared.started.elapsed());
            prepared.span.finish(None);
            Ok(prepared.receipt())
        }
        Err((attempts, f)) => Err(crate::publisher::publish_failed(prepared, attempts, f)),
    }
}

/// Hands a typed-request reply to the response handler registered for `target` and
/// `key`, in the background (as on NATS: response handlers see every reply).
pub(crate) fn deliver_reply(shared: &Arc<Shared>, target: &ServiceName, key: &str, reply: &Reply) {
    let Some((_, queue)) = shared.responses.iter().find(|(t, _)| t == target) else {
        return;
    };
    let Some(route) = crate::routing::route(&queue.events, key) else {
        return;
    };
    let raw = headers::to_headers(reply.headers.as_ref());
    let info = DeliveryInfo::new(queue.queue.name.as_str(), queue.exchange.as_str(), key)
        .with_headers(normalize_ce_headers(&raw));
    let metadata = dispatch::metadata_for(&info.headers, &info);
    let report = shared.observer.wants().then(|| info.clone());
    let facts = SpanFacts {
        exchange: &queue.exchange,
        routing_key: key,
        message_id: info.headers.get_str(messaging_spec::CE_ID),
        body_size: reply.body.len(),
        queue: Some(&queue.queue.name),
    };
    let span = shared.otel.consume(&facts, &info.headers);
    let handler = Arc::clone(&route.handler);
    let body = Bytes::from(reply.body.clone());
    let key = key.to_owned();
    let shared2 = Arc::clone(shared);
    let queue: Arc<QueuePlan> = Arc::clone(queue);
    shared.tracker.spawn(async move {
        let start = Instant::now();
        let fut = async move { handler.call(metadata, info, body).await };
        let result = dispatch::run_guarded(span.wrap(fut), None, || async {}).await;
        let (outcome, error) = dispatch::classify(result, &key);
        span.finish(error.as_ref().map(|e| e as _));
        let recorder = shared2.metrics.consumer(&queue.label, &key);
        recorder.received();
        recorder.settled(outcome, start.elapsed());
        if let Some(e) = &error {
            tracing::warn!(routing_key = %key, error = %e, "response handler failed");
        }
        if let Some(info) = report {
            match error {
                None => shared2.observer.success(info, start.elapsed()),
                Some(e) => shared2.observer.failure(e, info, start.elapsed()),
            }
        }
    });
}

/// A response that could not be sent, as the error the request's handler reports.
pub(crate) fn respond_error(key: &str, recipient: &str, e: Error) -> messaging_core::Error {
    messaging_core::Error::Handler {
        routing_key: key.to_owned(),
        retry: true,
        source: Box::new(Error::Respond {
            routing_key: key.to_owned(),
            recipient: recipient.to_owned(),
            source: Box::new(e),
        }),
    }
}
