//! Golden tests: `constants.json` against our enums and CloudEvents constants.
//!
//! Every key of the fixture must be checked here; a new key fails the test.

mod common;

use std::collections::BTreeMap;

use messaging_spec::{
    CE_CORRELATIONID, CE_DATACONTENTTYPE, CE_DATASCHEMA, CE_ID, CE_SOURCE, CE_SPECVERSION,
    CE_SUBJECT, CE_TIME, CE_TYPE, DEFAULT_EVENT_EXCHANGE_NAME, EndpointDirection, ExchangeKind,
    Pattern, SPEC_VERSION, Transport,
};
use serde_json::Value;

/// The fixture's `{key: value}` object as a map of strings.
fn strings(v: &Value, section: &str) -> BTreeMap<String, String> {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("{section} is not an object"));
    obj.iter()
        .map(|(k, v)| {
            let s = v
                .as_str()
                .unwrap_or_else(|| panic!("{section}.{k} is not a string"));
            (k.clone(), s.to_owned())
        })
        .collect()
}

/// Checks one enum section: the fixture's keys map to exactly our known variants, with
/// the same wire strings, and our enum knows no value the fixture lacks.
fn enum_section<E>(v: &Value, section: &str, ours: &[(&str, E)], known: &[E]) -> usize
where
    E: PartialEq + std::fmt::Debug + for<'a> From<&'a str> + std::fmt::Display,
{
    let fixture = strings(v, section);
    let expected: BTreeMap<String, String> = ours
        .iter()
        .map(|(k, e)| ((*k).to_owned(), e.to_string()))
        .collect();
    assert_eq!(fixture, expected, "{section}");
    for (key, variant) in ours {
        assert_eq!(&E::from(fixture[*key].as_str()), variant, "{section}.{key}");
    }
    let listed: Vec<&E> = ours.iter().map(|(_, e)| e).collect();
    assert_eq!(known.len(), listed.len(), "{section}: KNOWN differs");
    for k in known {
        assert!(listed.contains(&k), "{section}: {k:?} not in the fixture");
    }
    fixture.len()
}

fn cloud_events(v: &Value) -> usize {
    let fixture = strings(v, "cloudEvents");
    let ours: BTreeMap<String, String> = [
        ("correlationId", CE_CORRELATIONID),
        ("dataContentType", CE_DATACONTENTTYPE),
        ("dataSchema", CE_DATASCHEMA),
        ("id", CE_ID),
        ("source", CE_SOURCE),
        ("specVersion", CE_SPECVERSION),
        ("specVersionValue", SPEC_VERSION),
        ("subject", CE_SUBJECT),
        ("time", CE_TIME),
        ("type", CE_TYPE),
    ]
    .into_iter()
    .map(|(k, c)| (k.to_owned(), c.to_owned()))
    .collect();
    assert_eq!(fixture, ours, "cloudEvents");
    fixture.len()
}

fn check_all(fixture: &Value) -> usize {
    let obj = fixture
        .as_object()
        .unwrap_or_else(|| panic!("constants.json is not an object"));
    let mut total = 0;
    for (key, v) in obj {
        total += match key.as_str() {
            "defaultEventExchangeName" => {
                assert_eq!(v.as_str(), Some(DEFAULT_EVENT_EXCHANGE_NAME));
                1
            }
            "exchangeKinds" => enum_section(
                v,
                key,
                &[
                    ("direct", ExchangeKind::Direct),
                    ("headers", ExchangeKind::Headers),
                    ("topic", ExchangeKind::Topic),
                ],
                ExchangeKind::KNOWN,
            ),
            "directions" => enum_section(
                v,
                key,
                &[
                    ("consume", EndpointDirection::Consume),
                    ("publish", EndpointDirection::Publish),
                ],
                EndpointDirection::KNOWN,
            ),
            "patterns" => enum_section(
                v,
                key,
                &[
                    ("customStream", Pattern::CustomStream),
                    ("eventStream", Pattern::EventStream),
                    ("queuePublish", Pattern::QueuePublish),
                    ("serviceRequest", Pattern::ServiceRequest),
                    ("serviceResponse", Pattern::ServiceResponse),
                ],
                Pattern::KNOWN,
            ),
            "transports" => enum_section(
                v,
                key,
                &[("amqp", Transport::Amqp), ("nats", Transport::Nats)],
                Transport::KNOWN,
            ),
            "cloudEvents" => cloud_events(v),
            other => panic!("constants.json key {other:?} is not checked by this test"),
        };
    }
    assert_eq!(obj.len(), 6, "a section is missing");
    total
}

#[test]
fn constants_fixture() {
    let Some(fixture) = common::load("constants.json") else {
        return;
    };
    let n = check_all(&fixture);
    assert_eq!(n, 23);
    common::report("constants.json", n);
}

#[test]
#[should_panic(expected = r#"constants.json key "newSection" is not checked"#)]
fn unknown_keys_fail() {
    check_all(&serde_json::json!({ "defaultEventExchangeName": "events", "newSection": {} }));
}
