//! AMQP header tables both ways.
//!
//! **Publishing** builds the reference's table: `service`, the caller's headers (with `ce-`
//! and `cloudEvents_` keys written as `cloudEvents:`), the CloudEvents defaults set only
//! when absent, trace context, and `CC` for queue publishers. Every string is an AMQP long
//! string (`S`): lapin's short-string type id is not accepted by brokers.
//!
//! **Consuming** turns a table into spec [`Headers`] (JSON values):
//!
//! | AMQP | JSON |
//! |---|---|
//! | long or short string | string; invalid UTF-8 replaced by U+FFFD (what Go's `json.Marshal` does) |
//! | byte array (`x`) | base64 string (Go marshals `[]byte` as base64) |
//! | booleans, integers | `true`/`false`, numbers |
//! | float, double, decimal | numbers (`null` when not finite) |
//! | timestamp | RFC 3339 UTC string (Go decodes it as `time.Time`) |
//! | field array / field table | array / object, recursively |
//! | void | `null` |
//!
//! Consumers then normalise `cloudEvents:` and `cloudEvents_` keys to `ce-`.

use lapin::types::{AMQPValue, FieldArray, FieldTable, LongString, ShortString};
use messaging_spec::{
    AMQP_CE_PREFIX, CE_ID, CE_PREFIX, Headers, JMS_CE_PREFIX, SERVICE_HEADER, new_event_id,
    publish_headers,
};
use serde_json::Value;
use time::OffsetDateTime;

use crate::error::{Error, Result};

/// The queue publisher's carbon-copy header: the broker also routes to the queues it lists.
pub(crate) const CC_HEADER: &str = "CC";
/// The delivery count a quorum queue adds on redelivery (absent on the first delivery).
pub(crate) const DELIVERY_COUNT: &str = "x-delivery-count";

/// What goes into a publish's header table.
pub(crate) struct HeaderInput<'a> {
    /// The `service` header: the sender, or the recipient for responses.
    pub(crate) service: &'a str,
    /// `cloudEvents:source` default: this service.
    pub(crate) source: &'a str,
    /// `cloudEvents:type` default: the routing key.
    pub(crate) routing_key: &'a str,
    /// Queue publishers: the destination queue, sent as `CC`.
    pub(crate) cc: Option<&'a str>,
    /// The caller's headers, in order.
    pub(crate) custom: &'a [(String, String)],
    /// The caller's CloudEvents id (wins over a `ce-id` header).
    pub(crate) id: Option<&'a str>,
}

/// A publish's finished header table and its CloudEvents id.
#[derive(Debug, Clone)]
pub(crate) struct PublishHeaders {
    pub(crate) table: FieldTable,
    pub(crate) id: String,
}

