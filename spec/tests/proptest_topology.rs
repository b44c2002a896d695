//! Property tests (proptest) of topologies: JSON parsing of arbitrary bytes and arbitrary
//! JSON, serialise → parse identity, validation (reference and export rules, one service
//! and many) and Mermaid rendering.
//!
//! Properties: nothing panics; bad JSON is a `serde_json` syntax/EOF/data error, never an
//! I/O one; errors name real endpoints; export rules never report more than the reference
//! rules; a topology built from valid intents by `topology_for_intents` passes export
//! validation; `mermaid` renders any topology. See `docs/fuzzing.md`.

use messaging_spec::{
    Endpoint, EndpointDirection, ExchangeKind, Pattern, RoutingPattern, ServiceName, SetupIntent,
    Topology, Transport, ValidationError, mermaid, topology_for_intents, validate,
    validate_for_export, validate_topologies, validate_topologies_for_export,
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

/// A known value of an open enum, or anything else (empty included).
fn open(known: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(known).prop_map(str::to_owned),
        1 => Just(String::new()),
        1 => ".{0,6}",
    ]
}

const DIRECTIONS: &[&str] = &["publish", "consume"];
const PATTERNS: &[&str] = &[
    "event-stream",
    "custom-stream",
    "service-request",
    "service-response",
    "queue-publish",
];
const KINDS: &[&str] = &["topic", "direct", "headers"];
const TRANSPORTS: &[&str] = &["amqp", "nats"];

/// Exchange-, queue- and key-like strings, AMQP suffixes and whitespace included.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z]{1,6}(\\.topic\\.exchange|\\.direct\\.exchange\\.request|\\.headers\\.exchange\\.response)?",
        2 => "[a-zA-Z.*#> \t\r\n-]{0,10}",
        1 => Just(String::new()),
        1 => ".{0,10}",
    ]
}

fn endpoint() -> impl Strategy<Value = Endpoint> {
    (
        open(DIRECTIONS),
        open(PATTERNS),
        name(),
        open(KINDS),
        name(),
        name(),
        name(),
        any::<bool>(),
    )
        .prop_map(|(dir, pat, exchange, kind, queue, key, msg, eph)| {
            Endpoint::new(
                EndpointDirection::from(dir.as_str()),
                Pattern::from(pat.as_str()),
                exchange,
                ExchangeKind::from(kind.as_str()),
            )
            .with_queue_name(queue)
            .with_routing_key(key)
            .with_message_type(msg)
            .with_ephemeral(eph)
        })
}

/// A topology as it can be parsed: `transport` is `None` or non-empty (an empty string
/// reads back as `None`).
fn topology() -> impl Strategy<Value = Topology> {
    (
        prop::option::of(open(TRANSPORTS).prop_filter("non-empty", |t| !t.is_empty())),
        prop_oneof![4 => "[a-z-]{1,8}", 1 => Just(String::new()), 1 => ".{0,6}"],
        prop::collection::vec(endpoint(), 0..6),
    )
        .prop_map(|(transport, service, endpoints)| {
            endpoints.into_iter().fold(
                Topology::new(transport.as_deref().map(Transport::from), service),
                Topology::with_endpoint,
            )
        })
}

/// Arbitrary JSON, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        ".{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// JSON shaped like a topology, each field possibly the wrong type.
fn topology_like_json() -> impl Strategy<Value = Value> {
    let field = |known: &'static [&'static str]| {
        prop_oneof![
            3 => open(known).prop_map(Value::String),
            1 => json_value(),
        ]
    };
    let ep = (
        field(DIRECTIONS),
        field(PATTERNS),
        field(&["events", "x.topic.exchange"]),
        field(KINDS),
        field(&["q"]),
        field(&["Order.Created", "a.#", "a.>"]),
        prop_oneof![Just(json!(true)), Just(json!(false)), json_value()],
        prop::collection::vec(".{0,3}", 0..3),
    )
        .prop_map(|(d, p, x, k, q, r, e, drop)| {
            let mut m = serde_json::Map::new();
            for (key, v) in [
                ("direction", d),
                ("pattern", p),
                ("exchangeName", x),
                ("exchangeKind", k),
                ("queueName", q),
                ("routingKey", r),
                ("ephemeral", e),
            ] {
                m.insert(key.to_owned(), v);
            }
            for d in drop {
                m.remove(&d);
            }
            Value::Object(m)
        });
    (
        field(TRANSPORTS),
        field(&["svc"]),
        prop_oneof![
            3 => prop::collection::vec(ep, 0..4).prop_map(Value::Array),
            1 => Just(Value::Null),
            1 => json_value(),
        ],
    )
        .prop_map(|(t, s, e)| json!({"transport": t, "serviceName": s, "endpoints": e}))
}

