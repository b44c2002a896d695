//! Golden tests: `validate.json` (19 single-service and 8 cross-service cases).

mod common;

use messaging_spec::{Topology, ValidationErrors, validate, validate_topologies};
use serde_json::Value;

fn topology(v: &Value) -> Topology {
    serde_json::from_value(v.clone()).expect("fixture topology")
}

fn check(name: &str, result: Result<(), ValidationErrors>, expected: &Value) {
    match (expected.as_str(), result) {
        (None, Ok(())) => assert!(expected.is_null(), "{name}: bad expectedError"),
        (None, Err(e)) => panic!("{name}: expected no error, got:\n{e}"),
        (Some(want), Ok(())) => panic!("{name}: expected an error containing {want:?}"),
        (Some(want), Err(e)) => {
            let text = e.to_string();
            assert!(text.contains(want), "{name}: {text:?} lacks {want:?}");
        }
    }
}

fn cases<'a>(fixture: &'a Value, key: &str) -> &'a [Value] {
    fixture[key].as_array().map_or(&[], Vec::as_slice)
}

#[test]
fn validate_fixture() {
    let Some(fixture) = common::load("validate.json") else {
        return;
    };
    let single = cases(&fixture, "single");
    let cross = cases(&fixture, "cross");
    assert_eq!((single.len(), cross.len()), (19, 8));

    let mut errors = 0;
    for case in single {
        let name = case["name"].as_str().unwrap_or_default();
        let result = validate(&topology(&case["topology"]));
        errors += usize::from(result.is_err());
        check(name, result, &case["expectedError"]);
    }
    for case in cross {
        let name = case["name"].as_str().unwrap_or_default();
        let ts: Vec<Topology> = cases(case, "topologies").iter().map(topology).collect();
        let result = validate_topologies(&ts);
        errors += usize::from(result.is_err());
        check(name, result, &case["expectedError"]);
    }
    assert_eq!(errors, 12 + 3);
    common::report("validate.json", single.len() + cross.len());
}

/// The full Go texts of every failing case, beyond the fixture's substrings.
#[test]
fn validate_fixture_exact_texts() {
    let Some(fixture) = common::load("validate.json") else {
        return;
    };
    let single = [
        ("empty service name", "service name must not be empty"),
        (
            "missing exchange name",
            "endpoint[0]: exchange name must not be empty",
        ),
        (
            "consume missing queue",
            "endpoint[0]: consume endpoint must have a queue name",
        ),
        (
            "bad topic exchange format",
            r#"endpoint[0]: topic exchange "bad-exchange" must end with .topic.exchange"#,
        ),
        (
            "missing routing key for topic exchange",
            "endpoint[0]: routing key must not be empty for topic exchange",
        ),
        (
            "bad direct exchange format",
            r#"endpoint[0]: direct exchange "bad-exchange" must end with .direct.exchange.request"#,
        ),
        (
            "bad headers exchange format",
            r#"endpoint[0]: headers exchange "bad-exchange" must end with .headers.exchange.response"#,
        ),
        (
            "NATS exchange with AMQP suffix",
            r#"endpoint[0]: NATS exchange "events.topic.exchange" must not use AMQP suffix ".topic.exchange""#,
        ),
        (
            "routing key with > wildcard",
            "endpoint[0]: routing key must not contain '>' (use '#' for multi-level wildcard)",
        ),
        (
            "NATS exchange with direct AMQP suffix",
            r#"endpoint[0]: NATS exchange "svc.direct.exchange.request" must not use AMQP suffix ".direct.exchange.request""#,
        ),
        (
            "NATS exchange with headers AMQP suffix",
            r#"endpoint[0]: NATS exchange "svc.headers.exchange.response" must not use AMQP suffix ".headers.exchange.response""#,
        ),
        (
            "NATS durable consume missing queue",
            "endpoint[0]: consume endpoint must have a queue name",
        ),
    ];
    let cross = [
        (
            "missing publisher",
            r#"service "consumer-svc" consumes "Order.Created" on exchange "events.topic.exchange" but no service publishes it"#,
        ),
        (
            "mixed transport no cross-match",
            r#"service "nats-consumer" consumes "Order.Created" on exchange "events" but no service publishes it"#,
        ),
        (
            "consumer on different exchange than publisher",
            r#"service "consumer-svc" consumes "Order.Created" on exchange "audit.topic.exchange" but no service publishes it"#,
        ),
    ];
    let find = |key: &str, name: &str| {
        cases(&fixture, key)
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {key} case {name:?}"))
            .clone()
    };
    for (name, want) in single {
        let case = find("single", name);
        let got = validate(&topology(&case["topology"]))
            .err()
            .map(|e| e.to_string());
        assert_eq!(got.as_deref(), Some(want), "{name}");
    }
    for (name, want) in cross {
        let case = find("cross", name);
        let ts: Vec<Topology> = cases(&case, "topologies").iter().map(topology).collect();
        let got = validate_topologies(&ts).err().map(|e| e.to_string());
        assert_eq!(got.as_deref(), Some(want), "{name}");
    }
    common::report("validate.json (exact texts)", single.len() + cross.len());
}