fn long(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

fn key(k: &str) -> Result<ShortString> {
    if k.is_empty() {
        return Err(Error::InvalidHeader(String::new()));
    }
    ShortString::try_new(k).map_err(|_| Error::InvalidHeader(k.to_owned()))
}

/// The CloudEvents attribute a caller key names, if any: `ce-x`, `cloudEvents:x` and
/// `cloudEvents_x` all name `x`, with that precedence (rank 0 wins).
fn ce_attribute(k: &str) -> Option<(&str, u8)> {
    if let Some(rest) = k.strip_prefix(AMQP_CE_PREFIX) {
        Some((rest, 0))
    } else if let Some(rest) = k.strip_prefix(CE_PREFIX) {
        Some((rest, 1))
    } else {
        k.strip_prefix(JMS_CE_PREFIX).map(|rest| (rest, 2))
    }
}

impl PublishHeaders {
    /// Builds the table; `trace` holds the propagator's keys (W3C `traceparent`…).
    pub(crate) fn build(input: &HeaderInput<'_>, trace: &Headers) -> Result<Self> {
        let mut table = FieldTable::default();
        // CloudEvents attributes by their `ce-` key, with the rank that set them.
        let mut ce: std::collections::BTreeMap<String, (u8, &str)> =
            std::collections::BTreeMap::new();
        for (k, v) in input.custom {
            if k.is_empty() {
                return Err(Error::InvalidHeader(String::new()));
            }
            if k == SERVICE_HEADER || (input.cc.is_some() && k == CC_HEADER) {
                return Err(Error::ReservedHeader(k.clone()));
            }
            match ce_attribute(k) {
                Some((attr, rank)) if !attr.is_empty() => {
                    let target = format!("{CE_PREFIX}{attr}");
                    match ce.get(&target) {
                        Some((held, _)) if *held < rank => {}
                        _ => {
                            ce.insert(target, (rank, v.as_str()));
                        }
                    }
                }
                _ => {
                    table.insert(key(k)?, long(v));
                }
            }
        }
        let mut existing: Headers = ce.iter().map(|(k, (_, v))| (k.as_str(), *v)).collect();
        if let Some(id) = input.id {
            existing.insert(CE_ID, id);
        }
        if existing.get_str(CE_ID) == Some("") {
            // As the reference: an empty id is replaced.
            existing.remove(CE_ID);
        }
        let ce = publish_headers(
            &existing,
            input.routing_key,
            input.source,
            OffsetDateTime::now_utc(),
            new_event_id,
        );
        let id = ce.get_str(CE_ID).unwrap_or_default().to_owned();
        for (k, v) in ce.iter_str() {
            let attr = k.strip_prefix(CE_PREFIX).unwrap_or(k);
            table.insert(key(&format!("{AMQP_CE_PREFIX}{attr}"))?, long(v));
        }
        for (k, v) in trace.iter_str() {
            table.insert(key(k)?, long(v));
        }
        table.insert(SERVICE_HEADER.into(), long(input.service));
        if let Some(queue) = input.cc {
            table.insert(
                CC_HEADER.into(),
                AMQPValue::FieldArray(FieldArray::from(vec![long(queue)])),
            );
        }
        Ok(Self { table, id })
    }
}

impl PublishHeaders {
    /// Adds the propagator's keys (a caller's header of the same key is replaced).
    pub(crate) fn add_trace(&mut self, trace: &Headers) -> Result<()> {
        for (k, v) in trace.iter_str() {
            self.table.insert(key(k)?, long(v));
        }
        Ok(())
    }
}

/// A delivered header table as spec [`Headers`] (keys as sent; see the module docs for
/// the value mapping). Normalise CloudEvents keys afterwards.
pub(crate) fn to_headers(table: Option<&FieldTable>) -> Headers {
    let Some(table) = table else {
        return Headers::new();
    };
    table
        .inner()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), to_json(v)))
        .collect()
}

fn number(f: f64) -> Value {
    serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// One AMQP value as JSON.
pub(crate) fn to_json(v: &AMQPValue) -> Value {
    match v {
        AMQPValue::Boolean(b) => Value::Bool(*b),
        AMQPValue::ShortShortInt(n) => Value::from(*n),
        AMQPValue::ShortShortUInt(n) => Value::from(*n),
        AMQPValue::ShortInt(n) => Value::from(*n),
        AMQPValue::ShortUInt(n) => Value::from(*n),
        AMQPValue::LongInt(n) => Value::from(*n),
        AMQPValue::LongUInt(n) => Value::from(*n),
        AMQPValue::LongLongInt(n) => Value::from(*n),
        AMQPValue::Float(f) => number(f64::from(*f)),
        AMQPValue::Double(f) => number(*f),
        AMQPValue::DecimalValue(d) => number(f64::from(d.value) / 10f64.powi(i32::from(d.scale))),
        AMQPValue::ShortString(s) => Value::String(s.as_str().to_owned()),
        AMQPValue::LongString(s) => Value::String(String::from_utf8_lossy(s.as_bytes()).into()),
        AMQPValue::ByteArray(b) => Value::String(base64(b.as_slice())),
        AMQPValue::Timestamp(t) => timestamp(*t),
        AMQPValue::FieldArray(a) => Value::Array(a.as_slice().iter().map(to_json).collect()),
        AMQPValue::FieldTable(t) => Value::Object(
            t.inner()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), to_json(v)))
                .collect(),
        ),
        AMQPValue::Void => Value::Null,
    }
}

fn timestamp(seconds: u64) -> Value {
    let rfc3339 = i64::try_from(seconds)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        });
    rfc3339.map_or_else(|| Value::from(seconds), Value::String)
}

