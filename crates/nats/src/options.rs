//! Settings: stream limits, consumer options and connection-wide defaults.

use std::time::Duration;

use crate::error::{Error, Result};

/// Where a stream keeps its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Storage {
    /// On disk (the spec's default).
    #[default]
    File,
    /// In memory.
    Memory,
}

/// Stream settings. Every field is optional: an unset field is never sent to an existing
/// stream, so a service never resets what another service (or an operator) configured.
///
/// ```
/// use std::time::Duration;
/// use messaging_nats::StreamConfig;
/// let limits = StreamConfig::new()
///     .max_age(Duration::from_secs(7 * 24 * 3600))
///     .max_bytes(1 << 30)
///     .replicas(3);
/// assert_eq!(limits.get_max_bytes(), Some(1 << 30));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamConfig {
    pub(crate) max_age: Option<Duration>,
    pub(crate) max_bytes: Option<i64>,
    pub(crate) max_messages: Option<i64>,
    pub(crate) replicas: Option<usize>,
    pub(crate) storage: Option<Storage>,
    pub(crate) duplicate_window: Option<Duration>,
}

impl StreamConfig {
    /// No settings: create with server defaults, touch nothing on an existing stream.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Discard messages older than this.
    #[must_use]
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// Keep at most this many bytes.
    #[must_use]
    pub fn max_bytes(mut self, bytes: i64) -> Self {
        self.max_bytes = Some(bytes);
        self
    }

    /// Keep at most this many messages.
    #[must_use]
    pub fn max_messages(mut self, n: i64) -> Self {
        self.max_messages = Some(n);
        self
    }

    /// Number of replicas in a cluster.
    #[must_use]
    pub fn replicas(mut self, n: usize) -> Self {
        self.replicas = Some(n);
        self
    }

    /// File or memory storage (only honoured at creation; the server cannot change it).
    #[must_use]
    pub fn storage(mut self, storage: Storage) -> Self {
        self.storage = Some(storage);
        self
    }

    /// The window in which `Nats-Msg-Id` de-duplicates publishes.
    #[must_use]
    pub fn duplicate_window(mut self, window: Duration) -> Self {
        self.duplicate_window = Some(window);
        self
    }

    /// The configured max age.
    #[must_use]
    pub fn get_max_age(&self) -> Option<Duration> {
        self.max_age
    }

    /// The configured byte limit.
    #[must_use]
    pub fn get_max_bytes(&self) -> Option<i64> {
        self.max_bytes
    }

    /// The configured message limit.
    #[must_use]
    pub fn get_max_messages(&self) -> Option<i64> {
        self.max_messages
    }

    /// True when at least one retention limit is set to a bounded value.
    #[must_use]
    pub fn has_retention_limit(&self) -> bool {
        self.max_age.is_some_and(|d| !d.is_zero())
            || self.max_bytes.is_some_and(|b| b > 0)
            || self.max_messages.is_some_and(|m| m > 0)
    }

    /// Field-wise overlay: values set in `over` win, the rest come from `self`.
    pub(crate) fn overlay(&self, over: &Self) -> Self {
        Self {
            max_age: over.max_age.or(self.max_age),
            max_bytes: over.max_bytes.or(self.max_bytes),
            max_messages: over.max_messages.or(self.max_messages),
            replicas: over.replicas.or(self.replicas),
            storage: over.storage.or(self.storage),
            duplicate_window: over.duplicate_window.or(self.duplicate_window),
        }
    }
}

/// Accepted `concurrency` and `prefetch`: far beyond any useful value, and within what a
/// semaphore can count.
const LIMITS: std::ops::RangeInclusive<usize> = 1..=100_000;

/// Per-consumer options. Unset fields fall back to the connection's consumer defaults.
///
/// ```
/// use std::time::Duration;
/// use messaging_nats::ConsumerOptions;
/// let opts = ConsumerOptions::new()
///     .max_deliver(5)
///     .backoff([Duration::from_millis(100), Duration::from_secs(1)])
///     .concurrency(8);
/// assert_eq!(opts.get_concurrency(), Some(8));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerOptions {
    pub(crate) suffix: Option<String>,
    pub(crate) max_deliver: Option<i64>,
    pub(crate) backoff: Option<Vec<Duration>>,
    pub(crate) concurrency: Option<usize>,
    pub(crate) prefetch: Option<usize>,
    pub(crate) start_at: Option<StartAt>,
}

