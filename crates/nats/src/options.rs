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
            publish_attempts: 10,
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
                return Err(Error::invalid_config(format!("{what} must be positive")));
            }
        }
        if self
            .ack_wait
            .is_some_and(|d| d < Duration::from_millis(100))
        {
            return Err(Error::invalid_config(
                "ack wait must be at least 100ms".to_owned(),
            ));
        }
        if self.publish_attempts == 0 {
            return Err(Error::invalid_config(
                "publish attempts must be at least 1".to_owned(),
            ));
        }
        if self.max_ack_inflight == Some(0) {
            return Err(Error::invalid_config(
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
}