/// Endpoint indexes an error points at, if any.
fn endpoint_index(e: &ValidationError) -> Option<usize> {
    match e {
        ValidationError::EmptyExchangeName { endpoint }
        | ValidationError::MissingQueueName { endpoint }
        | ValidationError::MissingRoutingKey { endpoint, .. }
        | ValidationError::NatsWildcardInRoutingKey { endpoint }
        | ValidationError::AmqpSuffix { endpoint, .. }
        | ValidationError::NatsAmqpSuffix { endpoint, .. }
        | ValidationError::NatsWhitespace { endpoint, .. } => Some(*endpoint),
        _ => None,
    }
}

/// An intent whose every field is valid for its pattern, as a TCK runner would send.
fn valid_intent() -> impl Strategy<Value = SetupIntent> {
    let svc = "[a-z][a-z0-9-]{0,7}".prop_filter_map("service name", |s| ServiceName::new(s).ok());
    let key = prop::collection::vec(
        prop_oneof![3 => "[A-Za-z]{1,5}", 1 => Just("*".to_owned())],
        1..4,
    )
    .prop_flat_map(|t| (Just(t), any::<bool>()))
    .prop_filter_map("pattern", |(mut t, open)| {
        if open {
            t.push("#".to_owned());
        }
        RoutingPattern::new(t.join(".")).ok()
    });
    (
        prop::sample::select(PATTERNS),
        prop::sample::select(DIRECTIONS),
        key,
        svc.clone(),
        svc,
        any::<bool>(),
        prop::option::of("[a-z]{1,5}"),
    )
        .prop_filter_map(
            "a pattern/direction pair the spec defines",
            |(pattern, direction, key, exchange, target, ephemeral, suffix)| {
                let supported = matches!(
                    (pattern, direction),
                    ("event-stream" | "custom-stream", _)
                        | ("service-request", _)
                        | ("service-response", "consume")
                        | ("queue-publish", "publish")
                );
                if !supported {
                    return None;
                }
                let mut i =
                    SetupIntent::new(Pattern::from(pattern), EndpointDirection::from(direction));
                let consume = direction == "consume";
                let stream = matches!(pattern, "event-stream" | "custom-stream");
                if consume && pattern != "service-response" {
                    i.routing_key = key.into_inner();
                }
                if pattern == "custom-stream" {
                    i.exchange = exchange.into_inner();
                }
                if matches!(pattern, "service-request" | "service-response")
                    && !(consume && pattern == "service-request")
                {
                    i.target_service = target.into_inner();
                }
                if pattern == "queue-publish" {
                    i.destination_queue = "task-queue".to_owned();
                }
                if stream && consume {
                    i.ephemeral = ephemeral;
                    if !ephemeral {
                        i.queue_suffix = suffix.unwrap_or_default();
                    }
                }
                Some(i)
            },
        )
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn serialise_then_parse_is_identity(t in topology()) {
        let json = serde_json::to_string(&t).map_err(fail)?;
        let back: Topology = serde_json::from_str(&json).map_err(fail)?;
        prop_assert_eq!(&back, &t);
        // Pretty-printed and as a `Value` too.
        let pretty = serde_json::to_string_pretty(&t).map_err(fail)?;
        prop_assert_eq!(&serde_json::from_str::<Topology>(&pretty).map_err(fail)?, &t);
        let value = serde_json::to_value(&t).map_err(fail)?;
        prop_assert_eq!(serde_json::from_value::<Topology>(value).map_err(fail)?, t);
    }

    #[test]
    fn arbitrary_bytes_are_a_typed_error_or_a_topology(bytes in prop::collection::vec(any::<u8>(), 0..96)) {
        match serde_json::from_slice::<Topology>(&bytes) {
            Ok(t) => {
                let _ = validate(&t);
                let _ = mermaid(std::slice::from_ref(&t));
            }
            Err(e) => prop_assert!(!e.is_io(), "{e}"),
        }
        let _ = serde_json::from_slice::<Vec<Topology>>(&bytes);
    }

    #[test]
    fn topology_shaped_json_is_a_typed_error_or_round_trips(v in topology_like_json()) {
        let text = v.to_string();
        match serde_json::from_str::<Topology>(&text) {
            Ok(t) => {
                // What parsed serialises and parses back to itself (a fixed point).
                let again: Topology = serde_json::from_str(&serde_json::to_string(&t).map_err(fail)?).map_err(fail)?;
                prop_assert_eq!(again, t);
            }
            Err(e) => prop_assert!(e.is_data() || e.is_syntax() || e.is_eof(), "{e}"),
        }
    }

    #[test]
    fn validation_never_panics_and_points_at_real_endpoints(t in topology()) {
        let reference = validate(&t).err().map(|e| e.0).unwrap_or_default();
        let export = validate_for_export(&t).err().map(|e| e.0).unwrap_or_default();
        if t.service_name.is_empty() {
            prop_assert_eq!(&reference, &vec![ValidationError::EmptyServiceName]);
            prop_assert_eq!(&export, &vec![ValidationError::EmptyServiceName]);
        }
        for e in reference.iter().chain(&export) {
            if let Some(i) = endpoint_index(e) {
                prop_assert!(i < t.endpoints.len(), "{e:?}");
            }
            let cross = matches!(e, ValidationError::InService { .. } | ValidationError::NoPublisher { .. });
            prop_assert!(!cross, "{:?}", e);
            prop_assert!(!e.to_string().is_empty());
        }
        for e in &export {
            prop_assert!(reference.contains(e), "export-only error {e:?}");
        }
    }

    #[test]
    fn topologies_from_valid_intents_pass_export_validation(
        transport in prop::sample::select(&[Transport::Amqp, Transport::Nats][..]),
        service in "[a-z][a-z0-9-]{0,7}",
        intents in prop::collection::vec(valid_intent(), 0..6),
    ) {
        let t = topology_for_intents(&transport, &service, &intents);
        prop_assert_eq!(t.endpoints.len(), intents.len());
        prop_assert_eq!(validate_for_export(&t), Ok(()), "{:#?}", t);
        let json = serde_json::to_string(&t).map_err(fail)?;
        prop_assert_eq!(&serde_json::from_str::<Topology>(&json).map_err(fail)?, &t);
        let diagram = mermaid(std::slice::from_ref(&t));
        prop_assert!(diagram.starts_with("graph LR\n"));
        let svc_id: String = service.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        let line = format!("    {svc_id}[\"{service}\"]");
        prop_assert!(diagram.lines().any(|l| l == line), "{diagram}");
    }

}