/// Standard base64 with padding (RFC 4648), as Go's `encoding/json` writes `[]byte`.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A string header (long or short string), as sent.
pub(crate) fn get_str(table: Option<&FieldTable>, name: &str) -> Option<String> {
    match table?.inner().get(name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

/// The 1-based delivery attempt: `x-delivery-count` (prior returns to the queue) + 1.
/// The header is absent on a first delivery; any integer type is accepted.
pub(crate) fn delivery_attempt(table: Option<&FieldTable>) -> u32 {
    let count = table
        .and_then(|t| t.inner().get(DELIVERY_COUNT))
        .and_then(|v| match v {
            AMQPValue::ShortShortInt(n) => Some(i64::from(*n)),
            AMQPValue::ShortShortUInt(n) => Some(i64::from(*n)),
            AMQPValue::ShortInt(n) => Some(i64::from(*n)),
            AMQPValue::ShortUInt(n) => Some(i64::from(*n)),
            AMQPValue::LongInt(n) => Some(i64::from(*n)),
            AMQPValue::LongUInt(n) => Some(i64::from(*n)),
            AMQPValue::LongLongInt(n) => Some(*n),
            _ => None,
        })
        .unwrap_or(0);
    u32::try_from(count.max(0))
        .unwrap_or(u32::MAX)
        .saturating_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::types::{ByteArray, DecimalValue};
    use serde_json::json;

    fn input<'a>(custom: &'a [(String, String)]) -> HeaderInput<'a> {
        HeaderInput {
            service: "orders",
            source: "orders",
            routing_key: "Order.Created",
            cc: None,
            custom,
            id: None,
        }
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn s(table: &FieldTable, k: &str) -> Option<String> {
        match table.inner().get(k)? {
            AMQPValue::LongString(v) => Some(String::from_utf8_lossy(v.as_bytes()).into_owned()),
            other => panic!("{k} is {other:?}, not a long string"),
        }
    }

    #[test]
    fn defaults_are_the_reference_set_as_long_strings() -> Result<()> {
        let h = PublishHeaders::build(&input(&[]), &Headers::new())?;
        let t = &h.table;
        let keys: Vec<&str> = t.inner().keys().map(ShortString::as_str).collect();
        assert_eq!(
            keys,
            [
                "cloudEvents:datacontenttype",
                "cloudEvents:id",
                "cloudEvents:source",
                "cloudEvents:specversion",
                "cloudEvents:time",
                "cloudEvents:type",
                "service",
            ]
        );
        assert_eq!(s(t, "service").as_deref(), Some("orders"));
        assert_eq!(s(t, "cloudEvents:specversion").as_deref(), Some("1.0"));
        assert_eq!(s(t, "cloudEvents:type").as_deref(), Some("Order.Created"));
        assert_eq!(s(t, "cloudEvents:source").as_deref(), Some("orders"));
        assert_eq!(
            s(t, "cloudEvents:datacontenttype").as_deref(),
            Some("application/json")
        );
        let id = s(t, "cloudEvents:id").unwrap_or_default();
        assert_eq!(id, h.id);
        assert_eq!(
            uuid::Uuid::parse_str(&id).map(|u| u.get_version_num()),
            Ok(4)
        );
        let time = s(t, "cloudEvents:time").unwrap_or_default();
        assert_eq!(time.len(), "2026-03-05T10:00:00Z".len());
        assert!(time.ends_with('Z'));
        Ok(())
    }

    #[test]
    fn caller_ce_keys_become_amqp_keys_and_win() -> Result<()> {
        let custom = pairs(&[
            ("ce-type", "Custom.Type"),
            ("cloudEvents_source", "jms"),
            ("ce-source", "mine"),
            ("cloudEvents:subject", "sub"),
            ("ce-subject", "loses"),
            ("x-priority", "high"),
        ]);
        let h = PublishHeaders::build(&input(&custom), &Headers::new())?;
        let t = &h.table;
        assert_eq!(s(t, "cloudEvents:type").as_deref(), Some("Custom.Type"));
        assert_eq!(s(t, "cloudEvents:source").as_deref(), Some("mine"));
        assert_eq!(s(t, "cloudEvents:subject").as_deref(), Some("sub"));
        assert_eq!(s(t, "x-priority").as_deref(), Some("high"));
        for gone in ["ce-type", "ce-source", "cloudEvents_source", "ce-subject"] {
            assert!(!t.contains_key(gone), "{gone}");
        }
        Ok(())
    }

    #[test]
    fn ids_from_the_builder_win_and_empty_ids_are_replaced() -> Result<()> {
        let custom = pairs(&[("ce-id", "from-header")]);
        let mut i = input(&custom);
        i.id = Some("from-builder");
        assert_eq!(
            PublishHeaders::build(&i, &Headers::new())?.id,
            "from-builder"
        );
        i.id = None;
        assert_eq!(
            PublishHeaders::build(&i, &Headers::new())?.id,
            "from-header"
        );
        let empty = pairs(&[("cloudEvents:id", "")]);
        let h = PublishHeaders::build(&input(&empty), &Headers::new())?;
        assert_eq!(h.id.len(), 36);
        Ok(())
    }

    #[test]
    fn reserved_and_invalid_keys_are_refused() {
        let bad = |custom: &[(&str, &str)], cc: Option<&str>| {
            let custom = pairs(custom);
            let mut i = input(&custom);
            i.cc = cc;
            PublishHeaders::build(&i, &Headers::new()).map(drop)
        };
        assert!(
            matches!(bad(&[("service", "x")], None), Err(Error::ReservedHeader(k)) if k == "service")
        );
        assert!(matches!(bad(&[("", "x")], None), Err(Error::InvalidHeader(k)) if k.is_empty()));
        let long_key = "k".repeat(256);
        assert!(matches!(
            bad(&[(&long_key, "x")], None),
            Err(Error::InvalidHeader(_))
        ));
        assert!(matches!(
            bad(&[("CC", "x")], Some("q")),
            Err(Error::ReservedHeader(_))
        ));
        assert!(bad(&[("CC", "x")], None).is_ok());
    }

    #[test]
    fn queue_publish_carries_cc_and_responses_name_the_recipient() -> Result<()> {
        let mut i = input(&[]);
        i.cc = Some("task-queue");
        i.service = "web-app";
        let mut trace = Headers::new();
        trace.insert("traceparent", "00-abc-def-01");
        let t = PublishHeaders::build(&i, &trace)?.table;
        assert_eq!(
            t.inner().get("CC"),
            Some(&AMQPValue::FieldArray(vec![long("task-queue")].into()))
        );
        assert_eq!(s(&t, "service").as_deref(), Some("web-app"));
        assert_eq!(s(&t, "cloudEvents:source").as_deref(), Some("orders"));
        assert_eq!(s(&t, "traceparent").as_deref(), Some("00-abc-def-01"));
        Ok(())
    }

    #[test]
    fn delivered_tables_become_json() {
        let mut nested = FieldTable::default();
        nested.insert("a".into(), AMQPValue::LongLongInt(-3));
        let mut t = FieldTable::default();
        t.insert("s".into(), long("text"));
        t.insert(
            "bad".into(),
            AMQPValue::LongString(LongString::from(vec![b'a', 0xff])),
        );
        t.insert("b".into(), AMQPValue::Boolean(true));
        t.insert("i".into(), AMQPValue::LongInt(42));
        t.insert("u".into(), AMQPValue::ShortShortUInt(7));
        t.insert("d".into(), AMQPValue::Double(2.5));
        t.insert(
            "dec".into(),
            AMQPValue::DecimalValue(DecimalValue {
                scale: 2,
                value: 1234,
            }),
        );
        t.insert("nan".into(), AMQPValue::Float(f32::NAN));
        t.insert(
            "bytes".into(),
            AMQPValue::ByteArray(ByteArray::from(b"hello".as_slice())),
        );
        t.insert("ts".into(), AMQPValue::Timestamp(1_772_704_800));
        t.insert(
            "arr".into(),
            AMQPValue::FieldArray(vec![long("q"), AMQPValue::Void].into()),
        );
        t.insert("tbl".into(), AMQPValue::FieldTable(nested));
        let h = to_headers(Some(&t));
        let as_json = serde_json::to_value(&h).unwrap_or_default();
        assert_eq!(
            as_json,
            json!({
                "s": "text", "bad": "a\u{fffd}", "b": true, "i": 42, "u": 7, "d": 2.5,
                "dec": 12.34, "nan": null, "bytes": "aGVsbG8=", "ts": "2026-03-05T10:00:00Z",
                "arr": ["q", null], "tbl": {"a": -3}
            })
        );
        assert!(to_headers(None).is_empty());
    }

    #[test]
    fn base64_pads_like_go() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn delivery_attempts_count_from_one() {
        assert_eq!(delivery_attempt(None), 1);
        let mut t = FieldTable::default();
        assert_eq!(delivery_attempt(Some(&t)), 1);
        t.insert(DELIVERY_COUNT.into(), AMQPValue::LongLongInt(2));
        assert_eq!(delivery_attempt(Some(&t)), 3);
        t.insert(DELIVERY_COUNT.into(), AMQPValue::LongInt(-5));
        assert_eq!(delivery_attempt(Some(&t)), 1);
        t.insert(DELIVERY_COUNT.into(), long("7"));
        assert_eq!(delivery_attempt(Some(&t)), 1);
    }

    #[test]
    fn string_headers_are_read_from_long_and_short_strings() {
        let mut t = FieldTable::default();
        t.insert("service".into(), long("web-app"));
        t.insert("n".into(), AMQPValue::LongInt(1));
        assert_eq!(get_str(Some(&t), "service").as_deref(), Some("web-app"));
        assert_eq!(get_str(Some(&t), "n"), None);
        assert_eq!(get_str(Some(&t), "missing"), None);
    }
}
