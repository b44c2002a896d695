//! Conversion between NATS header maps and the spec's [`Headers`], and the header map of a
//! publish, built straight in NATS form (the hot path).

use std::cell::RefCell;
use std::str::FromStr;

use async_nats::HeaderMap;
use async_nats::header::{HeaderName, HeaderValue, NATS_MESSAGE_ID};
use messaging_spec::{CONTENT_TYPE_JSON, Headers, SERVICE_HEADER, SPEC_VERSION};
use time::OffsetDateTime;

use crate::error::{Error, Result};

// Built at compile time: no parsing or allocation per publish.
static CE_SPECVERSION: HeaderName = HeaderName::from_static(messaging_spec::CE_SPECVERSION);
static CE_TYPE: HeaderName = HeaderName::from_static(messaging_spec::CE_TYPE);
static CE_SOURCE: HeaderName = HeaderName::from_static(messaging_spec::CE_SOURCE);
static CE_ID: HeaderName = HeaderName::from_static(messaging_spec::CE_ID);
static CE_TIME: HeaderName = HeaderName::from_static(messaging_spec::CE_TIME);
static CE_DATACONTENTTYPE: HeaderName = HeaderName::from_static(messaging_spec::CE_DATACONTENTTYPE);
static SERVICE: HeaderName = HeaderName::from_static(SERVICE_HEADER);

/// The headers of one publish, kept as parts: async-nats takes the map by value, so each
/// attempt gets a fresh map and a retry rebuilds the identical one.
///
/// The result equals [`messaging_spec::publish_headers`] plus `service`, `Nats-Msg-Id`
/// (stream targets) and trace context.
pub(crate) struct PublishHeaders {
    /// The caller's headers, then `.id(..)` as `ce-id`: validated, in order (last wins).
    custom: Vec<(HeaderName, HeaderValue)>,
    /// The `ce-id`: the caller's, or a fresh UUID v4.
    id: String,
    /// `ce-time`, as whole Unix seconds.
    time: i64,
    /// Trace context, written last.
    trace: Vec<(HeaderName, HeaderValue)>,
}

impl PublishHeaders {
    /// Validates the caller's headers once and fixes the id and time of every attempt.
    pub(crate) fn new(custom: Vec<(String, String)>, id: Option<String>) -> Result<Self> {
        let mut pairs = Vec::with_capacity(custom.len() + usize::from(id.is_some()));
        for (k, v) in custom {
            if k == SERVICE_HEADER {
                return Err(Error::ReservedHeader(k));
            }
            pairs.push((name(&k)?, value(&k, &v)?));
        }
        if let Some(id) = id {
            pairs.push((CE_ID.clone(), value(messaging_spec::CE_ID, &id)?));
        }
        let id = pairs
            .iter()
            .rev()
            .find(|(k, _)| *k == CE_ID)
            .map_or_else(messaging_spec::new_event_id, |(_, v)| v.as_str().to_owned());
        Ok(Self {
            custom: pairs,
            id,
            time: OffsetDateTime::now_utc().unix_timestamp(),
            trace: Vec::new(),
        })
    }

    /// The `ce-id` (also the `Nats-Msg-Id`).
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// The `ce-id`, for the receipt.
    pub(crate) fn into_id(self) -> String {
        self.id
    }

    /// Keeps what the propagator wrote; a key or value NATS cannot carry is skipped.
    pub(crate) fn set_trace(&mut self, trace: &Headers) {
        self.trace = trace
            .iter_str()
            .filter_map(|(k, v)| match (name(k), value(k, v)) {
                (Ok(k), Ok(v)) => Some((k, v)),
                _ => {
                    tracing::debug!(
                        key = k,
                        "propagator produced an invalid NATS header; skipped"
                    );
                    None
                }
            })
            .collect();
    }

    /// The map for one attempt. `routing_key` and `source` are validated names, which
    /// carry no CR or LF.
    pub(crate) fn to_map(&self, routing_key: &str, source: &str, msg_id: bool) -> HeaderMap {
        // Defaults first, then the caller's headers replace them: set-if-absent without
        // a lookup per key.
        let mut map = self.ce_map(routing_key, source);
        if msg_id {
            map.insert(NATS_MESSAGE_ID, text(&self.id));
        }
        for (k, v) in &self.custom {
            map.insert(k.clone(), v.clone());
        }
        map.insert(SERVICE.clone(), text(source));
        for (k, v) in &self.trace {
            map.insert(k.clone(), v.clone());
        }
        map
    }

    /// Only the six CloudEvents attributes (what [`messaging_spec::publish_headers`] makes
    /// without custom headers), straight into a NATS map: a request handler's reply.
    pub(crate) fn ce_map(&self, routing_key: &str, source: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(CE_SPECVERSION.clone(), text(SPEC_VERSION));
        map.insert(CE_TYPE.clone(), text(routing_key));
        map.insert(CE_SOURCE.clone(), text(source));
        map.insert(CE_DATACONTENTTYPE.clone(), text(CONTENT_TYPE_JSON));
        map.insert(CE_TIME.clone(), ce_time(self.time));
        map.insert(CE_ID.clone(), text(&self.id));
        map
    }

