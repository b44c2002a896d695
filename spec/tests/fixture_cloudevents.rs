//! Golden tests: `cloudevents.json`.

mod common;

use std::collections::BTreeSet;

use messaging_spec::{
    CE_CORRELATIONID, CE_DATACONTENTTYPE, CE_DATASCHEMA, CE_ID, CE_PREFIX, CE_SOURCE, CE_SUBJECT,
    CE_TIME, CONTENT_TYPE_JSON, CeWarning, Headers, REQUIRED_HEADERS, SPEC_VERSION,
    metadata_from_headers, validate_ce_headers,
};
use serde_json::Value;

fn cases<'a>(fixture: &'a Value, section: &str) -> &'a [Value] {
    fixture[section]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("section {section} is not an array"))
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {v}"))
}

fn headers(v: &Value) -> Headers {
    serde_json::from_value(v.clone()).expect("headers are a JSON object")
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// Runs every section; returns the case count. Unknown sections fail the test.
fn run_all(fixture: &Value) -> usize {
    assert_eq!(
        keys(fixture),
        BTreeSet::from(["validateHeaders", "metadataFromHeaders", "messageFormat"]),
        "cloudevents.json has sections this test does not know"
    );
    let v = validate_headers(fixture);
    let m = metadata(fixture);
    let f = message_format(&fixture["messageFormat"]);
    println!("validateHeaders {v}, metadataFromHeaders {m}, messageFormat headers {f}");
    v + m + f
}

fn validate_headers(fixture: &Value) -> usize {
    let all = cases(fixture, "validateHeaders");
    for case in all {
        let name = text(case, "name");
        assert_eq!(text(case, "conformance"), "MUST", "{name}");
        let headers = headers(&case["headers"]);
        let expected: Vec<String> = serde_json::from_value(case["expectedWarnings"].clone())
            .expect("expectedWarnings is a list of strings");
        let got: Vec<String> = validate_ce_headers(&headers)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(got, expected, "{name}");
    }
    assert_eq!(all.len(), 12);
    all.len()
}

fn metadata(fixture: &Value) -> usize {
    let all = cases(fixture, "metadataFromHeaders");
    for case in all {
        let name = text(case, "name");
        let headers = headers(&case["headers"]);
        let m = metadata_from_headers(&headers);
        let exp = &case["expected"];
        let fields = [
            ("id", m.id.clone()),
            ("source", m.source.clone()),
            ("type", m.type_.clone()),
            ("subject", m.subject.clone()),
            ("dataContentType", m.data_content_type.clone()),
            ("specVersion", m.spec_version.clone()),
            ("correlationId", m.correlation_id.clone()),
            ("timestamp", m.timestamp_rfc3339()),
        ];
        assert_eq!(
            keys(exp),
            fields.iter().map(|(k, _)| *k).collect(),
            "{name}: unchecked expected fields"
        );
        for (key, got) in fields {
            assert_eq!(got, text(exp, key), "{name}: {key}");
        }
    }
    assert_eq!(all.len(), 10);
    all.len()
}

/// Checks the described wire format against our constants and functions; each listed
/// header counts as one case.
fn message_format(f: &Value) -> usize {
    assert_eq!(
        keys(f),
        BTreeSet::from([
            "contentMode",
            "description",
            "headerPrefix",
            "idempotency",
            "deduplicationKey",
            "required",
            "optional",
            "extensions",
            "bodyEncoding",
        ])
    );
    assert_eq!(text(f, "contentMode"), "binary");
    assert_eq!(text(f, "headerPrefix"), CE_PREFIX);
    assert_eq!(
        text(f, "deduplicationKey"),
        format!("{CE_ID} + {CE_SOURCE}")
    );
    assert!(text(f, "bodyEncoding").contains(CONTENT_TYPE_JSON));

    let listed = |section: &str, conformance: &str| -> Vec<&str> {
        cases(f, section)
            .iter()
            .map(|h| {
                assert_eq!(text(h, "conformance"), conformance, "{h}");
                assert_eq!(text(h, "type"), "string", "{h}");
                text(h, "header")
            })
            .collect()
    };
    let required = listed("required", "MUST");
    let optional = listed("optional", "SHOULD");
    let extensions = listed("extensions", "SHOULD");
    assert_eq!(required, REQUIRED_HEADERS);
    assert_eq!(optional, [CE_DATACONTENTTYPE, CE_SUBJECT, CE_DATASCHEMA]);
    assert_eq!(extensions, [CE_CORRELATIONID]);

    // The examples form a valid message that reads back unchanged.
    let examples: Headers = ["required", "optional", "extensions"]
        .iter()
        .flat_map(|s| cases(f, s))
        .filter_map(|h| Some((text(h, "header"), h["example"].as_str()?)))
        .collect();
    assert_eq!(examples.len(), 6);
    assert!(validate_ce_headers(&examples).is_empty());
    let m = metadata_from_headers(&examples);
    assert_eq!(m.spec_version, SPEC_VERSION);
    assert_eq!(m.data_content_type, CONTENT_TYPE_JSON);
    assert_eq!(
        m.timestamp_rfc3339(),
        examples.get_str(CE_TIME).unwrap_or("?")
    );
    let id = uuid::Uuid::parse_str(&m.id).map(|u| u.get_version_num());
    assert_eq!(id.ok(), Some(4), "{}", m.id);

    // Removing any one required header yields exactly that warning.
    for key in &required {
        let mut h = examples.clone();
        h.remove(key);
        let w = validate_ce_headers(&h);
        assert_eq!(w.len(), 1, "{key}");
        assert!(matches!(w[0], CeWarning::Missing(k) if k == *key), "{key}");
    }
    required.len() + optional.len() + extensions.len()
}

#[test]
fn cloudevents_fixture() {
    let Some(fixture) = common::load("cloudevents.json") else {
        return;
    };
    let n = run_all(&fixture);
    assert_eq!(n, 31);
    common::report("cloudevents.json", n);
}
