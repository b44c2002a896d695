//! CloudEvents in binary content mode: header keys, normalisation, validation, metadata
//! parsing, legacy enrichment and the headers a publisher sets.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::headers::Headers;
use crate::metadata::{DeliveryInfo, Metadata};

/// Bare attribute name `specversion`.
pub const ATTR_SPECVERSION: &str = "specversion";
/// Bare attribute name `type`.
pub const ATTR_TYPE: &str = "type";
/// Bare attribute name `source`.
pub const ATTR_SOURCE: &str = "source";
/// Bare attribute name `id`.
pub const ATTR_ID: &str = "id";
/// Bare attribute name `time`.
pub const ATTR_TIME: &str = "time";
/// Bare attribute name `datacontenttype`.
pub const ATTR_DATACONTENTTYPE: &str = "datacontenttype";
/// Bare attribute name `subject`.
pub const ATTR_SUBJECT: &str = "subject";
/// Bare attribute name `dataschema`.
pub const ATTR_DATASCHEMA: &str = "dataschema";
/// Bare attribute name of the `correlationid` extension.
pub const ATTR_CORRELATIONID: &str = "correlationid";

/// Prefix of the canonical header keys (and of every key on the NATS wire).
pub const CE_PREFIX: &str = "ce-";
/// Header `ce-specversion` (required).
pub const CE_SPECVERSION: &str = "ce-specversion";
/// Header `ce-type` (required): the routing key.
pub const CE_TYPE: &str = "ce-type";
/// Header `ce-source` (required): the publishing service.
pub const CE_SOURCE: &str = "ce-source";
/// Header `ce-id` (required): a UUID v4.
pub const CE_ID: &str = "ce-id";
/// Header `ce-time` (required): RFC 3339, UTC on publish.
pub const CE_TIME: &str = "ce-time";
/// Header `ce-datacontenttype` (optional).
pub const CE_DATACONTENTTYPE: &str = "ce-datacontenttype";
/// Header `ce-subject` (optional).
pub const CE_SUBJECT: &str = "ce-subject";
/// Header `ce-dataschema` (optional; no [`Metadata`] field reads it).
pub const CE_DATASCHEMA: &str = "ce-dataschema";
/// Header `ce-correlationid` (extension).
pub const CE_CORRELATIONID: &str = "ce-correlationid";

/// The only CloudEvents version the spec speaks.
pub const SPEC_VERSION: &str = "1.0";
/// The default (and only specified) body encoding.
pub const CONTENT_TYPE_JSON: &str = "application/json";
/// The required headers, in the order that drives [`validate_ce_headers`]'s warnings.
pub const REQUIRED_HEADERS: [&str; 5] = [CE_SPECVERSION, CE_TYPE, CE_SOURCE, CE_ID, CE_TIME];

/// Prefix of CloudEvents keys in AMQP application headers (case-sensitive).
pub const AMQP_CE_PREFIX: &str = "cloudEvents:";
/// Prefix of JMS-style CloudEvents keys, also accepted on consume (case-sensitive).
pub const JMS_CE_PREFIX: &str = "cloudEvents_";
/// Header carrying the publishing service's name; reserved for the transport.
pub const SERVICE_HEADER: &str = "service";

/// The AMQP header key of a bare attribute name: `cloudEvents:<attr>`.
///
/// ```
/// use messaging_spec::{ATTR_SPECVERSION, amqp_ce_header_key};
/// assert_eq!(amqp_ce_header_key(ATTR_SPECVERSION), "cloudEvents:specversion");
/// ```
#[must_use]
pub fn amqp_ce_header_key(attr: &str) -> String {
    format!("{AMQP_CE_PREFIX}{attr}")
}

