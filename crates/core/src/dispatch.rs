//! Handling one delivery: headers to metadata, routing, the handler, then the ack.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt;
use messaging_spec::{
    DeliveryInfo, Disposition, Headers, Metadata, enrich_legacy_metadata, has_ce_headers,
    metadata_from_headers, new_event_id, normalize_ce_headers, validate_ce_headers,
};
use time::OffsetDateTime;

use crate::erased::Failure;
use crate::error::Error;
use crate::settle::Outcome;

/// Parses CloudEvents metadata from raw headers: normalises AMQP-style prefixes, warns
/// about partial attribute sets, and enriches legacy messages that carry none.
#[must_use]
pub fn metadata_for(headers: &Headers, info: &DeliveryInfo) -> Metadata {
    // NATS peers send `ce-` keys; only copy the map when AMQP/JMS-style keys are present.
    let owned;
    let normalized = if headers.iter().any(|(k, _)| k.starts_with("cloudEvents")) {
        owned = normalize_ce_headers(headers);
        &owned
    } else {
        headers
    };
    let metadata = metadata_from_headers(normalized);
    if !has_ce_headers(normalized) {
        return enrich_legacy_metadata(metadata, info, new_event_id, OffsetDateTime::now_utc());
    }
    let warnings = validate_ce_headers(normalized);
    if !warnings.is_empty() {
        let warnings: Vec<String> = warnings.iter().map(ToString::to_string).collect();
        tracing::warn!(routing_key = %info.key, source = %info.source, ?warnings,
            "incoming message has invalid CloudEvents headers");
    }
    metadata
}

/// The text of a panic payload (`&str` or `String`), or a placeholder.
#[must_use]
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}

/// The handler's result, a panic included, as an [`Outcome`] plus the error to report.
#[must_use]
pub fn classify(
    result: Result<Result<(), Failure>, Box<dyn Any + Send>>,
    routing_key: &str,
) -> (Outcome, Option<Error>) {
    let key = || routing_key.to_owned();
    match result {
        Ok(Ok(())) => (Outcome::Handled, None),
        Ok(Err(Failure::Decode(source))) => (
            Outcome::Undecodable,
            Some(Error::Undecodable {
                routing_key: key(),
                source,
            }),
        ),
        Ok(Err(Failure::Handler(e))) => {
            let disposition = e.disposition();
            (
                Outcome::Failed(disposition),
                Some(Error::Handler {
                    routing_key: key(),
                    retry: disposition == Disposition::Retry,
                    source: e.into_source(),
                }),
            )
        }
        Ok(Err(Failure::EncodeReply(e))) => (
            Outcome::Failed(Disposition::Retry),
            Some(Error::Handler {
                routing_key: key(),
                retry: true,
                source: Box::new(e),
            }),
        ),
        Err(payload) => (
            Outcome::Panicked,
            Some(Error::Panicked {
                routing_key: key(),
                message: panic_message(payload.as_ref()),
            }),
        ),
    }
}

/// How often a message waiting for or running in a handler is kept alive (an in-progress
/// ack). A queued message may be touched up to one period late and then wait another
/// before its handler's first keep-alive, so a quarter of AckWait leaves a margin for
/// latency. A zero AckWait means the server default, 30 s.
#[must_use]
pub fn keep_alive_period(ack_wait: Duration) -> Duration {
    let ack_wait = if ack_wait.is_zero() {
        Duration::from_secs(30)
    } else {
        ack_wait
    };
    (ack_wait / 4).max(Duration::from_millis(25))
}

/// Runs `fut` with panics caught, calling `keep_alive` every `period` while it runs (so a
/// long handler's message is not redelivered under it).
pub async fn run_guarded<T, K, KF>(
    fut: impl Future<Output = T>,
    period: Option<Duration>,
    mut keep_alive: K,
) -> Result<T, Box<dyn Any + Send>>
where
    K: FnMut() -> KF,
    KF: Future<Output = ()>,
{
    let fut = AssertUnwindSafe(fut).catch_unwind();
    let Some(period) = period else {
        return fut.await;
    };
    tokio::pin!(fut);
    // Most handlers finish on their first poll: no timer for them.
    if let Some(r) = (&mut fut).now_or_never() {
        return r;
    }
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tokio::select! {
            r = &mut fut => return r,
            _ = ticker.tick() => keep_alive().await,
        }
    }
}
