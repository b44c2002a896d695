//! The ack decision table: what to tell JetStream after a delivery was handled.

use std::time::Duration;

use messaging_spec::Disposition;

/// How handling one delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
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

/// What to send to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AckAction {
    /// Done.
    Ack,
    /// Redeliver, after the delay when one is given.
    Nak(Option<Duration>),
    /// Never redeliver.
    Term,
}

/// Decides the ack. `delivered` is the server's 1-based delivery count; retry delays come
/// from `backoff` by attempt (the last entry repeats), and an empty list naks immediately.
pub(crate) fn decide(outcome: Outcome, delivered: i64, backoff: &[Duration]) -> AckAction {
    match outcome {
        Outcome::Handled => AckAction::Ack,
        Outcome::Undecodable | Outcome::NoHandler | Outcome::Failed(Disposition::Reject) => {
            AckAction::Term
        }
        Outcome::Failed(_) | Outcome::Panicked => AckAction::Nak(retry_delay(delivered, backoff)),
    }
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
        assert_eq!(decide(Outcome::Handled, 1, &[]), AckAction::Ack);
        assert_eq!(decide(Outcome::Undecodable, 1, &[MS(5)]), AckAction::Term);
        assert_eq!(decide(Outcome::NoHandler, 3, &[]), AckAction::Term);
        assert_eq!(
            decide(Outcome::Failed(Disposition::Reject), 1, &[]),
            AckAction::Term
        );
    }

    #[test]
    fn retries_nak_immediately_without_backoff() {
        assert_eq!(
            decide(Outcome::Failed(Disposition::Retry), 1, &[]),
            AckAction::Nak(None)
        );
        assert_eq!(decide(Outcome::Panicked, 7, &[]), AckAction::Nak(None));
    }

    #[test]
    fn retry_delay_follows_backoff_by_delivery_count() {
        let b = [MS(100), MS(500), MS(2000)];
        let retry = Outcome::Failed(Disposition::Retry);
        assert_eq!(decide(retry, 1, &b), AckAction::Nak(Some(MS(100))));
        assert_eq!(decide(retry, 2, &b), AckAction::Nak(Some(MS(500))));
        assert_eq!(decide(retry, 3, &b), AckAction::Nak(Some(MS(2000))));
        assert_eq!(decide(retry, 9, &b), AckAction::Nak(Some(MS(2000))));
        assert_eq!(decide(retry, 0, &b), AckAction::Nak(Some(MS(100))));
        assert_eq!(decide(retry, -4, &b), AckAction::Nak(Some(MS(100))));
    }
}
