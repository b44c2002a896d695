//! Service response consumers on NATS: the reply to a request arrives on the request's
//! inbox, so the publisher hands it to the matching response handler (the reference
//! registers these handlers but never calls them).

use std::sync::Arc;
use std::time::Instant;

use messaging_spec::{DeliveryInfo, ServiceName};

use crate::connection::Shared;
use crate::headers;
use crate::otel::SpanFacts;
use messaging_core::dispatch;

pub(crate) fn deliver(
    shared: &Arc<Shared>,
    target: &ServiceName,
    subject: &str,
    reply: &async_nats::Message,
) {
    let key = subject
        .strip_prefix(target.as_str())
        .and_then(|s| s.strip_prefix(".request."))
        .unwrap_or(subject);
    let Some(plan) = shared
        .responses
        .iter()
        .find(|r| r.target == *target && r.route.pattern.matches(key))
    else {
        return;
    };
    let info = DeliveryInfo::new(shared.service.as_str(), target.as_str(), key)
        .with_headers(headers::from_nats(reply.headers.as_ref()));
    let metadata = dispatch::metadata_for(&info.headers, &info);
    let report = shared.observer.wants().then(|| info.clone());
    let facts = SpanFacts {
        destination: target.as_str(),
        subject,
        routing_key: key,
        message_id: info.headers.get_str(messaging_spec::CE_ID),
        body_size: reply.payload.len(),
        subscription: Some(shared.service.as_str()),
    };
    // A child of the remote handler's span, whose context the reply carries.
    let span = shared.otel.consume(&facts, &info.headers);
    let handler = Arc::clone(&plan.route.handler);
    let payload = reply.payload.clone();
    let key = key.to_owned();
    let shared2 = Arc::clone(shared);
    shared.tracker.spawn(async move {
        let start = Instant::now();
        // Called in the task, under the panic guard: nothing of the handler's can unwind
        // into the publisher that delivered the reply.
        let fut = async move { handler.call(metadata, info, payload).await };
        let result = dispatch::run_guarded(span.wrap(fut), None, || async {}).await;
        let (outcome, error) = dispatch::classify(result, &key);
        span.finish(error.as_ref());
        // As the reference's service request consumer: received, then ack or nak.
        let recorder = shared2.metrics.consumer(shared2.service.as_str(), &key);
        recorder.received(1);
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
