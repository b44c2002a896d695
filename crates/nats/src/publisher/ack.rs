//! The ack side of a stream publish: waiting for it, retrying with the same message id,
//! and the typed failure.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

use async_nats::jetstream::context::{PublishAckFuture, PublishError, PublishErrorKind};
use async_nats::jetstream::publish::PublishAck;

use super::{Prepared, PublishReceipt, Publisher};
use crate::error::{Error, PublishFailure, Result};

/// The longest wait between two publish attempts, however many are configured (unless
/// the configured first delay is longer). With the default 10 attempts from 100 ms, the
/// waits add up to about 11 s: longer than a JetStream leader election.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(2);

impl Publisher {
    /// Hands one attempt to the client. With `max_ack_inflight` acks outstanding,
    /// async-nats waits for a free slot without a deadline, so that wait is bounded here.
    pub(super) async fn send_attempt(
        &self,
        p: &Prepared,
    ) -> Result<PublishAckFuture, PublishError> {
        let shared = &self.shared;
        let send =
            shared
                .js
                .publish_with_headers(p.subject.clone(), self.header_map(p), p.body.clone());
        tokio::time::timeout(shared.timing.publish_timeout, send)
            .await
            .unwrap_or_else(|_| Err(PublishError::new(PublishErrorKind::MaxAckPending)))
    }

    /// Records the failure and turns it into [`Error::Publish`], or
    /// [`Error::PermissionDenied`] when the server reported why.
    pub(super) fn failed(&self, p: Prepared, attempts: u32, e: PublishError) -> Error {
        self.recorder(&p).failed(p.started.elapsed());
        p.span.failed(&e);
        let denied = self
            .shared
            .violations
            .explain(p.started, p.subject.as_str());
        if let Some(v) = denied {
            return v.into_error(self.shared.url.clone());
        }
        Error::Publish {
            subject: p.subject.into_string(),
            attempts,
            kind: failure(e.kind()),
            source: Box::new(e),
        }
    }

    /// True when the server reported a violation that explains this publish failing:
    /// retrying cannot help.
    fn denied(&self, p: &Prepared) -> bool {
        let violations = &self.shared.violations;
        violations.explain(p.started, p.subject.as_str()).is_some()
    }
}

/// How long to wait after failed attempt `attempt` (1-based): the configured delay,
/// doubled per earlier retry, capped at [`MAX_RETRY_DELAY`].
fn retry_delay(base: Duration, attempt: u32) -> Duration {
    let factor = 1u32
        .checked_shl(attempt.saturating_sub(1))
        .unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(MAX_RETRY_DELAY.max(base))
}

fn failure(kind: PublishErrorKind) -> PublishFailure {
    match kind {
        PublishErrorKind::TimedOut => PublishFailure::TimedOut,
        PublishErrorKind::StreamNotFound => PublishFailure::NoStream,
        PublishErrorKind::MaxAckPending => PublishFailure::Backpressure,
        PublishErrorKind::MaxPayloadExceeded => PublishFailure::TooLarge,
        _ => PublishFailure::Other,
    }
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
        /// One box for both: one allocation per publish, not two.
        sent: Box<(Prepared, Result<PublishAckFuture, PublishError>)>,
    },
    Done(Box<PublishReceipt>),
}

/// An ack still to come. Awaiting it retries a timed-out or unanswered publish with the
/// same message id, so the stream stores it once.
///
/// Until it is awaited or dropped it holds one of the connection's `max_ack_inflight`
/// slots; holding them all makes the next [`Publish::send`](crate::Publish::send) fail with
/// [`PublishFailure::Backpressure`]. Await acks in a window no wider than that.
#[must_use = "the ack tells whether the stream stored the message"]
pub struct PendingAck {
    state: PendingState,
}

impl PendingAck {
    pub(super) fn js(
        publisher: Publisher,
        prepared: Prepared,
        first: Result<PublishAckFuture, PublishError>,
    ) -> Self {
        Self {
            state: PendingState::Js {
                publisher,
                sent: Box::new((prepared, first)),
            },
        }
    }

    pub(super) fn done(receipt: PublishReceipt) -> Self {
        Self {
            state: PendingState::Done(Box::new(receipt)),
        }
    }
}

