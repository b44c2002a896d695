//! Golden tests: `topology.json` intents → endpoints, on AMQP and NATS.

mod common;

use messaging_spec::{
    Endpoint, EndpointDirection, ExchangeKind, Pattern, SetupIntent, Topology, Transport,
    ValidationError, topology_for_intents, validate, validate_for_export,
    validate_topologies_for_export,
};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Expected {
    direction: EndpointDirection,
    pattern: Pattern,
    exchange_name: String,
    exchange_kind: ExchangeKind,
    #[serde(default)]
    queue_name: String,
    #[serde(default)]
    queue_name_prefix: String,
    #[serde(default)]
    routing_key: String,
    #[serde(default)]
    ephemeral: bool,
}

struct Scenario {
    name: String,
    service: String,
    setups: Vec<SetupIntent>,
    expected: Value,
}

fn scenarios(fixture: &Value) -> Vec<Scenario> {
    fixture["scenarios"]
        .as_array()
        .expect("scenarios array")
        .iter()
        .map(|s| Scenario {
            name: s["name"].as_str().expect("name").to_owned(),
            service: s["serviceName"].as_str().expect("serviceName").to_owned(),
            setups: serde_json::from_value(s["setups"].clone()).expect("setups"),
            expected: s["expectedEndpoints"].clone(),
        })
        .collect()
}

fn transports() -> [(Transport, &'static str); 2] {
    [(Transport::Amqp, "amqp"), (Transport::Nats, "nats")]
}

/// Checks `actual` against `expected` as the fixture README says, one-to-one; returns the
/// number of endpoints checked.
fn check(label: &str, actual: &[Endpoint], expected: &[Expected]) -> usize {
    assert_eq!(
        actual.len(),
        expected.len(),
        "{label}: endpoint count\n{actual:#?}"
    );
    let mut unmatched: Vec<&Endpoint> = actual.iter().collect();
    for want in expected {
        let pos = unmatched
            .iter()
            .position(|a| {
                a.direction == want.direction
                    && a.pattern == want.pattern
                    && a.exchange_name == want.exchange_name
                    && a.routing_key == want.routing_key
            })
            .unwrap_or_else(|| panic!("{label}: no endpoint matches {want:?} in {actual:#?}"));
        let got = unmatched.remove(pos);
        assert_eq!(
            got.exchange_kind, want.exchange_kind,
            "{label}: kind of {want:?}"
        );
        if want.queue_name_prefix.is_empty() {
            assert_eq!(
                got.queue_name, want.queue_name,
                "{label}: queue of {want:?}"
            );
        } else {
            let unique = got
                .queue_name
                .strip_prefix(&want.queue_name_prefix)
                .unwrap_or_else(|| panic!("{label}: {:?} lacks prefix", got.queue_name));
            let uuid = uuid::Uuid::parse_str(unique).expect("unique part is a UUID");
            assert_eq!(
                unique,
                uuid.hyphenated().to_string(),
                "{label}: lower-case UUID"
            );
        }
        assert_eq!(
            got.ephemeral, want.ephemeral,
            "{label}: ephemeral of {want:?}"
        );
        assert_eq!(got.message_type, "", "{label}: no message type");
    }
    expected.len()
}

#[test]
fn topology_fixture() {
    let Some(fixture) = common::load("topology.json") else {
        return;
    };
    let scenarios = scenarios(&fixture);
    assert_eq!(scenarios.len(), 9);
    let mut checked = 0;
    for s in &scenarios {
        for (transport, key) in transports() {
            let label = format!("{} [{key}]", s.name);
            let expected: Vec<Expected> =
                serde_json::from_value(s.expected[key].clone()).expect("expected endpoints");
            let t = topology_for_intents(&transport, &s.service, &s.setups);
            assert_eq!(t.service_name, s.service, "{label}");
            assert_eq!(t.transport, Some(transport), "{label}");
            checked += check(&label, &t.endpoints, &expected);
        }
    }
    assert_eq!(checked, 24);
    println!("topology.json: {checked} endpoint checks over 2 transports");
    common::report("topology.json", scenarios.len());
}

/// Built topologies pass the export rules, alone and together, while the reference rules
/// reject exactly the scenarios with keyless publish endpoints.
#[test]
fn topology_fixture_validates_for_export() {
    let Some(fixture) = common::load("topology.json") else {
        return;
    };
    let scenarios = scenarios(&fixture);
    for (transport, key) in transports() {
        let built: Vec<Topology> = scenarios
            .iter()
            .map(|s| topology_for_intents(&transport, &s.service, &s.setups))
            .collect();
        let mut strict_failures = Vec::new();
        for (s, t) in scenarios.iter().zip(&built) {
            assert_eq!(validate_for_export(t), Ok(()), "{} [{key}]", s.name);
            if let Err(errs) = validate(t) {
                assert!(
                    errs.iter()
                        .all(|e| matches!(e, ValidationError::MissingRoutingKey { .. })),
                    "{} [{key}]: {errs}",
                    s.name
                );
                strict_failures.push(s.name.as_str());
            }
        }
        assert_eq!(
            strict_failures,
            [
                "event stream publisher",
                "custom stream publisher and consumer",
                "service publisher and response consumer",
                "queue publish",
            ],
            "[{key}]"
        );
        assert_eq!(validate_topologies_for_export(&built), Ok(()), "[{key}]");
    }
}
