//! Property tests (proptest) of the TCK protocol types on arbitrary lines: `RpcRequest`,
//! `RpcResponse`, the params and results, `SetupIntent`, `PublisherKey`, and intents
//! turned into endpoints.
//!
//! Properties: parsing any line never panics and fails only with a `serde_json` data,
//! syntax or EOF error; what parses re-serialises and parses to the same value; publisher
//! keys print back exactly as parsed; any intent (unknown patterns, empty fields) maps to
//! at most one endpoint without panicking. See `docs/fuzzing.md`.

use messaging_spec::tck::{
    HelloParams, HelloResult, PublishParams, ReceivedResult, RpcRequest, RpcResponse,
    ServiceParams, StartServiceParams, StartServiceResult,
};
use messaging_spec::{
    EndpointDirection, Pattern, PublisherKey, SetupIntent, Transport,
    endpoints_for_intent_with_unique, topology_for_intents,
};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
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

const METHODS: &[&str] = &[
    "hello",
    "start_service",
    "publish",
    "received",
    "close_service",
    "shutdown",
];

/// A line shaped like a request, each part possibly the wrong type or missing.
fn request_like() -> impl Strategy<Value = Value> {
    (
        prop_oneof![3 => any::<i64>().prop_map(Value::from), 1 => json_value()],
        prop_oneof![3 => prop::sample::select(METHODS).prop_map(|m| json!(m)), 1 => json_value()],
        prop_oneof![2 => Just(json!({})), 2 => params_like(), 1 => json_value()],
        prop::collection::vec(prop::sample::select(&["id", "method", "params"][..]), 0..2),
    )
        .prop_map(|(id, method, params, drop)| {
            let mut m = serde_json::Map::new();
            m.insert("id".to_owned(), id);
            m.insert("method".to_owned(), method);
            m.insert("params".to_owned(), params);
            for d in drop {
                m.remove(d);
            }
            Value::Object(m)
        })
}

/// Params of the known methods, fields sometimes of the wrong type.
fn params_like() -> impl Strategy<Value = Value> {
    let s = || prop_oneof![3 => "[a-z:-]{0,10}".prop_map(Value::String), 1 => json_value()];
    let intent = (
        s(),
        s(),
        s(),
        s(),
        prop_oneof![Just(json!(true)), json_value()],
    )
        .prop_map(|(p, d, r, t, e)| {
            json!({"pattern": p, "direction": d, "routingKey": r, "targetService": t, "ephemeral": e})
        });
    prop_oneof![
        json_value().prop_map(|v| json!({"protocolVersion": v})),
        (s(), prop::collection::vec(intent, 0..3)).prop_map(|(n, i)| json!({"serviceName": n, "intents": i})),
        (s(), s(), s(), json_value(), json_value())
            .prop_map(|(n, k, r, p, h)| json!({"serviceName": n, "publisherKey": k, "routingKey": r, "payload": p, "headers": h})),
        s().prop_map(|n| json!({"serviceName": n})),
    ]
}

/// Lines as a runner (or a broken runner) might write them.
fn line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => request_like().prop_map(|v| v.to_string().into_bytes()),
        1 => request_like().prop_map(|v| {
            // Truncated mid-line.
            let mut b = v.to_string().into_bytes();
            b.truncate(b.len() / 2);
            b
        }),
        1 => prop::collection::vec(any::<u8>(), 0..64),
        1 => ".{0,40}".prop_map(String::into_bytes),
    ]
}

/// Parses `bytes` as `T`; an error must be a JSON error of input, never I/O.
fn parse_typed<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<Option<T>, TestCaseError> {
    match serde_json::from_slice::<T>(bytes) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_data() || e.is_syntax() || e.is_eof() => Ok(None),
        Err(e) => Err(TestCaseError::fail(format!("unexpected error class: {e}"))),
    }
}

