//! Golden test: every case of `naming.json` against the naming functions.

mod common;

use messaging_spec::naming;
use serde_json::Value;

/// Reads the string input `key` of one case.
fn arg<'a>(function: &str, input: &'a Value, key: &str) -> &'a str {
    input
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{function}: input {input} lacks string key {key:?}"))
}

/// Runs the function the fixture names on the case's input.
fn call(function: &str, input: &Value) -> String {
    let a = |key| arg(function, input, key);
    match function {
        "topicExchangeName" => naming::topic_exchange_name(a("name")),
        "serviceEventQueueName" => {
            naming::service_event_queue_name(a("exchangeName"), a("service"))
        }
        "serviceRequestExchangeName" => naming::service_request_exchange_name(a("service")),
        "serviceResponseExchangeName" => naming::service_response_exchange_name(a("service")),
        "serviceRequestQueueName" => naming::service_request_queue_name(a("service")),
        "serviceResponseQueueName" => {
            naming::service_response_queue_name(a("targetService"), a("serviceName"))
        }
        "natsStreamName" => naming::nats_stream_name(a("name")),
        "natsSubject" => naming::nats_subject(a("stream"), a("routingKey")),
        "translateWildcard" => naming::translate_wildcard(a("routingKey")),
        other => panic!("naming.json names a function this test does not know: {other:?}"),
    }
}

#[test]
fn naming_fixture() {
    let Some(fixture) = common::load("naming.json") else {
        return;
    };
    let functions = fixture
        .as_object()
        .expect("naming.json is an object of functions");
    let mut cases = 0;
    for (function, list) in functions {
        let list = list
            .as_array()
            .expect("each function maps to a list of cases");
        assert!(!list.is_empty(), "{function}: no cases");
        for case in list {
            let expected = case["expected"].as_str().expect("expected is a string");
            assert_eq!(
                call(function, &case["input"]),
                expected,
                "{function} {}",
                case["input"]
            );
            cases += 1;
        }
    }
    assert_eq!(functions.len(), 9, "function count per SPEC-DIGEST §2");
    assert_eq!(cases, 35, "case count per SPEC-DIGEST §2");
    common::report("naming.json", cases);
}
