//! The server-side consumer config of a group, and creating the consumer from it.

use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, ReplayPolicy, pull};
use messaging_core::{Replay, StartAt};

use crate::connection::Shared;
use crate::error::{Error, Result};
use crate::plan::GroupPlan;

mod conflict;

/// How long an ephemeral consumer survives without pull interest unless
/// `inactive_threshold` says otherwise. Longer than the server's 5 s default so a busy
/// service that pauses fetching does not lose it; close() deletes it explicitly.
const EPHEMERAL_INACTIVE: Duration = Duration::from_secs(30);

/// The server's consumer config for a group: explicit ack, singular `filter_subject` for
/// one key and `filter_subjects` for several (as the reference). Retry delays are applied
/// by our naks, so `backoff` is not sent: the server would add its own delays on top and
/// replace AckWait with the first entry. Options left unset are not sent, so the server's
/// defaults apply (and an update resets what a previous start had set).
pub(crate) fn consumer_config(
    group: &GroupPlan,
    ack_wait: Option<Duration>,
    deliver: DeliverPolicy,
) -> pull::Config {
    let (filter_subject, filter_subjects) = match group.filters.as_slice() {
        [one] => (one.clone(), Vec::new()),
        many => (String::new(), many.to_vec()),
    };
    let o = &group.options;
    // Checked by the plan to fit an i64; the server field is one.
    let count = |n: Option<usize>| n.map_or(0, |n| i64::try_from(n).unwrap_or(i64::MAX));
    pull::Config {
        durable_name: group.durable.clone(),
        filter_subject,
        filter_subjects,
        ack_policy: AckPolicy::Explicit,
        deliver_policy: deliver,
        replay_policy: match o.get_replay().unwrap_or_default() {
            Replay::Original => ReplayPolicy::Original,
            _ => ReplayPolicy::Instant,
        },
        // A dead-lettering group counts deliveries itself, so a failed dead-letter publish
        // can still be retried; the server would stop at its limit and drop it silently.
        max_deliver: if group.dead_letter.is_some() {
            -1
        } else {
            o.get_max_deliver().unwrap_or_default()
        },
        ack_wait: ack_wait.unwrap_or_default(),
        max_ack_pending: o.get_max_ack_pending().unwrap_or_default(),
        // Durables never expire: the plan refuses the option on a durable registration,
        // and a default reaches the ephemerals only.
        inactive_threshold: if group.durable.is_none() {
            o.get_inactive_threshold().unwrap_or(EPHEMERAL_INACTIVE)
        } else {
            Duration::ZERO
        },
        max_batch: count(o.get_max_batch()),
        max_bytes: count(o.get_max_bytes()),
        max_expires: o.get_max_expires().unwrap_or_default(),
        ..pull::Config::default()
    }
}

pub(crate) async fn create(shared: &Shared, group: &GroupPlan) -> Result<PullConsumer> {
    create_from(shared, group, start_policy(group)).await
}

/// The configured start of a new consumer.
pub(crate) fn start_policy(group: &GroupPlan) -> DeliverPolicy {
    match group.options.get_start_at().unwrap_or_default() {
        StartAt::All => DeliverPolicy::All,
        StartAt::New => DeliverPolicy::New,
        StartAt::Last => DeliverPolicy::Last,
        StartAt::LastPerSubject => DeliverPolicy::LastPerSubject,
        StartAt::Sequence(start_sequence) => DeliverPolicy::ByStartSequence { start_sequence },
        // In UTC: the server keeps the instant, and RFC 3339 allows no second offsets.
        StartAt::Time(t) => DeliverPolicy::ByStartTime {
            start_time: t.to_offset(time::UtcOffset::UTC),
        },
        // Newer variants are rejected by the plan before a consumer is created.
        _ => DeliverPolicy::All,
    }
}

/// Creates the consumer, or updates an existing durable of that name in place (the
/// server changes what it can: AckWait, max_deliver, filters, max_ack_pending, the pull
/// limits). What it cannot change on an existing durable is reported as
/// [`Error::ConsumerConflict`] naming the setting and both values.
pub(crate) async fn create_from(
    shared: &Shared,
    group: &GroupPlan,
    deliver: DeliverPolicy,
) -> Result<PullConsumer> {
    let config = consumer_config(group, shared.timing.ack_wait, deliver);
    let stream = shared
        .js
        .get_stream(group.stream.as_str())
        .await
        .map_err(|e| consumer_error(group, e))?;
    match stream.create_consumer(config.clone()).await {
        Ok(consumer) => Ok(consumer),
        Err(e) => Err(match (&group.durable, e.kind()) {
            // The server only says what it refused ("deliver policy can not be
            // updated", error 10012); its view of the consumer says what it has.
            (Some(name), async_nats::jetstream::stream::ConsumerErrorKind::JetStream(_)) => {
                conflict::diagnose(&stream, group, name, &config, e).await
            }
            _ => consumer_error(group, e),
        }),
    }
}

fn consumer_error(group: &GroupPlan, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Consumer {
        stream: group.stream.as_str().to_owned(),
        consumer: group
            .durable
            .clone()
            .unwrap_or_else(|| "(ephemeral)".to_owned()),
        source: Box::new(e),
    }
}
