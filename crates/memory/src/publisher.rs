//! Publishing: the NATS transport's headers, `Nats-Msg-Id` de-duplication, queue publishes
//! and typed request-reply, with `messaging_nats::Publisher`'s API.

use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use messaging_core::PublishTarget;
use messaging_spec::naming::{nats_request_subject, nats_subject};
use messaging_spec::{DEFAULT_EVENT_EXCHANGE_NAME, Headers, RoutingKey, ServiceName};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::broker::state::{Incoming, Published, Reply};
use crate::connection::Shared;
use crate::error::{Error, RequestFailure, Result};
use crate::headers;
use crate::request::{deliver_response, remote_error};

/// Sends messages to one target. Cheap to clone; safe to share across tasks.
#[derive(Clone)]
pub struct Publisher {
    shared: Arc<Shared>,
    target: Arc<PublishTarget>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("service", &self.shared.service.as_str())
            .field("target", &self.target)
            .finish()
    }
}

/// What the broker confirmed about a publish (as `messaging_nats::PublishReceipt`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PublishReceipt {
    /// The CloudEvents id (also the `Nats-Msg-Id` of stream publishes).
    pub id: String,
    /// The subject the message went to (the queue name for queue publishes).
    pub subject: String,
    /// The stream that stored it (stream targets), or that holds the consumer a queue
    /// publish reached.
    pub stream: Option<String>,
    /// Its sequence in the stream (stream targets only).
    pub sequence: Option<u64>,
    /// True when the stream had already stored this id within the duplicate window.
    pub duplicate: bool,
}

/// Where a queue publish to `queue` lands: `(stream, durable)`. An AMQP queue name
/// `<stream>.topic.exchange.queue.<durable>` names both; anything else is a durable on
/// the `events` stream.
pub(crate) fn queue_consumer(queue: &str) -> (&str, &str) {
    queue
        .split_once(".topic.exchange.queue.")
        .unwrap_or((DEFAULT_EVENT_EXCHANGE_NAME, queue))
}

impl Publisher {
    pub(crate) fn new(shared: Arc<Shared>, target: PublishTarget) -> Self {
        Self {
            shared,
            target: Arc::new(target),
        }
    }

    /// Where this publisher sends.
    #[must_use]
    pub fn target(&self) -> &PublishTarget {
        &self.target
    }

