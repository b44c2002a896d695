//! Request handlers (one queue-group member per handler per instance, replying with the
//! handler's JSON or `{"error": "…"}`) and response consumers (replies handed to the
//! requesting service's handler, as on NATS).

use std::sync::Arc;

use bytes::Bytes;
use messaging_core::{dispatch, reply};
use messaging_spec::{DeliveryInfo, ServiceName};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

use crate::broker::state::{Incoming, Reply};
use crate::connection::{RequestRuntime, Shared};
use crate::headers;

/// Serves requests until the subscription ends: [`Connection::close`](crate::Connection)
/// unsubscribes it, then every request already delivered here is still answered.
pub(crate) async fn run(
    shared: Arc<Shared>,
    rt: Arc<RequestRuntime>,
    mut rx: mpsc::UnboundedReceiver<Incoming>,
) {
    let semaphore = Arc::new(Semaphore::new(rt.concurrency));
    loop {
        let incoming = tokio::select! {
            biased;
            () = shared.killed.cancelled() => break,
            m = rx.recv() => m,
        };
        let Some(incoming) = incoming else { break };
        let Ok(permit) = Arc::clone(&semaphore).acquire_owned().await else {
            break;
        };
        let shared2 = Arc::clone(&shared);
        let rt2 = Arc::clone(&rt);
        shared.tracker.spawn(async move {
            handle(&shared2, &rt2, incoming).await;
            drop(permit);
        });
    }
}

async fn handle(shared: &Shared, rt: &RequestRuntime, req: Incoming) {
    let start = Instant::now();
    let service = shared.service.as_str();
    let key = req.key.as_str();
    let info = DeliveryInfo::new(service, req.subject.as_str(), key).with_headers(req.headers);
    let metadata = dispatch::metadata_for(&info.headers, &info);
    let report = shared.observer.wants().then(|| info.clone());
    let fut = rt.route.handler.call(metadata, info, req.body);
    let guarded = dispatch::run_guarded(fut, None, || std::future::ready(()));
    let result = tokio::select! {
        biased;
        // Crashed: the caller never hears back and times out.
        () = shared.killed.cancelled() => return,
        r = guarded => r,
    };
    let (body, error) = match result {
        Ok(Ok(bytes)) => (Bytes::from(bytes), None),
        Ok(Err(f)) => {
            let (_, e) = dispatch::classify(Ok(Err(f)), key);
            (reply::error_body(e.as_ref()), e)
        }
        Err(p) => {
            let (_, e) = dispatch::classify(Err(p), key);
            (reply::error_body(e.as_ref()), e)
        }
    };
    let text = error.as_ref().map(|e| reply::error_text(Some(e)));
    let reply_headers = headers::reply(
        service,
        key,
        error
            .as_ref()
            .zip(text.as_deref())
            .map(|(e, t)| (t, reply::error_code(e))),
    );
    // The caller may have given up (timeout); nothing to do then.
    let _ = req.reply.send(Reply {
        headers: reply_headers,
        body,
    });
    let elapsed = start.elapsed();
    if let Some(e) = &error {
        tracing::warn!(subject = %req.subject, error = %e, "request handler failed; replied with the error");
    }
    if let Some(info) = report {
        match error {
            None => shared.observer.success(info, elapsed),
            Some(e) => shared.observer.failure(e, info, elapsed),
        }
    }
    shared.broker.changed();
}

/// A reply is an error when it carries `Nats-Service-Error`, or when its body is exactly
/// `{"error": "<text>"}`.
pub(crate) fn remote_error(reply: &Reply) -> Option<String> {
    if let Some(text) = reply.headers.get_str(headers::SERVICE_ERROR) {
        return Some(text.to_owned());
    }
    messaging_core::reply::remote_error(&reply.body)
}

/// Hands a reply to this service's response consumer for `target` and `key`, if any; it
/// runs in the background and does not delay the caller.
pub(crate) fn deliver_response(
    shared: &Arc<Shared>,
    target: &ServiceName,
    key: &str,
    reply: &Reply,
) {
    let Some(route) = shared
        .responses
        .iter()
        .find(|r| r.target == *target && r.route.pattern.matches(key))
    else {
        return;
    };
    let info = DeliveryInfo::new(shared.service.as_str(), target.as_str(), key)
        .with_headers(reply.headers.clone());
    let metadata = dispatch::metadata_for(&info.headers, &info);
    let report = shared.observer.wants().then(|| info.clone());
    let handler = Arc::clone(&route.route.handler);
    let body = reply.body.clone();
    let key = key.to_owned();
    let shared2 = Arc::clone(shared);
    shared.tracker.spawn(async move {
        let start = Instant::now();
        let fut = async move { handler.call(metadata, info, body).await };
        let result = dispatch::run_guarded(fut, None, || std::future::ready(())).await;
        let (_, error) = dispatch::classify(result, &key);
        if let Some(e) = &error {
            tracing::warn!(routing_key = %key, error = %e, "response handler failed");
        }
        if let Some(info) = report {
            match error {
                None => shared2.observer.success(info, start.elapsed()),
                Some(e) => shared2.observer.failure(e, info, start.elapsed()),
            }
        }
        shared2.broker.changed();
    });
}

#[cfg(test)]
mod tests {
    use messaging_core::Error as CoreError;

    use super::*;

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

    #[test]
    fn remote_errors_are_read_from_header_or_body() {
        let reply = |h: &[(&str, &str)], b: &str| Reply {
            headers: h.iter().copied().collect(),
            body: Bytes::from(b.to_owned()),
        };
        assert_eq!(
            remote_error(&reply(&[], r#"{"error":"no"}"#)).as_deref(),
            Some("no")
        );
        assert_eq!(remote_error(&reply(&[], r#"{"error":"no","x":1}"#)), None);
        assert_eq!(
            remote_error(&reply(&[(headers::SERVICE_ERROR, "bad")], "{}")).as_deref(),
            Some("bad")
        );
    }
}
