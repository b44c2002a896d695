//! The server-side consumer config of a group, and creating the consumer from it.

use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use messaging_core::StartAt;

use crate::connection::Shared;
use crate::error::{Error, Result};
use crate::plan::GroupPlan;

/// How long an ephemeral consumer survives without pull interest. Longer than the
/// server's 5 s default so a busy service that pauses fetching does not lose it; close()
/// deletes it explicitly.
const EPHEMERAL_INACTIVE: Duration = Duration::from_secs(30);
/// The server's consumer config for a group: explicit ack, singular `filter_subject` for
/// one key and `filter_subjects` for several (as the reference). Retry delays are applied
/// by our naks, so `backoff` is not sent: the server would add its own delays on top and
/// replace AckWait with the first entry.
pub(crate) fn consumer_config(
    group: &GroupPlan,
    ack_wait: Option<Duration>,
    deliver: DeliverPolicy,
) -> pull::Config {
    let (filter_subject, filter_subjects) = match group.filters.as_slice() {
        [one] => (one.clone(), Vec::new()),
        many => (String::new(), many.to_vec()),
    };
    pull::Config {
        durable_name: group.durable.clone(),
        filter_subject,
        filter_subjects,
        ack_policy: AckPolicy::Explicit,
        deliver_policy: deliver,
        // A dead-lettering group counts deliveries itself, so a failed dead-letter publish
        // can still be retried; the server would stop at its limit and drop it silently.
        max_deliver: if group.dead_letter.is_some() {
            -1
        } else {
            group.options.get_max_deliver().unwrap_or_default()
        },
        ack_wait: ack_wait.unwrap_or_default(),
        inactive_threshold: if group.durable.is_none() {
            EPHEMERAL_INACTIVE
        } else {
            Duration::ZERO
        },
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
        // Newer variants are rejected by the plan before a consumer is created.
        _ => DeliverPolicy::All,
    }
}

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
    stream
        .create_consumer(config)
        .await
        .map_err(|e| consumer_error(group, e))
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