/// Rewrites `cloudEvents:x` and `cloudEvents_x` keys to `ce-x`; every other key is copied.
///
/// The prefixes match case-sensitively (`cloudevents:x` is left alone). When several keys
/// land on the same `ce-x`, the result is deterministic: a key that already was `ce-x` wins,
/// then `cloudEvents:x`, then `cloudEvents_x`. (Go leaves this to map order.)
///
/// ```
/// use messaging_spec::{Headers, normalize_ce_headers};
/// let h: Headers = [("cloudEvents:id", "a"), ("cloudEvents_type", "T"), ("traceparent", "t")]
///     .into_iter()
///     .collect();
/// let n = normalize_ce_headers(&h);
/// assert_eq!(n.get_str("ce-id"), Some("a"));
/// assert_eq!(n.get_str("ce-type"), Some("T"));
/// assert_eq!(n.get_str("traceparent"), Some("t"));
/// assert!(!n.contains_key("cloudEvents:id"));
/// ```
#[must_use]
pub fn normalize_ce_headers(headers: &Headers) -> Headers {
    // Rank 0 = key kept as is, 1 = AMQP prefix, 2 = JMS prefix; the lowest rank wins.
    let mut best: BTreeMap<String, (u8, &serde_json::Value)> = BTreeMap::new();
    for (key, value) in headers.iter() {
        let (target, rank) = if let Some(rest) = key.strip_prefix(AMQP_CE_PREFIX) {
            (format!("{CE_PREFIX}{rest}"), 1)
        } else if let Some(rest) = key.strip_prefix(JMS_CE_PREFIX) {
            (format!("{CE_PREFIX}{rest}"), 2)
        } else {
            (key.to_owned(), 0)
        };
        match best.get(&target) {
            Some((held, _)) if *held <= rank => {}
            _ => {
                best.insert(target, (rank, value));
            }
        }
    }
    best.into_iter()
        .map(|(key, (_, value))| (key, value.clone()))
        .collect()
}

/// True when at least one of the five [`REQUIRED_HEADERS`] is present, whatever its value.
///
/// Optional keys alone (`ce-subject`, …) do not count. This is Go's rule; TypeScript's
/// "any `ce-` key" differs.
///
/// ```
/// use messaging_spec::{Headers, has_ce_headers};
/// let mut h = Headers::new();
/// h.insert("ce-subject", "s");
/// assert!(!has_ce_headers(&h));
/// h.insert("ce-id", 7);
/// assert!(has_ce_headers(&h));
/// ```
#[must_use]
pub fn has_ce_headers(headers: &Headers) -> bool {
    REQUIRED_HEADERS.iter().any(|k| headers.contains_key(k))
}

/// Why a required CloudEvents header is unusable. `Display` gives the spec's exact text.
///
/// ```
/// use messaging_spec::CeWarning;
/// assert_eq!(CeWarning::Missing("ce-id").to_string(), r#"missing required attribute "ce-id""#);
/// assert_eq!(CeWarning::NotString("ce-id").to_string(), r#"attribute "ce-id" is not a string"#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CeWarning {
    /// The header is absent.
    Missing(&'static str),
    /// The header is present but its value is not a string (number, bool, null, …).
    NotString(&'static str),
}

impl CeWarning {
    /// The header key the warning is about.
    #[must_use]
    pub fn header(&self) -> &'static str {
        match self {
            Self::Missing(k) | Self::NotString(k) => k,
        }
    }
}

impl fmt::Display for CeWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The keys are plain ASCII, so `"…"` equals Go's `%q`.
        match self {
            Self::Missing(k) => write!(f, "missing required attribute \"{k}\""),
            Self::NotString(k) => write!(f, "attribute \"{k}\" is not a string"),
        }
    }
}

/// Checks the five required headers, in [`REQUIRED_HEADERS`] order. Empty means valid.
///
/// Validation is advisory: callers log the warnings and still deliver the message.
///
/// ```
/// use messaging_spec::{CeWarning, Headers, validate_ce_headers};
/// let h: Headers = [("ce-id", "1"), ("ce-specversion", "1.0")].into_iter().collect();
/// assert_eq!(
///     validate_ce_headers(&h),
///     [CeWarning::Missing("ce-type"), CeWarning::Missing("ce-source"), CeWarning::Missing("ce-time")]
/// );
/// ```
#[must_use]
pub fn validate_ce_headers(headers: &Headers) -> Vec<CeWarning> {
    REQUIRED_HEADERS
        .iter()
        .filter_map(|&key| match headers.get(key) {
            None => Some(CeWarning::Missing(key)),
            Some(v) if !v.is_string() => Some(CeWarning::NotString(key)),
            Some(_) => None,
        })
        .collect()
}

