//! Per-consumer options, shared by every transport.

use std::time::Duration;

mod start;

pub use start::{Replay, StartAt};

/// Accepted `concurrency` and `prefetch`: far beyond any useful value, and within what a
/// semaphore can count.
const LIMITS: std::ops::RangeInclusive<usize> = 1..=100_000;

/// Per-consumer options. Unset fields fall back to the connection's consumer defaults.
///
/// ```
/// use std::time::Duration;
/// use messaging_core::ConsumerOptions;
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
    pub(crate) dead_letter: Option<DeadLetter>,
    pub(crate) single_active_consumer: Option<bool>,
    pub(crate) deduplicate: Option<crate::Deduplicate>,
    pub(crate) replay: Option<Replay>,
    pub(crate) max_ack_pending: Option<i64>,
    pub(crate) inactive_threshold: Option<Duration>,
    pub(crate) idle_heartbeat: Option<Duration>,
    pub(crate) max_batch: Option<usize>,
    pub(crate) max_bytes: Option<usize>,
    pub(crate) max_expires: Option<Duration>,
}

/// Where a consumer sends messages it gives up on: those that failed on their last
/// allowed delivery, were rejected, or could not be decoded.
///
/// - AMQP: the queue's `x-dead-letter-exchange` and `x-dead-letter-routing-key`
///   arguments, as the reference's `WithDeadLetter` / `WithDeadLetterRoutingKey`; the
///   broker moves the message, and the caller declares the exchange.
/// - NATS and in-memory: a stream (subjects `<destination>.>`) the service ensures; the
///   message is published there with `x-dead-letter-*` headers saying why, then
///   terminated. The usual name is [`DEFAULT_DEAD_LETTER_STREAM`](crate::DEFAULT_DEAD_LETTER_STREAM).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadLetter {
    /// The dead-letter exchange (AMQP) or stream (NATS, in-memory).
    pub destination: String,
    /// The routing key dead-lettered messages get, when set.
    pub routing_key: Option<String>,
}

impl DeadLetter {
    /// Dead letters go to `destination`.
    #[must_use]
    pub fn new(destination: impl Into<String>) -> Self {
        Self {
            destination: destination.into(),
            routing_key: None,
        }
    }

    /// With this routing key (AMQP: `x-dead-letter-routing-key`; NATS: the subject
    /// becomes `<stream>.<key>` instead of `<stream>.<original subject>`).
    #[must_use]
    pub fn with_routing_key(mut self, key: impl Into<String>) -> Self {
        self.routing_key = Some(key.into());
        self
    }
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

    /// Where a newly created consumer starts reading (default [`StartAt::All`]). An
    /// existing durable keeps its position: a different start is an error at `start()`.
    #[must_use]
    pub fn start_at(mut self, start: StartAt) -> Self {
        self.start_at = Some(start);
        self
    }

    /// Dead-letter messages this consumer gives up on to `destination` (see
    /// [`DeadLetter`]): on AMQP an exchange (the queue argument `x-dead-letter-exchange`;
    /// every instance of the service, in any language, must declare the queue with the
    /// same arguments), on NATS and in memory a stream the service ensures, such as
    /// [`DEFAULT_DEAD_LETTER_STREAM`](crate::DEFAULT_DEAD_LETTER_STREAM).
    #[must_use]
    pub fn dead_letter(mut self, destination: impl Into<String>) -> Self {
        let routing_key = self.dead_letter.take().and_then(|d| d.routing_key);
        self.dead_letter = Some(DeadLetter {
            destination: destination.into(),
            routing_key,
        });
        self
    }

    /// The routing key of dead-lettered messages, with [`dead_letter`](Self::dead_letter)
    /// (see [`DeadLetter::with_routing_key`]).
    #[must_use]
    pub fn dead_letter_routing_key(mut self, key: impl Into<String>) -> Self {
        let destination = self
            .dead_letter
            .take()
            .map(|d| d.destination)
            .unwrap_or_default();
        self.dead_letter = Some(DeadLetter {
            destination,
            routing_key: Some(key.into()),
        });
        self
    }

    /// Opt-in duplicate filter: a message whose `ce-id` this consumer handled within
    /// `window` is acked without calling the handler again. In this process only; see
    /// [`deduplicate_shared`](Self::deduplicate_shared) for several instances.
    #[must_use]
    pub fn deduplicate(mut self, window: Duration) -> Self {
        self.deduplicate = Some(crate::Deduplicate {
            window,
            shared: false,
        });
        self
    }

