//! Typed requests: publish with `reply_to` over direct reply-to, wait for the correlated
//! reply, decode it or surface the callee's `{"error": …}`.

use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;

use messaging_core::PublishTarget;
use serde::de::DeserializeOwned;

use super::Publish;
use crate::error::{Error, Result};
use crate::reply::Reply;

/// A typed request being configured. `.await` sends it and decodes the reply.
#[must_use = "a request does nothing until awaited"]
pub struct Call<'a, R> {
    pub(super) publish: Publish<'a>,
    pub(super) _reply: PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for Call<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Call").field(&self.publish).finish()
    }
}

impl<R> Call<'_, R> {
    /// Adds a custom header.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.publish = self.publish.header(key, value);
        self
    }
}

impl<'a, R: DeserializeOwned + 'a> IntoFuture for Call<'a, R> {
    type Output = Result<R>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let PublishTarget::Service(target) = &self.publish.publisher.inner.target else {
                return Err(Error::NotAServicePublisher {
                    target: self.publish.publisher.inner.target.to_string(),
                });
            };
            let target = target.clone();
            let (publisher, prepared) = self.publish.prepare()?;
            let shared = &publisher.shared;
            let key = prepared.routing_key.clone();
            let called = shared
                .replies
                .call(prepared.outgoing.clone(), shared.timing.request_timeout)
                .await;
            let elapsed = prepared.started.elapsed();
            let reply = match called {
                Ok(r) => {
                    prepared.recorder.succeeded(elapsed);
                    prepared.span.finish(None);
                    r
                }
                Err(f) => {
                    prepared.recorder.failed(elapsed);
                    let e = Error::Request {
                        service: target.as_str().to_owned(),
                        routing_key: key,
                        kind: f.kind,
                        source: f.source,
                    };
                    prepared.span.finish(Some(&e));
                    return Err(e);
                }
            };
            crate::respond::deliver_reply(shared, &target, &key, &reply);
            decode_reply(target.as_str(), &key, &reply)
        })
    }
}

fn decode_reply<R: DeserializeOwned>(service: &str, key: &str, reply: &Reply) -> Result<R> {
    if let Some(message) = messaging_core::reply::remote_error(&reply.body) {
        return Err(Error::Core(messaging_core::Error::Remote {
            service: service.to_owned(),
            message,
        }));
    }
    serde_json::from_slice(&reply.body).map_err(|source| Error::DecodeReply {
        service: service.to_owned(),
        routing_key: key.to_owned(),
        source,
    })
}
