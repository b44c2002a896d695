//! Publisher channels: confirm mode, one confirm future per publish (lapin tracks them by
//! delivery tag, so a late confirm can never be taken for another's), a bounded window of
//! confirms in flight, and a channel that reopens itself when the broker closed it or
//! the connection was lost (on the new connection, waiting for it within the timeout).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, PublisherConfirm};

use crate::link::Link;
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};

use crate::error::{BoxError, PublishFailure};

/// The only content type the spec sends.
pub(crate) const CONTENT_TYPE: &str = "application/json";
/// Persistent.
pub(crate) const DELIVERY_MODE_PERSISTENT: u8 = 2;

/// A message ready for `basic.publish`.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub(crate) exchange: ShortString,
    pub(crate) routing_key: ShortString,
    pub(crate) body: Bytes,
    pub(crate) headers: FieldTable,
    /// Typed requests: `reply_to` and `correlation_id`.
    pub(crate) reply: Option<(ShortString, ShortString)>,
    /// Direct replies: `correlation_id` only.
    pub(crate) correlation_id: Option<ShortString>,
    /// True only for typed requests, to learn at once that nobody serves the key.
    pub(crate) mandatory: bool,
}

impl Outgoing {
    /// `application/json`, persistent, the header table; `reply_to` and
    /// `correlation_id` only when set on purpose. Nothing else.
    pub(crate) fn properties(&self) -> BasicProperties {
        let mut p = BasicProperties::default()
            .with_content_type(CONTENT_TYPE.into())
            .with_delivery_mode(DELIVERY_MODE_PERSISTENT)
            .with_headers(self.headers.clone());
        if let Some((reply_to, correlation)) = &self.reply {
            p = p
                .with_reply_to(reply_to.clone())
                .with_correlation_id(correlation.clone());
        } else if let Some(correlation) = &self.correlation_id {
            p = p.with_correlation_id(correlation.clone());
        }
        p
    }
}

/// A failed step, before it becomes the public `Error::Publish`.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) kind: PublishFailure,
    pub(crate) source: BoxError,
    /// True when another attempt may succeed (the channel or connection went away).
    pub(crate) retryable: bool,
}

impl Failure {
    fn new(kind: PublishFailure, source: impl Into<BoxError>, retryable: bool) -> Self {
        Self {
            kind,
            source: source.into(),
            retryable,
        }
    }

    fn lapin(e: lapin::Error) -> Self {
        // Connection and channel losses are worth another attempt; the rest are not.
        let retryable = e.can_be_recovered();
        let kind = if retryable {
            PublishFailure::ChannelClosed
        } else {
            PublishFailure::Other
        };
        Self::new(kind, e, retryable)
    }
}

/// How the broker confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Confirmed {
    /// Stored or routed (an unroutable non-mandatory message is also acked).
    Ack,
    /// Mandatory and unroutable: the broker returned it.
    Returned,
}

/// One channel for one publisher (or the connection's responses), in confirm mode.
pub(crate) struct PublishChannel {
    link: Arc<Link>,
    current: Mutex<Channel>,
    window: Arc<Semaphore>,
    window_size: usize,
    timeout: Duration,
    label: String,
}

impl std::fmt::Debug for PublishChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishChannel")
            .field("label", &self.label)
            .field("free_confirm_slots", &self.window.available_permits())
            .finish_non_exhaustive()
    }
}

async fn confirm_channel(connection: &Connection) -> lapin::Result<Channel> {
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    Ok(channel)
}

impl PublishChannel {
    /// Opens the channel and puts it into confirm mode. `window` bounds the confirms in
    /// flight; `timeout` bounds the wait for a slot and for each confirm.
    pub(crate) async fn open(
        link: Arc<Link>,
        label: impl Into<String>,
        window: usize,
        timeout: Duration,
    ) -> lapin::Result<Self> {
        let channel = confirm_channel(&link.current()).await?;
        Ok(Self {
            link,
            current: Mutex::new(channel),
            window: Arc::new(Semaphore::new(window)),
            window_size: window,
            timeout,
            label: label.into(),
        })
    }

    /// The channel to publish on: the current one, or a new one when the broker closed it
    /// (a channel-level error such as a publish to a deleted exchange) or the connection
    /// was lost. A lost connection is waited for, up to the timeout.
    async fn channel(&self) -> Result<Channel, Failure> {
        let mut current = self.current.lock().await;
        let status = current.status();
        if status.connected() || status.initializing() {
            return Ok(current.clone());
        }
        let connection = self.link.connected(self.timeout).await.ok_or_else(|| {
            Failure::new(
                PublishFailure::ChannelClosed,
                format!(
                    "no connection to RabbitMQ at {} within {:?} (it is being re-established)",
                    self.link.url(),
                    self.timeout
                ),
                true,
            )
        })?;
        let fresh = confirm_channel(&connection).await.map_err(Failure::lapin)?;
        tracing::debug!(publisher = %self.label, "reopened publisher channel");
        *current = fresh.clone();
        Ok(fresh)
    }

