//! Property test (proptest) of the consumer side: whatever bytes and headers are
//! published, every message a typed consumer gets is settled (acked, terminated, or
//! retried until `max_deliver` gives up), failures are reported as typed error
//! notifications, and nothing stays pending. Publishes the consumer never sees (invalid
//! routing key, header key or value, the reserved `service` header) fail with the typed
//! error a model of the publish rules predicts.
//!
//! Each case builds a current-thread tokio runtime with the paused clock, so retries with
//! backoff cost no real time, and bounds the whole case with a virtual-time timeout: a
//! hang is a failure, not a stuck test. See `docs/fuzzing.md`.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use messaging_memory::{Broker, Error, Setup};
use messaging_spec::{ConsumableEvent, ErrorNotification, HandlerError, Notification};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// `cases` unless `PROPTEST_CASES` is set; no failure-persistence files in the tree.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Deliveries a retried message gets before the broker gives up.
const MAX_DELIVER: i64 = 3;
/// Bound on waiting for the consumer to settle everything, in virtual time.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(600);
/// How long the case then watches for stray redeliveries, in virtual time.
const QUIET: Duration = Duration::from_secs(3600);
/// Bound on a whole case, in virtual time (the paused clock jumps ahead when idle, so a
/// hang ends here at no real cost).
const CASE_TIMEOUT: Duration = Duration::from_secs(3 * 3600);

/// The consumer's payload type. What the handler does depends on `id % 3`.
#[derive(Debug, Deserialize)]
struct Order {
    id: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Ack,
    Reject,
    Retry,
    Undecodable,
}

fn fate_of(body: &[u8]) -> Fate {
    match serde_json::from_slice::<Order>(body) {
        Err(_) => Fate::Undecodable,
        Ok(o) if o.id % 3 == 0 => Fate::Ack,
        Ok(o) if o.id % 3 == 1 => Fate::Reject,
        Ok(_) => Fate::Retry,
    }
}

