//! Publishing: CloudEvents headers, `Nats-Msg-Id` de-duplication, retries with the same id,
//! windowed acks, and typed request-reply.

use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use async_nats::jetstream::context::PublishErrorKind;
use async_nats::{HeaderMap, Subject};
use bytes::Bytes;
use messaging_spec::{Headers, RoutingKey};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::connection::Shared;
use crate::error::{Error, RequestFailure, Result};
use crate::headers::PublishHeaders;
use crate::metrics::{PublishRecorder, RequestResult};
use crate::otel::{MessageSpan, SpanFacts};
use crate::request::SERVICE_ERROR_NAME;
use messaging_core::PublishTarget;

mod ack;
mod traits;

pub use ack::PendingAck;

/// Sends messages to one target. Cheap to clone; safe to share across tasks.
///
/// ```no_run
/// # async fn demo(conn: messaging_nats::Connection) -> Result<(), messaging_nats::Error> {
/// #[derive(serde::Serialize)]
/// struct OrderCreated { id: u64 }
/// let events = conn.event_publisher()?;
/// let receipt = events
///     .publish("Order.Created", &OrderCreated { id: 7 })
///     .header("x-tenant", "acme")
///     .await?;
/// println!("stored as #{:?} with id {}", receipt.sequence, receipt.id);
/// # Ok(()) }
/// ```
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

/// What the broker confirmed about a publish.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PublishReceipt {
    /// The CloudEvents id (also the `Nats-Msg-Id`).
    pub id: String,
    /// The subject the message went to.
    pub subject: String,
    /// The stream that stored it (stream targets only).
    pub stream: Option<String>,
    /// Its sequence in the stream (stream targets only).
    pub sequence: Option<u64>,
    /// True when the stream had already stored this id (a retry or a duplicate).
    pub duplicate: bool,
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
    /// `.id(..)`, then `.await` it (waits for the stream's ack, or the service's reply), or
    /// call [`Publish::send`] to keep many acks in flight.
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

    /// Publishes bytes that are already JSON, untouched.
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
    ///
    /// ```no_run
    /// # async fn demo(conn: messaging_nats::Connection) -> Result<(), messaging_nats::Error> {
    /// #[derive(serde::Serialize)] struct Charge { cents: u64 }
    /// #[derive(serde::Deserialize)] struct Receipt { ok: bool }
    /// let billing = conn.service_publisher("billing")?;
    /// let r: Receipt = billing.request("Billing.Charge", &Charge { cents: 500 }).await?;
    /// # let _ = r.ok; Ok(()) }
    /// ```
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

    fn recorder(&self, p: &Prepared) -> PublishRecorder {
        self.shared
            .metrics
            .publish(self.target.destination(), p.routing_key.as_str())
    }

    /// Stream targets de-duplicate by `Nats-Msg-Id`; Core NATS requests cannot.
    fn dedups(&self) -> bool {
        matches!(
            *self.target,
            PublishTarget::EventStream | PublishTarget::Stream(_)
        )
    }

    fn subject(&self, key: &RoutingKey) -> String {
        match &*self.target {
            PublishTarget::Service(t) => {
                messaging_spec::naming::nats_request_subject(t.as_str(), key.as_str())
            }
            other => messaging_spec::naming::nats_subject(other.destination(), key.as_str()),
        }
    }

    fn header_map(&self, p: &Prepared) -> HeaderMap {
        p.headers.to_map(
            p.routing_key.as_str(),
            self.shared.service.as_str(),
            self.dedups(),
        )
    }
}

/// A publish being configured. `.await` sends it and waits for the ack.
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

/// A message prepared for the wire.
struct Prepared {
    subject: Subject,
    headers: PublishHeaders,
    body: Bytes,
    routing_key: RoutingKey,
    /// When the publish began, for the duration metrics.
    started: Instant,
    span: MessageSpan,
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
    /// publishing the same id twice within the stream's duplicate window stores it once.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    fn prepare(self) -> Result<(&'a Publisher, Prepared)> {
        let publisher = self.publisher;
        let shared = &publisher.shared;
        if shared.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        shared.check_started()?;
        let key = RoutingKey::new(self.routing_key)?;
        let body = self.body?;
        let mut headers = PublishHeaders::new(self.headers, self.id)?;
        let subject = publisher.subject(&key);
        let facts = SpanFacts {
            destination: publisher.target.destination(),
            subject: &subject,
            routing_key: key.as_str(),
            message_id: Some(headers.id()),
            body_size: body.len(),
            subscription: None,
        };
        let mut trace = Headers::new();
        let span = shared.otel.publish(&facts, &mut trace);
        if !trace.is_empty() {
            headers.set_trace(&trace);
        }
        Ok((
            publisher,
            Prepared {
                subject: Subject::from(subject),
                headers,
                body,
                routing_key: key,
                started: Instant::now(),
                span,
            },
        ))
    }

    /// Sends without waiting for the stream's ack and returns it as a future, so many
    /// publishes can be in flight. For service targets this waits for the reply and
    /// returns a completed ack.
    ///
    /// At most `max_ack_inflight` acks (see
    /// [`ConnectionBuilder::max_ack_inflight`](crate::ConnectionBuilder::max_ack_inflight))
    /// can be outstanding: a [`PendingAck`] holds its slot until it is awaited or dropped.
    /// When all slots are held, `send()` waits for one, and after `publish_timeout` fails
    /// with [`Error::Publish`] of kind
    /// [`PublishFailure::Backpressure`](crate::PublishFailure::Backpressure). So await acks
    /// in a sliding window no wider than `max_ack_inflight`:
    ///
    /// ```no_run
    /// # async fn demo(events: messaging_nats::Publisher) -> Result<(), messaging_nats::Error> {
    /// use std::collections::VecDeque;
    /// const WINDOW: usize = 256; // at most max_ack_inflight
    /// let mut acks = VecDeque::with_capacity(WINDOW);
    /// for n in 0..10_000u32 {
    ///     if acks.len() == WINDOW
    ///         && let Some(oldest) = acks.pop_front()
    ///     {
    ///         oldest.await?;
    ///     }
    ///     acks.push_back(events.publish("Counter.Ticked", &n).send().await?);
    /// }
    /// for ack in acks {
    ///     ack.await?;
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Validation errors, [`Error::Publish`] of kind `Backpressure` as above, or (service
    /// targets) the request's error.
    pub async fn send(self) -> Result<PendingAck> {
        let (publisher, prepared) = self.prepare()?;
        if let PublishTarget::Service(_) = &*publisher.target {
            let receipt = publisher.request_raw(prepared).await.map(|(r, _)| r)?;
            return Ok(PendingAck::done(receipt));
        }
        let first = match publisher.send_attempt(&prepared).await {
            Err(e) if e.kind() == PublishErrorKind::MaxAckPending => {
                return Err(publisher.failed(prepared, 1, e));
            }
            // Other hand-off failures may be transient: the ack's retries handle them.
            other => other,
        };
        Ok(PendingAck::js(publisher.clone(), prepared, first))
    }
}

