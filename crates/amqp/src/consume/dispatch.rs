//! Handling one delivery: headers to metadata, routing, the handler (panics caught),
//! the response for requests, then the ack decision.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions, BasicRejectOptions};
use messaging_core::erased::ErasedRequest;
use messaging_core::{Outcome, Route, dispatch};
use messaging_spec::{DeliveryInfo, RoutingTable, ServiceName, normalize_ce_headers};

use super::QueueRuntime;
use crate::headers;
use crate::otel::{MessageSpan, SpanFacts};
use crate::plan::QueueKind;
use crate::respond;
use crate::settle::{self, Action};

/// What handling produced, before settling.
struct Handled {
    outcome: Outcome,
    error: Option<messaging_core::Error>,
    /// Typed requests: the reply was sent (success or error), so nothing is retried.
    answered: bool,
}

pub(super) async fn handle(rt: &Arc<QueueRuntime>, mut delivery: Delivery) {
    let start = Instant::now();
    let plan = &rt.plan;
    let shared = &rt.shared;
    let key = delivery.routing_key.as_str().to_owned();
    let table = delivery.properties.headers().as_ref();
    let attempt = i64::from(headers::delivery_attempt(table));
    let raw = headers::to_headers(table);
    let info = DeliveryInfo::new(
        plan.queue.name.as_str(),
        delivery.exchange.as_str(),
        key.as_str(),
    )
    .with_headers(normalize_ce_headers(&raw));
    let recorder = shared.metrics.consumer(&plan.label, &key);
    recorder.received();
    let report = shared.observer.wants().then(|| info.clone());
    let facts = SpanFacts {
        exchange: delivery.exchange.as_str(),
        routing_key: &key,
        message_id: info.headers.get_str(messaging_spec::CE_ID),
        body_size: delivery.data.len(),
        queue: Some(&plan.queue.name),
    };
    // Events only: a request is answered each time it is asked.
    let id = match (&rt.dedup, &plan.kind) {
        (Some(_), QueueKind::Events { .. }) => info.headers.get_str(messaging_spec::CE_ID),
        _ => None,
    }
    .map(str::to_owned);
    if let (Some(dedup), Some(id)) = (&rt.dedup, &id) {
        // A duplicate is acked or retried, never rejected: the outcome does not matter.
        let action = dedup
            .begin(id)
            .settlement()
            .map(|s| crate::settle::action(Outcome::Handled, s));
        if let Some(action) = action {
            tracing::debug!(queue = %plan.queue.name, routing_key = %key, id = %id, ?action, "duplicate not handled");
            settle_delivery(rt, delivery, action, &key);
            return;
        }
    }
    let span = shared.otel.consume(&facts, &info.headers);
    let body = Bytes::from(std::mem::take(&mut delivery.data));
    let handled = match &plan.kind {
        QueueKind::Requests(routes) => request(rt, routes, &delivery, body, info, &span).await,
        QueueKind::Events { .. } | QueueKind::Responses { .. } => {
            event(rt, body, info, &span).await
        }
    };
    let Handled {
        outcome,
        mut error,
        answered,
    } = handled;
    if let (Some(dedup), Some(id)) = (&rt.dedup, &id) {
        dedup.finish(id, outcome == Outcome::Handled);
    }
    let (mut action, exhausted) = settle::decide(
        outcome,
        attempt,
        plan.options.get_backoff(),
        plan.options.get_max_deliver(),
    );
    if answered && !matches!(action, Action::Ack | Action::Reject) {
        action = Action::Drop;
    }
    if exhausted && let Some(e) = error.take() {
        error = Some(messaging_core::Error::Exhausted {
            routing_key: key.clone(),
            attempts: attempt,
            last_error: e.to_string(),
        });
    }
    // The broker moves what is not requeued to the queue's dead-letter exchange: say so.
    if let (Some(dl), Action::Reject | Action::Drop, false) =
        (plan.options.get_dead_letter(), action, answered)
        && let Some(reason) = if exhausted {
            Some(messaging_core::DeadLetterReason::Exhausted)
        } else {
            messaging_core::DeadLetterReason::for_outcome(outcome)
        }
        && let Some(source) = error.take()
    {
        recorder.dead_lettered(reason);
        error = Some(messaging_core::Error::DeadLettered {
            routing_key: key.clone(),
            subject: format!(
                "exchange {} with key {}",
                dl.destination,
                dl.routing_key.as_deref().unwrap_or(&key)
            ),
            reason,
            source: Box::new(source),
        });
    }
    span.finish(error.as_ref().map(|e| e as _));
    settle_delivery(rt, delivery, action, &key);
    let elapsed = start.elapsed();
    recorder.settled(outcome, elapsed);
    let q = plan.queue.name.as_str();
    match (&error, action) {
        (None, _) => tracing::debug!(queue = q, routing_key = %key, ?elapsed, "message processed"),
        (Some(e), Action::Requeue(delay)) => {
            tracing::error!(queue = q, routing_key = %key, error = %e, ?delay, attempt, "handler failed, nacking with requeue");
        }
        (Some(e), Action::Reject) => {
            tracing::warn!(queue = q, routing_key = %key, error = %e, "no handler for routing key, rejecting");
        }
        (Some(e), _) => {
            tracing::warn!(queue = q, routing_key = %key, error = %e, "nacking without requeue");
        }
    }
    if let Some(info) = report {
        match error {
            None => shared.observer.success(info, elapsed),
            Some(e) => shared.observer.failure(e, info, elapsed),
        }
    }
}

