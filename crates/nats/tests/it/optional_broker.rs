//! `optional_broker`: `start()` returns while no server listens, the connection is not
//! ready and refuses to publish with `Error::NotConnected`; once a server appears on the
//! port it sets up everything and serves. A set-up failure (no JetStream) is reported
//! and retried. Without the option, `start()` still fails at once.

use std::future::IntoFuture;
use std::time::Duration;

use messaging_nats::{
    Config, ConnectFailure, Connection, ConnectionBuilder, Error, HealthProblem, HealthStatus,
};
use messaging_spec::{ConsumableEvent, ErrorNotification, HandlerError};
use messaging_testkit::{NatsServer, free_port};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::support::{self, TIMEOUT, TestResult};

/// How long `start()` may take with no server: it must not wait for one.
const START_BOUND: Duration = Duration::from_secs(2);
/// Bound on becoming ready once the server is up: the client's reconnect delay (up to
/// 4 s) plus the set-up, or a set-up retry (1 s, then 2 s…).
const READY_BOUND: Duration = Duration::from_secs(30);

/// A URL on a free port where nothing listens (yet).
fn nowhere() -> Result<(u16, String), messaging_testkit::TestkitError> {
    let port = free_port()?;
    Ok((port, format!("nats://127.0.0.1:{port}")))
}

/// A JetStream server on `port` (blocking the test's thread, as the testkit does).
fn server_on(port: u16, jetstream: bool) -> NatsServer {
    let started = tokio::task::block_in_place(|| {
        NatsServer::builder()
            .port(port)
            .jetstream(jetstream)
            .start()
    });
    match started {
        Ok(s) => s,
        Err(e) => panic!("starting nats-server on port {port}: {e}"),
    }
}

/// The orders service: a consumer forwarding `Order.Created`, a request handler for
/// `Order.Count`, and publishers for both, pointed at `url` with the option on.
fn orders(
    url: &str,
) -> (
    ConnectionBuilder,
    mpsc::UnboundedReceiver<ConsumableEvent<Value>>,
) {
    let (forward, events) = support::forward::<Value>();
    let builder = Connection::builder("late-orders")
        .url(url)
        .optional_broker(true)
        .request_timeout(TIMEOUT)
        .health_check_interval(Duration::from_millis(100))
        .event_publisher()
        .service_publisher("late-orders")
        .event_consumer("Order.Created", forward)
        .request_handler("Order.Count", |ev: ConsumableEvent<Value>| async move {
            Ok::<Value, HandlerError>(json!({ "counted": ev.payload["n"] }))
        });
    (builder, events)
}

/// Starts `builder`, which must return within [`START_BOUND`].
async fn start_quickly(builder: ConnectionBuilder) -> Connection {
    match tokio::time::timeout(START_BOUND, builder.start()).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => panic!("start() failed: {e:?}"),
        Err(_) => panic!("start() waited for the broker longer than {START_BOUND:?}"),
    }
}

