//! Property tests (proptest) of what a delivery's bytes and headers reach in the core:
//! typed body decoding through the erased handlers (`erased::Event`, `erased::Request`),
//! the outcome and settlement of an undecodable body, metadata from arbitrary headers
//! (`dispatch::metadata_for`), and the request-reply error body (`reply::remote_error`,
//! `error_body`, `error_text`, `error_code`).
//!
//! Properties: nothing panics; a body decodes exactly when `serde_json` decodes it into the
//! handler's type (the reference), the handler then sees that value, and otherwise the
//! failure is `Failure::Decode(Error::ParseJson)`, classified `Outcome::Undecodable` and
//! settled `Reject` (never retried) whatever the delivery count and backoff; an error body
//! round-trips its text, and no other body reads as a remote error. See `docs/fuzzing.md`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use messaging_core::dispatch::{classify, metadata_for};
use messaging_core::erased::{ErasedEvent, ErasedRequest, Event, Failure, Request};
use messaging_core::reply::{error_body, error_code, error_text, remote_error};
use messaging_core::{Error, Outcome, Settlement, decide, decide_with_limit};
use messaging_spec::{
    ConsumableEvent, DeliveryInfo, HandlerError, Headers, Metadata, metadata_from_headers,
    normalize_ce_headers,
};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// `cases` unless `PROPTEST_CASES` is set; no failure-persistence files in the tree.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

/// A typical payload: required, optional, nested and defaulted fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Order {
    id: u64,
    name: String,
    #[serde(default)]
    tags: Vec<String>,
    customer: Option<Customer>,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Customer {
    email: String,
    vip: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Kind {
    Retail,
    Wholesale { discount: i32 },
}

/// Arbitrary JSON, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-4096i32..4096).prop_map(|n| Value::from(f64::from(n) / 8.0)),
        ".{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// JSON close to an `Order`: each field right, wrong-typed or missing.
fn order_like() -> impl Strategy<Value = Value> {
    let maybe = |right: BoxedStrategy<Value>| prop_oneof![4 => right, 1 => json_value()];
    (
        maybe(any::<u64>().prop_map(Value::from).boxed()),
        maybe(".{0,6}".prop_map(Value::String).boxed()),
        maybe(
            prop::collection::vec(".{0,3}", 0..3)
                .prop_map(|v| json!(v))
                .boxed(),
        ),
        maybe(
            prop_oneof![
                Just(Value::Null),
                ("[a-z@.]{0,8}", any::<bool>()).prop_map(|(e, v)| json!({"email": e, "vip": v})),
                Just(json!({"email": "a@b", "vip": true, "extra": 1})),
            ]
            .boxed(),
        ),
        maybe(
            prop_oneof![
                Just(json!({"type": "retail"})),
                any::<i32>().prop_map(|d| json!({"type": "wholesale", "discount": d})),
                Just(json!({"type": "wholesale"})),
                Just(json!({"type": "other"})),
            ]
            .boxed(),
        ),
        prop::collection::vec(
            prop::sample::select(&["id", "name", "tags", "customer", "kind"][..]),
            0..2,
        ),
    )
        .prop_map(|(id, name, tags, customer, kind, drop)| {
            let mut m = serde_json::Map::new();
            for (k, v) in [
                ("id", id),
                ("name", name),
                ("tags", tags),
                ("customer", customer),
                ("kind", kind),
            ] {
                m.insert(k.to_owned(), v);
            }
            for d in drop {
                m.remove(d);
            }
            Value::Object(m)
        })
}

/// Bodies: order-like JSON, mangled JSON, arbitrary bytes and arbitrary JSON.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => order_like().prop_map(|v| v.to_string().into_bytes()),
        1 => order_like().prop_map(|v| {
            let mut b = v.to_string().into_bytes();
            b.truncate(b.len().saturating_sub(1));
            b
        }),
        1 => (order_like(), any::<u8>()).prop_map(|(v, junk)| {
            let mut b = v.to_string().into_bytes();
            b.push(junk);
            b
        }),
        1 => prop::collection::vec(any::<u8>(), 0..64),
        1 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => Just(b"[".repeat(200)),
    ]
}

fn info() -> DeliveryInfo {
    DeliveryInfo::new("billing", "events", "Order.Created")
}

