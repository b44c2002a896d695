//! Why the server refused to update an existing durable: the settings it cannot change
//! on an existing consumer, compared between its view and ours.

use async_nats::jetstream::consumer::{self, DeliverPolicy, pull};
use async_nats::jetstream::stream::{ConsumerError, Stream};
use time::format_description::well_known::Rfc3339;

use super::consumer_error;
use crate::error::{ConsumerSetting, Error};
use crate::plan::GroupPlan;

/// One setting the server holds differently: which, the server's value and ours.
type Difference = (ConsumerSetting, String, String);

/// [`Error::ConsumerConflict`] when the durable exists and differs in a setting the
/// server cannot update; otherwise the server's error as [`Error::Consumer`].
pub(super) async fn diagnose(
    stream: &Stream,
    group: &GroupPlan,
    name: &str,
    ours: &pull::Config,
    refused: ConsumerError,
) -> Error {
    let Ok(info) = stream.consumer_info(name).await else {
        return consumer_error(group, refused);
    };
    match fixed_difference(&info.config, ours) {
        Some((setting, server, ours)) => Error::ConsumerConflict {
            stream: group.stream.as_str().to_owned(),
            consumer: name.to_owned(),
            setting,
            server,
            ours,
            source: Box::new(refused),
        },
        None => consumer_error(group, refused),
    }
}

/// The first setting the server cannot change that differs, in the order the server
/// checks them.
fn fixed_difference(server: &consumer::Config, ours: &pull::Config) -> Option<Difference> {
    let (a, b) = (server.deliver_policy, ours.deliver_policy);
    if policy_name(a) != policy_name(b) {
        return Some((
            ConsumerSetting::DeliverPolicy,
            policy_name(a).to_owned(),
            policy_name(b).to_owned(),
        ));
    }
    match (a, b) {
        (
            DeliverPolicy::ByStartSequence { start_sequence: x },
            DeliverPolicy::ByStartSequence { start_sequence: y },
        ) if x != y => {
            return Some((ConsumerSetting::OptStartSeq, x.to_string(), y.to_string()));
        }
        (
            DeliverPolicy::ByStartTime { start_time: x },
            DeliverPolicy::ByStartTime { start_time: y },
        ) if x != y => {
            let show =
                |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_else(|_| t.to_string());
            return Some((ConsumerSetting::OptStartTime, show(x), show(y)));
        }
        _ => {}
    }
    if server.ack_policy != ours.ack_policy {
        return Some((
            ConsumerSetting::AckPolicy,
            wire_name(server.ack_policy),
            wire_name(ours.ack_policy),
        ));
    }
    if server.replay_policy != ours.replay_policy {
        return Some((
            ConsumerSetting::ReplayPolicy,
            wire_name(server.replay_policy),
            wire_name(ours.replay_policy),
        ));
    }
    None
}

/// The server's name of a deliver policy.
fn policy_name(p: DeliverPolicy) -> &'static str {
    match p {
        DeliverPolicy::All => "all",
        DeliverPolicy::Last => "last",
        DeliverPolicy::New => "new",
        DeliverPolicy::ByStartSequence { .. } => "by_start_sequence",
        DeliverPolicy::ByStartTime { .. } => "by_start_time",
        DeliverPolicy::LastPerSubject => "last_per_subject",
    }
}

/// The server's name of an ack or replay policy: its JSON form (the set of ack
/// policies depends on async-nats' server features).
fn wire_name(p: impl serde::Serialize) -> String {
    match serde_json::to_value(p) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(e) => format!("({e})"),
    }
}

#[cfg(test)]
mod tests {
    use async_nats::jetstream::consumer::{AckPolicy, ReplayPolicy};

    use super::*;

    fn ours(deliver: DeliverPolicy) -> pull::Config {
        pull::Config {
            durable_name: Some("svc".to_owned()),
            deliver_policy: deliver,
            ack_policy: AckPolicy::Explicit,
            ..pull::Config::default()
        }
    }

    fn server(deliver: DeliverPolicy) -> consumer::Config {
        consumer::Config {
            deliver_policy: deliver,
            ack_policy: AckPolicy::Explicit,
            ..consumer::Config::default()
        }
    }

    fn diff(which: ConsumerSetting, a: &str, b: &str) -> Option<Difference> {
        Some((which, a.to_owned(), b.to_owned()))
    }

    #[test]
    fn each_fixed_setting_is_named_with_both_values() {
        let seq = |n| DeliverPolicy::ByStartSequence { start_sequence: n };
        let at = |s| DeliverPolicy::ByStartTime {
            start_time: time::OffsetDateTime::from_unix_timestamp(s)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
        };
        assert_eq!(
            fixed_difference(&server(DeliverPolicy::All), &ours(DeliverPolicy::New)),
            diff(ConsumerSetting::DeliverPolicy, "all", "new")
        );
        assert_eq!(
            fixed_difference(&server(seq(3)), &ours(seq(4))),
            diff(ConsumerSetting::OptStartSeq, "3", "4")
        );
        assert_eq!(
            fixed_difference(&server(at(0)), &ours(at(60))),
            diff(
                ConsumerSetting::OptStartTime,
                "1970-01-01T00:00:00Z",
                "1970-01-01T00:01:00Z"
            )
        );
        let mut none = server(DeliverPolicy::All);
        none.ack_policy = AckPolicy::None;
        assert_eq!(
            fixed_difference(&none, &ours(DeliverPolicy::All)),
            diff(ConsumerSetting::AckPolicy, "none", "explicit")
        );
        let mut paced = server(DeliverPolicy::All);
        paced.replay_policy = ReplayPolicy::Original;
        assert_eq!(
            fixed_difference(&paced, &ours(DeliverPolicy::All)),
            diff(ConsumerSetting::ReplayPolicy, "original", "instant")
        );
        assert_eq!(fixed_difference(&server(seq(3)), &ours(seq(3))), None);
    }
}