/// Where a newly created consumer starts reading its stream.
///
/// The default, [`StartAt::All`], is the reference's behaviour: a new consumer (durable or
/// transient) receives every message the stream still holds. [`StartAt::New`] suits
/// transient consumers such as live views, which only want what is published from now on.
/// It matters only when the server creates the consumer: an existing durable keeps its
/// position (and the server refuses to change the start of an existing durable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StartAt {
    /// Every message the stream holds (the reference's `deliver_policy: all`).
    #[default]
    All,
    /// Only messages published after the consumer is created.
    New,
    /// The last message the stream holds, then everything after it.
    Last,
}

impl ConsumerOptions {
    /// No options.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Durable name becomes `<service>-<suffix>`: a second, independent consumer.
    /// Ignored by transient consumers, which have no durable name.
    #[must_use]
    pub fn suffix(mut self, suffix: impl Into<String>) -> Self {
        self.suffix = Some(suffix.into());
        self
    }

    /// Stop redelivering after this many attempts.
    #[must_use]
    pub fn max_deliver(mut self, n: i64) -> Self {
        self.max_deliver = Some(n);
        self
    }

    /// Retry delays by attempt, applied by delayed naks (not sent to the server, which would
    /// add its own delays on top).
    #[must_use]
    pub fn backoff(mut self, delays: impl IntoIterator<Item = Duration>) -> Self {
        self.backoff = Some(delays.into_iter().collect());
        self
    }

    /// How many handlers may run at once for this consumer (default 1; at most 100 000).
    ///
    /// With 1, messages are handled one at a time in delivery order; that is not the
    /// stream's order once a message is redelivered (after a nak, or after AckWait), since
    /// later messages are handled meanwhile.
    #[must_use]
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = Some(n);
        self
    }

    /// How many messages to pull ahead of the handlers (default: 2 × concurrency, ≥ 16;
    /// at most 100 000).
    #[must_use]
    pub fn prefetch(mut self, n: usize) -> Self {
        self.prefetch = Some(n);
        self
    }

    /// Where a newly created consumer starts reading (default [`StartAt::All`]).
    #[must_use]
    pub fn start_at(mut self, start: StartAt) -> Self {
        self.start_at = Some(start);
        self
    }

    /// The configured concurrency.
    #[must_use]
    pub fn get_concurrency(&self) -> Option<usize> {
        self.concurrency
    }

    /// The configured suffix.
    #[must_use]
    pub fn get_suffix(&self) -> Option<&str> {
        self.suffix.as_deref()
    }

    pub(crate) fn overlay(&self, over: &Self) -> Self {
        Self {
            suffix: over.suffix.clone(),
            max_deliver: over.max_deliver.or(self.max_deliver),
            backoff: over.backoff.clone().or_else(|| self.backoff.clone()),
            concurrency: over.concurrency.or(self.concurrency),
            prefetch: over.prefetch.or(self.prefetch),
            start_at: over.start_at.or(self.start_at),
        }
    }

    /// Checks the values that do not depend on the broker.
    pub(crate) fn check(&self) -> std::result::Result<(), String> {
        if let Some(n) = self.max_deliver {
            if n == 0 || n < -1 {
                return Err(format!(
                    "max_deliver must be positive or -1 (unlimited), got {n}"
                ));
            }
            if let Some(b) = &self.backoff
                && n > 0
                && i64::try_from(b.len()).unwrap_or(i64::MAX) > n
            {
                return Err(format!(
                    "backoff has {} entries but max_deliver is {n}; it may have at most {n}",
                    b.len()
                ));
            }
        }
        if self
            .backoff
            .as_ref()
            .is_some_and(|b| b.iter().any(Duration::is_zero))
        {
            return Err("backoff delays must be greater than zero".to_owned());
        }
        for (what, n) in [
            ("concurrency", self.concurrency),
            ("prefetch", self.prefetch),
        ] {
            if let Some(n) = n
                && !LIMITS.contains(&n)
            {
                return Err(format!(
                    "{what} must be between {} and {}, got {n}",
                    LIMITS.start(),
                    LIMITS.end()
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn effective_concurrency(&self) -> usize {
        self.concurrency.unwrap_or(1)
    }

    pub(crate) fn effective_prefetch(&self) -> usize {
        self.prefetch
            .unwrap_or_else(|| self.effective_concurrency().saturating_mul(2).max(16))
    }
}

/// Connection-wide timing settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Timing {
    pub(crate) request_timeout: Duration,
    pub(crate) ack_wait: Option<Duration>,
    pub(crate) publish_timeout: Duration,
    pub(crate) publish_attempts: u32,
    pub(crate) publish_retry_delay: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) max_ack_inflight: Option<usize>,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            ack_wait: None,
            publish_timeout: Duration::from_secs(5),
            publish_attempts: 3,
            publish_retry_delay: Duration::from_millis(100),
            shutdown_timeout: Duration::from_secs(30),
            max_ack_inflight: None,
        }
    }
}