/// Parses RFC 3339 text, rejecting impossible dates; the offset is kept as written.
fn parse_time(text: &str) -> Option<OffsetDateTime> {
    // `time` also takes `t`, `z`, a space separator and leap second 60; Go does not, so
    // neither do we. The positions are fixed because RFC 3339 years have four digits.
    let b = text.as_bytes();
    if b.get(10) != Some(&b'T') || b.get(17..19) == Some(b"60") || text.ends_with('z') {
        return None;
    }
    // Events published within one second carry the same text: parse it once per thread.
    LAST_TIME.with_borrow_mut(|(cached, parsed)| {
        if cached.as_str() != text {
            *parsed = OffsetDateTime::parse(text, &Rfc3339).ok();
            cached.clear();
            cached.push_str(text);
        }
        *parsed
    })
}

thread_local! {
    /// The last `ce-time` text parsed on this thread (never empty once set: empty text is
    /// rejected above), and what it parsed to.
    static LAST_TIME: RefCell<(String, Option<OffsetDateTime>)> =
        const { RefCell::new((String::new(), None)) };
}

/// Reads [`Metadata`] from canonical (`ce-`) headers; normalise AMQP keys first.
///
/// Absent or non-string values leave a field empty. The timestamp is kept only when
/// `ce-time` is a string that parses as RFC 3339; its offset is preserved.
///
/// ```
/// use messaging_spec::{Headers, metadata_from_headers};
/// let h: Headers = [("ce-id", "abc"), ("ce-time", "2025-06-15T12:30:00+02:00")]
///     .into_iter()
///     .collect();
/// let m = metadata_from_headers(&h);
/// assert_eq!(m.id, "abc");
/// assert_eq!(m.timestamp_rfc3339(), "2025-06-15T12:30:00+02:00");
/// ```
#[must_use]
pub fn metadata_from_headers(headers: &Headers) -> Metadata {
    let text = |key| headers.get_str(key).unwrap_or_default().to_owned();
    Metadata {
        id: text(CE_ID),
        correlation_id: text(CE_CORRELATIONID),
        timestamp: headers.get_str(CE_TIME).and_then(parse_time),
        source: text(CE_SOURCE),
        type_: text(CE_TYPE),
        subject: text(CE_SUBJECT),
        data_content_type: text(CE_DATACONTENTTYPE),
        spec_version: text(CE_SPECVERSION),
    }
}

/// Fills the empty fields of a legacy (or partial) message's metadata; set fields stay.
///
/// | Empty field | Filled with |
/// |---|---|
/// | `id` | `id_gen()` (pass `String::new` to leave it empty) |
/// | `timestamp` | `now`, in UTC |
/// | `type_` | `info.key` |
/// | `source` | `info.source` |
/// | `data_content_type` | [`CONTENT_TYPE_JSON`] |
/// | `spec_version` | [`SPEC_VERSION`] |
///
/// `correlation_id` and `subject` are never filled. `id_gen` runs only when needed.
///
/// ```
/// use messaging_spec::{DeliveryInfo, Metadata, enrich_legacy_metadata};
/// use time::macros::datetime;
/// let info = DeliveryInfo::new("orders", "events", "Order.Created");
/// let m = enrich_legacy_metadata(Metadata::default(), &info, || "gen-1".into(), datetime!(2026-03-05 10:00 UTC));
/// assert_eq!((m.id.as_str(), m.type_.as_str(), m.source.as_str()), ("gen-1", "Order.Created", "events"));
/// assert_eq!(m.timestamp_rfc3339(), "2026-03-05T10:00:00Z");
/// ```
#[must_use]
pub fn enrich_legacy_metadata(
    mut m: Metadata,
    info: &DeliveryInfo,
    id_gen: impl FnOnce() -> String,
    now: OffsetDateTime,
) -> Metadata {
    fn fill(field: &mut String, value: impl FnOnce() -> String) {
        if field.is_empty() {
            *field = value();
        }
    }
    fill(&mut m.id, id_gen);
    if m.timestamp.is_none() {
        m.timestamp = Some(now.to_offset(UtcOffset::UTC));
    }
    fill(&mut m.type_, || info.key.clone());
    fill(&mut m.source, || info.source.clone());
    fill(&mut m.data_content_type, || CONTENT_TYPE_JSON.to_owned());
    fill(&mut m.spec_version, || SPEC_VERSION.to_owned());
    m
}

/// A fresh event id: a random UUID v4, lower-case and hyphenated.
#[must_use]
pub fn new_event_id() -> String {
    // Encoded into a stack buffer: `to_string()` goes through the formatting machinery,
    // which a profile of request-reply showed at twice the cost of drawing the UUID.
    let mut buf = uuid::Uuid::encode_buffer();
    uuid::Uuid::new_v4()
        .hyphenated()
        .encode_lower(&mut buf)
        .to_owned()
}