#[derive(Debug, Clone)]
struct Msg {
    key: String,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
    id: Option<String>,
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => (0u64..30).prop_map(|id| format!(r#"{{"id":{id}}}"#).into_bytes()),
        1 => (0u64..30, ".{0,6}").prop_map(|(id, x)| serde_json::json!({"id": id, "x": x}).to_string().into_bytes()),
        1 => Just(br#"{"id":"not a number"}"#.to_vec()),
        1 => Just(br#"{"id":-1}"#.to_vec()),
        1 => Just(Vec::new()),
        2 => prop::collection::vec(any::<u8>(), 0..32),
        1 => ".{0,16}".prop_map(String::into_bytes),
    ]
}

fn header() -> impl Strategy<Value = (String, String)> {
    let key = prop_oneof![
        6 => prop::sample::select(&[
            "ce-id", "ce-type", "ce-source", "ce-time", "ce-specversion", "ce-subject",
            "ce-correlationid", "ce-datacontenttype", "cloudEvents_id", "cloudEvents_time",
            "traceparent", "x-tenant", "Nats-Msg-Id",
        ][..]).prop_map(str::to_owned),
        1 => Just("service".to_owned()),
        1 => Just("cloudEvents:id".to_owned()),
        1 => "[ -~]{0,6}",
        1 => ".{0,4}",
    ];
    let value = prop_oneof![
        4 => "[ -~]{0,12}",
        1 => "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z",
        1 => ".{0,8}",
        1 => "[a\r\n]{1,3}",
    ];
    (key, value)
}

fn message() -> impl Strategy<Value = Msg> {
    (
        prop_oneof![
            6 => "[A-Z][a-z]{0,4}(\\.[A-Z][a-z]{0,4}){0,2}",
            1 => "[a-z.*#> ]{0,6}",
        ],
        body(),
        prop::collection::vec(header(), 0..4),
        prop::option::of(
            prop_oneof![3 => "[a-z0-9]{1,3}", 1 => Just(String::new()), 1 => "[a\n]{1,2}"],
        ),
    )
        .prop_map(|(key, body, headers, id)| Msg {
            key,
            body,
            headers,
            id,
        })
}

/// What the publish rules predict for a message's publish.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    BadKey,
    Reserved,
    BadHeaderName,
    BadHeaderValue,
    /// Accepted; the JetStream de-duplication id, if the model knows it.
    Stored(Option<String>),
}

fn model_publish(m: &Msg) -> Expect {
    if messaging_spec::RoutingKey::new(m.key.as_str()).is_err() {
        return Expect::BadKey;
    }
    let mut last: BTreeMap<&str, &str> = BTreeMap::new();
    for (k, v) in &m.headers {
        if k == "service" {
            return Expect::Reserved;
        }
        if k.is_empty() || k.chars().any(|c| !c.is_ascii_graphic() || c == ':') {
            return Expect::BadHeaderName;
        }
        if v.contains(['\r', '\n']) {
            return Expect::BadHeaderValue;
        }
        last.insert(k, v);
    }
    if let Some(id) = &m.id {
        if id.contains(['\r', '\n']) {
            return Expect::BadHeaderValue;
        }
        last.insert("ce-id", id);
    }
    let msg_id = last
        .get("Nats-Msg-Id")
        .or_else(|| last.get("ce-id"))
        .map(|s| (*s).to_owned());
    Expect::Stored(msg_id)
}

/// Counters the run must end with.
#[derive(Debug, Default, PartialEq, Eq)]
struct Totals {
    acked: u64,
    termed: u64,
    exhausted: u64,
    delivered: u64,
    undecodable_errors: usize,
    handler_errors: usize,
    successes: usize,
}

type Res<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Publishes `msgs`, waits until everything is settled, returns what was observed and
/// what the model expects.
async fn run(msgs: Vec<Msg>) -> Res<(Totals, Totals)> {
    let broker = Broker::new();
    let (ok_tx, mut ok_rx) = mpsc::channel::<Notification>(4096);
    let (err_tx, mut err_rx) = mpsc::channel::<ErrorNotification>(4096);
    let billing = broker
        .connection("billing")
        .notifications(ok_tx)
        .error_notifications(err_tx)
        .setup(
            Setup::event_consumer("#", |ev: ConsumableEvent<Order>| async move {
                match ev.payload.id % 3 {
                    0 => Ok(()),
                    1 => Err(HandlerError::reject("odd order")),
                    _ => Err(HandlerError::retry("try again")),
                }
            })
            .backoff([Duration::from_secs(1)])
            .max_deliver(MAX_DELIVER),
        )
        .start()
        .await?;
    let orders = broker
        .connection("orders")
        .event_publisher()
        .start()
        .await?;
    let events = orders.event_publisher()?;

    let mut want = Totals::default();
    let mut seen_ids: HashSet<String> = HashSet::new();
    for m in &msgs {
        let expect = model_publish(m);
        let got = events
            .publish_raw(&m.key, m.body.clone())
            .headers(m.headers.iter().cloned())
            .maybe_id(m.id.clone())
            .await;
        match (&expect, got) {
            (
                Expect::BadKey,
                Err(Error::Spec(messaging_spec::Error::InvalidRoutingKey { key, .. })),
            ) => {
                assert_eq!(key, m.key);
            }
            (Expect::Reserved, Err(Error::ReservedHeader(k))) => assert_eq!(k, "service"),
            (Expect::BadHeaderName, Err(Error::InvalidHeader(_)))
            | (Expect::BadHeaderValue, Err(Error::InvalidHeaderValue(_))) => {}
            (Expect::Stored(msg_id), Ok(receipt)) => {
                let duplicate = msg_id
                    .as_ref()
                    .is_some_and(|id| !seen_ids.insert(id.clone()));
                assert_eq!(receipt.duplicate, duplicate, "{m:?}: {receipt:?}");
                if duplicate {
                    continue;
                }
                match fate_of(&m.body) {
                    Fate::Ack => {
                        want.acked += 1;
                        want.delivered += 1;
                        want.successes += 1;
                    }
                    Fate::Reject => {
                        want.termed += 1;
                        want.delivered += 1;
                        want.handler_errors += 1;
                    }
                    Fate::Undecodable => {
                        want.termed += 1;
                        want.delivered += 1;
                        want.undecodable_errors += 1;
                    }
                    Fate::Retry => {
                        want.exhausted += 1;
                        want.delivered += MAX_DELIVER.unsigned_abs();
                        want.handler_errors += usize::try_from(MAX_DELIVER)?;
                    }
                }
            }
            (e, got) => return Err(format!("{m:?}: model {e:?}, publish gave {got:?}").into()),
        }
    }

    let stats = broker
        .wait_for_stats("events", "billing", SETTLE_TIMEOUT, |s| {
            s.acked == want.acked
                && s.termed == want.termed
                && s.exhausted == want.exhausted
                && s.num_pending == 0
                && s.num_ack_pending == 0
        })
        .await?;
    let mut got = Totals {
        acked: stats.acked,
        termed: stats.termed,
        exhausted: stats.exhausted,
        delivered: stats.delivered,
        ..Totals::default()
    };
    while let Ok(n) = err_rx.try_recv() {
        match n.error.downcast_ref::<messaging_core::Error>() {
            Some(messaging_core::Error::Undecodable {
                source: messaging_spec::Error::ParseJson(_),
                ..
            }) => got.undecodable_errors += 1,
            Some(messaging_core::Error::Handler { .. }) => got.handler_errors += 1,
            other => return Err(format!("unexpected error notification {other:?}").into()),
        }
    }
    while ok_rx.try_recv().is_ok() {
        got.successes += 1;
    }
    // Nothing else arrives, however long we wait.
    tokio::time::sleep(QUIET).await;
    let after = broker
        .consumer_stats("events", "billing")
        .ok_or("the consumer vanished")?;
    assert_eq!(
        after.delivered, stats.delivered,
        "a settled message was redelivered"
    );
    billing.close().await?;
    orders.close().await?;
    Ok((got, want))
}

#[derive(Debug, Deserialize)]
struct Quote {
    sku: String,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Price {
    cents: u64,
}

/// A request body: a `Quote`, something close to one, or any JSON.
fn request_body() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::json;
    prop_oneof![
        3 => ".{0,6}".prop_map(|s| json!({"sku": s})),
        1 => any::<i64>().prop_map(|n| json!({"sku": n})),
        1 => Just(json!({})),
        1 => Just(json!(null)),
        1 => (".{0,4}", ".{0,4}").prop_map(|(k, v)| json!({k: v})),
        1 => prop::collection::vec(any::<u8>(), 0..4).prop_map(|v| json!(v)),
    ]
}

/// Sends typed requests with arbitrary JSON and raw requests with arbitrary bytes to a
/// typed request handler; every one is answered (a reply or a typed remote error), none
/// times out.
async fn run_requests(bodies: Vec<(serde_json::Value, Vec<u8>)>) -> Res {
    let broker = Broker::new();
    let (err_tx, mut err_rx) = mpsc::channel::<ErrorNotification>(4096);
    let billing = broker
        .connection("billing")
        .error_notifications(err_tx)
        .request_handler("Price.Get", |ev: ConsumableEvent<Quote>| async move {
            Ok::<_, HandlerError>(Price {
                cents: u64::try_from(ev.payload.sku.len()).unwrap_or(u64::MAX),
            })
        })
        .start()
        .await?;
    let orders = broker
        .connection("orders")
        .request_timeout(Duration::from_secs(5))
        .service_publisher("billing")
        .start()
        .await?;
    let p = orders.service_publisher("billing")?;
    let mut undecodable = 0usize;
    for (json, raw) in &bodies {
        let reference = serde_json::from_value::<Quote>(json.clone());
        match (p.request::<Price, _>("Price.Get", json).await, reference) {
            (Ok(price), Ok(q)) => {
                assert_eq!(price.cents, u64::try_from(q.sku.len())?);
            }
            (Err(Error::Core(messaging_core::Error::Remote { service, .. })), Err(_)) => {
                assert_eq!(service, "billing");
                undecodable += 1;
            }
            (got, want) => return Err(format!("{json}: serde {want:?}, request {got:?}").into()),
        }
        // Raw bytes: answered either way (an error reply still is a reply).
        p.publish_raw("Price.Get", raw.clone()).await?;
        if serde_json::from_slice::<Quote>(raw).is_err() {
            undecodable += 1;
        }
    }
    billing.close().await?;
    orders.close().await?;
    let mut reported = 0usize;
    while let Ok(n) = err_rx.try_recv() {
        match n.error.downcast_ref::<messaging_core::Error>() {
            Some(messaging_core::Error::Undecodable { .. }) => reported += 1,
            other => return Err(format!("unexpected error notification {other:?}").into()),
        }
    }
    if reported != undecodable {
        return Err(format!("{undecodable} undecodable requests, {reported} reported").into());
    }
    Ok(())
}

/// `.id(..)` when the message has one.
trait MaybeId<'a> {
    fn maybe_id(self, id: Option<String>) -> messaging_memory::Publish<'a>;
}

impl<'a> MaybeId<'a> for messaging_memory::Publish<'a> {
    fn maybe_id(self, id: Option<String>) -> messaging_memory::Publish<'a> {
        match id {
            Some(id) => self.id(id),
            None => self,
        }
    }
}

proptest! {
    #![proptest_config(config(32))]

    #[test]
    fn every_message_is_settled_and_nothing_stays_pending(msgs in prop::collection::vec(message(), 1..10)) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let outcome = rt.block_on(async {
            tokio::time::timeout(CASE_TIMEOUT, run(msgs)).await
        });
        match outcome {
            Err(_) => return Err(TestCaseError::fail("the case hung (virtual-time timeout)")),
            Ok(Err(e)) => return Err(TestCaseError::fail(e.to_string())),
            Ok(Ok((got, want))) => prop_assert_eq!(got, want),
        }
    }

    #[test]
    fn every_request_is_answered(bodies in prop::collection::vec((request_body(), prop::collection::vec(any::<u8>(), 0..16)), 1..6)) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let outcome = rt.block_on(async {
            tokio::time::timeout(CASE_TIMEOUT, run_requests(bodies)).await
        });
        match outcome {
            Err(_) => return Err(TestCaseError::fail("the case hung (virtual-time timeout)")),
            Ok(Err(e)) => return Err(TestCaseError::fail(e.to_string())),
            Ok(Ok(())) => {}
        }
    }
}
