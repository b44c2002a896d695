//! Publishing: CloudEvents headers, `Nats-Msg-Id` de-duplication, retries with the same id,
//! windowed acks, and typed request-reply.

use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use async_nats::HeaderMap;
use async_nats::jetstream::context::{PublishAckFuture, PublishErrorKind};
use async_nats::jetstream::publish::PublishAck;
use bytes::Bytes;
use messaging_spec::{Headers, RoutingKey, SERVICE_HEADER, new_event_id, publish_headers};
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use crate::connection::Shared;
use crate::error::{Error, RequestFailure, Result};
use crate::headers;
use crate::metrics::{PublishRecorder, RequestResult};
use crate::otel::{MessageSpan, SpanFacts};
use crate::request::SERVICE_ERROR;
use crate::target::PublishTarget;

/// The JetStream header that de-duplicates publishes within the stream's window.
const MSG_ID: &str = "Nats-Msg-Id";

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
    /// [`Error::Remote`]. Only for service targets.
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
            .publish(self.target.destination(), &p.routing_key)
    }

    fn subject(&self, key: &RoutingKey) -> String {
        match &*self.target {
            PublishTarget::Service(t) => {
                messaging_spec::naming::nats_request_subject(t.as_str(), key.as_str())
            }
            other => messaging_spec::naming::nats_subject(other.destination(), key.as_str()),
        }
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
    subject: String,
    headers: HeaderMap,
    body: Bytes,
    id: String,
    routing_key: String,
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
        let key = RoutingKey::new(self.routing_key.as_str())?;
        let body = self.body?;
        let mut custom = Headers::new();
        for (k, v) in self.headers {
            if k == SERVICE_HEADER {
                return Err(Error::ReservedHeader(k));
            }
            headers::name(&k)?;
            custom.insert(k, v);
        }
        if let Some(id) = self.id {
            custom.insert(messaging_spec::CE_ID, id);
        }
        let service = shared.service.as_str();
        let mut all = publish_headers(
            &custom,
            key.as_str(),
            service,
            OffsetDateTime::now_utc(),
            new_event_id,
        );
        all.insert(SERVICE_HEADER, service);
        let id = all
            .get_str(messaging_spec::CE_ID)
            .unwrap_or_default()
            .to_owned();
        if matches!(
            *publisher.target,
            PublishTarget::EventStream | PublishTarget::Stream(_)
        ) {
            all.insert_if_absent(MSG_ID, id.as_str());
        }
        let subject = publisher.subject(&key);
        let facts = SpanFacts {
            destination: publisher.target.destination(),
            subject: &subject,
            routing_key: key.as_str(),
            message_id: Some(&id),
            body_size: body.len(),
            subscription: None,
        };
        let span = shared.otel.publish(&facts, &mut all);
        Ok((
            publisher,
            Prepared {
                subject,
                span,
                headers: headers::to_nats(all.iter_str())?,
                body,
                id,
                routing_key: key.as_str().to_owned(),
                started: Instant::now(),
            },
        ))
    }

    /// Sends without waiting for the stream's ack and returns it as a future, so many
    /// publishes can be in flight (bounded by the connection's `max_ack_inflight`).
    /// For service targets this waits for the reply and returns a completed ack.
    ///
    /// # Errors
    /// Validation errors, or a failure to hand the message to the client.
    pub async fn send(self) -> Result<PendingAck> {
        let (publisher, prepared) = self.prepare()?;
        if let PublishTarget::Service(_) = &*publisher.target {
            let receipt = publisher.request_raw(prepared).await.map(|(r, _)| r)?;
            return Ok(PendingAck {
                state: PendingState::Done(Box::new(receipt)),
            });
        }
        let first = send_js(&publisher.shared, &prepared).await;
        Ok(PendingAck {
            state: PendingState::Js {
                publisher: publisher.clone(),
                prepared: Box::new(prepared),
                first: Box::new(first),
            },
        })
    }
}

impl<'a> IntoFuture for Publish<'a> {
    type Output = Result<PublishReceipt>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move { self.send().await?.await })
    }
}

async fn send_js(
    shared: &Shared,
    p: &Prepared,
) -> std::result::Result<PublishAckFuture, async_nats::jetstream::context::PublishError> {
    shared
        .js
        .publish_with_headers(p.subject.clone(), p.headers.clone(), p.body.clone())
        .await
}

fn retryable(kind: PublishErrorKind) -> bool {
    matches!(
        kind,
        PublishErrorKind::TimedOut
            | PublishErrorKind::StreamNotFound
            | PublishErrorKind::BrokenPipe
    )
}

enum PendingState {
    Js {
        publisher: Publisher,
        prepared: Box<Prepared>,
        first: Box<
            std::result::Result<PublishAckFuture, async_nats::jetstream::context::PublishError>,
        >,
    },
    Done(Box<PublishReceipt>),
}

