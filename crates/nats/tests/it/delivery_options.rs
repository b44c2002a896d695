//! Every delivery and consumer option against the server's own view of the consumer
//! (`$JS.API.CONSUMER.INFO`, read as raw JSON): start positions, replay, max_ack_pending,
//! inactive threshold, the pull limits; invalid values refused before any I/O; an
//! existing durable updated where the server allows it, and a typed error naming both
//! values where it does not. Also the `[consumer_defaults]` keys of `Config`.

use std::time::Duration;

use messaging_nats::async_nats::jetstream::{self, consumer, stream::ConsumerErrorKind};
use messaging_nats::messaging_core::Error as CoreError;
use messaging_nats::{
    Config, Connection, ConsumerOptions, ConsumerSetting, Error, Replay, Setup, StartAt,
};
use messaging_testkit::NatsServer;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::support::{self, TestResult};

#[derive(Debug, Serialize, Deserialize)]
struct Seq {
    n: u32,
}

/// The `config` of consumer `name` on `stream`, exactly as the server sends it (the
/// API wants an empty request).
async fn server_config(js: &jetstream::Context, stream: &str, name: &str) -> Value {
    let subject = format!("$JS.API.CONSUMER.INFO.{stream}.{name}");
    let reply = match js.client().request(subject, bytes::Bytes::new()).await {
        Ok(m) => m,
        Err(e) => panic!("CONSUMER.INFO {stream} {name}: {e}"),
    };
    let info: Value = match serde_json::from_slice(&reply.payload) {
        Ok(v) => v,
        Err(e) => panic!("CONSUMER.INFO {stream} {name}: {e}"),
    };
    assert!(info.get("error").is_none(), "CONSUMER.INFO {name}: {info}");
    info["config"].clone()
}