    /// As [`deduplicate`](Self::deduplicate), with the ids shared between every instance
    /// of the service through the transport's store (NATS: a JetStream key-value bucket
    /// `messaging-dedup-<service>` the service ensures, whose entries expire after
    /// `window`).
    #[must_use]
    pub fn deduplicate_shared(mut self, window: Duration) -> Self {
        self.deduplicate = Some(crate::Deduplicate {
            window,
            shared: true,
        });
        self
    }

    /// The configured duplicate filter.
    #[must_use]
    pub fn get_deduplicate(&self) -> Option<crate::Deduplicate> {
        self.deduplicate
    }

    /// AMQP only: `false` declares the queue with `x-single-active-consumer: false` (the
    /// reference's `DisableSingleActiveConsumer`), so instances share the load instead of
    /// standing by. Default `true`, as the reference.
    #[must_use]
    pub fn single_active_consumer(mut self, on: bool) -> Self {
        self.single_active_consumer = Some(on);
        self
    }

    /// How fast messages already in the stream are delivered (default
    /// [`Replay::Instant`]). Fixed when the consumer is created, like
    /// [`start_at`](Self::start_at). NATS only.
    #[must_use]
    pub fn replay(mut self, replay: Replay) -> Self {
        self.replay = Some(replay);
        self
    }

    /// At most this many messages delivered and not yet settled, across every instance
    /// (JetStream's `max_ack_pending`; server default 1 000). Positive, or -1 for
    /// unlimited. The local [`prefetch`](Self::prefetch) is bounded by it too. NATS only.
    #[must_use]
    pub fn max_ack_pending(mut self, n: i64) -> Self {
        self.max_ack_pending = Some(n);
        self
    }

    /// How long a transient consumer survives on the server without a pull (JetStream's
    /// `inactive_threshold`; default 30 s, longer than the server's 5 s so a busy service
    /// that pauses pulling keeps it). Greater than zero. Transient consumers only: a
    /// durable registration with it is refused, and a default applies to the transient
    /// consumers only. NATS only.
    #[must_use]
    pub fn inactive_threshold(mut self, d: Duration) -> Self {
        self.inactive_threshold = Some(d);
        self
    }

    /// The heartbeat each pull request asks the server for while it has nothing to
    /// deliver, so a lost consumer or connection shows within a few heartbeats rather
    /// than at the pull's expiry. Greater than zero, and at most half of
    /// [`max_expires`](Self::max_expires) when that is set. NATS only.
    #[must_use]
    pub fn idle_heartbeat(mut self, d: Duration) -> Self {
        self.idle_heartbeat = Some(d);
        self
    }

    /// The most messages one pull request may ask for, enforced by the server for every
    /// client of the consumer (JetStream's `max_batch`); this service's pulls stay within
    /// it. 1 to 100 000. NATS only.
    #[must_use]
    pub fn max_batch(mut self, n: usize) -> Self {
        self.max_batch = Some(n);
        self
    }

    /// The most bytes one pull request may ask for (JetStream's `max_bytes`); this
    /// service's pulls stay within it. At least 1. NATS only.
    #[must_use]
    pub fn max_bytes(mut self, n: usize) -> Self {
        self.max_bytes = Some(n);
        self
    }

