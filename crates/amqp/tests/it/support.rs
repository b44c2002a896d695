//! Shared helpers: one real RabbitMQ broker for the whole test binary (startup takes
//! seconds), unique names so tests running at once never see each other's messages,
//! bounded waits, forwarding handlers, and a raw lapin peer to inspect the wire.

#![allow(dead_code, unreachable_pub)] // each test module uses a different subset

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use messaging_amqp::lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use messaging_amqp::lapin::types::FieldTable;
use messaging_amqp::lapin::{self, message::Delivery};
use messaging_amqp::{Connection, ConnectionBuilder};
use messaging_spec::{ConsumableEvent, HandlerError};
use messaging_testkit::RabbitServer;
use serde_json::Value;
use tokio::sync::mpsc;

/// What tests return, so they can use `?` on any error.
pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Bound on every wait for something that must happen.
pub const TIMEOUT: Duration = Duration::from_secs(10);

static BROKER: OnceLock<RabbitServer> = OnceLock::new();
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// The broker shared by every test of this binary, started on first use.
pub fn broker() -> &'static RabbitServer {
    BROKER.get_or_init(|| match RabbitServer::start() {
        Ok(b) => b,
        Err(e) => panic!("starting rabbitmq-server: {e}"),
    })
}

/// `<prefix>-<pid>-<n>`: a name no other test (or test run) uses.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A builder for `service` on the shared broker, with short timeouts so failures fail
/// fast.
pub fn builder(service: &str) -> ConnectionBuilder {
    Connection::builder(service)
        .url(broker().amqp_url())
        .request_timeout(TIMEOUT)
        .shutdown_timeout(TIMEOUT)
}

/// Starts `builder`, panicking with the error.
pub async fn start(builder: ConnectionBuilder) -> Connection {
    match builder.start().await {
        Ok(c) => c,
        Err(e) => panic!("starting connection: {e}"),
    }
}

/// `GET` on the management API.
pub fn mgmt(path: &str) -> Value {
    match broker().management_get(path) {
        Ok(v) => v,
        Err(e) => panic!("management GET {path}: {e}"),
    }
}

/// `name` percent-encoded for a management API path segment.
pub fn encode(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Closes, from the broker's side, the connection a client opened as `name`.
pub async fn close_connection(name: &str) -> TestResult {
    let find = || {
        mgmt("/api/connections").as_array().and_then(|cs| {
            cs.iter()
                .find(|c| c["client_properties"]["connection_name"] == name)
                .and_then(|c| c["name"].as_str().map(str::to_owned))
        })
    };
    eventually("the connection in /api/connections", || find().is_some()).await;
    let server_name = find().unwrap_or_default();
    broker().management_delete(&format!("/api/connections/{}", encode(&server_name)))?;
    Ok(())
}

/// The management API's view of one queue.
pub fn queue_info(name: &str) -> Option<Value> {
    let queues = mgmt("/api/queues/%2f");
    queues
        .as_array()?
        .iter()
        .find(|q| q["name"] == name)
        .cloned()
}

/// The management API's view of one exchange.
pub fn exchange_info(name: &str) -> Option<Value> {
    let xs = mgmt("/api/exchanges/%2f");
    xs.as_array()?.iter().find(|x| x["name"] == name).cloned()
}

/// Every binding whose destination is `queue`, except the default exchange's.
pub fn bindings_of(queue: &str) -> Vec<Value> {
    let all = mgmt("/api/bindings/%2f");
    all.as_array()
        .map(|b| {
            b.iter()
                .filter(|b| b["destination"] == queue && b["source"] != "")
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// Polls `check` every 50 ms until it holds, for at most [`TIMEOUT`].
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !check() {
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The next item from `rx`, or a panic after [`TIMEOUT`].
pub async fn recv<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    match tokio::time::timeout(TIMEOUT, rx.recv()).await {
        Ok(Some(v)) => v,
        Ok(None) => panic!("channel closed"),
        Err(_) => panic!("nothing received within {TIMEOUT:?}"),
    }
}

/// Asserts nothing arrives on `rx` for `window` (used only for negative checks, after
/// a positive one proved delivery works).
pub async fn nothing_within<T: std::fmt::Debug>(
    rx: &mut mpsc::UnboundedReceiver<T>,
    window: Duration,
) {
    if let Ok(Some(v)) = tokio::time::timeout(window, rx.recv()).await {
        panic!("unexpected delivery: {v:?}");
    }
}

/// What a forwarding handler's future is.
pub type Forwarded = futures::future::Ready<Result<(), HandlerError>>;

/// A handler that forwards every event to the returned receiver.
pub fn forward<T: Send + 'static>() -> (
    impl Fn(ConsumableEvent<T>) -> Forwarded + Send + Sync + 'static,
    mpsc::UnboundedReceiver<ConsumableEvent<T>>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handler = move |ev: ConsumableEvent<T>| {
        let _ = tx.send(ev);
        futures::future::ready(Ok(()))
    };
    (handler, rx)
}

/// A plain lapin connection to the shared broker.
pub async fn raw() -> lapin::Connection {
    match lapin::Connection::connect(&broker().amqp_url(), lapin::ConnectionProperties::default())
        .await
    {
        Ok(c) => c,
        Err(e) => panic!("raw connect: {e}"),
    }
}

/// A raw probe: a server-named, exclusive, auto-delete queue bound to `exchange` with
/// `key` (and `args`), consumed with auto-ack, as the TCK's outbound probe.
pub struct Probe {
    pub conn: lapin::Connection,
    pub consumer: lapin::Consumer,
}

impl Probe {
    pub async fn bind(exchange: &str, key: &str, args: FieldTable) -> Self {
        let conn = raw().await;
        let result = async {
            let ch = conn.create_channel().await?;
            let q = ch
                .queue_declare(
                    "".into(),
                    QueueDeclareOptions {
                        exclusive: true,
                        auto_delete: true,
                        ..QueueDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await?;
            ch.queue_bind(
                q.name().clone(),
                exchange.into(),
                key.into(),
                QueueBindOptions::default(),
                args,
            )
            .await?;
            let consumer = ch
                .basic_consume(
                    q.name().clone(),
                    "".into(),
                    BasicConsumeOptions {
                        no_ack: true,
                        ..BasicConsumeOptions::default()
                    },
                    FieldTable::default(),
                )
                .await?;
            Ok::<_, lapin::Error>(consumer)
        }
        .await;
        match result {
            Ok(consumer) => Self { conn, consumer },
            Err(e) => panic!("probe on {exchange}: {e}"),
        }
    }

    /// The next delivery, or a panic after [`TIMEOUT`].
    pub async fn next(&mut self) -> Delivery {
        match tokio::time::timeout(TIMEOUT, self.consumer.next()).await {
            Ok(Some(Ok(d))) => d,
            Ok(other) => panic!("probe consumer ended: {other:?}"),
            Err(_) => panic!("probe received nothing within {TIMEOUT:?}"),
        }
    }
}

/// A string header of a raw delivery; panics when it is not a long string.
pub fn long_string(d: &Delivery, key: &str) -> Option<String> {
    let table = d.properties.headers().as_ref()?;
    match table.inner().get(key)? {
        lapin::types::AMQPValue::LongString(s) => {
            Some(String::from_utf8_lossy(s.as_bytes()).into_owned())
        }
        other => panic!("header {key} is {other:?}, not a long string"),
    }
}
