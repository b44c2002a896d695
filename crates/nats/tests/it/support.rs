//! Shared helpers for the integration tests: a server per test, bounded waits, handlers
//! that forward what they receive, and a raw async-nats client to inspect the broker.

#![allow(dead_code, unreachable_pub)] // each test module uses a different subset

use std::future::Future;
use std::time::Duration;

use messaging_nats::async_nats::{self, jetstream};
use messaging_nats::{Connection, ConnectionBuilder};
use messaging_spec::{ConsumableEvent, HandlerError};
use messaging_testkit::NatsServer;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// What tests return, so they can use `?` on any error.
pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Bound on every wait for something that must happen.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Starts a fresh JetStream server for one test.
pub fn server() -> NatsServer {
    match NatsServer::start() {
        Ok(s) => s,
        Err(e) => panic!("starting nats-server: {e}"),
    }
}

/// A builder for `service` pointed at `server`, with a short request timeout so failing
/// request tests fail fast.
pub fn builder(server: &NatsServer, service: &str) -> ConnectionBuilder {
    Connection::builder(service)
        .url(server.client_url())
        .request_timeout(TIMEOUT)
}

/// Starts `builder`, panicking with the error.
pub async fn start(builder: ConnectionBuilder) -> Connection {
    match builder.start().await {
        Ok(c) => c,
        Err(e) => panic!("starting connection: {e:?}"),
    }
}

/// A plain async-nats client on `server`.
pub async fn raw_client(server: &NatsServer) -> async_nats::Client {
    match async_nats::connect(server.client_url()).await {
        Ok(c) => c,
        Err(e) => panic!("raw connect: {e}"),
    }
}

/// A JetStream context on a plain client of `server`.
pub async fn raw_js(server: &NatsServer) -> jetstream::Context {
    jetstream::new(raw_client(server).await)
}

/// Something to receive from with a bound: both kinds of tokio mpsc receivers.
pub trait Recv {
    /// What is received.
    type Item;
    /// The next item, or `None` when all senders are gone.
    fn next(&mut self) -> impl Future<Output = Option<Self::Item>> + Send;
}

impl<T: Send> Recv for mpsc::Receiver<T> {
    type Item = T;
    fn next(&mut self) -> impl Future<Output = Option<T>> + Send {
        self.recv()
    }
}

impl<T: Send> Recv for mpsc::UnboundedReceiver<T> {
    type Item = T;
    fn next(&mut self) -> impl Future<Output = Option<T>> + Send {
        self.recv()
    }
}

/// The next item within [`TIMEOUT`]; panics when none comes.
pub async fn recv<R: Recv>(rx: &mut R) -> R::Item {
    match tokio::time::timeout(TIMEOUT, rx.next()).await {
        Ok(Some(item)) => item,
        Ok(None) => panic!("channel closed while waiting"),
        Err(_) => panic!("nothing received within {TIMEOUT:?}"),
    }
}

/// Receives until `is_last` holds for an item (within [`TIMEOUT`] each) and returns
/// everything received before that item, then the item itself. Used for "nothing else
/// arrives" checks: publish a sentinel after the unwanted message and assert the prefix.
pub async fn recv_until<R: Recv>(
    rx: &mut R,
    mut is_last: impl FnMut(&R::Item) -> bool,
) -> (Vec<R::Item>, R::Item) {
    let mut before = Vec::new();
    loop {
        let item = recv(rx).await;
        if is_last(&item) {
            return (before, item);
        }
        before.push(item);
    }
}

/// Receives exactly `n` items, each within [`TIMEOUT`].
pub async fn recv_n<R: Recv>(rx: &mut R, n: usize) -> Vec<R::Item> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(recv(rx).await);
    }
    out
}

/// Runs `fut` with the [`TIMEOUT`] bound; panics when it takes longer.
pub async fn bounded<F: Future>(fut: F) -> F::Output {
    match tokio::time::timeout(TIMEOUT, fut).await {
        Ok(v) => v,
        Err(_) => panic!("not finished within {TIMEOUT:?}"),
    }
}

/// Type of the handlers made by [`forward`].
pub type Forward<T> = Box<
    dyn Fn(ConsumableEvent<T>) -> std::future::Ready<Result<(), HandlerError>>
        + Send
        + Sync
        + 'static,