    /// The longest expiry a pull request may have (JetStream's `max_expires`); this
    /// service's pulls stay within it. At least 1 ms. NATS only.
    #[must_use]
    pub fn max_expires(mut self, d: Duration) -> Self {
        self.max_expires = Some(d);
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

    /// The configured maximum deliveries.
    #[must_use]
    pub fn get_max_deliver(&self) -> Option<i64> {
        self.max_deliver
    }

    /// The configured retry delays (empty when unset).
    #[must_use]
    pub fn get_backoff(&self) -> &[Duration] {
        self.backoff.as_deref().unwrap_or_default()
    }

    /// The configured prefetch.
    #[must_use]
    pub fn get_prefetch(&self) -> Option<usize> {
        self.prefetch
    }

    /// The configured start position.
    #[must_use]
    pub fn get_start_at(&self) -> Option<StartAt> {
        self.start_at
    }

    /// The configured dead-letter target.
    #[must_use]
    pub fn get_dead_letter(&self) -> Option<&DeadLetter> {
        self.dead_letter.as_ref()
    }

    /// The configured single-active-consumer flag.
    #[must_use]
    pub fn get_single_active_consumer(&self) -> Option<bool> {
        self.single_active_consumer
    }

    /// The configured replay speed.
    #[must_use]
    pub fn get_replay(&self) -> Option<Replay> {
        self.replay
    }

    /// The configured most unsettled deliveries.
    #[must_use]
    pub fn get_max_ack_pending(&self) -> Option<i64> {
        self.max_ack_pending
    }

    /// The configured inactive threshold of a transient consumer.
    #[must_use]
    pub fn get_inactive_threshold(&self) -> Option<Duration> {
        self.inactive_threshold
    }

    /// The configured heartbeat of pull requests.
    #[must_use]
    pub fn get_idle_heartbeat(&self) -> Option<Duration> {
        self.idle_heartbeat
    }

    /// The configured most messages per pull request.
    #[must_use]
    pub fn get_max_batch(&self) -> Option<usize> {
        self.max_batch
    }

    /// The configured most bytes per pull request.
    #[must_use]
    pub fn get_max_bytes(&self) -> Option<usize> {
        self.max_bytes
    }

    /// The configured longest pull request expiry.
    #[must_use]
    pub fn get_max_expires(&self) -> Option<Duration> {
        self.max_expires
    }

    /// Field-wise overlay: values set in `over` win, the rest come from `self` (the
    /// suffix is never inherited).
    #[must_use]
    pub fn overlay(&self, over: &Self) -> Self {
        Self {
            suffix: over.suffix.clone(),
            max_deliver: over.max_deliver.or(self.max_deliver),
            backoff: over.backoff.clone().or_else(|| self.backoff.clone()),
            concurrency: over.concurrency.or(self.concurrency),
            prefetch: over.prefetch.or(self.prefetch),
            start_at: over.start_at.or(self.start_at),
            dead_letter: over
                .dead_letter
                .clone()
                .or_else(|| self.dead_letter.clone()),
            single_active_consumer: over.single_active_consumer.or(self.single_active_consumer),
            deduplicate: over.deduplicate.or(self.deduplicate),
            replay: over.replay.or(self.replay),
            max_ack_pending: over.max_ack_pending.or(self.max_ack_pending),
            inactive_threshold: over.inactive_threshold.or(self.inactive_threshold),
            idle_heartbeat: over.idle_heartbeat.or(self.idle_heartbeat),
            max_batch: over.max_batch.or(self.max_batch),
            max_bytes: over.max_bytes.or(self.max_bytes),
            max_expires: over.max_expires.or(self.max_expires),
        }
    }

    /// Checks the values that do not depend on the broker.
    ///
    /// # Errors
    /// A sentence saying which value is out of range.
    pub fn check(&self) -> std::result::Result<(), String> {
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
        self.check_server_settings()?;
        if self.deduplicate.is_some_and(|d| d.window.is_zero()) {
            return Err("deduplicate window must be greater than zero".to_owned());
        }
        if let Some(d) = &self.dead_letter
            && d.destination.is_empty()
        {
            return Err("dead letter exchange must not be empty".to_owned());
        }
        Ok(())
    }

    /// The checks of the options a JetStream consumer keeps on the server.
    fn check_server_settings(&self) -> std::result::Result<(), String> {
        if let Some(s) = self.start_at {
            s.check()?;
        }
        if let Some(n) = self.max_ack_pending
            && (n == 0 || n < -1)
        {
            return Err(format!(
                "max_ack_pending must be positive or -1 (unlimited), got {n}"
            ));
        }
        for (what, d) in [
            ("inactive_threshold", self.inactive_threshold),
            ("idle_heartbeat", self.idle_heartbeat),
        ] {
            if d.is_some_and(|d| d.is_zero()) {
                return Err(format!("{what} must be greater than zero"));
            }
        }
        if let Some(d) = self.max_expires
            && d < Duration::from_millis(1)
        {
            return Err(format!("max_expires must be at least 1ms, got {d:?}"));
        }
        if let (Some(hb), Some(exp)) = (self.idle_heartbeat, self.max_expires)
            && hb.saturating_mul(2) > exp
        {
            return Err(format!(
                "idle_heartbeat {hb:?} must be at most half of max_expires {exp:?}: the \
                 server refuses pulls whose heartbeat is longer than half their expiry"
            ));
        }
        if let Some(n) = self.max_batch
            && !LIMITS.contains(&n)
        {
            return Err(format!(
                "max_batch must be between {} and {}, got {n}",
                LIMITS.start(),
                LIMITS.end()
            ));
        }
        if let Some(n) = self.max_bytes
            && (n == 0 || i64::try_from(n).is_err())
        {
            return Err(format!(
                "max_bytes must be between 1 and {}, got {n}",
                i64::MAX
            ));
        }
        Ok(())
    }

    /// Handlers in flight at once (default 1).
    #[must_use]
    pub fn effective_concurrency(&self) -> usize {
        self.concurrency.unwrap_or(1)
    }

    /// Messages held ahead of the handlers (default 2 × concurrency, at least 16).
    #[must_use]
    pub fn effective_prefetch(&self) -> usize {
        self.prefetch
            .unwrap_or_else(|| self.effective_concurrency().saturating_mul(2).max(16))
    }
}

#[cfg(test)]
mod tests;