/// Sends the settlement. A delayed requeue waits in the background (the message keeps
/// its prefetch slot meanwhile; other deliveries go on), and at once on shutdown.
fn settle_delivery(rt: &Arc<QueueRuntime>, delivery: Delivery, action: Action, key: &str) {
    let acker = delivery.acker;
    let queue = rt.plan.queue.name.clone();
    let key = key.to_owned();
    let shutdown = rt.shared.shutdown.clone();
    let limit = rt.shared.timing.publish_timeout;
    rt.shared.tracker.spawn(async move {
        if let Action::Requeue(Some(delay)) = action {
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = tokio::time::sleep(delay) => {}
            }
        }
        let frame = async {
            match action {
                Action::Ack => acker.ack(BasicAckOptions::default()).await,
                Action::Requeue(_) | Action::Drop => {
                    acker
                        .nack(BasicNackOptions {
                            requeue: matches!(action, Action::Requeue(_)),
                            multiple: false,
                        })
                        .await
                }
                Action::Reject => acker.reject(BasicRejectOptions { requeue: false }).await,
            }
        };
        // Bounded: lapin never answers a settlement sent as its connection dies (its
        // internal RPC has stopped), and close() must not wait for it.
        match tokio::time::timeout(limit, frame).await {
            Ok(Ok(true)) => {}
            // The channel went away: the broker requeues the message itself.
            Ok(Ok(false)) => tracing::debug!(queue = %queue, routing_key = %key, "delivery tag no longer valid; the broker redelivers"),
            Ok(Err(e)) => tracing::warn!(queue = %queue, routing_key = %key, error = %e, ?action, "failed to settle delivery"),
            Err(_) => tracing::debug!(queue = %queue, routing_key = %key, ?action, "no answer settling the delivery (its connection is gone); the broker redelivers"),
        }
    });
}

/// Stream events and responses: route by key, run the handler.
async fn event(rt: &QueueRuntime, body: Bytes, info: DeliveryInfo, span: &MessageSpan) -> Handled {
    let key = info.key.clone();
    let Some(route) = crate::routing::route(&rt.plan.events, &key) else {
        return Handled {
            outcome: Outcome::NoHandler,
            error: Some(messaging_core::Error::NoHandler { routing_key: key }),
            answered: false,
        };
    };
    let metadata = dispatch::metadata_for(&info.headers, &info);
    let fut = span.wrap(route.handler.call(metadata, info, body));
    let result = dispatch::run_guarded(fut, None::<Duration>, || async {}).await;
    let (outcome, error) = dispatch::classify(result, &key);
    Handled {
        outcome,
        error,
        answered: false,
    }
}

/// Requests: run the handler, then reply to `reply_to` (typed callers) or publish the
/// response the reference way (Go-style callers, named by the `service` header).
async fn request(
    rt: &QueueRuntime,
    routes: &RoutingTable<Route<dyn ErasedRequest>>,
    delivery: &Delivery,
    payload: Bytes,
    info: DeliveryInfo,
    span: &MessageSpan,
) -> Handled {
    let shared = &rt.shared;
    let key = info.key.clone();
    let table = delivery.properties.headers().as_ref();
    let caller = headers::get_str(table, messaging_spec::SERVICE_HEADER);
    let reply_to = delivery
        .properties
        .reply_to()
        .as_ref()
        .map(|r| r.as_str().to_owned());
    let correlation = delivery
        .properties
        .correlation_id()
        .as_ref()
        .map(|c| c.as_str().to_owned());
    let (outcome, error, body) = match routes.route(&key) {
        None => {
            let e = messaging_core::Error::NoHandler {
                routing_key: key.clone(),
            };
            let body = messaging_core::reply::error_body(Some(&e));
            (Outcome::NoHandler, Some(e), body)
        }
        Some(route) => {
            let metadata = dispatch::metadata_for(&info.headers, &info);
            let fut = span.wrap(route.handler.call(metadata, info, payload));
            match dispatch::run_guarded(fut, None::<Duration>, || async {}).await {
                Ok(Ok(reply)) => (Outcome::Handled, None, Bytes::from(reply)),
                other => {
                    let (outcome, e) = match other {
                        Ok(Err(f)) => dispatch::classify(Ok(Err(f)), &key),
                        Err(p) => dispatch::classify(Err(p), &key),
                        Ok(Ok(_)) => (Outcome::Handled, None),
                    };
                    let body = messaging_core::reply::error_body(e.as_ref());
                    (outcome, e, body)
                }
            }
        }
    };
    if let Some(reply_to) = reply_to {
        let sent = respond::reply_direct(
            shared,
            &reply_to,
            correlation.as_deref(),
            &key,
            caller.as_deref(),
            body,
            span,
        )
        .await;
        if let Err(e) = sent {
            tracing::warn!(routing_key = %key, error = %e, "failed to send the reply; the caller times out");
        }
        return Handled {
            outcome,
            error,
            answered: true,
        };
    }
    if outcome != Outcome::Handled {
        return Handled {
            outcome,
            error,
            answered: false,
        };
    }
    let Some(caller) = caller.and_then(|c| ServiceName::new(c).ok()) else {
        tracing::warn!(routing_key = %key, "request without a valid service header: handled, but no one to respond to");
        return Handled {
            outcome,
            error,
            answered: false,
        };
    };
    match respond::publish_response(shared, &caller, &key, body, Some(span)).await {
        Ok(_) => Handled {
            outcome,
            error,
            answered: false,
        },
        Err(e) => Handled {
            outcome: Outcome::Failed(messaging_spec::Disposition::Retry),
            error: Some(respond::respond_error(&key, caller.as_str(), e)),
            answered: false,
        },
    }
}
