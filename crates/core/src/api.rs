//! The traits service code is written against, so one service runs on NATS, RabbitMQ or
//! in memory unchanged.

use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Error;

/// A transport's error type: any error, plus access to the transport-neutral part.
pub trait TransportError: std::error::Error + Send + Sync + 'static {
    /// The transport-neutral error inside, when there is one (invalid registration,
    /// handler outcome, remote error).
    fn core(&self) -> Option<&Error>;

    /// The remote service's error text, when a request was answered with an error.
    fn remote_message(&self) -> Option<&str> {
        self.core().and_then(Error::remote_message)
    }
}

/// Publishes events to one stream. Implemented by every transport's publisher.
///
/// ```
/// use messaging_core::EventPublisher;
///
/// #[derive(serde::Serialize)]
/// struct OrderCreated { id: u64 }
///
/// // Business code: the same on every broker.
/// async fn place_order<P: EventPublisher>(events: &P, id: u64) -> Result<(), P::Error> {
///     events.publish_event("Order.Created", &OrderCreated { id }).await
/// }
/// ```
pub trait EventPublisher: Clone + Send + Sync + 'static {
    /// The transport's error.
    type Error: TransportError;

    /// Publishes `message` as JSON under `routing_key` with the CloudEvents headers, and
    /// waits until the broker has it.
    fn publish_event<M>(
        &self,
        routing_key: &str,
        message: &M,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send
    where
        M: Serialize + Sync + ?Sized;
}

/// Sends typed requests to one service and waits for its typed reply. Implemented by every
/// transport's service publisher.
///
/// ```
/// use messaging_core::{Requester, TransportError};
///
/// #[derive(serde::Serialize)]
/// struct Quote { sku: String }
/// #[derive(serde::Deserialize)]
/// struct Price { cents: u64 }
///
/// async fn price_of<R: Requester>(billing: &R, sku: &str) -> Option<u64> {
///     match billing.send_request::<_, Price>("Price.Get", &Quote { sku: sku.into() }).await {
///         Ok(p) => Some(p.cents),
///         Err(e) if e.remote_message().is_some() => None, // billing said no
///         Err(_) => None,                                 // transport failure
///     }
/// }
/// ```
pub trait Requester: Clone + Send + Sync + 'static {
    /// The transport's error.
    type Error: TransportError;

    /// Sends `request` under `routing_key` and decodes the reply as `R`. A reply of the
    /// form `{"error": "…"}` is an error whose [`TransportError::remote_message`] is set.
    fn send_request<T, R>(
        &self,
        routing_key: &str,
        request: &T,
    ) -> impl Future<Output = Result<R, Self::Error>> + Send
    where
        T: Serialize + Sync + ?Sized,
        R: DeserializeOwned + Send + 'static;
}

impl TransportError for Error {
    fn core(&self) -> Option<&Error> {
        Some(self)
    }
}