    /// Fresh attributes for a message without custom headers: a new id, the time now.
    pub(crate) fn fresh() -> Self {
        Self {
            custom: Vec::new(),
            id: messaging_spec::new_event_id(),
            time: OffsetDateTime::now_utc().unix_timestamp(),
            trace: Vec::new(),
        }
    }
}

/// A value from text already known to be valid; empty rather than a panic if it were not.
fn text(v: &str) -> HeaderValue {
    HeaderValue::from_str(v).unwrap_or_default()
}

thread_local! {
    /// The last formatted `ce-time`: publishes within one second share it.
    static CE_TIME_CACHE: RefCell<Option<(i64, HeaderValue)>> = const { RefCell::new(None) };
}

fn ce_time(second: i64) -> HeaderValue {
    CE_TIME_CACHE.with_borrow_mut(|cache| match cache {
        Some((cached, v)) if *cached == second => v.clone(),
        _ => {
            let t =
                OffsetDateTime::from_unix_timestamp(second).unwrap_or(OffsetDateTime::UNIX_EPOCH);
            let v = text(&messaging_spec::format_ce_time(t));
            *cache = Some((second, v.clone()));
            v
        }
    })
}

/// Every NATS header, first value only, as strings (keys keep their case).
pub(crate) fn from_nats(map: Option<&HeaderMap>) -> Headers {
    let Some(map) = map else {
        return Headers::new();
    };
    // Sized up front: collected straight from the filter, the buffer grew twice for the
    // eight headers of a message, which showed in the request-reply profile.
    let mut entries = Vec::with_capacity(map.len());
    entries.extend(map.iter().filter_map(|(k, vals)| {
        vals.first().map(|v| {
            (
                key(k.as_ref()),
                serde_json::Value::String(v.as_str().to_owned()),
            )
        })
    }));
    entries.into_iter().collect()
}

/// A known name borrowed, not copied, on the consume path: every message of ours carries
/// these. A `match` dispatches on the length first, where a list scan compared each.
fn key(k: &str) -> std::borrow::Cow<'static, str> {
    let known = match k {
        messaging_spec::CE_SPECVERSION => messaging_spec::CE_SPECVERSION,
        messaging_spec::CE_TYPE => messaging_spec::CE_TYPE,
        messaging_spec::CE_SOURCE => messaging_spec::CE_SOURCE,
        messaging_spec::CE_ID => messaging_spec::CE_ID,
        messaging_spec::CE_TIME => messaging_spec::CE_TIME,
        messaging_spec::CE_DATACONTENTTYPE => messaging_spec::CE_DATACONTENTTYPE,
        messaging_spec::CE_CORRELATIONID => messaging_spec::CE_CORRELATIONID,
        SERVICE_HEADER => SERVICE_HEADER,
        "Nats-Msg-Id" => "Nats-Msg-Id",
        "traceparent" => "traceparent",
        "tracestate" => "tracestate",
        _ => return k.to_owned().into(),
    };
    known.into()
}

pub(crate) fn name(key: &str) -> Result<HeaderName> {
    if key.is_empty() {
        return Err(Error::InvalidHeader(key.to_owned()));
    }
    HeaderName::from_str(key).map_err(|_| Error::InvalidHeader(key.to_owned()))
}