/// `config[key]` for each key, to compare in one assertion.
fn fields(config: &Value, keys: &[&str]) -> Value {
    keys.iter()
        .map(|k| {
            (
                (*k).to_owned(),
                config.get(*k).cloned().unwrap_or(Value::Null),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn nanos(d: Duration) -> Value {
    json!(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Publishes `Seq { n }` for each `(key, n)` to `events` (sequences 1, 2, …).
/// The server's config of the one ephemeral consumer on `events`.
async fn ephemeral_config(js: &jetstream::Context) -> Value {
    let ephemeral = support::consumer_infos(js, "events")
        .await
        .into_iter()
        .find(|c| c.config.durable_name.is_none())
        .map(|c| c.name);
    let Some(ephemeral) = ephemeral else {
        panic!("no ephemeral consumer on events");
    };
    server_config(js, "events", &ephemeral).await
}

async fn publish(server: &NatsServer, messages: &[(&str, u32)]) -> TestResult {
    let shop = support::start(support::builder(server, "shop").event_publisher()).await;
    let publisher = shop.event_publisher()?;
    for (key, n) in messages {
        publisher.publish(key, &Seq { n: *n }).await?;
    }
    shop.close().await?;
    Ok(())
}

type Received = tokio::sync::mpsc::UnboundedReceiver<messaging_spec::ConsumableEvent<Seq>>;

/// Service `positions` with a durable `positions-<suffix>` on `Order.*` per position, and
/// what each receives.
fn durables(
    server: &NatsServer,
    positions: &[(&str, StartAt, Vec<u32>)],
) -> (messaging_nats::ConnectionBuilder, Vec<Received>) {
    let mut builder = support::builder(server, "positions");
    let mut receivers = Vec::new();
    for (suffix, start, _) in positions {
        let (handler, rx) = support::forward::<Seq>();
        builder = builder.setup(
            Setup::event_consumer("Order.*", handler)
                .suffix(*suffix)
                .start_at(*start),
        );
        receivers.push(rx);
    }
    (builder, receivers)
}

/// Each start position is the server's deliver policy, and delivers what it says.
#[tokio::test]
async fn each_start_position_is_the_consumers_deliver_policy() -> TestResult {
    let server = support::server();
    let history = [
        ("Order.Created", 0),
        ("Order.Paid", 1),
        ("Order.Created", 2),
        ("Order.Paid", 3),
    ];
    publish(&server, &history).await?;
    let js = support::raw_js(&server).await;
    let third = js
        .get_stream("events")
        .await?
        .get_raw_message(3)
        .await?
        .time;
    let positions = [
        ("all", StartAt::All, vec![0, 1, 2, 3]),
        ("new", StartAt::New, vec![]),
        ("last", StartAt::Last, vec![3]),
        ("lps", StartAt::LastPerSubject, vec![2, 3]),
        ("seq", StartAt::Sequence(3), vec![2, 3]),
        ("time", StartAt::Time(third), vec![2, 3]),
    ];
    let (builder, mut receivers) = durables(&server, &positions);
    let conn = support::start(builder).await;

    let keys = ["deliver_policy", "opt_start_seq", "opt_start_time"];
    let seen = |suffix: &str| format!("positions-{suffix}");
    let third_text = third.format(&time::format_description::well_known::Rfc3339)?;
    let expected = [
        json!({"deliver_policy": "all", "opt_start_seq": null, "opt_start_time": null}),
        json!({"deliver_policy": "new", "opt_start_seq": null, "opt_start_time": null}),
        json!({"deliver_policy": "last", "opt_start_seq": null, "opt_start_time": null}),
        json!({"deliver_policy": "last_per_subject", "opt_start_seq": null, "opt_start_time": null}),
        json!({"deliver_policy": "by_start_sequence", "opt_start_seq": 3, "opt_start_time": null}),
        json!({"deliver_policy": "by_start_time", "opt_start_seq": null, "opt_start_time": third_text}),
    ];
    for ((suffix, _, _), want) in positions.iter().zip(expected) {
        let config = server_config(&js, "events", &seen(suffix)).await;
        assert_eq!(fields(&config, &keys), want, "{suffix}");
    }

    // What each delivers: its history, then what is published after it started.
    publish(&server, &[("Order.Created", 4)]).await?;
    for ((suffix, _, history), rx) in positions.iter().zip(&mut receivers) {
        let (before, last) = support::recv_until(rx, |e| e.payload.n == 4).await;
        let got: Vec<u32> = before.iter().map(|e| e.payload.n).collect();
        assert_eq!(&got, history, "{suffix}");
        assert_eq!(last.payload.n, 4);
    }
    conn.close().await?;

    // Started again with the same positions, each durable is found as it is: no conflict,
    // and it resumes after what it handled.
    let (again, mut receivers) = durables(&server, &positions);
    let conn = support::start(again).await;
    publish(&server, &[("Order.Created", 5)]).await?;
    for ((suffix, _, _), rx) in positions.iter().zip(&mut receivers) {
        assert_eq!(support::recv(rx).await.payload.n, 5, "{suffix}");
    }
    conn.close().await?;
    Ok(())
}

/// replay, max_ack_pending, inactive_threshold and the pull limits are the server's
/// consumer config; unset, the server's defaults apply (30 s of inactivity for an
/// ephemeral).
#[tokio::test]
async fn server_settings_are_the_consumers_config() -> TestResult {
    let server = support::server();
    let (tuned, _tuned_rx) = support::forward::<Seq>();
    let (plain, _plain_rx) = support::forward::<Seq>();
    let (live, _live_rx) = support::forward::<Seq>();
    let options = ConsumerOptions::new()
        .replay(Replay::Original)
        .max_ack_pending(7)
        .max_batch(5)
        .prefetch(5)
        .max_bytes(1 << 20)
        .max_expires(Duration::from_secs(30));
    let conn = support::start(
        support::builder(&server, "tuned")
            .setup(Setup::event_consumer("Order.*", tuned).options(options))
            .setup(Setup::event_consumer("Order.*", plain).suffix("plain"))
            .setup(
                Setup::transient_event_consumer("Order.*", live)
                    .options(ConsumerOptions::new().inactive_threshold(Duration::from_secs(45))),
            ),
    )
    .await;
    let js = support::raw_js(&server).await;
    let keys = [
        "replay_policy",
        "max_ack_pending",
        "max_batch",
        "max_bytes",
        "max_expires",
        "inactive_threshold",
        "ack_policy",
    ];
    assert_eq!(
        fields(&server_config(&js, "events", "tuned").await, &keys),
        json!({
            "replay_policy": "original",
            "max_ack_pending": 7,
            "max_batch": 5,
            "max_bytes": 1_048_576,
            "max_expires": nanos(Duration::from_secs(30)),
            "inactive_threshold": null,
            "ack_policy": "explicit",
        })
    );
    assert_eq!(
        fields(&server_config(&js, "events", "tuned-plain").await, &keys),
        json!({
            "replay_policy": "instant",
            "max_ack_pending": 1000,
            "max_batch": null,
            "max_bytes": null,
            "max_expires": null,
            "inactive_threshold": null,
            "ack_policy": "explicit",
        })
    );
    let config = ephemeral_config(&js).await;
    assert_eq!(config["inactive_threshold"], nanos(Duration::from_secs(45)));
    conn.close().await?;

    // Unset, an ephemeral gets 30 s, not the server's 5 s.
    let (live, _live_rx) = support::forward::<Seq>();
    let conn =
        support::start(support::builder(&server, "live").transient_event_consumer("A", live)).await;
    let config = ephemeral_config(&js).await;
    assert_eq!(config["inactive_threshold"], nanos(Duration::from_secs(30)));
    conn.close().await?;
    Ok(())
}

/// Values no broker accepts fail `start()` as invalid registrations, before it connects:
/// nothing listens at the URL, and the error is not a connection error.
#[tokio::test]
async fn invalid_values_are_refused_before_any_io() {
    let zero = Duration::ZERO;
    let cases: [(&str, Setup); 9] = [
        ("start_at", consumer().start_at(StartAt::Sequence(0))),
        (
            "start_at",
            consumer().start_at(StartAt::Time(time::macros::datetime!(1969-07-20 20:17 UTC))),
        ),
        (
            "max_ack_pending",
            with(ConsumerOptions::new().max_ack_pending(0)),
        ),
        (
            "inactive_threshold",
            transient(ConsumerOptions::new().inactive_threshold(zero)),
        ),
        // Durables never expire.
        (
            "inactive_threshold",
            with(ConsumerOptions::new().inactive_threshold(Duration::from_secs(60))),
        ),
        (
            "idle_heartbeat",
            with(ConsumerOptions::new().idle_heartbeat(zero)),
        ),
        (
            "idle_heartbeat",
            with(
                ConsumerOptions::new()
                    .idle_heartbeat(Duration::from_secs(6))
                    .max_expires(Duration::from_secs(10)),
            ),
        ),
        ("max_bytes", with(ConsumerOptions::new().max_bytes(0))),
        (
            "max_expires",
            with(ConsumerOptions::new().max_expires(zero)),
        ),
    ];
    for (what, setup) in cases {
        let started = Connection::builder("svc")
            .url("nats://127.0.0.1:1")
            .setup(setup)
            .start()
            .await;
        match started {
            Err(Error::Core(CoreError::InvalidRegistration {
                index: 0, reason, ..
            })) => {
                assert!(reason.starts_with(what), "{what}: {reason}");
            }
            Err(other) => panic!("{what}: expected InvalidRegistration, got {other:?}"),
            Ok(_) => panic!("{what}: started"),
        }
    }
}

fn consumer() -> Setup {
    Setup::event_consumer("K", |_: messaging_spec::ConsumableEvent<Value>| async {
        Ok::<(), messaging_spec::HandlerError>(())
    })
}

fn with(options: ConsumerOptions) -> Setup {
    consumer().options(options)
}

fn transient(options: ConsumerOptions) -> Setup {
    Setup::transient_event_consumer("K", |_: messaging_spec::ConsumableEvent<Value>| async {
        Ok::<(), messaging_spec::HandlerError>(())
    })
    .options(options)
}

/// A durable started again with other settings is updated in place where the server
/// allows it: the same consumer (same creation time), the new values.
#[tokio::test]
async fn a_changed_durable_is_updated_where_the_server_allows() -> TestResult {
    let server = support::server();
    let first = ConsumerOptions::new()
        .max_deliver(3)
        .max_ack_pending(10)
        .max_batch(5)
        .prefetch(5)
        .max_bytes(1_000_000)
        .max_expires(Duration::from_secs(20));
    let conn = support::start(
        support::builder(&server, "ledger")
            .ack_wait(Duration::from_secs(10))
            .setup(with_key("Order.Created").options(first)),
    )
    .await;
    conn.close().await?;
    let js = support::raw_js(&server).await;
    let before = server_config(&js, "events", "ledger").await;
    let created = support::consumer_info(&js, "events", "ledger")
        .await
        .created;

    let second = ConsumerOptions::new()
        .max_deliver(4)
        .max_ack_pending(20)
        .max_batch(8)
        .prefetch(8)
        .max_bytes(2_000_000)
        .max_expires(Duration::from_secs(40));
    let conn = support::start(
        support::builder(&server, "ledger")
            .ack_wait(Duration::from_secs(20))
            .setup(with_key("Order.Created").options(second))
            .setup(with_key("Order.Paid")),
    )
    .await;
    let keys = [
        "ack_wait",
        "max_deliver",
        "max_ack_pending",
        "max_batch",
        "max_bytes",
        "max_expires",
        "filter_subject",
        "filter_subjects",
    ];
    assert_eq!(
        fields(&before, &keys),
        json!({
            "ack_wait": nanos(Duration::from_secs(10)),
            "max_deliver": 3,
            "max_ack_pending": 10,
            "max_batch": 5,
            "max_bytes": 1_000_000,
            "max_expires": nanos(Duration::from_secs(20)),
            "filter_subject": "events.Order.Created",
            "filter_subjects": null,
        })
    );
    assert_eq!(
        fields(&server_config(&js, "events", "ledger").await, &keys),
        json!({
            "ack_wait": nanos(Duration::from_secs(20)),
            "max_deliver": 4,
            "max_ack_pending": 20,
            "max_batch": 8,
            "max_bytes": 2_000_000,
            "max_expires": nanos(Duration::from_secs(40)),
            "filter_subject": null,
            "filter_subjects": ["events.Order.Created", "events.Order.Paid"],
        })
    );
    assert_eq!(
        support::consumer_info(&js, "events", "ledger")
            .await
            .created,
        created,
        "updated in place, not recreated"
    );
    conn.close().await?;
    Ok(())
}

fn with_key(key: &str) -> Setup {
    Setup::event_consumer(key, |_: messaging_spec::ConsumableEvent<Value>| async {
        Ok::<(), messaging_spec::HandlerError>(())
    })
}

/// The server's refusal under a `ConsumerConflict`: its JetStream error code.
fn refusal_code(e: &Error) -> Option<u64> {
    let Error::ConsumerConflict { source, .. } = e else {
        return None;
    };
    let e = source.downcast_ref::<jetstream::stream::ConsumerError>()?;
    match e.kind() {
        ConsumerErrorKind::JetStream(js) => Some(js.error_code().0),
        _ => None,
    }
}

/// What the server cannot change on an existing durable fails `start()` with
/// `Error::ConsumerConflict`, naming the consumer, the setting and both values; the
/// consumer is left as it was.
#[tokio::test]
async fn a_fixed_setting_of_a_durable_is_a_typed_conflict() -> TestResult {
    let server = support::server();
    let start = |options: ConsumerOptions| {
        support::builder(&server, "ledger")
            .setup(with_key("Order.Created").options(options))
            .start()
    };
    start(ConsumerOptions::new().start_at(StartAt::Sequence(3)))
        .await?
        .close()
        .await?;
    let cases = [
        (
            ConsumerOptions::new(),
            (ConsumerSetting::DeliverPolicy, "by_start_sequence", "all"),
        ),
        (
            ConsumerOptions::new().start_at(StartAt::Sequence(4)),
            (ConsumerSetting::OptStartSeq, "3", "4"),
        ),
        (
            ConsumerOptions::new()
                .start_at(StartAt::Sequence(3))
                .replay(Replay::Original),
            (ConsumerSetting::ReplayPolicy, "instant", "original"),
        ),
    ];
    for (options, want) in cases {
        let Err(e) = start(options).await else {
            panic!("{want:?}: started");
        };
        assert_eq!(refusal_code(&e), Some(10012), "{e:?}");
        let Error::ConsumerConflict {
            stream,
            consumer,
            setting,
            server,
            ours,
            ..
        } = e
        else {
            unreachable!()
        };
        assert_eq!((stream.as_str(), consumer.as_str()), ("events", "ledger"));
        assert_eq!((setting, server.as_str(), ours.as_str()), want);
    }
    let js = support::raw_js(&server).await;
    let config = server_config(&js, "events", "ledger").await;
    assert_eq!(
        fields(
            &config,
            &["deliver_policy", "opt_start_seq", "replay_policy"]
        ),
        json!({"deliver_policy": "by_start_sequence", "opt_start_seq": 3, "replay_policy": "instant"})
    );

    // Made by another tool with another ack policy.
    js.get_stream("events")
        .await?
        .create_consumer(consumer::pull::Config {
            durable_name: Some("audit".to_owned()),
            ack_policy: consumer::AckPolicy::None,
            ..consumer::pull::Config::default()
        })
        .await?;
    let started = support::builder(&server, "audit")
        .setup(with_key("Order.Created"))
        .start()
        .await;
    match started {
        Err(Error::ConsumerConflict {
            consumer,
            setting,
            server,
            ours,
            ..
        }) => {
            assert_eq!(
                (consumer.as_str(), setting, server.as_str(), ours.as_str()),
                ("audit", ConsumerSetting::AckPolicy, "none", "explicit")
            );
        }
        Err(other) => panic!("expected ConsumerConflict, got {other:?}"),
        Ok(_) => panic!("started against an ack-none durable"),
    }
    Ok(())
}

/// The `[consumer_defaults]` keys for these options, from TOML and the environment, and
/// the key named when one is invalid.
#[test]
fn consumer_default_keys_are_read_and_checked() -> Result<(), Error> {
    let cfg = Config::from_toml_str(
        r#"
        [consumer_defaults]
        start_at = "last_per_subject"
        replay = "original"
        max_ack_pending = 500
        inactive_threshold = "2m"
        idle_heartbeat = "5s"
        max_batch = 64
        max_bytes = 1048576
        max_expires = "30s"
        "#,
    )?;
    let expected = ConsumerOptions::new()
        .start_at(StartAt::LastPerSubject)
        .replay(Replay::Original)
        .max_ack_pending(500)
        .inactive_threshold(Duration::from_secs(120))
        .idle_heartbeat(Duration::from_secs(5))
        .max_batch(64)
        .max_bytes(1_048_576)
        .max_expires(Duration::from_secs(30));
    assert_eq!(cfg.consumer_defaults, expected);

    let at = time::macros::datetime!(2024-05-01 12:00 UTC);
    for (text, start) in [
        ("start_at = 42", StartAt::Sequence(42)),
        ("start_at = \"42\"", StartAt::Sequence(42)),
        (
            "start_at = \"2024-05-01T14:00:00+02:00\"",
            StartAt::Time(at),
        ),
        // A TOML datetime, unquoted.
        ("start_at = 2024-05-01T12:00:00Z", StartAt::Time(at)),
    ] {
        let cfg = Config::from_toml_str(&format!("[consumer_defaults]\n{text}"))?;
        assert_eq!(cfg.consumer_defaults.get_start_at(), Some(start), "{text}");
    }

    for (text, key) in [
        ("start_at = 0", "consumer_defaults.start_at"),
        ("start_at = \"yesterday\"", "consumer_defaults.start_at"),
        ("replay = \"fast\"", "consumer_defaults.replay"),
        ("max_ack_pending = 0", "consumer_defaults.max_ack_pending"),
        (
            "inactive_threshold = \"0s\"",
            "consumer_defaults.inactive_threshold",
        ),
        ("max_batch = 0", "consumer_defaults.max_batch"),
        ("max_bytes = 0", "consumer_defaults.max_bytes"),
        ("max_expires = \"0s\"", "consumer_defaults.max_expires"),
        (
            "idle_heartbeat = \"10s\"\nmax_expires = \"10s\"",
            "consumer_defaults.idle_heartbeat",
        ),
    ] {
        match Config::from_toml_str(&format!("[consumer_defaults]\n{text}")) {
            Err(Error::Config {
                key: Some(k),
                source_name,
                ..
            }) => {
                assert_eq!(
                    (k.as_str(), source_name.as_str()),
                    (key, "TOML string"),
                    "{text}"
                );
            }
            other => panic!("{text}: expected Error::Config, got {other:?}"),
        }
    }
    Ok(())
}

/// A consumer whose pull limits are far below the prefetch still consumes everything:
/// the fetch loop keeps every pull within `max_batch` and `max_expires`, and a heartbeat
/// inside the expiry (the server would refuse anything else with a 409).
#[tokio::test]
async fn the_fetch_loop_pulls_within_the_consumers_limits() -> TestResult {
    let server = support::server();
    let history: Vec<(&str, u32)> = (0..40).map(|n| ("Order.Created", n)).collect();
    publish(&server, &history).await?;
    let (handler, mut rx) = support::forward::<Seq>();
    let conn = support::start(
        support::builder(&server, "limited").setup(
            Setup::event_consumer("Order.Created", handler).options(
                ConsumerOptions::new()
                    .max_batch(3)
                    .max_expires(Duration::from_millis(800))
                    .idle_heartbeat(Duration::from_millis(300)),
            ),
        ),
    )
    .await;
    let mut seen = Vec::new();
    while seen.len() < 40 {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(ev)) => seen.push(ev.payload.n),
            other => panic!("got {seen:?}, then {:?}", other.map(|o| o.is_some())),
        }
    }
    assert_eq!(seen, (0..40).collect::<Vec<_>>());
    let js = support::raw_js(&server).await;
    let config = server_config(&js, "events", "limited").await;
    assert_eq!(
        fields(&config, &["max_batch", "max_expires"]),
        json!({"max_batch": 3, "max_expires": nanos(Duration::from_millis(800))})
    );
    conn.close().await?;
    Ok(())
}
