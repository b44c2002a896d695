//! Checks and defaults of the consumer options.
use super::*;

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

#[test]
fn start_positions_are_checked() {
    use time::macros::datetime;
    for ok in [
        StartAt::All,
        StartAt::New,
        StartAt::Last,
        StartAt::LastPerSubject,
        StartAt::Sequence(1),
        StartAt::Time(datetime!(1970-01-01 00:00 UTC)),
        StartAt::Time(datetime!(2024-05-01 12:00 +02:00)),
    ] {
        assert_eq!(
            ConsumerOptions::new().start_at(ok).check(),
            Ok(()),
            "{ok:?}"
        );
    }
    for bad in [
        StartAt::Sequence(0),
        StartAt::Time(datetime!(1969-12-31 23:59:59 UTC)),
        StartAt::Time(datetime!(0001-01-01 00:00 UTC)),
    ] {
        let e = ConsumerOptions::new().start_at(bad).check();
        assert!(
            e.as_ref().is_err_and(|e| e.starts_with("start_at")),
            "{bad:?}: {e:?}"
        );
    }
}

#[test]
fn server_settings_are_checked() {
    let ms = Duration::from_millis;
    let ok = ConsumerOptions::new()
        .replay(Replay::Original)
        .max_ack_pending(-1)
        .inactive_threshold(ms(1))
        .idle_heartbeat(ms(500))
        .max_batch(100_000)
        .max_bytes(1)
        .max_expires(ms(1_000));
    assert_eq!(ok.check(), Ok(()));
    assert_eq!(ConsumerOptions::new().max_ack_pending(1).check(), Ok(()));
    let cases: [(ConsumerOptions, &str); 10] = [
        (ConsumerOptions::new().max_ack_pending(0), "max_ack_pending"),
        (
            ConsumerOptions::new().max_ack_pending(-2),
            "max_ack_pending",
        ),
        (
            ConsumerOptions::new().inactive_threshold(Duration::ZERO),
            "inactive_threshold",
        ),
        (
            ConsumerOptions::new().idle_heartbeat(Duration::ZERO),
            "idle_heartbeat",
        ),
        (ConsumerOptions::new().max_batch(0), "max_batch"),
        (ConsumerOptions::new().max_batch(100_001), "max_batch"),
        (ConsumerOptions::new().max_bytes(0), "max_bytes"),
        (ConsumerOptions::new().max_bytes(usize::MAX), "max_bytes"),
        (
            ConsumerOptions::new().max_expires(Duration::from_micros(999)),
            "max_expires",
        ),
        (
            ConsumerOptions::new()
                .idle_heartbeat(ms(501))
                .max_expires(ms(1_000)),
            "idle_heartbeat",
        ),
    ];
    for (opts, what) in cases {
        let e = opts.check();
        assert!(
            e.as_ref().is_err_and(|e| e.starts_with(what)),
            "{opts:?}: {e:?}"
        );
    }
}

#[test]
fn server_settings_overlay_field_by_field() {
    let ms = Duration::from_millis;
    let defaults = ConsumerOptions::new()
        .replay(Replay::Original)
        .max_ack_pending(50)
        .inactive_threshold(ms(10))
        .idle_heartbeat(ms(20))
        .max_batch(5)
        .max_bytes(6)
        .max_expires(ms(70));
    let over = ConsumerOptions::new()
        .max_ack_pending(7)
        .max_expires(ms(80));
    let eff = defaults.overlay(&over);
    assert_eq!(eff.get_replay(), Some(Replay::Original));
    assert_eq!(eff.get_max_ack_pending(), Some(7));
    assert_eq!(eff.get_inactive_threshold(), Some(ms(10)));
    assert_eq!(eff.get_idle_heartbeat(), Some(ms(20)));
    assert_eq!(eff.get_max_batch(), Some(5));
    assert_eq!(eff.get_max_bytes(), Some(6));
    assert_eq!(eff.get_max_expires(), Some(ms(80)));
    assert_eq!(
        ConsumerOptions::new().overlay(&ConsumerOptions::new()),
        ConsumerOptions::new()
    );
}
