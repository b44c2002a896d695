//! Publishing: the reference's properties and CloudEvents headers, publisher confirms per
//! message, retries with the same CloudEvents id, windowed confirms, and typed requests
//! over direct reply-to.

use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use messaging_core::PublishTarget;
use messaging_spec::{Headers, RoutingKey};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::connection::Shared;
use crate::declare::short;
use crate::error::{Error, Result};
use crate::headers::{HeaderInput, PublishHeaders};
use crate::metrics::PublishRecorder;
use crate::otel::{MessageSpan, SpanFacts};
use crate::publish::{Outgoing, PublishChannel};

mod call;
mod confirm;

pub use call::Call;
pub use confirm::PendingConfirm;
pub(crate) use confirm::{confirm_with_retries, failed as publish_failed};

/// One registered publisher: its target, exchange and channel.
pub(crate) struct PublisherInner {
    pub(crate) target: PublishTarget,
    pub(crate) exchange: String,
    pub(crate) channel: PublishChannel,
}

/// The publishers of a connection, in registration order.
#[derive(Default)]
pub(crate) struct Publishers(pub(crate) Vec<Arc<PublisherInner>>);

impl Publishers {
    pub(crate) fn get(&self, shared: &Arc<Shared>, target: &PublishTarget) -> Result<Publisher> {
        self.0
            .iter()
            .find(|p| p.target == *target)
            .map(|p| Publisher {
                shared: Arc::clone(shared),
                inner: Arc::clone(p),
            })
            .ok_or_else(|| Error::PublisherNotRegistered(target.to_string()))
    }

    pub(crate) fn targets(&self) -> Vec<PublishTarget> {
        self.0.iter().map(|p| p.target.clone()).collect()
    }

    pub(crate) async fn close(&self) {
        for p in &self.0 {
            p.channel.close().await;
        }
    }
}

/// Sends messages to one target. Cheap to clone; safe to share across tasks.
///
/// ```no_run
/// # async fn demo(conn: messaging_amqp::Connection) -> Result<(), messaging_amqp::Error> {
/// #[derive(serde::Serialize)]
/// struct OrderCreated { id: u64 }
/// let events = conn.event_publisher()?;
/// let receipt = events
///     .publish("Order.Created", &OrderCreated { id: 7 })
///     .header("x-tenant", "acme")
///     .await?;
/// println!("confirmed {}", receipt.id);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Publisher {
    pub(crate) shared: Arc<Shared>,
    pub(crate) inner: Arc<PublisherInner>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("service", &self.shared.service.as_str())
            .field("target", &self.inner.target)
            .field("exchange", &self.inner.exchange)
            .finish()
    }
}

/// What the broker confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PublishReceipt {
    /// The CloudEvents id (`cloudEvents:id`).
    pub id: String,
    /// The exchange (`""` for the default exchange).
    pub exchange: String,
    /// The routing key.
    pub routing_key: String,
}

impl Publisher {
    /// Where this publisher sends.
    #[must_use]
    pub fn target(&self) -> &PublishTarget {
        &self.inner.target
    }

    /// The exchange it publishes to (`""` for a queue publisher).
    #[must_use]
    pub fn exchange(&self) -> &str {
        &self.inner.exchange
    }

    /// Publishes `message` as JSON under `routing_key`. Configure with `.header(..)` and
    /// `.id(..)`, then `.await` it (waits for the broker's confirm), or call
    /// [`Publish::send`] to keep many confirms in flight. On a service publisher this is
    /// the reference's asynchronous request: the response, if any, arrives at a
    /// [`service_response_consumer`](crate::ConnectionBuilder::service_response_consumer).
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

    /// Publishes bytes that are already JSON, untouched (still with the headers).
    pub fn publish_raw(&self, routing_key: &str, json: impl Into<Bytes>) -> Publish<'_> {
        Publish {
            publisher: self,
            routing_key: routing_key.to_owned(),
            body: Ok(json.into()),
            headers: Vec::new(),
            id: None,
        }
    }

    /// Sends a typed request to the target service and decodes its reply as `R`, over
    /// RabbitMQ direct reply-to (`reply_to` + `correlation_id`; nothing is declared). A
    /// reply of the form `{"error": "…"}` becomes [`messaging_core::Error::Remote`]. Only
    /// for service publishers. A Go callee answers only through its headers exchange, so a
    /// typed request to it times out: use [`publish`](Self::publish) and a response
    /// consumer for Go services.
    ///
    /// ```no_run
    /// # async fn demo(conn: messaging_amqp::Connection) -> Result<(), messaging_amqp::Error> {
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
}

/// A publish being configured. `.await` sends it and waits for the confirm.
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
            .field("target", &self.publisher.inner.target)
            .field("routing_key", &self.routing_key)
            .field("headers", &self.headers)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A message prepared for the wire.
pub(crate) struct Prepared {
    pub(crate) outgoing: Outgoing,
    pub(crate) id: String,
    pub(crate) routing_key: String,
    pub(crate) started: Instant,
    pub(crate) span: MessageSpan,
    pub(crate) recorder: PublishRecorder,
}

impl Prepared {
    pub(crate) fn receipt(self) -> PublishReceipt {
        PublishReceipt {
            id: self.id,
            exchange: self.outgoing.exchange.to_string(),
            routing_key: self.routing_key,
        }
    }
}