/// A handler recording the payloads it saw; `outcome` picks its result.
#[allow(clippy::type_complexity)] // a test recorder
fn recording<T: Clone + Send + 'static>(
    seen: &Arc<Mutex<Vec<T>>>,
) -> impl Fn(ConsumableEvent<T>) -> std::future::Ready<Result<(), HandlerError>> + Send + Sync + 'static
{
    let seen = Arc::clone(seen);
    move |ev| {
        seen.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(ev.payload);
        std::future::ready(Ok(()))
    }
}

/// Runs an erased event handler for `T` on `body`, checks it against serde's verdict.
fn check_event<T>(body: &[u8]) -> Result<(), TestCaseError>
where
    T: for<'de> Deserialize<'de> + Clone + PartialEq + std::fmt::Debug + Send + Sync + 'static,
{
    let seen: Arc<Mutex<Vec<T>>> = Arc::new(Mutex::new(Vec::new()));
    let handler = Event::<T, _>::new(recording(&seen));
    let reference = serde_json::from_slice::<T>(body);
    let result = futures::executor::block_on(handler.call(
        Metadata::default(),
        info(),
        Bytes::copy_from_slice(body),
    ));
    let seen = seen.lock().unwrap_or_else(PoisonError::into_inner).clone();
    match (&reference, &result) {
        (Ok(want), Ok(())) => prop_assert_eq!(seen, vec![want.clone()]),
        (Err(_), Err(Failure::Decode(messaging_spec::Error::ParseJson(_)))) => {
            prop_assert!(
                seen.is_empty(),
                "the handler must not run on an undecodable body"
            );
        }
        (r, got) => {
            return Err(TestCaseError::fail(format!(
                "serde says {r:?}, the erased handler returned {got:?}"
            )));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn bodies_decode_exactly_when_serde_does(body in body()) {
        check_event::<Order>(&body)?;
        check_event::<Value>(&body)?;
        check_event::<u64>(&body)?;
        check_event::<String>(&body)?;
        check_event::<Option<Customer>>(&body)?;
        check_event::<Vec<Kind>>(&body)?;
    }

    #[test]
    fn undecodable_bodies_are_rejected_never_retried(
        body in body(),
        delivered in any::<i64>(),
        backoff in prop::collection::vec((0u64..10_000).prop_map(Duration::from_millis), 0..4),
        max_deliver in prop::option::of(any::<i64>()),
        key in ".{0,12}",
    ) {
        let handler = Event::<Order, _>::new(|_: ConsumableEvent<Order>| async { Ok::<_, HandlerError>(()) });
        let result = futures::executor::block_on(handler.call(Metadata::default(), info(), Bytes::from(body.clone())));
        let decodes = serde_json::from_slice::<Order>(&body).is_ok();
        let (outcome, error) = classify(Ok(result), &key);
        if decodes {
            prop_assert_eq!(outcome, Outcome::Handled);
            prop_assert!(error.is_none());
            prop_assert_eq!(decide(outcome, delivered, &backoff), Settlement::Ack);
        } else {
            prop_assert_eq!(outcome, Outcome::Undecodable);
            match &error {
                Some(Error::Undecodable { routing_key, source: messaging_spec::Error::ParseJson(_) }) => {
                    prop_assert_eq!(routing_key, &key);
                }
                other => return Err(TestCaseError::fail(format!("{other:?}"))),
            }
            prop_assert_eq!(decide(outcome, delivered, &backoff), Settlement::Reject);
            prop_assert_eq!(decide_with_limit(outcome, delivered, &backoff, max_deliver), Settlement::Reject);
            // A request for the same bytes is answered 400 with the decode error's text.
            let e = error.as_ref().ok_or_else(|| fail("no error"))?;
            prop_assert_eq!(error_code(e), "400");
            prop_assert_eq!(remote_error(&error_body(Some(e))), Some(error_text(Some(e))));
        }
    }

    #[test]
    fn request_bodies_decode_and_replies_encode(body in body()) {
        let handler = Request::<Order, Value, _>::new(|ev: ConsumableEvent<Order>| async move {
            Ok::<_, HandlerError>(json!({"id": ev.payload.id, "echo": ev.payload}))
        });
        let result = futures::executor::block_on(handler.call(Metadata::default(), info(), Bytes::from(body.clone())));
        match (serde_json::from_slice::<Order>(&body), result) {
            (Ok(order), Ok(reply)) => {
                let v: Value = serde_json::from_slice(&reply).map_err(fail)?;
                prop_assert_eq!(v, json!({"id": order.id, "echo": order}));
                // A handler's value is never mistaken for a remote error.
                prop_assert_eq!(remote_error(&reply), None);
            }
            (Err(_), Err(Failure::Decode(messaging_spec::Error::ParseJson(_)))) => {}
            (r, got) => return Err(TestCaseError::fail(format!("serde {r:?}, handler {got:?}"))),
        }
    }

    #[test]
    fn remote_error_reads_exactly_the_error_shape(body in prop_oneof![
        2 => prop::collection::vec(any::<u8>(), 0..48),
        2 => json_value().prop_map(|v| v.to_string().into_bytes()),
        2 => json_value().prop_map(|v| json!({"error": v}).to_string().into_bytes()),
        1 => (".{0,8}", json_value()).prop_map(|(t, v)| json!({"error": t, "code": v}).to_string().into_bytes()),
        1 => ".{0,8}".prop_map(|t| format!(" {{ \"error\" : {} }} ", json!(t)).into_bytes()),
    ]) {
        let got = remote_error(&body);
        let value = serde_json::from_slice::<Value>(&body).ok();
        let want = value.as_ref().and_then(Value::as_object).and_then(|o| match (o.len(), o.get("error")) {
            (1, Some(Value::String(t))) => Some(t.clone()),
            _ => None,
        });
        prop_assert_eq!(got, want);
    }

    #[test]
    fn error_bodies_round_trip_any_text(text in any::<String>(), service in ".{0,8}", retry in any::<bool>()) {
        let handler = Error::Handler { routing_key: "A.b".into(), retry, source: text.clone().into() };
        let body = error_body(Some(&handler));
        prop_assert_eq!(remote_error(&body), Some(text.clone()));
        prop_assert_eq!(error_code(&handler), if retry { "500" } else { "400" });
        let remote = Error::Remote { service, message: text };
        prop_assert_eq!(remote_error(&error_body(Some(&remote))), Some(remote.to_string()));
        prop_assert_eq!(remote_error(&error_body(None)), Some("unknown error".to_owned()));
    }

    #[test]
    fn metadata_for_arbitrary_headers_never_panics(
        h in prop::collection::btree_map(
            prop_oneof![
                3 => (prop::sample::select(&["ce-", "cloudEvents:", "cloudEvents_", "cloudEvents", ""][..]),
                      prop::sample::select(&["id", "type", "source", "time", "specversion", "subject", "correlationid", "datacontenttype"][..]))
                    .prop_map(|(p, a)| format!("{p}{a}")),
                1 => any::<String>(),
            ],
            prop_oneof![3 => ".{0,10}".prop_map(Value::String), 1 => json_value()],
            0..8,
        ).prop_map(Headers::from),
    ) {
        let info = info().with_headers(h.clone());
        let m = metadata_for(&h, &info);
        let normalized = normalize_ce_headers(&h);
        if messaging_spec::has_ce_headers(&normalized) {
            prop_assert_eq!(m, metadata_from_headers(&normalized));
        } else {
            // A legacy message: enriched from the delivery, with a fresh id and a timestamp.
            let base = metadata_from_headers(&normalized);
            prop_assert!(!m.id.is_empty());
            prop_assert!(m.timestamp.is_some());
            let or = |field: &str, default: &str| if field.is_empty() { default.to_owned() } else { field.to_owned() };
            prop_assert_eq!(&m.type_, &or(&base.type_, "Order.Created"));
            prop_assert_eq!(&m.source, &or(&base.source, "events"));
            prop_assert_eq!(&m.spec_version, &or(&base.spec_version, "1.0"));
            prop_assert_eq!(&m.data_content_type, &or(&base.data_content_type, "application/json"));
            prop_assert_eq!(&m.subject, &base.subject);
            prop_assert_eq!(&m.correlation_id, &base.correlation_id);
        }
    }
}