/// Polls health until ready, within [`READY_BOUND`] (readiness has no event to wait on).
async fn wait_ready(conn: &Connection) {
    let deadline = tokio::time::Instant::now() + READY_BOUND;
    while !conn.is_ready() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not ready within {READY_BOUND:?}: {}",
            conn.health()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `url` and `reason` of an [`Error::NotConnected`]; panics on anything else.
fn not_connected<T: std::fmt::Debug>(r: Result<T, Error>) -> (String, String) {
    match r {
        Err(Error::NotConnected { url, reason }) => (url, reason),
        other => panic!("expected Error::NotConnected, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_without_a_broker_and_comes_up_when_it_appears() -> TestResult {
    let (port, url) = nowhere()?;
    let (builder, mut events) = orders(&url);
    let conn = start_quickly(builder).await;

    // Not ready, and health says why and where.
    let health = conn.health();
    assert!(!conn.is_ready());
    assert_eq!(health.status, HealthStatus::Degraded);
    match health.problems.as_slice() {
        [HealthProblem::BrokerUnreachable { url: at, .. }] => assert_eq!(at, &url),
        other => panic!("expected [BrokerUnreachable], got {other:?}"),
    }
    assert!(
        health
            .to_string()
            .contains(&format!("NATS unreachable at {url}")),
        "{health}"
    );
    assert_eq!(health.consumers, Vec::new());
    // After a failed attempt, health also says what the client saw.
    let health = support::eventually("the last connect error in health", || {
        let h = conn.health();
        let seen = matches!(
            h.problems.as_slice(),
            [HealthProblem::BrokerUnreachable {
                last_error: Some(_),
                ..
            }]
        );
        std::future::ready(seen.then_some(h))
    })
    .await;
    println!("health while unreachable: {health}");

    // Publishing and requesting fail at once, with the typed error.
    let events_out = conn.event_publisher()?;
    let refused = support::bounded(
        events_out
            .publish("Order.Created", &json!({"n": 0}))
            .into_future(),
    )
    .await;
    if let Err(e) = &refused {
        println!("publish while unreachable: {e}");
    }
    let (at, reason) = not_connected(refused);
    assert_eq!(at, url);
    assert!(reason.starts_with("the server is unreachable"), "{reason}");
    let ask = conn.service_publisher("late-orders")?;
    let refused = support::bounded(
        ask.request::<Value, _>("Order.Count", &json!({"n": 0}))
            .into_future(),
    )
    .await;
    assert_eq!(not_connected(refused).0, url);

    // The broker appears: the whole bring-up happens, and the connection serves.
    let server = server_on(port, true);
    wait_ready(&conn).await;
    let health = conn.health();
    assert_eq!(health.problems, Vec::new());
    assert_eq!(health.consumers.len(), 1);
    assert!(
        health
            .consumers
            .first()
            .is_some_and(|c| c.consumer == "late-orders" && c.stream == "events" && c.bound)
    );

    events_out
        .publish("Order.Created", &json!({"n": 1}))
        .await?;
    let got = support::recv(&mut events).await;
    assert_eq!(got.payload, json!({"n": 1}));
    assert_eq!(got.delivery_info.key, "Order.Created");

    let reply: Value =
        support::bounded(ask.request("Order.Count", &json!({"n": 7})).into_future()).await?;
    assert_eq!(reply, json!({"counted": 7}));

    // What start() would have created is on the server: the stream, the durable, and
    // the NATS service registration.
    let js = support::raw_js(&server).await;
    assert_eq!(support::durable_names(&js, "events").await, ["late-orders"]);
    let client = support::raw_client(&server).await;
    let ping = support::bounded(client.request("$SRV.PING.late-orders", "".into())).await?;
    let ping: Value = serde_json::from_slice(&ping.payload)?;
    assert_eq!(ping["name"], "late-orders");

    support::bounded(conn.close()).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_before_the_broker_appears_is_bounded() -> TestResult {
    let (port, url) = nowhere()?;
    let (builder, _events) = orders(&url);
    let conn = start_quickly(builder).await;
    let publisher = conn.event_publisher()?;
    let closing = std::time::Instant::now();
    tokio::time::timeout(START_BOUND, conn.close()).await??;
    assert!(closing.elapsed() < START_BOUND);
    // Closed wins over not connected.
    let after = support::bounded(
        publisher
            .publish("Order.Created", &json!({"n": 1}))
            .into_future(),
    )
    .await;
    assert!(matches!(after, Err(Error::Closed)), "{after:?}");

    // The closed connection stopped trying: once a server is up, a second connection
    // reaches it (its first attempts are as quick as the closed one's last), the closed
    // one never connects (had it, it would have closed at once: the server lists it).
    let server = server_on(port, true);
    let (builder, _events) = orders(&url);
    let second = start_quickly(builder.connection_name("second")).await;
    wait_ready(&second).await;
    // Open and closed connections, by name (the closed one's is the service name).
    let connz = tokio::task::block_in_place(|| server.monitor_json("/connz?state=all"))?;
    let mut names: Vec<&str> = connz["connections"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    names.retain(|n| ["late-orders", "second"].contains(n));
    assert_eq!(names, ["second"], "{connz}");
    support::bounded(second.close()).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_set_up_is_reported_and_retried() -> TestResult {
    let (port, url) = nowhere()?;
    let (errors_tx, mut errors) = mpsc::channel::<ErrorNotification>(16);
    let (builder, mut events) = orders(&url);
    let conn = start_quickly(builder.error_notifications(errors_tx)).await;

    // A server without JetStream: connected, but the streams cannot be set up.
    let mut plain = server_on(port, false);
    let failure = support::recv(&mut errors).await;
    match failure.error.downcast_ref::<Error>() {
        Some(Error::JetStreamNotEnabled { url: at }) => assert_eq!(at, &url),
        other => panic!("expected Error::JetStreamNotEnabled, got {other:?}"),
    }
    assert_eq!(failure.delivery_info.destination, "late-orders");
    let expected = Error::JetStreamNotEnabled { url: url.clone() }.to_string();
    let health = conn.health();
    assert_eq!(
        health.problems,
        [HealthProblem::StartFailed {
            reason: expected.clone()
        }]
    );
    assert!(!conn.is_ready());
    println!("health after a failed set-up: {health}");
    let publisher = conn.event_publisher()?;
    let (_, reason) = not_connected(publisher.publish("Order.Created", &json!({"n": 0})).await);
    assert!(reason.contains(&expected), "{reason}");

    // JetStream arrives (the same port, a server with it): the retry succeeds.
    tokio::task::block_in_place(|| plain.stop())?;
    drop(plain);
    let server = server_on(port, true);
    wait_ready(&conn).await;
    publisher.publish("Order.Created", &json!({"n": 2})).await?;
    assert_eq!(support::recv(&mut events).await.payload, json!({"n": 2}));
    let js = support::raw_js(&server).await;
    assert_eq!(support::stream_info(&js, "events").await.state.messages, 1);
    support::bounded(conn.close()).await?;
    Ok(())
}

#[tokio::test]
async fn without_the_option_start_still_fails_at_once() -> TestResult {
    let (_, url) = nowhere()?;
    let (builder, _events) = orders(&url);
    let failed = support::bounded(builder.optional_broker(false).start()).await;
    match failed {
        Err(Error::ConnectFailed { url: at, kind, .. }) => {
            assert_eq!(at, url);
            assert_eq!(kind, ConnectFailure::Refused);
        }
        other => panic!("expected Error::ConnectFailed, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn invalid_settings_still_fail_start_at_once() -> TestResult {
    let (_, url) = nowhere()?;
    let (builder, _events) = orders(&url);
    let failed = support::bounded(
        builder
            .health_check_interval(Duration::from_millis(1))
            .start(),
    )
    .await;
    assert!(
        matches!(
            failed,
            Err(Error::Core(
                messaging_nats::messaging_core::Error::InvalidConfig(_)
            ))
        ),
        "{failed:?}"
    );
    // An invalid registration, too.
    let failed = support::bounded(
        Connection::builder("late-orders")
            .url(&url)
            .optional_broker(true)
            .event_consumer("Order..Created", |_: ConsumableEvent<Value>| async {
                Ok::<(), HandlerError>(())
            })
            .start(),
    )
    .await;
    assert!(
        matches!(failed, Err(Error::Spec(_) | Error::Core(_))),
        "{failed:?}"
    );
    assert!(!matches!(failed, Err(Error::NotConnected { .. })));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::result_large_err)] // the Jail closure's error type is figment's
async fn optional_broker_is_a_config_key() -> TestResult {
    let cfg = Config::from_toml_str("optional_broker = true")?;
    assert_eq!(cfg.optional_broker, Some(true));
    assert_eq!(Config::default().optional_broker, None);
    let mut from_env = None;
    figment::Jail::expect_with(|jail| {
        jail.set_env("MESSAGING_NATS_OPTIONAL_BROKER", "true");
        from_env = Some(Config::from_env().map_err(|e| e.to_string())?);
        Ok(())
    });
    assert_eq!(from_env.and_then(|c| c.optional_broker), Some(true));

    // Applied through the builder: start() returns with no server.
    let (_, url) = nowhere()?;
    let conn = start_quickly(
        Connection::builder("late-orders")
            .url(&url)
            .config(&cfg)
            .event_publisher(),
    )
    .await;
    assert!(!conn.is_ready());
    support::bounded(conn.close()).await?;
    Ok(())
}
