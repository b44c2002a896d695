//! Connection-wide timing and limits, checked before any I/O.

use std::time::Duration;

use crate::error::{Error, Result};

/// Connection-wide settings that are not registrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Timing {
    pub(crate) connection_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) publish_timeout: Duration,
    pub(crate) publish_attempts: u32,
    pub(crate) publish_retry_delay: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) max_in_flight_confirms: usize,
    /// `WithPrefetchLimit`: the default prefetch of every consumer channel.
    pub(crate) prefetch: Option<u16>,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            connection_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            publish_timeout: Duration::from_secs(5),
            publish_attempts: 3,
            publish_retry_delay: Duration::from_millis(100),
            shutdown_timeout: Duration::from_secs(30),
            max_in_flight_confirms: 5_000,
            prefetch: None,
        }
    }
}

/// The longest wait between two publish attempts (unless the first delay is longer).
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

impl Timing {
    pub(crate) fn check(&self) -> Result<()> {
        let positive = [
            ("connection timeout", self.connection_timeout),
            ("request timeout", self.request_timeout),
            ("publish timeout", self.publish_timeout),
            ("shutdown timeout", self.shutdown_timeout),
        ];
        for (what, d) in positive {
            if d.is_zero() {
                return Err(Error::invalid_config(format!("{what} must be positive")));
            }
        }
        if self.publish_attempts == 0 {
            return Err(Error::invalid_config("publish attempts must be at least 1"));
        }
        if self.max_in_flight_confirms == 0 || self.max_in_flight_confirms > 1_000_000 {
            return Err(Error::invalid_config(format!(
                "max in-flight confirms must be between 1 and 1000000, got {}",
                self.max_in_flight_confirms
            )));
        }
        if self.prefetch == Some(0) {
            return Err(Error::invalid_config(
                "prefetch must be at least 1 (0 would mean unlimited on AMQP)",
            ));
        }
        Ok(())
    }

    /// How long to wait after failed attempt `attempt` (1-based): the configured delay,
    /// doubled per earlier retry, capped at 5 s (or the first delay when that is longer).
    pub(crate) fn retry_delay(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.publish_retry_delay
            .saturating_mul(factor)
            .min(MAX_RETRY_DELAY.max(self.publish_retry_delay))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_zeroes_are_not() {
        assert!(Timing::default().check().is_ok());
        let bad = [
            Timing {
                publish_timeout: Duration::ZERO,
                ..Timing::default()
            },
            Timing {
                publish_attempts: 0,
                ..Timing::default()
            },
            Timing {
                max_in_flight_confirms: 0,
                ..Timing::default()
            },
            Timing {
                prefetch: Some(0),
                ..Timing::default()
            },
        ];
        for t in bad {
            assert!(t.check().is_err(), "{t:?}");
        }
    }

    #[test]
    fn retry_delays_double_up_to_the_cap() {
        let t = Timing::default();
        assert_eq!(t.retry_delay(1), Duration::from_millis(100));
        assert_eq!(t.retry_delay(2), Duration::from_millis(200));
        assert_eq!(t.retry_delay(40), MAX_RETRY_DELAY);
        let slow = Timing {
            publish_retry_delay: Duration::from_secs(8),
            ..Timing::default()
        };
        assert_eq!(slow.retry_delay(3), Duration::from_secs(8));
    }
}
