//! The confirm side of a publish: waiting for it, retrying a lost one with the same
//! message (same CloudEvents id), and the typed failure.

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use super::{Prepared, PublishReceipt, Publisher};
use crate::error::Error;
use crate::options::Timing;
use crate::publish::{self, Confirmed, Failure, PublishChannel};

/// Records the failure and turns it into [`Error::Publish`].
pub(crate) fn failed(p: Prepared, attempts: u32, f: Failure) -> Error {
    p.recorder.failed(p.started.elapsed());
    let e = Error::Publish {
        exchange: p.outgoing.exchange.to_string(),
        routing_key: p.routing_key,
        attempts,
        kind: f.kind,
        source: f.source,
    };
    p.span.finish(Some(&e));
    e
}

/// Waits for `first`'s confirm; when the channel or connection went away (or the confirm
/// timed out), sends the same message again, up to `publish_attempts` in all, the delay
/// doubling. Returns the attempts made with the failure.
pub(crate) async fn confirm_with_retries(
    channel: &PublishChannel,
    p: &Prepared,
    timing: &Timing,
    first: Result<publish::PendingConfirm, Failure>,
) -> Result<Confirmed, (u32, Failure)> {
    let mut attempt = 1u32;
    let mut pending = first;
    // Retry waits run from the failed attempt's send, so a retry of a long-failed attempt
    // goes out at once when awaited: a window's retries never queue one wait each.
    let mut sent_at = match &pending {
        Ok(c) => c.sent_at(),
        Err(_) => tokio::time::Instant::now(),
    };
    loop {
        let result = match pending {
            Ok(c) => c.wait().await,
            Err(f) => Err(f),
        };
        match result {
            Ok(c) => return Ok(c),
            Err(f) if f.retryable && attempt < timing.publish_attempts => {
                // At debug: an outage retries a whole window at once.
                tracing::debug!(exchange = %p.outgoing.exchange, routing_key = %p.routing_key, id = %p.id, attempt, error = %f.source,
                    "publish not confirmed; sending it again with the same id");
                tokio::time::sleep_until(sent_at + timing.retry_delay(attempt)).await;
                attempt += 1;
                sent_at = tokio::time::Instant::now();
                pending = channel.send(&p.outgoing).await;
            }
            Err(f) => {
                tracing::warn!(exchange = %p.outgoing.exchange, routing_key = %p.routing_key, id = %p.id, attempts = attempt, error = %f.source, "publish failed");
                return Err((attempt, f));
            }
        }
    }
}

/// A confirm still to come. Awaiting it retries a publish whose channel or connection
/// went away, with the same CloudEvents id (consumers may see it twice: at-least-once).
///
/// Until it is awaited or dropped it holds one of its publisher's
/// `max_in_flight_confirms` slots; holding them all makes the next
/// [`Publish::send`](crate::Publish::send) fail with
/// [`PublishFailure::Backpressure`](crate::PublishFailure::Backpressure).
#[must_use = "the confirm tells whether the broker took the message"]
pub struct PendingConfirm {
    publisher: Publisher,
    prepared: Box<Prepared>,
    first: Result<publish::PendingConfirm, Failure>,
}

impl PendingConfirm {
    pub(crate) fn new(
        publisher: Publisher,
        prepared: Prepared,
        first: Result<publish::PendingConfirm, Failure>,
    ) -> Self {
        Self {
            publisher,
            prepared: Box::new(prepared),
            first,
        }
    }
}

impl std::fmt::Debug for PendingConfirm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingConfirm")
            .field("exchange", &self.prepared.outgoing.exchange)
            .field("routing_key", &self.prepared.routing_key)
            .field("id", &self.prepared.id)
            .finish()
    }
}

impl IntoFuture for PendingConfirm {
    type Output = Result<PublishReceipt, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let Self {
                publisher,
                prepared,
                first,
            } = self;
            let channel = &publisher.inner.channel;
            let outcome =
                confirm_with_retries(channel, &prepared, &publisher.shared.timing, first).await;
            match outcome {
                Ok(_) => {
                    prepared.recorder.succeeded(prepared.started.elapsed());
                    prepared.span.finish(None);
                    Ok(prepared.receipt())
                }
                Err((attempts, f)) => Err(failed(*prepared, attempts, f)),
            }
        })
    }
}