fn intent() -> impl Strategy<Value = SetupIntent> {
    let pattern = prop_oneof![
        4 => prop::sample::select(&["event-stream", "custom-stream", "service-request", "service-response", "queue-publish"][..]).prop_map(str::to_owned),
        1 => ".{0,6}",
    ];
    let direction = prop_oneof![
        4 => prop::sample::select(&["publish", "consume"][..]).prop_map(str::to_owned),
        1 => ".{0,6}",
    ];
    let text = || prop_oneof![2 => Just(String::new()), 3 => "[a-z.*#>:-]{1,8}", 1 => ".{0,6}"];
    (
        pattern,
        direction,
        text(),
        text(),
        text(),
        any::<bool>(),
        text(),
        text(),
    )
        .prop_map(|(p, d, rk, ex, ts, eph, qs, dq)| {
            let mut i = SetupIntent::new(
                Pattern::from(p.as_str()),
                EndpointDirection::from(d.as_str()),
            );
            i.routing_key = rk;
            i.exchange = ex;
            i.target_service = ts;
            i.ephemeral = eph;
            i.queue_suffix = qs;
            i.destination_queue = dq;
            i
        })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn request_lines_parse_or_fail_typed(bytes in line()) {
        if let Some(req) = parse_typed::<RpcRequest>(&bytes)? {
            // Re-serialised and parsed again: the same id, method and params text.
            let text = serde_json::to_string(&req).map_err(fail)?;
            let again: RpcRequest = serde_json::from_str(&text).map_err(fail)?;
            prop_assert_eq!(again.id, req.id);
            prop_assert_eq!(&again.method, &req.method);
            prop_assert_eq!(
                again.params.as_ref().map(|p| p.get()),
                req.params.as_ref().map(|p| p.get())
            );
            // Whatever the method, params decode into each params type or fail typed.
            let params = req.params.as_ref().map_or("null", |p| p.get()).as_bytes();
            parse_typed::<HelloParams>(params)?;
            parse_typed::<ServiceParams>(params)?;
            if let Some(p) = parse_typed::<StartServiceParams>(params)? {
                let text = serde_json::to_string(&p).map_err(fail)?;
                prop_assert_eq!(serde_json::from_str::<StartServiceParams>(&text).map_err(fail)?, p);
            }
            if let Some(p) = parse_typed::<PublishParams>(params)? {
                let text = serde_json::to_string(&p).map_err(fail)?;
                let again: PublishParams = serde_json::from_str(&text).map_err(fail)?;
                prop_assert_eq!(again.payload.get(), p.payload.get());
                prop_assert_eq!(again.headers, p.headers);
            }
        }
    }

    #[test]
    fn other_messages_parse_or_fail_typed(bytes in line(), v in json_value()) {
        let text = v.to_string();
        for input in [&bytes[..], text.as_bytes()] {
            if let Some(r) = parse_typed::<RpcResponse>(input)? {
                let text = serde_json::to_string(&r).map_err(fail)?;
                let again: RpcResponse = serde_json::from_str(&text).map_err(fail)?;
                prop_assert_eq!(again.id, r.id);
                prop_assert_eq!(again.error, r.error);
                prop_assert_eq!(again.result.as_ref().map(|x| x.get()), r.result.as_ref().map(|x| x.get()));
            }
            parse_typed::<HelloResult>(input)?;
            parse_typed::<StartServiceResult>(input)?;
            if let Some(r) = parse_typed::<ReceivedResult>(input)? {
                let text = serde_json::to_string(&r).map_err(fail)?;
                let again: ReceivedResult = serde_json::from_str(&text).map_err(fail)?;
                prop_assert_eq!(again.messages.len(), r.messages.len());
            }
            parse_typed::<SetupIntent>(input)?;
            parse_typed::<PublisherKey>(input)?;
        }
    }

    #[test]
    fn publisher_keys_print_back_as_parsed(s in prop_oneof![
        3 => "(event-stream|custom-stream|service-request|service-response|queue-publish)?:?[a-z:-]{0,6}",
        1 => any::<String>(),
    ]) {
        let k = PublisherKey::parse(&s);
        prop_assert_eq!(&k.to_string(), &s);
        let json = serde_json::to_string(&k).map_err(fail)?;
        prop_assert_eq!(serde_json::from_str::<PublisherKey>(&json).map_err(fail)?, k);
    }

    #[test]
    fn intents_round_trip_and_map_to_at_most_one_endpoint(
        i in intent(),
        transport in prop_oneof![Just(Transport::Amqp), Just(Transport::Nats), ".{0,5}".prop_map(|t| Transport::from(t.as_str()))],
        service in ".{0,8}",
    ) {
        let json = serde_json::to_string(&i).map_err(fail)?;
        prop_assert_eq!(&serde_json::from_str::<SetupIntent>(&json).map_err(fail)?, &i);
        let key = i.publisher_key();
        if matches!(i.pattern, Pattern::EventStream | Pattern::CustomStream | Pattern::ServiceRequest | Pattern::ServiceResponse | Pattern::QueuePublish) {
            prop_assert_eq!(PublisherKey::parse(&key.to_string()), key);
        }
        let eps = endpoints_for_intent_with_unique(&transport, &service, &i, "u-1");
        prop_assert!(eps.len() <= 1);
        if !matches!(transport, Transport::Amqp | Transport::Nats) {
            prop_assert!(eps.is_empty());
        }
        for ep in &eps {
            prop_assert_eq!(&ep.direction, &i.direction);
            prop_assert_eq!(&ep.pattern, &i.pattern);
            prop_assert!(!ep.routing_key.contains('>') || i.routing_key.contains('>'));
        }
        let t = topology_for_intents(&transport, &service, std::slice::from_ref(&i));
        prop_assert_eq!(t.endpoints.len(), eps.len());
    }
}
