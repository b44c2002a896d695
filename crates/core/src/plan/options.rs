//! The consumer options in the plan: which a group's registrations must agree on, the
//! effective options of a group, and which options a transport cannot honour.

use super::{ConsumerGroup, Rules};
use crate::options::{ConsumerOptions, Replay, StartAt};

/// Only these options may differ per registration within one consumer group.
pub(super) fn merge_explicit(
    group: &mut ConsumerGroup,
    opts: &ConsumerOptions,
) -> std::result::Result<(), String> {
    fn merge<T: PartialEq + Clone + std::fmt::Debug>(
        what: &str,
        slot: &mut Option<T>,
        new: Option<&T>,
    ) -> std::result::Result<(), String> {
        match (slot.as_ref(), new) {
            (Some(a), Some(b)) if a != b => Err(format!(
                "{what} {b:?} conflicts with {a:?} set by another registration on the same consumer"
            )),
            (None, Some(b)) => {
                *slot = Some(b.clone());
                Ok(())
            }
            _ => Ok(()),
        }
    }
    merge(
        "max_deliver",
        &mut group.explicit.max_deliver,
        opts.max_deliver.as_ref(),
    )?;
    merge(
        "backoff",
        &mut group.explicit.backoff,
        opts.backoff.as_ref(),
    )?;
    merge(
        "concurrency",
        &mut group.explicit.concurrency,
        opts.concurrency.as_ref(),
    )?;
    merge(
        "prefetch",
        &mut group.explicit.prefetch,
        opts.prefetch.as_ref(),
    )?;
    merge(
        "start_at",
        &mut group.explicit.start_at,
        opts.start_at.as_ref(),
    )?;
    merge(
        "dead_letter",
        &mut group.explicit.dead_letter,
        opts.dead_letter.as_ref(),
    )?;
    merge(
        "deduplicate",
        &mut group.explicit.deduplicate,
        opts.deduplicate.as_ref(),
    )?;
    merge(
        "single_active_consumer",
        &mut group.explicit.single_active_consumer,
        opts.single_active_consumer.as_ref(),
    )?;
    merge_server_settings(&mut group.explicit, opts)
}

/// The JetStream consumer settings, which one group must agree on as well.
fn merge_server_settings(
    slot: &mut ConsumerOptions,
    opts: &ConsumerOptions,
) -> std::result::Result<(), String> {
    fn merge<T: PartialEq + Copy + std::fmt::Debug>(
        what: &str,
        slot: &mut Option<T>,
        new: Option<T>,
    ) -> std::result::Result<(), String> {
        match (*slot, new) {
            (Some(a), Some(b)) if a != b => Err(format!(
                "{what} {b:?} conflicts with {a:?} set by another registration on the same consumer"
            )),
            (None, Some(b)) => {
                *slot = Some(b);
                Ok(())
            }
            _ => Ok(()),
        }
    }
    merge("replay", &mut slot.replay, opts.replay)?;
    merge(
        "max_ack_pending",
        &mut slot.max_ack_pending,
        opts.max_ack_pending,
    )?;
    merge(
        "inactive_threshold",
        &mut slot.inactive_threshold,
        opts.inactive_threshold,
    )?;
    merge(
        "idle_heartbeat",
        &mut slot.idle_heartbeat,
        opts.idle_heartbeat,
    )?;
    merge("max_batch", &mut slot.max_batch, opts.max_batch)?;
    merge("max_bytes", &mut slot.max_bytes, opts.max_bytes)?;
    merge("max_expires", &mut slot.max_expires, opts.max_expires)
}

/// The options a consumer runs with, checked as a whole: each part may be valid alone
/// while the combination (say a default `backoff` longer than a `max_deliver`) is not.
pub(super) fn effective(
    defaults: &ConsumerOptions,
    explicit: &ConsumerOptions,
) -> std::result::Result<ConsumerOptions, String> {
    let options = defaults.overlay(explicit);
    options
        .check()
        .map_err(|r| format!("effective options (registrations over consumer_defaults): {r}"))?;
    Ok(options)
}