    /// Writes the message and returns its confirm, holding one window slot until the
    /// confirm is awaited or dropped. With every slot held, waits up to the timeout for
    /// one, then fails with [`PublishFailure::Backpressure`] without sending.
    pub(crate) async fn send(&self, msg: &Outgoing) -> Result<PendingConfirm, Failure> {
        let permit = tokio::time::timeout(self.timeout, Arc::clone(&self.window).acquire_owned())
            .await
            .map_err(|_| {
                Failure::new(
                    PublishFailure::Backpressure,
                    format!(
                        "all {} confirm slots stayed held for {:?}; await pending confirms before sending more",
                        self.window_size,
                        self.timeout
                    ),
                    false,
                )
            })?
            .map_err(|e| Failure::new(PublishFailure::Other, e, false))?;
        let channel = self.channel().await?;
        let publish = channel.basic_publish(
            msg.exchange.clone(),
            msg.routing_key.clone(),
            BasicPublishOptions {
                mandatory: msg.mandatory,
                ..BasicPublishOptions::default()
            },
            &msg.body,
            msg.properties(),
        );
        let confirm = match tokio::time::timeout(self.timeout, publish).await {
            Ok(Ok(c)) => c,
            // A retry reopens the channel, waiting for a lost connection.
            Ok(Err(e)) => return Err(Failure::lapin(e)),
            Err(_) => {
                return Err(Failure::new(
                    PublishFailure::TimedOut,
                    format!("the frame could not be written within {:?}", self.timeout),
                    true,
                ));
            }
        };
        Ok(PendingConfirm {
            confirm,
            channel,
            timeout: self.timeout,
            sent_at: tokio::time::Instant::now(),
            _slot: permit,
        })
    }

    /// Closes the channel (best effort), after the confirms in flight.
    pub(crate) async fn close(&self) {
        let channel = self.current.lock().await.clone();
        if channel.status().connected() {
            let _ = tokio::time::timeout(self.timeout, channel.wait_for_confirms()).await;
            let closed = tokio::time::timeout(self.timeout, channel.close(200, "OK".into())).await;
            if !matches!(closed, Ok(Ok(()))) {
                tracing::debug!(publisher = %self.label, ?closed, "closing publisher channel failed");
            }
        }
    }
}

/// A confirm still to come; holds its window slot.
pub(crate) struct PendingConfirm {
    confirm: PublisherConfirm,
    channel: Channel,
    timeout: Duration,
    /// The timeout runs from the send, not from the await: the confirms of a window
    /// lost with the broker time out together instead of one after another.
    sent_at: tokio::time::Instant,
    _slot: OwnedSemaphorePermit,
}

impl std::fmt::Debug for PendingConfirm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingConfirm")
            .field("channel", &self.channel.id())
            .finish_non_exhaustive()
    }
}

impl PendingConfirm {
    /// When it was sent.
    pub(crate) fn sent_at(&self) -> tokio::time::Instant {
        self.sent_at
    }

    /// Waits for the broker's confirm, until the publish timeout after the send.
    pub(crate) async fn wait(self) -> Result<Confirmed, Failure> {
        let outcome = tokio::time::timeout_at(self.sent_at + self.timeout, self.confirm).await;
        match outcome {
            Err(_) => Err(Failure::new(
                PublishFailure::TimedOut,
                format!("no publisher confirm within {:?}", self.timeout),
                true,
            )),
            Ok(Err(e)) => Err(Failure::lapin(e)),
            Ok(Ok(Confirmation::Ack(None) | Confirmation::NotRequested)) => Ok(Confirmed::Ack),
            Ok(Ok(Confirmation::Ack(Some(_)))) => Ok(Confirmed::Returned),
            Ok(Ok(Confirmation::Nack(_))) => Err(Failure::new(
                PublishFailure::Nacked,
                "the broker nacked the publish (basic.nack)",
                false,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_carry_only_what_we_set() {
        let msg = Outgoing {
            exchange: "x".into(),
            routing_key: "k".into(),
            body: Bytes::from_static(b"{}"),
            headers: FieldTable::default(),
            reply: None,
            correlation_id: None,
            mandatory: false,
        };
        let p = msg.properties();
        assert_eq!(
            p.content_type().as_ref().map(ShortString::as_str),
            Some(CONTENT_TYPE)
        );
        assert_eq!(*p.delivery_mode(), Some(2));
        assert!(p.headers().is_some());
        assert!(p.message_id().is_none() && p.timestamp().is_none());
        assert!(p.correlation_id().is_none() && p.reply_to().is_none());
        assert!(p.expiration().is_none() && p.priority().is_none() && p.app_id().is_none());
        assert!(p.kind().is_none() && p.user_id().is_none() && p.content_encoding().is_none());
        let request = Outgoing {
            reply: Some(("amq.rabbitmq.reply-to".into(), "c-1".into())),
            ..msg.clone()
        };
        let p = request.properties();
        assert_eq!(
            p.reply_to().as_ref().map(ShortString::as_str),
            Some("amq.rabbitmq.reply-to")
        );
        assert_eq!(
            p.correlation_id().as_ref().map(ShortString::as_str),
            Some("c-1")
        );
        let reply = Outgoing {
            correlation_id: Some("c-2".into()),
            ..msg
        };
        let p = reply.properties();
        assert_eq!(
            p.correlation_id().as_ref().map(ShortString::as_str),
            Some("c-2")
        );
        assert!(p.reply_to().is_none());
    }
}