    /// Publishes `message` as JSON under `routing_key`. Configure with `.header(..)` and
    /// `.id(..)`, then `.await` it (the receipt; for a service target, after the reply).
    pub fn publish<M: Serialize + ?Sized>(&self, routing_key: &str, message: &M) -> Publish<'_> {
        Publish {
            publisher: self,
            routing_key: routing_key.to_owned(),
            body: serde_json::to_vec(message)
                .map(Bytes::from)
                .map_err(Error::Encode),
            headers: Vec::new(),
            id: None,
        }
    }

    /// Publishes bytes as they are (meant to be JSON; nothing checks it, so a test can
    /// send a body a consumer cannot decode).
    pub fn publish_raw(&self, routing_key: &str, json: impl Into<Bytes>) -> Publish<'_> {
        Publish {
            publisher: self,
            routing_key: routing_key.to_owned(),
            body: Ok(json.into()),
            headers: Vec::new(),
            id: None,
        }
    }

    /// Sends a request to the target service and decodes its reply as `R`. A reply of the
    /// form `{"error": "…"}` (or one carrying `Nats-Service-Error`) becomes
    /// [`Error::Core`] holding `messaging_core::Error::Remote`. Only for service targets.
    pub fn request<R: DeserializeOwned, M: Serialize + ?Sized>(
        &self,
        routing_key: &str,
        message: &M,
    ) -> Call<'_, R> {
        Call {
            publish: self.publish(routing_key, message),
            _reply: PhantomData,
        }
    }

    /// Stores or routes a prepared message; for service targets, waits for the reply.
    async fn deliver(&self, p: Prepared) -> Result<(PublishReceipt, Option<Reply>)> {
        let shared = &self.shared;
        let service = shared.service.as_str();
        let at = Instant::now();
        let record = |msg, duplicate| Published {
            publisher: service.to_owned(),
            target: (*self.target).clone(),
            msg,
            duplicate,
            at,
        };
        match &*self.target {
            PublishTarget::Service(target) => {
                let (receipt, reply) = self.request_raw(target, p).await?;
                Ok((receipt, Some(reply)))
            }
            PublishTarget::Queue(queue) => {
                let (stream, consumer) = queue_consumer(queue);
                let delivered = shared.broker.change(|st| {
                    let (msg, delivered) = st.publish_queue(
                        stream,
                        consumer,
                        queue.clone(),
                        p.key.as_str().to_owned(),
                        p.headers,
                        p.body,
                    );
                    st.published.push(record(msg, false));
                    delivered
                });
                if !delivered {
                    tracing::debug!(queue = %queue, "queue publish reached no consumer; dropped");
                }
                Ok((
                    PublishReceipt {
                        id: p.id,
                        subject: queue.clone(),
                        stream: delivered.then(|| stream.to_owned()),
                        sequence: None,
                        duplicate: false,
                    },
                    None,
                ))
            }
            other => {
                let stream = other.stream_name().unwrap_or(DEFAULT_EVENT_EXCHANGE_NAME);
                let subject = nats_subject(stream, p.key.as_str());
                let msg_id = p
                    .headers
                    .get_str(headers::NATS_MSG_ID)
                    .map(ToOwned::to_owned);
                let stored = shared.broker.change(|st| {
                    st.ensure_stream(stream);
                    let (msg, duplicate) = st.publish_stream(
                        stream,
                        subject.clone(),
                        p.key.as_str().to_owned(),
                        p.headers,
                        p.body,
                        msg_id.as_deref(),
                        at,
                    )?;
                    let sequence = msg.sequence;
                    st.published.push(record(msg, duplicate));
                    Some((sequence, duplicate))
                });
                let (sequence, duplicate) = stored.unwrap_or_default();
                Ok((
                    PublishReceipt {
                        id: p.id,
                        subject,
                        stream: Some(stream.to_owned()),
                        sequence: Some(sequence),
                        duplicate,
                    },
                    None,
                ))
            }
        }
    }

    /// A request to one instance of `target` (in turn), waiting at most the request
    /// timeout; the reply also goes to a matching response consumer.
    async fn request_raw(
        &self,
        target: &ServiceName,
        p: Prepared,
    ) -> Result<(PublishReceipt, Reply)> {
        let shared = &self.shared;
        let key = p.key.as_str().to_owned();
        let subject = nats_request_subject(target.as_str(), &key);
        let (tx, rx) = oneshot::channel();
        let deadline = Instant::now() + shared.timing.request_timeout;
        let routed = shared.broker.change(|st| {
            let msg = st.unstored(
                subject.clone(),
                key.clone(),
                p.headers.clone(),
                p.body.clone(),
            );
            st.published.push(Published {
                publisher: shared.service.as_str().to_owned(),
                target: (*self.target).clone(),
                msg,
                duplicate: false,
                at: Instant::now(),
            });
            st.route_request(
                target.as_str(),
                Incoming {
                    subject: subject.clone(),
                    key: key.clone(),
                    headers: p.headers,
                    body: p.body,
                    reply: tx,
                },
            )
        });
        let failed = |kind| Error::Request {
            subject: subject.clone(),
            kind,
        };
        if routed.is_none() {
            return Err(failed(RequestFailure::NoResponders));
        }
        let reply = match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(reply)) => reply,
            // The instance went away without answering: as on NATS, nothing comes back.
            Ok(Err(_)) => {
                tokio::time::sleep_until(deadline).await;
                return Err(failed(RequestFailure::TimedOut));
            }
            Err(_) => return Err(failed(RequestFailure::TimedOut)),
        };
        deliver_response(shared, target, &key, &reply);
        Ok((
            PublishReceipt {
                id: p.id,
                subject,
                stream: None,
                sequence: None,
                duplicate: false,
            },
            reply,
        ))
    }
}

