//! Helpers: a server per test, a full round trip, typed connect failures, and a tracing
//! subscriber that writes into a buffer.

#![allow(dead_code)] // each test module uses a different subset

use std::future::Future;
use std::future::IntoFuture;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use messaging_nats::{ConnectFailure, Connection, ConnectionBuilder, Error};
use messaging_spec::{ConsumableEvent, HandlerError};
use messaging_testkit::{NatsServer, NatsServerBuilder};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// What tests return, so they can use `?` on any error.
pub(crate) type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Bound on every wait for something that must happen.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);

/// Starts a server, panicking with the testkit's error (which has the server's log).
pub(crate) fn start_server(builder: NatsServerBuilder) -> NatsServer {
    match builder.start() {
        Ok(s) => s,
        Err(e) => panic!("starting nats-server: {e}"),
    }
}

/// A builder for `service` on `server`, failing fast: short connect and publish bounds.
pub(crate) fn builder(server: &NatsServer, service: &str) -> ConnectionBuilder {
    Connection::builder(service)
        .url(server.client_url())
        .connection_timeout(Duration::from_secs(3))
        .publish_timeout(Duration::from_secs(2))
        .max_reconnects(Some(0))
}

/// Runs `fut` with the [`TIMEOUT`] bound; panics when it takes longer.
pub(crate) async fn bounded<F: Future>(fut: F) -> F::Output {
    match tokio::time::timeout(TIMEOUT, fut).await {
        Ok(v) => v,
        Err(_) => panic!("not finished within {TIMEOUT:?}"),
    }
}

/// Starts `builder` with an event consumer on `Sec.Ping` and the event publisher,
/// publishes one event and waits for it: the full round trip over whatever
/// TLS and authentication the builder was given.
pub(crate) async fn round_trip(builder: ConnectionBuilder) -> TestResult {
    let (tx, mut rx) = mpsc::unbounded_channel::<ConsumableEvent<Value>>();
    let conn = bounded(
        builder
            .event_consumer("Sec.Ping", move |ev: ConsumableEvent<Value>| {
                let _ = tx.send(ev);
                std::future::ready(Ok::<(), HandlerError>(()))
            })
            .event_publisher()
            .start(),
    )
    .await?;
    let events = conn.event_publisher()?;
    let receipt = bounded(events.publish("Sec.Ping", &json!({"n": 1})).into_future()).await?;
    assert_eq!(receipt.stream.as_deref(), Some("events"));
    let Some(event) = bounded(rx.recv()).await else {
        panic!("handler channel closed")
    };
    assert_eq!(event.payload, json!({"n": 1}));
    assert_eq!(event.delivery_info.key, "Sec.Ping");
    bounded(conn.close()).await?;
    Ok(())
}

/// Starts `builder` (with the event publisher) and returns the error it must fail with.
pub(crate) async fn start_error(builder: ConnectionBuilder) -> Error {
    match bounded(builder.event_publisher().start()).await {
        Ok(_) => panic!("start() succeeded, expected an error"),
        Err(e) => e,
    }
}

/// The kind of an [`Error::ConnectFailed`] (and that its `url` is `url`); panics on any
/// other error.
pub(crate) fn connect_failure(e: &Error, url: &str) -> ConnectFailure {
    match e {
        Error::ConnectFailed { url: got, kind, .. } => {
            assert_eq!(got, url);
            *kind
        }
        other => panic!("expected Error::ConnectFailed, got {other:?}"),
    }
}

/// Asserts the URL appears in both `Display` and `Debug` of `e`.
pub(crate) fn assert_names_url(e: &Error, url: &str) {
    let display = e.to_string();
    let debug = format!("{e:?}");
    assert!(display.contains(url), "Display lacks {url}: {display}");
    assert!(debug.contains(url), "Debug lacks {url}: {debug}");
}

/// Log output captured from a tracing subscriber (every level, no ANSI colours).
#[derive(Clone, Default)]
pub(crate) struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    /// Everything logged so far.
    pub(crate) fn contents(&self) -> String {
        let bytes = match self.0.lock() {
            Ok(b) => b.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Installs a TRACE-level subscriber writing here, for this thread, until the guard
    /// is dropped. Use it in a current-thread runtime, so every task logs on this thread.
    pub(crate) fn install(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }
}

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut b) => b.extend_from_slice(buf),
            Err(poisoned) => poisoned.into_inner().extend_from_slice(buf),
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