// Many topologies per case: fewer cases.
proptest! {
    #![proptest_config(config(96))]

    #[test]
    fn cross_service_validation_never_panics(ts in prop::collection::vec(topology(), 0..5)) {
        let reference = validate_topologies(&ts).err().map(|e| e.0).unwrap_or_default();
        let export = validate_topologies_for_export(&ts).err().map(|e| e.0).unwrap_or_default();
        let no_pub = |errs: &[ValidationError]| -> Vec<ValidationError> {
            errs.iter().filter(|e| matches!(e, ValidationError::NoPublisher { .. })).cloned().collect()
        };
        let ref_no_pub = no_pub(&reference);
        for e in no_pub(&export) {
            prop_assert!(ref_no_pub.contains(&e), "export-only {e:?}");
        }
        for e in &reference {
            if let ValidationError::InService { service, errors } = e {
                prop_assert!(!errors.is_empty());
                prop_assert!(ts.iter().any(|t| &t.service_name == service));
            }
        }
        let _ = mermaid(&ts);
    }

    #[test]
    fn mermaid_renders_anything(ts in prop::collection::vec(topology(), 0..6)) {
        let out = mermaid(&ts);
        prop_assert!(out.starts_with("graph LR\n"));
        prop_assert!(out.ends_with('\n'));
        // One `style` line per distinct named service.
        let mut services: Vec<&str> = ts.iter().map(|t| t.service_name.as_str()).filter(|s| !s.is_empty()).collect();
        services.sort_unstable();
        services.dedup();
        let styled = out.lines().filter(|l| l.ends_with("fill:#f9f,stroke:#333")).count();
        prop_assert_eq!(styled, services.len());
        prop_assert_eq!(mermaid(&ts), out, "deterministic");
    }
}
