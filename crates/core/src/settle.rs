//! The ack decision table: how a delivery is settled once it was handled, on any broker.

use std::time::Duration;

use messaging_spec::Disposition;

/// How handling one delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The handler succeeded.
    Handled,
    /// The body could not be decoded into the handler's type.
    Undecodable,
    /// No registered pattern matches the routing key.
    NoHandler,
    /// The handler failed with the given disposition.
    Failed(Disposition),
    /// The handler panicked (treated as a retryable failure).
    Panicked,
}

/// How to settle a delivery. Each transport maps it to its broker: JetStream `+ACK`,
/// `-NAK` (with the delay) and `+TERM`; AMQP `basic.ack`, `basic.nack(requeue)` after the
/// delay, and `basic.nack`/`basic.reject` without requeue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// Done.
    Ack,
    /// Redeliver, after the delay when one is given.
    Retry(Option<Duration>),
    /// Never redeliver.
    Reject,
}

/// Decides the ack. `delivered` is the server's 1-based delivery count; retry delays come
/// from `backoff` by attempt (the last entry repeats), and an empty list naks immediately.
#[must_use]
pub fn decide(outcome: Outcome, delivered: i64, backoff: &[Duration]) -> Settlement {
    match outcome {
        Outcome::Handled => Settlement::Ack,
        Outcome::Undecodable | Outcome::NoHandler | Outcome::Failed(Disposition::Reject) => {
            Settlement::Reject
        }
        Outcome::Failed(_) | Outcome::Panicked => {
            Settlement::Retry(retry_delay(delivered, backoff))
        }
    }
}

/// As [`decide`], for brokers that do not count deliveries against a limit themselves
/// (AMQP): a retry on delivery `max_deliver` or later becomes [`Settlement::Reject`].
/// `max_deliver` of `None` or `-1` means unlimited.
#[must_use]
pub fn decide_with_limit(
    outcome: Outcome,
    delivered: i64,
    backoff: &[Duration],
    max_deliver: Option<i64>,
) -> Settlement {
    match decide(outcome, delivered, backoff) {
        Settlement::Retry(_) if exhausted(delivered, max_deliver) => Settlement::Reject,
        other => other,
    }
}

/// True when delivery number `delivered` (1-based) is the last one `max_deliver` allows.
#[must_use]
pub fn exhausted(delivered: i64, max_deliver: Option<i64>) -> bool {
    max_deliver.is_some_and(|max| max > 0 && delivered >= max)
}

fn retry_delay(delivered: i64, backoff: &[Duration]) -> Option<Duration> {
    let last = backoff.len().checked_sub(1)?;
    let attempt = usize::try_from(delivered.saturating_sub(1)).unwrap_or(0);
    backoff.get(attempt.min(last)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn success_acks_and_permanent_failures_terminate() {
        assert_eq!(decide(Outcome::Handled, 1, &[]), Settlement::Ack);
        assert_eq!(
            decide(Outcome::Undecodable, 1, &[MS(5)]),
            Settlement::Reject
        );
        assert_eq!(decide(Outcome::NoHandler, 3, &[]), Settlement::Reject);
        assert_eq!(
            decide(Outcome::Failed(Disposition::Reject), 1, &[]),
            Settlement::Reject
        );
    }

    #[test]
    fn retries_nak_immediately_without_backoff() {
        assert_eq!(
            decide(Outcome::Failed(Disposition::Retry), 1, &[]),
            Settlement::Retry(None)
        );
        assert_eq!(decide(Outcome::Panicked, 7, &[]), Settlement::Retry(None));
    }

    #[test]
    fn retry_delay_follows_backoff_by_delivery_count() {
        let b = [MS(100), MS(500), MS(2000)];
        let retry = Outcome::Failed(Disposition::Retry);
        assert_eq!(decide(retry, 1, &b), Settlement::Retry(Some(MS(100))));
        assert_eq!(decide(retry, 2, &b), Settlement::Retry(Some(MS(500))));
        assert_eq!(decide(retry, 3, &b), Settlement::Retry(Some(MS(2000))));
        assert_eq!(decide(retry, 9, &b), Settlement::Retry(Some(MS(2000))));
        assert_eq!(decide(retry, 0, &b), Settlement::Retry(Some(MS(100))));
        assert_eq!(decide(retry, -4, &b), Settlement::Retry(Some(MS(100))));
    }

    #[test]
    fn client_side_limit_rejects_the_last_retry() {
        let retry = Outcome::Failed(Disposition::Retry);
        assert_eq!(
            decide_with_limit(retry, 2, &[MS(10)], Some(3)),
            Settlement::Retry(Some(MS(10)))
        );
        assert_eq!(
            decide_with_limit(retry, 3, &[], Some(3)),
            Settlement::Reject
        );
        assert_eq!(
            decide_with_limit(Outcome::Panicked, 9, &[], Some(3)),
            Settlement::Reject
        );
        assert_eq!(
            decide_with_limit(retry, 9, &[], Some(-1)),
            Settlement::Retry(None)
        );
        assert_eq!(
            decide_with_limit(retry, 9, &[], None),
            Settlement::Retry(None)
        );
        assert_eq!(
            decide_with_limit(Outcome::Handled, 9, &[], Some(3)),
            Settlement::Ack
        );
    }
}