/// Formats a `ce-time` value: UTC, whole seconds, `Z` (`2026-03-05T10:00:00Z`).
///
/// ```
/// use messaging_spec::format_ce_time;
/// use time::macros::datetime;
/// assert_eq!(format_ce_time(datetime!(2026-03-05 12:00:00.75 +02:00)), "2026-03-05T10:00:00Z");
/// ```
#[must_use]
pub fn format_ce_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    // `format!` cannot fail, unlike `time`'s formatter, and the layout is fixed.
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The headers to publish: `existing` plus the CloudEvents defaults, each set only when
/// the caller has not set that key (whatever its value).
///
/// | Key | Default |
/// |---|---|
/// | `ce-specversion` | [`SPEC_VERSION`] |
/// | `ce-type` | `routing_key` |
/// | `ce-source` | `source` (the publishing service) |
/// | `ce-datacontenttype` | [`CONTENT_TYPE_JSON`] |
/// | `ce-time` | [`format_ce_time`]`(now)` |
/// | `ce-id` | `new_id()`, called only when needed |
///
/// The reserved [`SERVICE_HEADER`] is the transport's business and is not touched here.
///
/// ```
/// use messaging_spec::{Headers, publish_headers};
/// use time::macros::datetime;
/// let mut mine = Headers::new();
/// mine.insert("ce-id", "my-id");
/// let h = publish_headers(&mine, "Order.Created", "orders", datetime!(2026-03-05 10:00 UTC), || unreachable!());
/// assert_eq!(h.get_str("ce-id"), Some("my-id"));
/// assert_eq!(h.get_str("ce-type"), Some("Order.Created"));
/// assert_eq!(h.get_str("ce-time"), Some("2026-03-05T10:00:00Z"));
/// ```
#[must_use]
pub fn publish_headers(
    existing: &Headers,
    routing_key: &str,
    source: &str,
    now: OffsetDateTime,
    new_id: impl FnOnce() -> String,
) -> Headers {
    let mut h = existing.clone();
    h.insert_if_absent(CE_SPECVERSION, SPEC_VERSION);
    h.insert_if_absent(CE_TYPE, routing_key);
    h.insert_if_absent(CE_SOURCE, source);
    h.insert_if_absent(CE_DATACONTENTTYPE, CONTENT_TYPE_JSON);
    h.insert_if_absent(CE_TIME, format_ce_time(now));
    if !h.contains_key(CE_ID) {
        h.insert(CE_ID, new_id());
    }
    h
}

