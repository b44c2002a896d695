//! Typed requests over RabbitMQ direct reply-to (`amq.rabbitmq.reply-to`): no queue,
//! exchange or binding is declared. One channel per connection publishes the requests
//! and consumes the replies (no-ack, as direct reply-to requires, on that same channel);
//! a correlation map hands each reply to its caller, so concurrent requests each get
//! their own.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use futures::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{Channel, Confirmation};
use tokio::sync::{Mutex, oneshot};

use crate::error::{BoxError, RequestFailure};
use crate::link::Link;
use crate::publish::Outgoing;

/// RabbitMQ's pseudo-queue for direct replies.
pub(crate) const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";

/// A reply as delivered.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) body: Vec<u8>,
    pub(crate) headers: Option<FieldTable>,
}

/// Callers waiting, by correlation id, with the generation of the channel their request
/// went out on: direct reply-to delivers only on that channel.
type Pending = Arc<StdMutex<HashMap<String, (u64, oneshot::Sender<Reply>)>>>;

/// Removes a caller's entry when its call ends, however it ends.
struct Registration {
    pending: Pending,
    id: String,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut map) = self.pending.lock() {
            map.remove(&self.id);
        }
    }
}

/// The requests channel and its reply consumer, opened on the first request.
pub(crate) struct ReplyClient {
    link: Arc<Link>,
    /// The requests channel and its generation (one more for every channel opened).
    channel: Mutex<Option<(Channel, u64)>>,
    generations: AtomicU64,
    pending: Pending,
    publish_timeout: Duration,
}

impl std::fmt::Debug for ReplyClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let waiting = self.pending.lock().map(|m| m.len()).unwrap_or_default();
        f.debug_struct("ReplyClient")
            .field("waiting", &waiting)
            .finish_non_exhaustive()
    }
}

/// A failed call, before it becomes the public `Error::Request`.
#[derive(Debug)]
pub(crate) struct CallFailure {
    pub(crate) kind: RequestFailure,
    pub(crate) source: BoxError,
}

fn failed(kind: RequestFailure, source: impl Into<BoxError>) -> CallFailure {
    CallFailure {
        kind,
        source: source.into(),
    }
}

impl ReplyClient {
    pub(crate) fn new(link: Arc<Link>, publish_timeout: Duration) -> Self {
        Self {
            link,
            channel: Mutex::new(None),
            generations: AtomicU64::new(0),
            pending: Arc::default(),
            publish_timeout,
        }
    }

    /// The requests channel, opened (confirm mode, reply consumer) when missing or dead,
    /// on a connection that is up (a lost one is waited for, up to the publish timeout).
    async fn channel(&self) -> Result<(Channel, u64), BoxError> {
        let mut slot = self.channel.lock().await;
        if let Some((ch, generation)) = slot.as_ref() {
            let s = ch.status();
            if s.connected() || s.initializing() {
                return Ok((ch.clone(), *generation));
            }
        }
        let connection = self
            .link
            .connected(self.publish_timeout)
            .await
            .ok_or_else(|| {
                format!(
                    "no connection to RabbitMQ at {} within {:?} (it is being re-established)",
                    self.link.url(),
                    self.publish_timeout
                )
            })?;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let consumer = channel
            .basic_consume(
                DIRECT_REPLY_TO.into(),
                ShortString::default(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        let generation = self.generations.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(route_replies(
            consumer,
            Arc::clone(&self.pending),
            generation,
        ));
        *slot = Some((channel.clone(), generation));
        Ok((channel, generation))
    }

    /// Publishes `msg` as a request (mandatory, with `reply_to` and a fresh
    /// `correlation_id`) and waits up to `timeout` for its reply.
    pub(crate) async fn call(
        &self,
        mut msg: Outgoing,
        timeout: Duration,
    ) -> Result<Reply, CallFailure> {
        let (channel, generation) = self
            .channel()
            .await
            .map_err(|e| failed(RequestFailure::Other, e))?;
        // Registered before the publish, so no reply can arrive first.
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .map_err(|_| failed(RequestFailure::Other, "reply map poisoned"))?
            .insert(id.clone(), (generation, tx));
        let _registration = Registration {
            pending: Arc::clone(&self.pending),
            id: id.clone(),
        };
        msg.reply = Some((DIRECT_REPLY_TO.into(), id.as_str().into()));
        msg.mandatory = true;
        let publish = async {
            channel
                .basic_publish(
                    msg.exchange.clone(),
                    msg.routing_key.clone(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    &msg.body,
                    msg.properties(),
                )
                .await?
                .await
        };
        match tokio::time::timeout(self.publish_timeout, publish).await {
            Err(_) => {
                return Err(failed(
                    RequestFailure::Other,
                    format!(
                        "the request was not confirmed within {:?}",
                        self.publish_timeout
                    ),
                ));
            }
            Ok(Err(e)) => return Err(failed(RequestFailure::Other, e)),
            Ok(Ok(Confirmation::Ack(Some(_)))) => {
                return Err(failed(
                    RequestFailure::NoResponders,
                    "no queue is bound for this request key (is the service running?)",
                ));
            }
            Ok(Ok(Confirmation::Nack(_))) => {
                return Err(failed(
                    RequestFailure::Other,
                    "the broker nacked the request",
                ));
            }
            Ok(Ok(Confirmation::Ack(None) | Confirmation::NotRequested)) => {}
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(failed(
                RequestFailure::ReplyLost,
                "the channel the reply would arrive on was lost (the connection to RabbitMQ dropped or closed) after the request was sent; it may or may not have been handled",
            )),
            Err(_) => Err(failed(
                RequestFailure::TimedOut,
                format!("no reply within {timeout:?}"),
            )),
        }
    }

    /// Closes the requests channel (best effort); waiting calls fail.
    pub(crate) async fn close(&self) {
        if let Some((ch, _)) = self.channel.lock().await.take()
            && ch.status().connected()
        {
            let closed =
                tokio::time::timeout(self.publish_timeout, ch.close(200, "OK".into())).await;
            if !matches!(closed, Ok(Ok(()))) {
                tracing::debug!(?closed, "closing the requests channel failed");
            }
        }
    }
}

/// Hands every reply to the caller waiting on its correlation id; replies nobody waits
/// for (timed out, or sent twice) are dropped with a debug log. When the channel ends,
/// its callers fail at once: their replies can no longer arrive, on any channel.
async fn route_replies(mut consumer: lapin::Consumer, pending: Pending, generation: u64) {
    while let Some(delivery) = consumer.next().await {
        let delivery = match delivery {
            Ok(d) => d,
            // The channel is gone; the next request opens a new one.
            Err(e) => {
                tracing::debug!(error = %e, "the requests channel failed");
                break;
            }
        };
        let Some(id) = delivery.properties.correlation_id().clone() else {
            tracing::debug!("reply without correlation id dropped");
            continue;
        };
        let waiter = pending.lock().ok().and_then(|mut m| m.remove(id.as_str()));
        match waiter {
            Some((_, tx)) => {
                let reply = Reply {
                    body: delivery.data,
                    headers: delivery.properties.headers().clone(),
                };
                // The caller may have given up in the meantime.
                let _ = tx.send(reply);
            }
            None => tracing::debug!(correlation_id = %id, "late or unknown reply dropped"),
        }
    }
    if let Ok(mut map) = pending.lock() {
        // Dropping a sender wakes its caller.
        map.retain(|_, (g, _)| *g != generation);
    }
}
