//! The transport-neutral publishing traits, so service code written against
//! `messaging_core` runs on NATS unchanged.

use std::future::{Future, IntoFuture};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Publisher;
use crate::error::Error;

impl messaging_core::EventPublisher for Publisher {
    type Error = Error;

    fn publish_event<M>(
        &self,
        routing_key: &str,
        message: &M,
    ) -> impl Future<Output = Result<(), Error>> + Send
    where
        M: Serialize + Sync + ?Sized,
    {
        let sent = self.publish(routing_key, message).into_future();
        async move { sent.await.map(|_| ()) }
    }
}

impl messaging_core::Requester for Publisher {
    type Error = Error;

    fn send_request<T, R>(
        &self,
        routing_key: &str,
        request: &T,
    ) -> impl Future<Output = Result<R, Error>> + Send
    where
        T: Serialize + Sync + ?Sized,
        R: DeserializeOwned + Send + 'static,
    {
        self.request::<R, T>(routing_key, request).into_future()
    }
}
