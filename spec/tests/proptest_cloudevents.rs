//! Property tests (proptest) of CloudEvents header handling on arbitrary headers:
//! `normalize_ce_headers`, `has_ce_headers`, `validate_ce_headers`,
//! `metadata_from_headers`, `publish_headers`, and the JSON of `Headers` and `Metadata`.
//!
//! Header values are arbitrary JSON (the spec allows non-strings); keys are biased towards
//! the `ce-`, `cloudEvents:` and `cloudEvents_` spellings of the attributes. Timestamps are
//! checked both on arbitrary text and on generated valid RFC 3339 instants, whose text must
//! come back unchanged (offset and fraction kept). See `docs/fuzzing.md`.

use std::collections::BTreeMap;

use messaging_spec::{
    CE_CORRELATIONID, CE_DATACONTENTTYPE, CE_ID, CE_SOURCE, CE_SPECVERSION, CE_SUBJECT, CE_TIME,
    CE_TYPE, CeWarning, Headers, Metadata, REQUIRED_HEADERS, has_ce_headers, metadata_from_headers,
    normalize_ce_headers, publish_headers, validate_ce_headers,
};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::Value;
use time::macros::datetime;

/// `cases` unless `PROPTEST_CASES` is set; no failure-persistence files in the tree.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const ATTRS: [&str; 10] = [
    "specversion",
    "type",
    "source",
    "id",
    "time",
    "datacontenttype",
    "subject",
    "dataschema",
    "correlationid",
    "x",
];

/// Arbitrary JSON, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        // Exact binary fractions: serde_json's default float parsing is not round-trip
        // exact for every f64 (that needs its `float_roundtrip` feature).
        (-4096i32..4096).prop_map(|n| Value::from(f64::from(n) / 8.0)),
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

/// A header key: a CE attribute under one of the three prefixes (or a wrong-case one), or
/// anything at all.
fn header_key() -> impl Strategy<Value = String> {
    let prefix = prop_oneof![
        Just("ce-"),
        Just("cloudEvents:"),
        Just("cloudEvents_"),
        Just("cloudevents:"),
        Just("CE-"),
        Just(""),
    ];
    prop_oneof![
        4 => (prefix, prop::sample::select(&ATTRS[..])).prop_map(|(p, a)| format!("{p}{a}")),
        1 => any::<String>(),
        1 => "(cloudEvents[:_]){1,2}[a-z]{0,3}",
    ]
}

/// A header value: mostly strings (some of them RFC 3339-ish), sometimes other JSON.
fn header_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => ".{0,12}".prop_map(Value::String),
        2 => "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,10})?([Zz]|[+-][0-9]{2}:[0-9]{2})?"
            .prop_map(Value::String),
        2 => json_value(),
    ]
}

fn headers() -> impl Strategy<Value = Headers> {
    prop::collection::btree_map(header_key(), header_value(), 0..10).prop_map(Headers::from)
}

/// The documented precedence, written out: a key that already is `ce-x` wins, then
/// `cloudEvents:x`, then `cloudEvents_x`; every other key is copied.
fn model_normalize(h: &Headers) -> BTreeMap<String, Value> {
    let mut out: BTreeMap<String, (u8, Value)> = BTreeMap::new();
    for (k, v) in h.iter() {
        let (target, rank) = match (
            k.strip_prefix("cloudEvents:"),
            k.strip_prefix("cloudEvents_"),
        ) {
            (Some(rest), _) => (format!("ce-{rest}"), 1),
            (None, Some(rest)) => (format!("ce-{rest}"), 2),
            (None, None) => (k.to_owned(), 0),
        };
        let better = out.get(&target).is_none_or(|(r, _)| rank < *r);
        if better {
            out.insert(target, (rank, v.clone()));
        }
    }
    out.into_iter().map(|(k, (_, v))| (k, v)).collect()
}

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