impl std::fmt::Debug for PendingAck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.state {
            PendingState::Js { sent, .. } => f
                .debug_struct("PendingAck")
                .field("subject", &sent.0.subject)
                .field("id", &sent.0.headers.id())
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
            let (publisher, sent) = match self.state {
                PendingState::Done(r) => return Ok(*r),
                PendingState::Js { publisher, sent } => (publisher, sent),
            };
            let (prepared, first) = *sent;
            let timing = &publisher.shared.timing;
            let mut attempt = 1u32;
            let mut pending = first;
            // Deadlines and retry waits count from when an attempt was sent, not from when
            // the caller awaits it: acks of a window that died together time out together,
            // and a retry of a long-failed attempt goes out at once, so retries of a
            // window never queue behind the one being awaited.
            let mut sent_at = tokio::time::Instant::from_std(prepared.started);
            loop {
                let result = match pending {
                    Ok(fut) => {
                        let deadline = sent_at + timing.publish_timeout;
                        match tokio::time::timeout_at(deadline, fut.into_future()).await {
                            Ok(r) => r,
                            Err(_) => Err(PublishError::new(PublishErrorKind::TimedOut)),
                        }
                    }
                    Err(e) => Err(e),
                };
                match result {
                    Ok(ack) => {
                        publisher
                            .recorder(&prepared)
                            .succeeded(prepared.started.elapsed());
                        prepared.span.finish(None);
                        return Ok(receipt(prepared, ack));
                    }
                    Err(e)
                        if retryable(e.kind())
                            && attempt < timing.publish_attempts
                            && !publisher.denied(&prepared) =>
                    {
                        let delay = retry_delay(timing.publish_retry_delay, attempt);
                        // Per attempt at debug: an outage retries a whole window at once.
                        tracing::debug!(subject = %prepared.subject, id = %prepared.headers.id(), attempt, error = %e, "publish not acknowledged; retrying with the same id");
                        // Boxed: the retry's futures are large, and kept inline they would
                        // grow the state every publish allocates.
                        Box::pin(tokio::time::sleep_until(sent_at + delay)).await;
                        attempt += 1;
                        sent_at = tokio::time::Instant::now();
                        pending = Box::pin(publisher.send_attempt(&prepared)).await;
                    }
                    Err(e) => {
                        tracing::warn!(subject = %prepared.subject, id = %prepared.headers.id(), attempts = attempt, error = %e, "publish failed");
                        return Err(publisher.failed(prepared, attempt, e));
                    }
                }
            }
        })
    }
}

fn receipt(p: Prepared, ack: PublishAck) -> PublishReceipt {
    PublishReceipt {
        id: p.headers.into_id(),
        subject: p.subject.into_string(),
        stream: Some(ack.stream),
        sequence: Some(ack.sequence),
        duplicate: ack.duplicate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_then_stop_at_the_cap() {
        let base = Duration::from_millis(100);
        assert_eq!(retry_delay(base, 1), Duration::from_millis(100));
        assert_eq!(retry_delay(base, 2), Duration::from_millis(200));
        assert_eq!(retry_delay(base, 3), Duration::from_millis(400));
        assert_eq!(retry_delay(base, 40), MAX_RETRY_DELAY);
        // The default schedule (10 attempts from 100 ms) waits about 11 s in all.
        let total: Duration = (1..10).map(|a| retry_delay(base, a)).sum();
        assert_eq!(total, Duration::from_millis(11_100));
        assert_eq!(retry_delay(base, u32::MAX), MAX_RETRY_DELAY);
        assert_eq!(retry_delay(Duration::MAX, 40), Duration::MAX);
        // A first delay above the cap is kept as configured, and not doubled.
        let long = Duration::from_secs(3);
        assert_eq!(retry_delay(long, 1), long);
        assert_eq!(retry_delay(long, 2), long);
        assert_eq!(retry_delay(Duration::ZERO, 40), Duration::ZERO);
    }

    #[test]
    fn failures_map_to_their_kind() {
        let cases = [
            (PublishErrorKind::TimedOut, PublishFailure::TimedOut),
            (PublishErrorKind::StreamNotFound, PublishFailure::NoStream),
            (
                PublishErrorKind::MaxAckPending,
                PublishFailure::Backpressure,
            ),
            (PublishErrorKind::BrokenPipe, PublishFailure::Other),
            (
                PublishErrorKind::MaxPayloadExceeded,
                PublishFailure::TooLarge,
            ),
            (PublishErrorKind::Other, PublishFailure::Other),
        ];
        for (kind, expected) in cases {
            assert_eq!(failure(kind), expected, "{kind:?}");
        }
        assert!(!retryable(PublishErrorKind::MaxAckPending));
        assert!(!retryable(PublishErrorKind::MaxPayloadExceeded));
    }
}