pub(crate) fn value(key: &str, v: &str) -> Result<HeaderValue> {
    HeaderValue::from_str(v).map_err(|_| Error::InvalidHeaderValue(key.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A map from string pairs, validating each as the library does.
    fn to_nats<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<HeaderMap> {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(name(k)?, value(k, v)?);
        }
        Ok(map)
    }

    #[test]
    fn invalid_keys_and_values_are_errors_not_panics() {
        assert!(matches!(to_nats([("", "x")]), Err(Error::InvalidHeader(_))));
        assert!(matches!(
            to_nats([("a:b", "x")]),
            Err(Error::InvalidHeader(_))
        ));
        assert!(matches!(
            to_nats([("ké", "x")]),
            Err(Error::InvalidHeader(_))
        ));
        assert!(matches!(
            to_nats([("k", "a\r\nb")]),
            Err(Error::InvalidHeaderValue(_))
        ));
    }

    /// Custom headers and `.id(..)`.
    type Case = (
        &'static [(&'static str, &'static str)],
        Option<&'static str>,
    );

    /// The spec's header set, plus what the transport adds, for comparison.
    fn expected(
        custom: &[(&str, &str)],
        id: Option<&str>,
        built: &PublishHeaders,
        msg_id: bool,
    ) -> Headers {
        let mut mine: Headers = custom.iter().copied().collect();
        if let Some(id) = id {
            mine.insert(messaging_spec::CE_ID, id);
        }
        let now =
            OffsetDateTime::from_unix_timestamp(built.time).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let mut h = messaging_spec::publish_headers(&mine, "Order.Created", "orders", now, || {
            built.id().to_owned()
        });
        h.insert(SERVICE_HEADER, "orders");
        if msg_id {
            let id = h
                .get_str(messaging_spec::CE_ID)
                .unwrap_or_default()
                .to_owned();
            h.insert_if_absent("Nats-Msg-Id", id);
        }
        h
    }

    #[test]
    fn publish_map_equals_the_spec_headers() -> Result<()> {
        let cases: [Case; 5] = [
            (&[], None),
            (&[("x-tenant", "acme"), ("X-Mixed", "Kept")], None),
            (
                &[
                    ("ce-specversion", "1.0-x"),
                    ("ce-type", "Other"),
                    ("ce-source", "proxy"),
                    ("ce-datacontenttype", "text/plain"),
                    ("ce-time", "2020-01-01T00:00:00+01:00"),
                    ("ce-id", ""),
                ],
                None,
            ),
            (
                &[("ce-id", "from-header"), ("x", "1"), ("x", "2")],
                Some("from-id"),
            ),
            (&[("Nats-Msg-Id", "mine")], Some("evt-9")),
        ];
        for (custom, id) in cases {
            let owned = custom
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
            let built = PublishHeaders::new(owned.collect(), id.map(str::to_owned))?;
            for msg_id in [true, false] {
                let map = built.to_map("Order.Created", "orders", msg_id);
                assert_eq!(
                    from_nats(Some(&map)),
                    expected(custom, id, &built, msg_id),
                    "{custom:?} {id:?} msg_id={msg_id}"
                );
                // Every attempt gets the same map.
                assert_eq!(built.to_map("Order.Created", "orders", msg_id), map);
            }
        }
        Ok(())
    }

    #[test]
    fn reply_map_equals_the_spec_headers_without_custom_ones() {
        let built = PublishHeaders::fresh();
        let now =
            OffsetDateTime::from_unix_timestamp(built.time).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let spec = messaging_spec::publish_headers(
            &Headers::new(),
            "Billing.Charge",
            "billing",
            now,
            || built.id().to_owned(),
        );
        assert_eq!(
            from_nats(Some(&built.ce_map("Billing.Charge", "billing"))),
            spec
        );
        assert_ne!(PublishHeaders::fresh().id(), built.id());
    }

    #[test]
    fn generated_ids_are_fresh_and_the_caller_id_wins() -> Result<()> {
        let a = PublishHeaders::new(Vec::new(), None)?;
        let b = PublishHeaders::new(Vec::new(), None)?;
        assert_ne!(a.id(), b.id());
        assert_eq!(a.id().len(), 36);
        let c = PublishHeaders::new(vec![("ce-id".to_owned(), "h".to_owned())], None)?;
        assert_eq!(c.into_id(), "h");
        assert!(matches!(
            PublishHeaders::new(vec![("service".to_owned(), "x".to_owned())], None),
            Err(Error::ReservedHeader(k)) if k == "service"
        ));
        assert!(matches!(
            PublishHeaders::new(Vec::new(), Some("a\nb".to_owned())),
            Err(Error::InvalidHeaderValue(k)) if k == "ce-id"
        ));
        Ok(())
    }

    #[test]
    fn trace_context_is_written_last_and_invalid_keys_are_skipped() -> Result<()> {
        let mut built =
            PublishHeaders::new(vec![("traceparent".to_owned(), "old".to_owned())], None)?;
        let trace: Headers = [("traceparent", "00-ab-cd-01"), ("bad key", "x")]
            .into_iter()
            .collect();
        built.set_trace(&trace);
        let h = from_nats(Some(&built.to_map("K", "svc", false)));
        assert_eq!(h.get_str("traceparent"), Some("00-ab-cd-01"));
        assert!(!h.contains_key("bad key"));
        Ok(())
    }

    #[test]
    fn ce_time_is_cached_per_second() {
        let t = 1_772_704_800; // 2026-03-05T10:00:00Z
        assert_eq!(ce_time(t).as_str(), "2026-03-05T10:00:00Z");
        assert_eq!(ce_time(t).as_str(), "2026-03-05T10:00:00Z");
        assert_eq!(ce_time(t + 1).as_str(), "2026-03-05T10:00:01Z");
        assert_eq!(ce_time(t).as_str(), "2026-03-05T10:00:00Z");
    }

    #[test]
    fn known_keys_are_borrowed_and_others_copied() {
        assert!(matches!(key("ce-id"), std::borrow::Cow::Borrowed("ce-id")));
        assert!(matches!(
            key("service"),
            std::borrow::Cow::Borrowed("service")
        ));
        assert!(matches!(key("X-Tenant"), std::borrow::Cow::Owned(k) if k == "X-Tenant"));
        // Exact case: NATS header names are case-sensitive.
        assert!(matches!(key("CE-ID"), std::borrow::Cow::Owned(k) if k == "CE-ID"));
    }

    #[test]
    fn round_trip_keeps_case_and_first_value() -> Result<()> {
        let mut map = to_nats([("ce-type", "Order.Created"), ("X-Custom", "1")])?;
        map.append("X-Custom", "2");
        let h = from_nats(Some(&map));
        assert_eq!(h.get_str("ce-type"), Some("Order.Created"));
        assert_eq!(h.get_str("X-Custom"), Some("1"));
        assert_eq!(h.len(), 2);
        Ok(())
    }
}
