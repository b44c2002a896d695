//! Core NATS request handlers: queue-group subscriptions that reply with the handler's JSON,
//! or `{"error": "…"}` plus `Nats-Service-Error` headers when it fails.

use std::sync::Arc;
use std::time::Instant;

use async_nats::header::HeaderName;
use async_nats::{HeaderMap, Subscriber};
use bytes::Bytes;
use futures::StreamExt;
use messaging_spec::{DeliveryInfo, ServiceName};
use tokio::sync::Semaphore;

use crate::connection::Shared;
use crate::error::{Error, Result};
use crate::headers;
use crate::micro::MicroEndpoint;
use crate::otel::SpanFacts;
use crate::plan::RequestPlan;
use messaging_core::{Error as CoreError, dispatch, reply};

/// Header carrying a handler's error text on a reply (the NATS services convention).
pub(crate) const SERVICE_ERROR: &str = "Nats-Service-Error";
/// Header carrying the error code on a reply.
pub(crate) const SERVICE_ERROR_CODE: &str = "Nats-Service-Error-Code";
/// [`SERVICE_ERROR`] as a header name, built at compile time: every reply is looked up.
pub(crate) static SERVICE_ERROR_NAME: HeaderName = HeaderName::from_static(SERVICE_ERROR);
static SERVICE_ERROR_CODE_NAME: HeaderName = HeaderName::from_static(SERVICE_ERROR_CODE);

/// The queue group of every request subscription: the service name, so each request is
/// handled by one instance.
pub(crate) fn queue_group(service: &ServiceName) -> &str {
    service.as_str()
}

pub(crate) async fn subscribe(shared: &Shared, plan: &RequestPlan) -> Result<Subscriber> {
    shared
        .client
        .queue_subscribe(
            plan.subject.clone(),
            queue_group(&shared.service).to_owned(),
        )
        .await
        .map_err(|e| Error::Subscribe {
            subject: plan.subject.clone(),
            source: Box::new(e),
        })
}

/// Serves requests until shutdown, then drains: the subscription is unsubscribed at once
/// (so the queue group sends new requests to other instances), and every request already
/// delivered to this instance is still handled and answered. Returns when the drain is
/// done, or `shutdown_timeout` after it began (a drain cannot finish while disconnected).
///
/// Spawned on the connection's `loops` tracker: `close()` waits for the drain, then for
/// the handlers it started.
pub(crate) async fn run(shared: Arc<Shared>, plan: Arc<RequestPlan>, mut sub: Subscriber) {
    let semaphore = Arc::new(Semaphore::new(plan.options.effective_concurrency()));
    // One at a time: handle it here, without a task (and a thread hop) per request.
    let inline = plan.options.effective_concurrency() == 1;
    // The NATS service endpoint counting this subscription's requests, if registered.
    let endpoint = shared
        .micro
        .as_ref()
        .and_then(|m| m.endpoint(&plan.subject));
    let shutdown = shared.shutdown.clone();
    // One waiter for the loop's life, not one registered and dropped per request.
    let cancelled = shutdown.cancelled();
    tokio::pin!(cancelled);
    let mut draining = false;
    // When to stop waiting for the drain (`None`: not draining, or a timeout too large).
    let mut deadline = None;
    loop {
        if !draining && shutdown.is_cancelled() {
            draining = true;
            deadline = begin_drain(&shared, &plan, &mut sub).await;
        }
        // One at a time needs no permit: the loop itself waits for the handler.
        let permit = if inline {
            None
        } else {
            tokio::select! {
                () = &mut cancelled, if !draining => continue,
                () = until(deadline) => break,
                p = Arc::clone(&semaphore).acquire_owned() => match p { Ok(p) => Some(p), Err(_) => break },
            }
        };
        // A request that is there is taken first, without drawing a random branch order:
        // shutdown is still seen, at the top of the next turn.
        let msg = tokio::select! {
            biased;
            m = sub.next() => m,
            () = &mut cancelled, if !draining => continue,
            () = until(deadline) => break,
        };
        // The end of the subscription: drained, or the client closed.
        let Some(msg) = msg else { break };
        if inline {
            handle(&shared, &plan, msg, endpoint.as_deref()).await;
            continue;
        }
        let shared2 = Arc::clone(&shared);
        let plan2 = Arc::clone(&plan);
        let endpoint2 = endpoint.clone();
        shared.tracker.spawn(async move {
            handle(&shared2, &plan2, msg, endpoint2.as_deref()).await;
            drop(permit);
        });
    }
    if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
        tracing::warn!(subject = %plan.subject, "request subscription did not drain in time");
    }
}

/// Unsubscribes, keeping what was already delivered; returns when to stop waiting for it.
async fn begin_drain(
    shared: &Shared,
    plan: &RequestPlan,
    sub: &mut Subscriber,
) -> Option<tokio::time::Instant> {
    if let Err(e) = sub.drain().await {
        // The client is gone, so the subscription ends by itself.
        tracing::debug!(subject = %plan.subject, error = %e, "drain of request subscription failed");
    }
    tokio::time::Instant::now().checked_add(shared.timing.shutdown_timeout)
}