impl<'a> IntoFuture for Publish<'a> {
    type Output = Result<PublishReceipt>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move { self.send().await?.await })
    }
}

impl Publisher {
    /// Core NATS request; hands the reply to matching response consumers.
    async fn request_raw(&self, p: Prepared) -> Result<(PublishReceipt, async_nats::Message)> {
        let shared = &self.shared;
        let request = async_nats::Request::new()
            .headers(self.header_map(&p))
            .payload(p.body)
            .timeout(Some(shared.timing.request_timeout));
        let reply = shared.client.send_request(p.subject.clone(), request).await;
        self.record_request(p.routing_key.as_str(), p.started, reply.as_ref());
        match &reply {
            Ok(_) => p.span.finish(None),
            Err(e) => p.span.failed(e),
        }
        let reply = reply.map_err(|e| {
            let kind = match e.kind() {
                async_nats::RequestErrorKind::NoResponders => RequestFailure::NoResponders,
                async_nats::RequestErrorKind::TimedOut => RequestFailure::TimedOut,
                _ => RequestFailure::Other,
            };
            let e = Error::Request {
                subject: p.subject.to_string(),
                kind,
                source: Box::new(e),
            };
            shared.denied_or(p.started, p.subject.as_str(), e)
        })?;
        if let PublishTarget::Service(target) = &*self.target {
            crate::response::deliver(shared, target, &p.subject, &reply);
        }
        Ok((
            PublishReceipt {
                id: p.headers.into_id(),
                subject: p.subject.into_string(),
                stream: None,
                sequence: None,
                duplicate: false,
            },
            reply,
        ))
    }
}

impl Publisher {
    /// Publish metrics (a reply counts as published) and, client side, request duration.
    fn record_request(
        &self,
        routing_key: &str,
        started: Instant,
        reply: std::result::Result<&async_nats::Message, &async_nats::RequestError>,
    ) {
        let metrics = &self.shared.metrics;
        if !metrics.enabled() {
            return;
        }
        let elapsed = started.elapsed();
        let result = match reply {
            Ok(r) if remote_error(r).is_some() => RequestResult::RemoteError,
            Ok(_) => RequestResult::Ok,
            Err(_) => RequestResult::Error,
        };
        let recorder = metrics.publish(self.target.destination(), routing_key);
        if reply.is_ok() {
            recorder.succeeded(elapsed);
        } else {
            recorder.failed(elapsed);
        }
        metrics.request(self.target.destination(), routing_key, result, elapsed);
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

impl<'a, R> Call<'a, R> {
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
            let publisher = self.publish.publisher;
            // Checked first, so no span is started for a call that cannot be made.
            let PublishTarget::Service(target) = &*publisher.target else {
                return Err(Error::NotAServicePublisher {
                    target: publisher.target.to_string(),
                });
            };
            let (_, prepared) = self.publish.prepare()?;
            let (receipt, reply) = publisher.request_raw(prepared).await?;
            decode_reply(target.as_str(), &receipt.subject, &reply)
        })
    }
}

/// A reply is an error when it carries `Nats-Service-Error`, or when its body is exactly
/// `{"error": "<text>"}` (what the Go and Node handlers send).
pub(crate) fn remote_error(reply: &async_nats::Message) -> Option<String> {
    if let Some(text) = reply
        .headers
        .as_ref()
        .and_then(|h| h.get(SERVICE_ERROR_NAME.clone()))
    {
        return Some(text.as_str().to_owned());
    }
    messaging_core::reply::remote_error(&reply.payload)
}

fn decode_reply<R: DeserializeOwned>(
    target: &str,
    subject: &str,
    reply: &async_nats::Message,
) -> Result<R> {
    if let Some(message) = remote_error(reply) {
        return Err(Error::Core(messaging_core::Error::Remote {
            service: target.to_owned(),
            message,
        }));
    }
    serde_json::from_slice(&reply.payload).map_err(|source| Error::DecodeReply {
        subject: subject.to_owned(),
        source,
    })
}
