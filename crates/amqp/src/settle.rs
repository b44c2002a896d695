//! The AMQP side of the core's ack decision table ([`messaging_core::decide_with_limit`]):
//! which method settles a delivery.
//!
//! | Outcome | Settlement (core) | AMQP method |
//! |---|---|---|
//! | handler succeeded | `Ack` | `basic.ack` |
//! | body does not decode | `Reject` | `basic.nack(requeue=false)` |
//! | no handler for the key | `Reject` | `basic.reject(requeue=false)` |
//! | handler rejected (permanent) | `Reject` | `basic.nack(requeue=false)` |
//! | handler failed (retry) or panicked, deliveries left | `Retry(delay)` | after the delay, `basic.nack(requeue=true)` |
//! | handler failed (retry) or panicked on the last allowed delivery | `Reject` | `basic.nack(requeue=false)`: dead-lettered when the queue has a DLX, else dropped |
//!
//! nack and reject differ on RabbitMQ ≥ 4.3 (only reject counts a requeue towards the
//! delivery limit), so each case uses the reference's method.

use std::time::Duration;

use messaging_core::{Outcome, Settlement};

/// What to send to the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// `basic.ack`.
    Ack,
    /// `basic.nack(requeue=true)`, after the delay when there is one.
    Requeue(Option<Duration>),
    /// `basic.nack(requeue=false)`.
    Drop,
    /// `basic.reject(requeue=false)`.
    Reject,
}

/// The AMQP method for a core settlement.
pub(crate) fn action(outcome: Outcome, settlement: Settlement) -> Action {
    match (settlement, outcome) {
        (Settlement::Ack, _) => Action::Ack,
        (Settlement::Retry(delay), _) => Action::Requeue(delay),
        (Settlement::Reject, Outcome::NoHandler) => Action::Reject,
        (Settlement::Reject, _) => Action::Drop,
    }
}

/// Decides how to settle delivery attempt `delivered` (1-based, from `x-delivery-count`),
/// with the client-side `max_deliver`, and whether a retry ran out of attempts.
pub(crate) fn decide(
    outcome: Outcome,
    delivered: i64,
    backoff: &[Duration],
    max_deliver: Option<i64>,
) -> (Action, bool) {
    let settlement = messaging_core::decide_with_limit(outcome, delivered, backoff, max_deliver);
    let retryable = matches!(
        outcome,
        Outcome::Failed(messaging_spec::Disposition::Retry) | Outcome::Panicked
    );
    let exhausted = retryable && settlement == Settlement::Reject;
    (action(outcome, settlement), exhausted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use messaging_spec::Disposition;

    const MS: fn(u64) -> Duration = Duration::from_millis;
    const RETRY: Outcome = Outcome::Failed(Disposition::Retry);

    #[test]
    fn the_reference_methods() {
        assert_eq!(decide(Outcome::Handled, 1, &[], None), (Action::Ack, false));
        assert_eq!(
            decide(Outcome::Undecodable, 1, &[], None),
            (Action::Drop, false)
        );
        assert_eq!(
            decide(Outcome::NoHandler, 1, &[], None),
            (Action::Reject, false)
        );
        assert_eq!(
            decide(Outcome::Failed(Disposition::Reject), 1, &[], Some(5)),
            (Action::Drop, false)
        );
        assert_eq!(decide(RETRY, 1, &[], None), (Action::Requeue(None), false));
        assert_eq!(
            decide(Outcome::Panicked, 9, &[], None),
            (Action::Requeue(None), false)
        );
    }

    #[test]
    fn backoff_then_give_up_on_the_last_delivery() {
        let b = [MS(100), MS(500)];
        assert_eq!(
            decide(RETRY, 1, &b, Some(3)),
            (Action::Requeue(Some(MS(100))), false)
        );
        assert_eq!(
            decide(RETRY, 2, &b, Some(3)),
            (Action::Requeue(Some(MS(500))), false)
        );
        assert_eq!(decide(RETRY, 3, &b, Some(3)), (Action::Drop, true));
        assert_eq!(
            decide(Outcome::Panicked, 4, &b, Some(3)),
            (Action::Drop, true)
        );
        assert_eq!(
            decide(RETRY, 7, &b, None),
            (Action::Requeue(Some(MS(500))), false)
        );
        assert_eq!(
            decide(RETRY, 1000, &[], Some(-1)),
            (Action::Requeue(None), false)
        );
        assert_eq!(
            decide(Outcome::Handled, 3, &[], Some(3)),
            (Action::Ack, false)
        );
    }
}