/// Options this transport cannot honour, named.
pub(super) fn unsupported(rules: &Rules, opts: &ConsumerOptions) -> Option<String> {
    let name = rules.transport_name();
    if let Some(s) = opts.start_at
        && s != StartAt::All
    {
        if !rules.start_positions {
            return Some(format!(
                "start_at {s:?} is not available on {name}: a queue delivers what arrives after it was bound"
            ));
        }
        if !s.is_basic() && !rules.extended_start_positions {
            return Some(format!(
                "start_at {s:?} is not available on {name}; All, New and Last are"
            ));
        }
    }
    if !rules.server_consumer_settings {
        let set = [
            ("replay", opts.replay.is_some_and(|r| r != Replay::Instant)),
            ("max_ack_pending", opts.max_ack_pending.is_some()),
            ("inactive_threshold", opts.inactive_threshold.is_some()),
            ("idle_heartbeat", opts.idle_heartbeat.is_some()),
            ("max_batch", opts.max_batch.is_some()),
            ("max_bytes", opts.max_bytes.is_some()),
            ("max_expires", opts.max_expires.is_some()),
        ];
        if let Some((what, _)) = set.iter().find(|(_, on)| *on) {
            return Some(format!(
                "{what} is not available on {name}: it is a setting of a JetStream consumer"
            ));
        }
    }
    if !rules.dead_letter && opts.dead_letter.is_some() {
        return Some(format!("dead_letter is not available on {name}"));
    }
    if let Some(d) = opts.deduplicate
        && (!rules.dedup || (d.shared && !rules.shared_dedup))
    {
        let what = if d.shared {
            "deduplicate_shared"
        } else {
            "deduplicate"
        };
        return Some(format!("{what} is not available on {name} yet"));
    }
    if !rules.queue_arguments && opts.single_active_consumer.is_some() {
        return Some(format!("single_active_consumer is not available on {name}"));
    }
    None
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use messaging_spec::{ConsumableEvent, HandlerError};

    use crate::{ConsumerOptions, Error, Replay, Rules, Setup, StartAt, plan};

    async fn noop(_: ConsumableEvent<serde_json::Value>) -> Result<(), HandlerError> {
        Ok(())
    }

    fn refusal(rules: &Rules, opts: ConsumerOptions) -> String {
        let setups = [Setup::transient_event_consumer("K", noop).options(opts)];
        match plan(rules, "svc", &setups, &ConsumerOptions::default()) {
            Err(Error::InvalidRegistration {
                index: 0, reason, ..
            }) => reason,
            other => panic!("expected InvalidRegistration, got {other:?}"),
        }
    }

    fn without_server_settings() -> Rules {
        let mut rules = Rules::nats();
        rules.name = "the in-memory transport";
        rules.extended_start_positions = false;
        rules.server_consumer_settings = false;
        rules
    }

    fn each_server_setting() -> [(&'static str, ConsumerOptions); 7] {
        let s = Duration::from_secs(1);
        [
            ("replay", ConsumerOptions::new().replay(Replay::Original)),
            ("max_ack_pending", ConsumerOptions::new().max_ack_pending(5)),
            (
                "inactive_threshold",
                ConsumerOptions::new().inactive_threshold(s),
            ),
            ("idle_heartbeat", ConsumerOptions::new().idle_heartbeat(s)),
            ("max_batch", ConsumerOptions::new().max_batch(5)),
            ("max_bytes", ConsumerOptions::new().max_bytes(5)),
            ("max_expires", ConsumerOptions::new().max_expires(s)),
        ]
    }

    #[test]
    fn transports_without_them_refuse_server_settings_by_name() {
        for rules in [Rules::amqp(), without_server_settings()] {
            for (what, opts) in each_server_setting() {
                let reason = refusal(&rules, opts);
                assert_eq!(
                    reason,
                    format!(
                        "{what} is not available on {}: it is a setting of a JetStream consumer",
                        rules.name
                    )
                );
            }
            // The defaults are refused too, as invalid configuration.
            let setups = [Setup::transient_event_consumer("K", noop)];
            let defaults = ConsumerOptions::new().max_batch(3);
            assert!(matches!(
                plan(&rules, "svc", &setups, &defaults),
                Err(Error::InvalidConfig(r)) if r.contains("max_batch")
            ));
            // Instant is what every transport does.
            let instant = ConsumerOptions::new().replay(Replay::Instant);
            let setups = [Setup::event_consumer("K", noop).options(instant)];
            assert!(plan(&rules, "svc", &setups, &ConsumerOptions::default()).is_ok());
        }
        for (_, opts) in each_server_setting() {
            let setups = [Setup::transient_event_consumer("K", noop).options(opts)];
            assert!(plan(&Rules::nats(), "svc", &setups, &ConsumerOptions::default()).is_ok());
        }
    }

    #[test]
    fn extended_start_positions_are_refused_where_they_are_not_built() {
        let rules = without_server_settings();
        for start in [StartAt::LastPerSubject, StartAt::Sequence(3)] {
            let reason = refusal(&rules, ConsumerOptions::new().start_at(start));
            assert_eq!(
                reason,
                format!(
                    "start_at {start:?} is not available on the in-memory transport; All, New and Last are"
                )
            );
            assert!(
                refusal(&Rules::amqp(), ConsumerOptions::new().start_at(start))
                    .contains("start_at")
            );
        }
        for start in [StartAt::New, StartAt::Last] {
            let setups = [Setup::event_consumer("K", noop).start_at(start)];
            assert!(plan(&rules, "svc", &setups, &ConsumerOptions::default()).is_ok());
        }
    }

    #[test]
    fn inactive_threshold_is_for_transient_consumers() {
        let s = Duration::from_secs(1);
        let durable =
            [Setup::event_consumer("K", noop)
                .options(ConsumerOptions::new().inactive_threshold(s))];
        assert!(matches!(
            plan(&Rules::nats(), "svc", &durable, &ConsumerOptions::default()),
            Err(Error::InvalidRegistration { index: 0, reason, .. }) if reason.starts_with("inactive_threshold")
        ));
        // As a default it reaches the transient consumers only; durables accept it.
        let both = [
            Setup::event_consumer("K", noop),
            Setup::transient_event_consumer("L", noop),
        ];
        let defaults = ConsumerOptions::new().inactive_threshold(s);
        assert!(plan(&Rules::nats(), "svc", &both, &defaults).is_ok());
    }

    #[test]
    fn one_consumer_agrees_on_its_server_settings() {
        let setups = [
            Setup::event_consumer("A", noop).options(ConsumerOptions::new().max_ack_pending(5)),
            Setup::event_consumer("B", noop).options(ConsumerOptions::new().max_ack_pending(6)),
        ];
        assert!(matches!(
            plan(&Rules::nats(), "svc", &setups, &ConsumerOptions::default()),
            Err(Error::InvalidRegistration { index: 1, reason, .. }) if reason.starts_with("max_ack_pending 6 conflicts")
        ));
        let setups = [
            Setup::event_consumer("A", noop).options(ConsumerOptions::new().max_batch(5)),
            Setup::event_consumer("B", noop),
        ];
        let p = plan(&Rules::nats(), "svc", &setups, &ConsumerOptions::default());
        assert_eq!(
            p.map(|p| p.groups[0].options.get_max_batch()).ok(),
            Some(Some(5))
        );
    }
}