/// A publish being configured. `.await` sends it and returns the receipt.
#[must_use = "a publish does nothing until awaited or sent"]
pub struct Publish<'a> {
    publisher: &'a Publisher,
    routing_key: String,
    body: Result<Bytes>,
    headers: Vec<(String, String)>,
    id: Option<String>,
}

impl std::fmt::Debug for Publish<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publish")
            .field("target", &self.publisher.target)
            .field("routing_key", &self.routing_key)
            .field("headers", &self.headers)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A message ready for the broker.
struct Prepared {
    key: RoutingKey,
    headers: Headers,
    id: String,
    body: Bytes,
}

impl<'a> Publish<'a> {
    /// Adds a custom header. `service` is reserved; `ce-*` headers override the defaults.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((key.into(), value.into()));
        self
    }

    /// Adds several custom headers.
    pub fn headers<K: Into<String>, V: Into<String>>(
        mut self,
        headers: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.headers
            .extend(headers.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Sets the CloudEvents id (default: a new UUID v4). It is also the `Nats-Msg-Id`, so
    /// publishing the same id twice within the stream's duplicate window (2 min) stores it
    /// once.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    fn prepare(self) -> Result<(&'a Publisher, Prepared)> {
        let publisher = self.publisher;
        if publisher.shared.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let key = RoutingKey::new(self.routing_key)?;
        let body = self.body?;
        let stream_target = matches!(
            *publisher.target,
            PublishTarget::EventStream | PublishTarget::Stream(_)
        );
        let (headers, id) = headers::publish(
            self.headers,
            self.id,
            key.as_str(),
            publisher.shared.service.as_str(),
            stream_target,
        )?;
        Ok((
            publisher,
            Prepared {
                key,
                headers,
                id,
                body,
            },
        ))
    }

    /// Sends now and returns the (already known) ack, for code written against the NATS
    /// transport's windowed publishing. For service targets this waits for the reply.
    ///
    /// # Errors
    /// Validation errors, or (service targets) the request's error.
    pub async fn send(self) -> Result<PendingAck> {
        let (publisher, prepared) = self.prepare()?;
        let (receipt, _) = publisher.deliver(prepared).await?;
        Ok(PendingAck { receipt })
    }
}

impl<'a> IntoFuture for Publish<'a> {
    type Output = Result<PublishReceipt>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move { self.send().await?.await })
    }
}

/// The ack of a publish that was sent. In memory the broker has it at once, so awaiting
/// it never waits.
#[derive(Debug)]
#[must_use = "the ack tells whether the stream stored the message"]
pub struct PendingAck {
    receipt: PublishReceipt,
}

impl IntoFuture for PendingAck {
    type Output = Result<PublishReceipt>;
    type IntoFuture = std::future::Ready<Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        std::future::ready(Ok(self.receipt))
    }
}

/// A typed request being configured. `.await` sends it and decodes the reply.
#[must_use = "a request does nothing until awaited"]
pub struct Call<'a, R> {
    publish: Publish<'a>,
    _reply: PhantomData<fn() -> R>,
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
            let PublishTarget::Service(target) = &*self.publish.publisher.target else {
                return Err(Error::NotAServicePublisher {
                    target: self.publish.publisher.target.to_string(),
                });
            };
            let target = target.clone();
            let (publisher, prepared) = self.publish.prepare()?;
            let (receipt, reply) = publisher.request_raw(&target, prepared).await?;
            if let Some(message) = remote_error(&reply) {
                return Err(Error::Core(messaging_core::Error::Remote {
                    service: target.as_str().to_owned(),
                    message,
                }));
            }
            serde_json::from_slice(&reply.body).map_err(|source| Error::DecodeReply {
                subject: receipt.subject,
                source,
            })
        })
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_resolve_to_a_durable() {
        assert_eq!(queue_consumer("billing"), ("events", "billing"));
        assert_eq!(
            queue_consumer("audit.topic.exchange.queue.billing-x"),
            ("audit", "billing-x")
        );
    }
}