impl Timing {
    pub(crate) fn check(&self) -> Result<()> {
        let positive = [
            ("request timeout", self.request_timeout),
            ("publish timeout", self.publish_timeout),
            ("shutdown timeout", self.shutdown_timeout),
        ];
        for (what, d) in positive {
            if d.is_zero() {
                return Err(Error::InvalidConfig(format!("{what} must be positive")));
            }
        }
        if self
            .ack_wait
            .is_some_and(|d| d < Duration::from_millis(100))
        {
            return Err(Error::InvalidConfig(
                "ack wait must be at least 100ms".to_owned(),
            ));
        }
        if self.publish_attempts == 0 {
            return Err(Error::InvalidConfig(
                "publish attempts must be at least 1".to_owned(),
            ));
        }
        if self.max_ack_inflight == Some(0) {
            return Err(Error::InvalidConfig(
                "max ack in flight must be at least 1".to_owned(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_overlay_is_field_wise() {
        let defaults = StreamConfig::new()
            .max_age(Duration::from_secs(60))
            .max_bytes(10);
        let per = StreamConfig::new().max_bytes(20).replicas(3);
        let eff = defaults.overlay(&per);
        assert_eq!(eff.max_age, Some(Duration::from_secs(60)));
        assert_eq!(eff.max_bytes, Some(20));
        assert_eq!(eff.replicas, Some(3));
        assert_eq!(eff.max_messages, None);
    }

    #[test]
    fn consumer_checks() {
        let ok = ConsumerOptions::new()
            .max_deliver(2)
            .backoff([Duration::from_millis(1); 2]);
        assert_eq!(ok.check(), Ok(()));
        assert!(
            ConsumerOptions::new()
                .max_deliver(1)
                .backoff([Duration::from_millis(1); 2])
                .check()
                .is_err()
        );
        assert!(ConsumerOptions::new().max_deliver(0).check().is_err());
        assert!(ConsumerOptions::new().concurrency(0).check().is_err());
        assert!(
            ConsumerOptions::new()
                .concurrency(usize::MAX)
                .check()
                .is_err()
        );
        assert!(ConsumerOptions::new().concurrency(100_001).check().is_err());
        assert_eq!(ConsumerOptions::new().concurrency(100_000).check(), Ok(()));
        assert!(ConsumerOptions::new().prefetch(0).check().is_err());
        assert!(ConsumerOptions::new().prefetch(usize::MAX).check().is_err());
        assert_eq!(ConsumerOptions::new().prefetch(100_000).check(), Ok(()));
        assert!(
            ConsumerOptions::new()
                .backoff([Duration::ZERO])
                .check()
                .is_err()
        );
        assert_eq!(ConsumerOptions::new().max_deliver(-1).check(), Ok(()));
    }

    #[test]
    fn prefetch_defaults_scale_with_concurrency() {
        assert_eq!(ConsumerOptions::new().effective_prefetch(), 16);
        assert_eq!(
            ConsumerOptions::new().concurrency(20).effective_prefetch(),
            40
        );
        assert_eq!(ConsumerOptions::new().prefetch(3).effective_prefetch(), 3);
        // Unchecked options must not overflow either.
        assert_eq!(
            ConsumerOptions::new()
                .concurrency(usize::MAX)
                .effective_prefetch(),
            usize::MAX
        );
    }
}