/// [`publish_headers`] with the current time and a fresh [`new_event_id`].
#[must_use]
pub fn publish_headers_now(existing: &Headers, routing_key: &str, source: &str) -> Headers {
    publish_headers(
        existing,
        routing_key,
        source,
        OffsetDateTime::now_utc(),
        new_event_id,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    fn headers(v: serde_json::Value) -> Headers {
        serde_json::from_value(v).expect("headers are a JSON object")
    }

    #[test]
    fn header_keys_are_prefix_plus_attribute() {
        let pairs = [
            (CE_SPECVERSION, ATTR_SPECVERSION),
            (CE_TYPE, ATTR_TYPE),
            (CE_SOURCE, ATTR_SOURCE),
            (CE_ID, ATTR_ID),
            (CE_TIME, ATTR_TIME),
            (CE_DATACONTENTTYPE, ATTR_DATACONTENTTYPE),
            (CE_SUBJECT, ATTR_SUBJECT),
            (CE_DATASCHEMA, ATTR_DATASCHEMA),
            (CE_CORRELATIONID, ATTR_CORRELATIONID),
        ];
        for (key, attr) in pairs {
            assert_eq!(key, format!("{CE_PREFIX}{attr}"));
        }
        assert_eq!(amqp_ce_header_key(ATTR_ID), "cloudEvents:id");
    }

    #[test]
    fn normalise_precedence_is_ce_then_amqp_then_jms() {
        let h = headers(json!({
            "ce-id": "plain", "cloudEvents:id": "amqp", "cloudEvents_id": "jms",
            "cloudEvents:type": "amqp", "cloudEvents_type": "jms",
            "cloudEvents_source": "jms",
        }));
        let n = normalize_ce_headers(&h);
        assert_eq!(
            n,
            headers(json!({"ce-id": "plain", "ce-type": "amqp", "ce-source": "jms"}))
        );
        // The input is untouched.
        assert_eq!(h.len(), 6);
    }

    #[test]
    fn normalise_is_case_sensitive_and_keeps_values() {
        let h = headers(json!({
            "cloudevents:id": "x", "CloudEvents_type": "y", "ce-time": 5,
            "cloudEvents:specversion": null, "traceparent": "00-ab",
        }));
        assert_eq!(
            normalize_ce_headers(&h),
            headers(json!({
                "cloudevents:id": "x", "CloudEvents_type": "y", "ce-time": 5,
                "ce-specversion": null, "traceparent": "00-ab",
            }))
        );
    }

    #[test]
    fn has_ce_headers_needs_a_required_key_of_any_type() {
        assert!(!has_ce_headers(&Headers::new()));
        assert!(!has_ce_headers(&headers(
            json!({"ce-subject": "s", "ce-datacontenttype": "application/json", "x": "y"})
        )));
        assert!(!has_ce_headers(&headers(json!({"cloudEvents:id": "a"}))));
        assert!(has_ce_headers(&headers(json!({"ce-time": null}))));
        assert!(has_ce_headers(&headers(json!({"ce-source": false}))));
    }

    #[test]
    fn validate_reports_null_as_not_a_string() {
        let h = headers(json!({
            "ce-specversion": "1.0", "ce-type": null, "ce-source": ["a"],
            "ce-id": {"k": 1}, "ce-time": "",
        }));
        let w: Vec<String> = validate_ce_headers(&h)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            w,
            [
                r#"attribute "ce-type" is not a string"#,
                r#"attribute "ce-source" is not a string"#,
                r#"attribute "ce-id" is not a string"#,
            ]
        );
        assert_eq!(validate_ce_headers(&h)[0].header(), CE_TYPE);
    }

    #[test]
    fn metadata_reads_strings_only() {
        let m = metadata_from_headers(&headers(json!({
            "ce-id": 1, "ce-type": "T", "ce-subject": true, "ce-correlationid": "c",
            "cloudEvents:source": "not-normalised",
        })));
        assert_eq!(m.id, "");
        assert_eq!(m.type_, "T");
        assert_eq!(m.subject, "");
        assert_eq!(m.correlation_id, "c");
        assert_eq!(m.source, "");
    }

    fn ts(text: &str) -> String {
        metadata_from_headers(&headers(json!({ "ce-time": text }))).timestamp_rfc3339()
    }

    #[test]
    fn time_must_be_a_real_rfc3339_instant() {
        for bad in [
            "2025-02-30T10:00:00Z",
            "2025-13-01T10:00:00Z",
            "2025-06-15T25:00:00Z",
            "2025-06-15 10:30:00Z",
            "2025-06-15t10:30:00Z",
            "2025-06-15T10:30:00z",
            "2025-06-30T23:59:60Z",
            "2025-06-15T10:30:00+2:00",
            "2025-06-15T10:30Z",
            "2025-06-15T10:30:00",
            "2025-06-15",
            "1718447400",
            "",
        ] {
            assert_eq!(ts(bad), "", "{bad} must be rejected");
        }
        assert_eq!(ts("2024-02-29T23:59:59Z"), "2024-02-29T23:59:59Z");
    }

    #[test]
    fn the_parsed_time_cache_answers_for_its_own_text_only() {
        // Alternating texts on one thread, a bad one among them: each gets its own answer.
        for _ in 0..2 {
            assert_eq!(ts("2025-06-15T10:30:00Z"), "2025-06-15T10:30:00Z");
            assert_eq!(ts("2025-06-15T10:30:01Z"), "2025-06-15T10:30:01Z");
            assert_eq!(ts("2025-02-30T10:00:00Z"), "");
            assert_eq!(ts("2025-02-30T10:00:00Z"), "");
            assert_eq!(ts("2025-06-15T10:30:01Z"), "2025-06-15T10:30:01Z");
        }
    }

    #[test]
    fn time_keeps_fraction_and_offset() {
        assert_eq!(
            ts("2025-06-15T10:30:00.123456789Z"),
            "2025-06-15T10:30:00.123456789Z"
        );
        assert_eq!(
            ts("2025-06-15T10:30:00.5-05:30"),
            "2025-06-15T10:30:00.5-05:30"
        );
        let m = metadata_from_headers(&headers(json!({"ce-time": "2025-06-15T12:30:00+02:00"})));
        assert_eq!(m.timestamp, Some(datetime!(2025-06-15 12:30:00 +02:00)));
        assert_eq!(
            m.timestamp.map(OffsetDateTime::offset),
            Some(time::macros::offset!(+02:00))
        );
    }

    #[test]
    fn enrich_fills_only_empty_fields() {
        let info = DeliveryInfo::new("q", "events", "Order.Created");
        let now = datetime!(2026-03-05 12:00:00 +02:00);
        let m = enrich_legacy_metadata(Metadata::default(), &info, || "gen".to_owned(), now);
        assert_eq!(m.id, "gen");
        assert_eq!(m.timestamp, Some(datetime!(2026-03-05 10:00:00 UTC)));
        assert_eq!(m.timestamp.map(|t| t.offset()), Some(UtcOffset::UTC));
        assert_eq!(m.type_, "Order.Created");
        assert_eq!(m.source, "events");
        assert_eq!(m.data_content_type, CONTENT_TYPE_JSON);
        assert_eq!(m.spec_version, SPEC_VERSION);
        assert_eq!(m.correlation_id, "");
        assert_eq!(m.subject, "");

        let set = Metadata {
            id: "keep".into(),
            timestamp: Some(datetime!(2020-01-01 0:00 +01:00)),
            type_: "T".into(),
            source: "S".into(),
            data_content_type: "application/xml".into(),
            spec_version: "0.3".into(),
            ..Metadata::default()
        };
        let out = enrich_legacy_metadata(
            set.clone(),
            &info,
            || panic!("id_gen must not run when the id is set"),
            now,
        );
        assert_eq!(out, set);
    }

    #[test]
    fn ce_time_is_utc_whole_seconds() {
        assert_eq!(
            format_ce_time(datetime!(2026-03-05 10:00:00.999 UTC)),
            "2026-03-05T10:00:00Z"
        );
        assert_eq!(
            format_ce_time(datetime!(2026-01-01 01:30:05 +03:00)),
            "2025-12-31T22:30:05Z"
        );
    }

    #[test]
    fn event_ids_are_lowercase_uuid_v4() {
        let id = new_event_id();
        let parsed = uuid::Uuid::parse_str(&id).map(|u| u.get_version_num());
        assert_eq!(parsed.ok(), Some(4));
        assert_eq!(id, id.to_lowercase());
        assert_eq!(id.len(), 36);
        assert_ne!(id, new_event_id());
    }

    #[test]
    fn publish_sets_defaults() {
        let now = datetime!(2026-03-05 10:00:00.4 UTC);
        let h = publish_headers(&Headers::new(), "Order.Created", "orders", now, || {
            "id-1".to_owned()
        });
        assert_eq!(
            h,
            headers(json!({
                "ce-specversion": "1.0", "ce-type": "Order.Created", "ce-source": "orders",
                "ce-datacontenttype": "application/json", "ce-time": "2026-03-05T10:00:00Z",
                "ce-id": "id-1",
            }))
        );
        assert!(validate_ce_headers(&h).is_empty());
    }

    #[test]
    fn publish_keeps_caller_values() {
        let mine = headers(json!({
            "ce-specversion": "1.0-custom", "ce-type": "Other", "ce-source": "proxy",
            "ce-datacontenttype": "text/plain", "ce-time": "2020-01-01T00:00:00+01:00",
            "ce-id": "", "x-tenant": "t1",
        }));
        let h = publish_headers(
            &mine,
            "Order.Created",
            "orders",
            datetime!(2026-03-05 10:00 UTC),
            || panic!("a caller id must be kept"),
        );
        assert_eq!(h, mine);
    }

    #[test]
    fn publish_now_is_valid_and_unique() {
        let a = publish_headers_now(&Headers::new(), "A.B", "svc");
        let b = publish_headers_now(&Headers::new(), "A.B", "svc");
        assert!(validate_ce_headers(&a).is_empty());
        assert_ne!(a.get_str(CE_ID), b.get_str(CE_ID));
        let time = a.get_str(CE_TIME).unwrap_or_default();
        assert!(time.ends_with('Z') && time.len() == 20, "{time}");
        assert!(metadata_from_headers(&a).timestamp.is_some());
    }
}