/// An ack still to come. Awaiting it retries a timed-out or unanswered publish with the
/// same message id, so the stream stores it once.
#[must_use = "the ack tells whether the stream stored the message"]
pub struct PendingAck {
    state: PendingState,
}

impl std::fmt::Debug for PendingAck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.state {
            PendingState::Js { prepared, .. } => f
                .debug_struct("PendingAck")
                .field("subject", &prepared.subject)
                .field("id", &prepared.id)
                .finish(),
            PendingState::Done(r) => f.debug_tuple("PendingAck").field(r).finish(),
        }
    }
}

impl IntoFuture for PendingAck {
    type Output = Result<PublishReceipt>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let (publisher, prepared, first) = match self.state {
                PendingState::Done(r) => return Ok(*r),
                PendingState::Js {
                    publisher,
                    prepared,
                    first,
                } => (publisher, prepared, first),
            };
            let timing = &publisher.shared.timing;
            let mut attempt = 1u32;
            let mut pending = *first;
            loop {
                let result = match pending {
                    Ok(fut) => fut.await,
                    Err(e) => Err(e),
                };
                match result {
                    Ok(ack) => {
                        publisher
                            .recorder(&prepared)
                            .succeeded(prepared.started.elapsed());
                        prepared.span.finish(None);
                        return Ok(receipt(&prepared, &ack));
                    }
                    Err(e) if retryable(e.kind()) && attempt < timing.publish_attempts => {
                        let delay = timing.publish_retry_delay * 2u32.pow(attempt - 1);
                        tracing::warn!(subject = %prepared.subject, id = %prepared.id, attempt, error = %e, "publish not acknowledged; retrying with the same id");
                        tokio::time::sleep(delay).await;
                        attempt += 1;
                        pending = send_js(&publisher.shared, &prepared).await;
                    }
                    Err(e) => {
                        publisher
                            .recorder(&prepared)
                            .failed(prepared.started.elapsed());
                        prepared.span.failed(&e);
                        return Err(Error::Publish {
                            subject: prepared.subject,
                            attempts: attempt,
                            source: Box::new(e),
                        });
                    }
                }
            }
        })
    }
}

fn receipt(p: &Prepared, ack: &PublishAck) -> PublishReceipt {
    PublishReceipt {
        id: p.id.clone(),
        subject: p.subject.clone(),
        stream: Some(ack.stream.clone()),
        sequence: Some(ack.sequence),
        duplicate: ack.duplicate,
    }
}

impl Publisher {
    /// Core NATS request; hands the reply to matching response consumers.
    async fn request_raw(&self, p: Prepared) -> Result<(PublishReceipt, async_nats::Message)> {
        let shared = &self.shared;
        let request = async_nats::Request::new()
            .headers(p.headers)
            .payload(p.body)
            .timeout(Some(shared.timing.request_timeout));
        let reply = shared.client.send_request(p.subject.clone(), request).await;
        self.record_request(&p.routing_key, p.started, reply.as_ref());
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
            Error::Request {
                subject: p.subject.clone(),
                kind,
                source: Box::new(e),
            }
        })?;
        if let PublishTarget::Service(target) = &*self.target {
            crate::response::deliver(shared, target, &p.subject, &reply);
        }
        Ok((
            PublishReceipt {
                id: p.id,
                subject: p.subject,
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
            let (publisher, prepared) = self.publish.prepare()?;
            let PublishTarget::Service(target) = &*publisher.target else {
                return Err(Error::InvalidConfig(format!(
                    "request() needs a service publisher, not {}",
                    publisher.target
                )));
            };
            let target = target.as_str().to_owned();
            let (receipt, reply) = publisher.request_raw(prepared).await?;
            decode_reply(&target, &receipt.subject, &reply)
        })
    }
}

/// A reply is an error when it carries `Nats-Service-Error`, or when its body is exactly
/// `{"error": "<text>"}` (what the Go and Node handlers send).
pub(crate) fn remote_error(reply: &async_nats::Message) -> Option<String> {
    if let Some(text) = reply.headers.as_ref().and_then(|h| h.get(SERVICE_ERROR)) {
        return Some(text.as_str().to_owned());
    }
    let value: serde_json::Value = serde_json::from_slice(&reply.payload).ok()?;
    let obj = value.as_object()?;
    match (obj.len(), obj.get("error")) {
        (1, Some(serde_json::Value::String(text))) => Some(text.clone()),
        _ => None,
    }
}

fn decode_reply<R: DeserializeOwned>(
    target: &str,
    subject: &str,
    reply: &async_nats::Message,
) -> Result<R> {
    if let Some(message) = remote_error(reply) {
        return Err(Error::Remote {
            service: target.to_owned(),
            message,
        });
    }
    serde_json::from_slice(&reply.payload).map_err(|source| Error::DecodeReply {
        subject: subject.to_owned(),
        source,
    })
}