/// A valid RFC 3339 instant as text the way a peer might write it: `Z` or a non-zero
/// offset, and a fraction without trailing zeros (so it formats back identically).
fn rfc3339_text() -> impl Strategy<Value = String> {
    (
        1i32..=9999,
        1u8..=12,
        1u8..=28,
        0u8..24,
        0u8..60,
        0u8..60,
        prop::option::of((1u32..1_000_000_000, 1usize..=9)),
        prop::option::of((any::<bool>(), 0u8..24, 0u8..60)),
    )
        .prop_map(|(y, mo, d, h, mi, s, frac, off)| {
            let mut t = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
            if let Some((n, digits)) = frac {
                let text = format!("{n:09}");
                let cut = text[..digits].trim_end_matches('0');
                if !cut.is_empty() {
                    t.push('.');
                    t.push_str(cut);
                }
            }
            match off {
                Some((neg, oh, om)) if (oh, om) != (0, 0) => {
                    let sign = if neg { '-' } else { '+' };
                    t.push_str(&format!("{sign}{oh:02}:{om:02}"));
                }
                _ => t.push('Z'),
            }
            t
        })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn normalisation_follows_the_documented_precedence(h in headers()) {
        let before = h.clone();
        let n = normalize_ce_headers(&h);
        prop_assert_eq!(&h, &before, "the input is untouched");
        let want = model_normalize(&h);
        prop_assert_eq!(&n, &Headers::from(want));
        prop_assert!(n.len() <= h.len());
        for (k, _) in n.iter() {
            prop_assert!(!k.starts_with("cloudEvents:") && !k.starts_with("cloudEvents_"), "{k}");
        }
        // Idempotent, and metadata reads the same through either.
        prop_assert_eq!(&normalize_ce_headers(&n), &n);
        prop_assert_eq!(metadata_from_headers(&n), metadata_from_headers(&normalize_ce_headers(&n)));
    }

    #[test]
    fn validation_and_detection_follow_the_model(h in headers()) {
        let want: Vec<CeWarning> = REQUIRED_HEADERS
            .iter()
            .filter_map(|&k| match h.get(k) {
                None => Some(CeWarning::Missing(k)),
                Some(Value::String(_)) => None,
                Some(_) => Some(CeWarning::NotString(k)),
            })
            .collect();
        let got = validate_ce_headers(&h);
        prop_assert_eq!(&got, &want);
        for w in &got {
            prop_assert!(REQUIRED_HEADERS.contains(&w.header()));
        }
        prop_assert_eq!(has_ce_headers(&h), REQUIRED_HEADERS.iter().any(|k| h.contains_key(k)));
    }

    #[test]
    fn metadata_reads_strings_only_and_never_panics(h in headers()) {
        let m = metadata_from_headers(&h);
        let text = |k: &str| h.get_str(k).unwrap_or_default().to_owned();
        prop_assert_eq!(&m.id, &text(CE_ID));
        prop_assert_eq!(&m.correlation_id, &text(CE_CORRELATIONID));
        prop_assert_eq!(&m.source, &text(CE_SOURCE));
        prop_assert_eq!(&m.type_, &text(CE_TYPE));
        prop_assert_eq!(&m.subject, &text(CE_SUBJECT));
        prop_assert_eq!(&m.data_content_type, &text(CE_DATACONTENTTYPE));
        prop_assert_eq!(&m.spec_version, &text(CE_SPECVERSION));
        prop_assert_eq!(m.has_cloud_events(), !m.id.is_empty());
        match (h.get_str(CE_TIME), m.timestamp) {
            (None, ts) => prop_assert_eq!(ts, None),
            (Some(_), None) => prop_assert_eq!(m.timestamp_rfc3339(), ""),
            (Some(text), Some(_)) => {
                // Whatever was accepted formats back, and the TCK wire JSON round-trips.
                let back = m.timestamp_rfc3339();
                prop_assert!(!back.is_empty(), "{text:?} parsed but does not format");
                let json = serde_json::to_string(&m).map_err(fail)?;
                let again: Metadata = serde_json::from_str(&json).map_err(fail)?;
                prop_assert_eq!(&again, &m);
            }
        }
        let json = serde_json::to_string(&m).map_err(fail)?;
        let again: Metadata = serde_json::from_str(&json).map_err(fail)?;
        prop_assert_eq!(again, m);
    }

    #[test]
    fn valid_timestamps_keep_their_text(text in rfc3339_text()) {
        let mut h = Headers::new();
        h.insert(CE_TIME, text.as_str());
        let m = metadata_from_headers(&h);
        prop_assert!(m.timestamp.is_some(), "{text} rejected");
        prop_assert_eq!(m.timestamp_rfc3339(), text);
    }

    #[test]
    fn publish_headers_fill_only_what_is_missing(
        h in headers(),
        key in "[A-Za-z]{1,5}(\\.[A-Za-z]{1,5}){0,2}",
        source in "[a-z-]{1,8}",
        id in ".{0,8}",
    ) {
        let now = datetime!(2026-03-05 10:00:00.5 +02:00);
        let out = publish_headers(&h, &key, &source, now, || id.clone());
        for (k, v) in h.iter() {
            prop_assert_eq!(out.get(k), Some(v), "caller header {} kept", k);
        }
        for k in [CE_SPECVERSION, CE_TYPE, CE_SOURCE, CE_ID, CE_TIME, CE_DATACONTENTTYPE] {
            prop_assert!(out.contains_key(k));
        }
        prop_assert_eq!(out.len(), h.len() + [CE_SPECVERSION, CE_TYPE, CE_SOURCE, CE_ID, CE_TIME, CE_DATACONTENTTYPE]
            .iter().filter(|k| !h.contains_key(k)).count());
        // Only the caller's non-string values can still be wrong.
        let want: Vec<CeWarning> = validate_ce_headers(&h)
            .into_iter()
            .filter(|w| matches!(w, CeWarning::NotString(_)))
            .collect();
        prop_assert_eq!(validate_ce_headers(&out), want);
        if !h.contains_key(CE_TIME) {
            prop_assert_eq!(out.get_str(CE_TIME), Some("2026-03-05T08:00:00Z"));
            prop_assert!(metadata_from_headers(&out).timestamp.is_some());
        }
    }

    #[test]
    fn headers_and_metadata_json_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64), v in json_value()) {
        // Arbitrary bytes and arbitrary JSON: a typed serde error or a value, never a panic.
        let _ = serde_json::from_slice::<Headers>(&bytes);
        let _ = serde_json::from_slice::<Metadata>(&bytes);
        if let Ok(h) = serde_json::from_value::<Headers>(v.clone()) {
            let json = serde_json::to_string(&h).map_err(fail)?;
            prop_assert_eq!(&serde_json::from_str::<Headers>(&json).map_err(fail)?, &h);
            let _ = metadata_from_headers(&normalize_ce_headers(&h));
        }
        if let Ok(m) = serde_json::from_value::<Metadata>(v) {
            let json = serde_json::to_string(&m).map_err(fail)?;
            prop_assert_eq!(serde_json::from_str::<Metadata>(&json).map_err(fail)?, m);
        }
    }
}