>;

/// A channel and an event handler that sends every event it gets into it and acks.
pub fn forward<T: Send + 'static>() -> (Forward<T>, mpsc::UnboundedReceiver<ConsumableEvent<T>>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (forward_to(tx), rx)
}

/// An event handler that sends every event it gets into `tx` and acks.
pub fn forward_to<T: Send + 'static>(tx: mpsc::UnboundedSender<ConsumableEvent<T>>) -> Forward<T> {
    Box::new(move |ev| {
        // A closed receiver means the test stopped looking; ack anyway.
        let _ = tx.send(ev);
        std::future::ready(Ok(()))
    })
}

/// Every consumer on `stream` as the server reports it (durable and ephemeral).
pub async fn consumer_infos(
    js: &jetstream::Context,
    stream: &str,
) -> Vec<jetstream::consumer::Info> {
    use futures::TryStreamExt;
    let s = match js.get_stream(stream).await {
        Ok(s) => s,
        Err(e) => panic!("get stream {stream}: {e}"),
    };
    match s.consumers().try_collect().await {
        Ok(c) => c,
        Err(e) => panic!("list consumers of {stream}: {e}"),
    }
}

/// The durable consumer names on `stream`, sorted (ephemeral consumers left out).
pub async fn durable_names(js: &jetstream::Context, stream: &str) -> Vec<String> {
    let mut names: Vec<String> = consumer_infos(js, stream)
        .await
        .into_iter()
        .filter_map(|i| i.config.durable_name)
        .collect();
    names.sort();
    names
}

/// The server's info for consumer `name` on `stream`.
pub async fn consumer_info(
    js: &jetstream::Context,
    stream: &str,
    name: &str,
) -> jetstream::consumer::Info {
    let s = match js.get_stream(stream).await {
        Ok(s) => s,
        Err(e) => panic!("get stream {stream}: {e}"),
    };
    let mut c: jetstream::consumer::Consumer<jetstream::consumer::pull::Config> =
        match s.get_consumer(name).await {
            Ok(c) => c,
            Err(e) => panic!("get consumer {name} on {stream}: {e}"),
        };
    match c.info().await {
        Ok(i) => i.clone(),
        Err(e) => panic!("consumer info {name} on {stream}: {e}"),
    }
}

/// The server's info for `stream`.
pub async fn stream_info(js: &jetstream::Context, stream: &str) -> jetstream::stream::Info {
    let mut s = match js.get_stream(stream).await {
        Ok(s) => s,
        Err(e) => panic!("get stream {stream}: {e}"),
    };
    match s.info().await {
        Ok(i) => i.clone(),
        Err(e) => panic!("stream info {stream}: {e}"),
    }
}

/// The names of every stream on the server, sorted.
pub async fn stream_names(js: &jetstream::Context) -> Vec<String> {
    use futures::TryStreamExt;
    let mut names: Vec<String> = match js.stream_names().try_collect().await {
        Ok(n) => n,
        Err(e) => panic!("list streams: {e}"),
    };
    names.sort();
    names
}

/// Polls `check` until it yields `Some` (every 50 ms, within [`TIMEOUT`]); panics with
/// `what` when it never does. For broker state that has no event to wait on.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("{what}: not reached within {TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until consumer `name` on `stream` has nothing pending and nothing awaiting an
/// ack (acks are fire-and-forget, so the server may lag the handler), then returns its info.
pub async fn settled(
    js: &jetstream::Context,
    stream: &str,
    name: &str,
) -> jetstream::consumer::Info {
    eventually(&format!("consumer {name} on {stream} settled"), || async {
        let info = consumer_info(js, stream, name).await;
        (info.num_pending == 0 && info.num_ack_pending == 0).then_some(info)
    })
    .await
}

/// An event body used across tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCreated {
    /// Order id.
    pub id: u64,
    /// What was ordered.
    pub item: String,
}

/// A numbered message, to check which ones arrived and in what order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seq {
    /// Position in what the test published.
    pub n: u32,
}

/// A request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    /// Amount.
    pub cents: u64,
}

/// A typed reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Amount charged.
    pub cents: u64,
    /// Who answered.
    pub by: String,
}