/// Builds the wire message: headers (the service header, CC, CloudEvents defaults), the
/// producer span and its trace context.
pub(crate) struct Draft<'a> {
    pub(crate) shared: &'a Shared,
    pub(crate) exchange: &'a str,
    /// The key for `cloudEvents:type`, metrics and spans.
    pub(crate) routing_key: &'a str,
    /// The routing key on the wire when it differs (a direct reply's `reply_to`).
    pub(crate) wire_key: Option<&'a str>,
    pub(crate) service_header: &'a str,
    pub(crate) cc: Option<&'a str>,
    pub(crate) custom: &'a [(String, String)],
    pub(crate) id: Option<&'a str>,
    pub(crate) body: Bytes,
    /// Responses continue the handler's trace instead of starting a producer span.
    pub(crate) parent: Option<&'a MessageSpan>,
}

impl Draft<'_> {
    pub(crate) fn prepare(self) -> Result<Prepared> {
        let shared = self.shared;
        let mut headers = PublishHeaders::build(
            &HeaderInput {
                service: self.service_header,
                source: shared.service.as_str(),
                routing_key: self.routing_key,
                cc: self.cc,
                custom: self.custom,
                id: self.id,
            },
            &Headers::new(),
        )?;
        let facts = SpanFacts {
            exchange: self.exchange,
            routing_key: self.routing_key,
            message_id: Some(&headers.id),
            body_size: self.body.len(),
            queue: None,
        };
        let mut trace = Headers::new();
        let span = {
            // A response's producer span is a child of the handler's span.
            let _parent = self.parent.map(MessageSpan::enter);
            shared.otel.publish(&facts, &mut trace)
        };
        headers.add_trace(&trace)?;
        Ok(Prepared {
            outgoing: Outgoing {
                exchange: short("exchange", self.exchange)?,
                routing_key: short("routing key", self.wire_key.unwrap_or(self.routing_key))?,
                body: self.body,
                headers: headers.table,
                reply: None,
                correlation_id: None,
                mandatory: false,
            },
            id: headers.id,
            routing_key: self.routing_key.to_owned(),
            started: Instant::now(),
            span,
            recorder: shared.metrics.publish(self.exchange, self.routing_key),
        })
    }
}

impl<'a> Publish<'a> {
    /// Adds a custom header (a long string). `service` is reserved (so is `CC` on a queue
    /// publisher); `ce-*`, `cloudEvents:*` and `cloudEvents_*` keys set the CloudEvents
    /// attributes (sent as `cloudEvents:*`).
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

    /// Sets the CloudEvents id (default: a new UUID v4). Retries reuse it, so consumers
    /// can de-duplicate.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    fn prepare(self) -> Result<(&'a Publisher, Prepared)> {
        let publisher = self.publisher;
        let shared = &publisher.shared;
        if shared.is_closed() {
            return Err(Error::Closed);
        }
        let cc = match &publisher.inner.target {
            PublishTarget::Queue(q) => Some(q.as_str()),
            _ => {
                RoutingKey::new(self.routing_key.as_str())?;
                None
            }
        };
        let prepared = Draft {
            shared,
            exchange: &publisher.inner.exchange,
            routing_key: &self.routing_key,
            wire_key: None,
            service_header: shared.service.as_str(),
            cc,
            custom: &self.headers,
            id: self.id.as_deref(),
            body: self.body?,
            parent: None,
        }
        .prepare()?;
        Ok((publisher, prepared))
    }

    /// Sends without waiting for the broker's confirm and returns it as a future, so many
    /// publishes can be in flight.
    ///
    /// At most `max_in_flight_confirms` confirms per publisher (see
    /// [`ConnectionBuilder::max_in_flight_confirms`](crate::ConnectionBuilder::max_in_flight_confirms))
    /// can be outstanding: a [`PendingConfirm`] holds its slot until it is awaited or
    /// dropped. When all are held, `send()` waits for one, and after `publish_timeout`
    /// fails with [`PublishFailure::Backpressure`](crate::PublishFailure::Backpressure).
    /// Await confirms in a sliding window:
    ///
    /// ```no_run
    /// # async fn demo(events: messaging_amqp::Publisher) -> Result<(), messaging_amqp::Error> {
    /// use std::collections::VecDeque;
    /// const WINDOW: usize = 256; // at most max_in_flight_confirms
    /// let mut confirms = VecDeque::with_capacity(WINDOW);
    /// for n in 0..10_000u32 {
    ///     if confirms.len() == WINDOW
    ///         && let Some(oldest) = confirms.pop_front()
    ///     {
    ///         oldest.await?;
    ///     }
    ///     confirms.push_back(events.publish("Counter.Ticked", &n).send().await?);
    /// }
    /// for c in confirms {
    ///     c.await?;
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Validation errors, or [`Error::Publish`] of kind `Backpressure` as above.
    pub async fn send(self) -> Result<PendingConfirm> {
        let (publisher, prepared) = self.prepare()?;
        match publisher.inner.channel.send(&prepared.outgoing).await {
            // Nothing was sent: fail now rather than wait in the confirm.
            Err(f) if f.kind == crate::PublishFailure::Backpressure => {
                Err(publish_failed(prepared, 1, f))
            }
            // Other hand-off failures may be transient: the confirm's retries handle them.
            first => Ok(PendingConfirm::new(publisher.clone(), prepared, first)),
        }
    }
}

impl<'a> IntoFuture for Publish<'a> {
    type Output = Result<PublishReceipt>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move { self.send().await?.await })
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
        let publish = self.publish(routing_key, message);
        async move { publish.await.map(drop) }
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
        let call = self.request::<R, T>(routing_key, request);
        async move { call.await }
    }
}