/// Completes at `deadline`; never without one.
async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// The routing key of a request: its subject minus `<service>.request.`.
fn routing_key<'a>(service: &str, subject: &'a str) -> &'a str {
    subject
        .strip_prefix(service)
        .and_then(|s| s.strip_prefix(".request."))
        .unwrap_or(subject)
}

async fn handle(
    shared: &Shared,
    plan: &RequestPlan,
    msg: async_nats::Message,
    endpoint: Option<&MicroEndpoint>,
) {
    let start = Instant::now();
    let service = shared.service.as_str();
    let subject = msg.subject.as_str();
    let key = routing_key(service, subject).to_owned();
    let info = DeliveryInfo::new(service, subject, key.as_str())
        .with_headers(headers::from_nats(msg.headers.as_ref()));
    let metadata = dispatch::metadata_for(&info.headers, &info);
    let report = shared.observer.wants().then(|| info.clone());
    let facts = SpanFacts {
        destination: subject,
        subject,
        routing_key: &key,
        message_id: info.headers.get_str(messaging_spec::CE_ID),
        body_size: msg.payload.len(),
        subscription: Some(service),
    };
    let span = shared.otel.consume(&facts, &info.headers);
    let fut = span.wrap(plan.route.handler.call(metadata, info, msg.payload.clone()));
    let result = dispatch::run_guarded(fut, None, || async {}).await;
    let (body, error) = match result {
        Ok(Ok(bytes)) => (Bytes::from(bytes), None),
        Ok(Err(f)) => {
            let (_, e) = dispatch::classify(Ok(Err(f)), &key);
            (reply::error_body(e.as_ref()), e)
        }
        Err(p) => {
            let (_, e) = dispatch::classify(Err(p), &key);
            (reply::error_body(e.as_ref()), e)
        }
    };
    // Counted and ended before replying, so a caller that has its reply sees both.
    shared.metrics.request_handled(&key, error.is_none());
    if let Some(endpoint) = endpoint {
        endpoint.record(start.elapsed(), error.as_ref());
    }
    span.finish(error.as_ref());
    if let Some(reply) = msg.reply {
        match reply_headers(service, &key, error.as_ref()) {
            Ok(mut h) => {
                // The reply continues the handler's trace (response consumers use it).
                shared.otel.inject_nats(&span, &mut h);
                if let Err(e) = shared.client.publish_with_headers(reply, h, body).await {
                    tracing::warn!(subject = %subject, error = %e, "failed to send reply");
                }
            }
            Err(e) => {
                tracing::warn!(subject = %subject, error = %e, "failed to build reply headers");
            }
        }
    }
    let elapsed = start.elapsed();
    if let Some(e) = &error {
        tracing::warn!(subject = %subject, error = %e, "request handler failed; replied with the error");
    }
    if let Some(info) = report {
        match error {
            None => shared.observer.success(info, elapsed),
            Some(e) => shared.observer.failure(e, info, elapsed),
        }
    }
}

/// Replies carry CloudEvents attributes (extra headers are harmless to Go callers, which
/// ignore reply headers) and, on failure, the NATS services error headers.
fn reply_headers(service: &str, key: &str, error: Option<&CoreError>) -> Result<HeaderMap> {
    let mut map = headers::PublishHeaders::fresh().ce_map(key, service);
    if let Some(e) = error {
        let code = reply::error_code(e);
        // Same text as the body, so callers see one message whichever they read.
        let text = reply::error_text(Some(e)).replace(['\r', '\n'], " ");
        map.insert(
            SERVICE_ERROR_NAME.clone(),
            headers::value(SERVICE_ERROR, &text)?,
        );
        map.insert(
            SERVICE_ERROR_CODE_NAME.clone(),
            headers::value(SERVICE_ERROR_CODE, code)?,
        );
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_key_strips_the_request_prefix() {
        assert_eq!(
            routing_key("billing", "billing.request.Billing.Charge"),
            "Billing.Charge"
        );
        assert_eq!(routing_key("billing", "other.request.x"), "other.request.x");
    }

    #[test]
    fn error_header_matches_the_body_text() -> Result<()> {
        let e = CoreError::Handler {
            routing_key: "Billing.Charge".into(),
            retry: false,
            source: "amount must be positive".into(),
        };
        let h = reply_headers("billing", "Billing.Charge", Some(&e))?;
        let header = h.get(SERVICE_ERROR).map(|v| v.as_str().to_owned());
        assert_eq!(header.as_deref(), Some("amount must be positive"));
        assert_eq!(
            reply::error_body(Some(&e)),
            Bytes::from(r#"{"error":"amount must be positive"}"#)
        );
        Ok(())
    }

    #[test]
    fn error_body_is_the_spec_shape() {
        let e = CoreError::NoHandler {
            routing_key: "a".into(),
        };
        assert_eq!(
            reply::error_body(Some(&e)),
            Bytes::from(r#"{"error":"no handler for routing key a"}"#)
        );
    }
}
