//! Type-erased handlers: JSON decoding is monomorphised here, storage is `Arc<dyn …>`.
//! Transports store registrations as these and call them per delivery.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use messaging_spec::{
    ConsumableEvent, DeliveryInfo, EventHandler, HandlerError, Metadata, RequestHandler,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Why an erased call did not succeed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Failure {
    /// The body was not the JSON the handler expects.
    Decode(messaging_spec::Error),
    /// The handler returned an error.
    Handler(HandlerError),
    /// The handler's reply could not be encoded.
    EncodeReply(serde_json::Error),
}

/// An event handler with its payload type erased.
pub trait ErasedEvent: Send + Sync + 'static {
    /// Decodes `body` and runs the handler.
    fn call(
        &self,
        metadata: Metadata,
        info: DeliveryInfo,
        body: Bytes,
    ) -> BoxFuture<Result<(), Failure>>;
}

/// A request handler with its request and reply types erased.
pub trait ErasedRequest: Send + Sync + 'static {
    /// Returns the JSON-encoded reply.
    fn call(
        &self,
        metadata: Metadata,
        info: DeliveryInfo,
        body: Bytes,
    ) -> BoxFuture<Result<Vec<u8>, Failure>>;
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(body).map_err(|e| Failure::Decode(e.into()))
}

/// An [`EventHandler`] for payload `T`, erased as [`ErasedEvent`].
pub struct Event<T, H> {
    handler: Arc<H>,
    _payload: PhantomData<fn() -> T>,
}

impl<T, H> Event<T, H> {
    /// Wraps `handler`.
    pub fn new(handler: H) -> Self {
        Self {
            handler: Arc::new(handler),
            _payload: PhantomData,
        }
    }
}

impl<T, H> ErasedEvent for Event<T, H>
where
    T: DeserializeOwned + Send + 'static,
    H: EventHandler<T>,
{
    fn call(
        &self,
        metadata: Metadata,
        info: DeliveryInfo,
        body: Bytes,
    ) -> BoxFuture<Result<(), Failure>> {
        let handler = Arc::clone(&self.handler);
        // Decoded inside the future: a panicking `Deserialize` is then caught with the
        // handler's own panics.
        Box::pin(async move {
            let payload = decode::<T>(&body)?;
            handler
                .handle(ConsumableEvent::new(metadata, info, payload))
                .await
                .map_err(Failure::Handler)
        })
    }
}

/// A [`RequestHandler`] from `T` to `R`, erased as [`ErasedRequest`].
pub struct Request<T, R, H> {
    handler: Arc<H>,
    _types: PhantomData<fn() -> (T, R)>,
}

impl<T, R, H> Request<T, R, H> {
    /// Wraps `handler`.
    pub fn new(handler: H) -> Self {
        Self {
            handler: Arc::new(handler),
            _types: PhantomData,
        }
    }
}

impl<T, R, H> ErasedRequest for Request<T, R, H>
where
    T: DeserializeOwned + Send + 'static,
    R: Serialize + Send + 'static,
    H: RequestHandler<T, R>,
{
    fn call(
        &self,
        metadata: Metadata,
        info: DeliveryInfo,
        body: Bytes,
    ) -> BoxFuture<Result<Vec<u8>, Failure>> {
        let handler = Arc::clone(&self.handler);
        Box::pin(async move {
            let payload = decode::<T>(&body)?;
            let reply = handler
                .handle(ConsumableEvent::new(metadata, info, payload))
                .await
                .map_err(Failure::Handler)?;
            serde_json::to_vec(&reply).map_err(Failure::EncodeReply)
        })
    }
}

impl<T, H> std::fmt::Debug for Event<T, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Event<{}>", std::any::type_name::<T>())
    }
}

impl<T, R, H> std::fmt::Debug for Request<T, R, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Request<{}, {}>",
            std::any::type_name::<T>(),
            std::any::type_name::<R>()
        )
    }
}
