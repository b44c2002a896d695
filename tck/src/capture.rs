//! The received log and the handlers that fill it: every consumer of a service appends
//! what it gets, raw, in arrival order.

use std::future::{Future, ready};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use messaging_spec::tck::ReceivedMessage;
use messaging_spec::{ConsumableEvent, EventHandler, HandlerError, RequestHandler};
use serde_json::value::RawValue;

/// A payload kept as the JSON text that arrived (never re-encoded, never fails to decode
/// as long as it is JSON).
pub(crate) type RawPayload = Box<RawValue>;

/// One service's messages, shared by all its consumers. Append-only: the runner relies on
/// indexes staying put between `received` calls.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReceivedLog(Arc<Mutex<Vec<ReceivedMessage>>>);

impl ReceivedLog {
    fn lock(&self) -> MutexGuard<'_, Vec<ReceivedMessage>> {
        // A panic while pushing leaves the Vec valid; keep serving.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends one delivery.
    pub(crate) fn record(&self, event: ConsumableEvent<RawPayload>) {
        let message = ReceivedMessage::new(
            event.delivery_info.key.clone(),
            event.payload,
            event.metadata,
            event.delivery_info,
        );
        self.lock().push(message);
    }

    /// Everything so far, oldest first.
    pub(crate) fn snapshot(&self) -> Vec<ReceivedMessage> {
        self.lock().clone()
    }
}

/// Event handler that records every delivery and acks it.
#[derive(Debug, Clone)]
pub(crate) struct Capture(pub(crate) ReceivedLog);

impl EventHandler<RawPayload> for Capture {
    fn handle(
        &self,
        event: ConsumableEvent<RawPayload>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        self.0.record(event);
        ready(Ok(()))
    }
}

/// Request handler that records every request and answers `{"ok":true}`.
#[derive(Debug, Clone)]
pub(crate) struct Acknowledge(pub(crate) ReceivedLog);

impl RequestHandler<RawPayload, serde_json::Value> for Acknowledge {
    fn handle(
        &self,
        request: ConsumableEvent<RawPayload>,
    ) -> impl Future<Output = Result<serde_json::Value, HandlerError>> + Send {
        self.0.record(request);
        ready(Ok(serde_json::json!({ "ok": true })))
    }
}

#[cfg(test)]
mod tests {
    use messaging_spec::{DeliveryInfo, Metadata};

    use super::*;

    fn event(key: &str, payload: &str) -> ConsumableEvent<RawPayload> {
        ConsumableEvent::new(
            Metadata::default(),
            DeliveryInfo::new("svc", "events", key),
            RawValue::from_string(payload.to_owned()).unwrap(),
        )
    }

    #[tokio::test]
    async fn handlers_append_in_arrival_order_and_reads_do_not_clear() {
        let log = ReceivedLog::default();
        Capture(log.clone())
            .handle(event("A.One", r#"{"n":1}"#))
            .await
            .unwrap();
        let reply = Acknowledge(log.clone())
            .handle(event("B.Two", r#"{"n":2}"#))
            .await
            .unwrap();
        assert_eq!(reply, serde_json::json!({"ok": true}));
        let first = log.snapshot();
        assert_eq!(first.len(), 2);
        assert_eq!(first[0].routing_key, "A.One");
        assert_eq!(first[0].payload.get(), r#"{"n":1}"#);
        assert_eq!(first[1].routing_key, "B.Two");
        assert_eq!(log.snapshot().len(), 2);
    }
}
