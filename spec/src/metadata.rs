//! What a handler learns about a message: CloudEvents metadata, delivery info, headers.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::headers::Headers;
use crate::topology::NotificationSource;

/// The CloudEvents attributes of a message, parsed from its headers.
///
/// JSON keys follow the TCK wire: `correlationId`, `specVersion`, `dataContentType`; `subject`
/// and `dataContentType` are omitted when empty; `timestamp` is RFC 3339 and omitted when
/// unknown (never `""`, which the Go runner cannot decode).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Metadata {
    /// `ce-id`.
    #[serde(default)]
    pub id: String,
    /// `ce-correlationid`.
    #[serde(default)]
    pub correlation_id: String,
    /// `ce-time`, when it parsed as RFC 3339. The original offset is kept.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_ts",
        deserialize_with = "de_ts"
    )]
    pub timestamp: Option<OffsetDateTime>,
    /// `ce-source`.
    #[serde(default)]
    pub source: String,
    /// `ce-type`.
    #[serde(default, rename = "type")]
    pub type_: String,
    /// `ce-subject`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject: String,
    /// `ce-datacontenttype`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub data_content_type: String,
    /// `ce-specversion`.
    #[serde(default)]
    pub spec_version: String,
}

impl Metadata {
    /// True when the message carried a CloudEvents id.
    #[must_use]
    pub fn has_cloud_events(&self) -> bool {
        !self.id.is_empty()
    }

    /// The timestamp as RFC 3339 text, or `""` when unknown.
    #[must_use]
    pub fn timestamp_rfc3339(&self) -> String {
        self.timestamp
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_default()
    }
}

#[allow(clippy::ref_option)] // serde's serialize_with passes `&Option<T>`
fn ser_ts<S: Serializer>(t: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => {
            let text = t.format(&Rfc3339).map_err(serde::ser::Error::custom)?;
            s.serialize_str(&text)
        }
        None => s.serialize_none(),
    }
}

fn de_ts<'de, D: Deserializer<'de>>(d: D) -> Result<Option<OffsetDateTime>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    match s.as_deref() {
        None | Some("") => Ok(None),
        Some(text) => OffsetDateTime::parse(text, &Rfc3339)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// How a message was delivered, independent of the transport.
///
/// The JSON keys are capitalised (`Destination`, `Source`, `Key`, `Headers`), as the Go TCK
/// runner expects; lower-case keys are accepted on input.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeliveryInfo {
    /// Queue name (AMQP) or consumer name (NATS).
    #[serde(rename = "Destination", alias = "destination", default)]
    pub destination: String,
    /// Exchange (AMQP) or stream / subject (NATS).
    #[serde(rename = "Source", alias = "source", default)]
    pub source: String,
    /// Routing key.
    #[serde(rename = "Key", alias = "key", default)]
    pub key: String,
    /// Every header of the message.
    #[serde(rename = "Headers", alias = "headers", default)]
    pub headers: Headers,
}

impl DeliveryInfo {
    /// Delivery info with the given destination, source and key, and no headers.
    #[must_use]
    pub fn new(
        destination: impl Into<String>,
        source: impl Into<String>,
        key: impl Into<String>,
    ) -> Self {
        Self {
            destination: destination.into(),
            source: source.into(),
            key: key.into(),
            headers: Headers::new(),
        }
    }

    /// Replaces the headers.
    #[must_use]
    pub fn with_headers(mut self, headers: Headers) -> Self {
        self.headers = headers;
        self
    }
}

/// What a handler receives: metadata, delivery info and the decoded payload.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ConsumableEvent<T> {
    /// CloudEvents attributes.
    pub metadata: Metadata,
    /// Delivery details, including every header.
    pub delivery_info: DeliveryInfo,
    /// The body, decoded from JSON.
    pub payload: T,
}

impl<T> ConsumableEvent<T> {
    /// Bundles the three parts.
    #[must_use]
    pub fn new(metadata: Metadata, delivery_info: DeliveryInfo, payload: T) -> Self {
        Self {
            metadata,
            delivery_info,
            payload,
        }
    }

    /// Replaces the payload, keeping metadata and delivery info.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> ConsumableEvent<U> {
        ConsumableEvent {
            metadata: self.metadata,
            delivery_info: self.delivery_info,
            payload: f(self.payload),
        }
    }
}

/// A message was handled successfully.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Notification {
    /// Where the message came from.
    pub delivery_info: DeliveryInfo,
    /// How long handling took.
    pub duration: Duration,
    /// Always [`NotificationSource::Consumer`] today.
    pub source: NotificationSource,
}

impl Notification {
    /// A consumer notification.
    #[must_use]
    pub fn consumer(delivery_info: DeliveryInfo, duration: Duration) -> Self {
        Self {
            delivery_info,
            duration,
            source: NotificationSource::Consumer,
        }
    }
}

/// A shareable error, so notifications can be cloned and fanned out.
pub type SharedError = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Handling a message failed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ErrorNotification {
    /// What went wrong.
    pub error: SharedError,
    /// Where the message came from.
    pub delivery_info: DeliveryInfo,
    /// How long handling took before it failed.
    pub duration: Duration,
    /// Always [`NotificationSource::Consumer`] today.
    pub source: NotificationSource,
}

impl ErrorNotification {
    /// A consumer error notification.
    #[must_use]
    pub fn consumer(error: SharedError, delivery_info: DeliveryInfo, duration: Duration) -> Self {
        Self {
            error,
            delivery_info,
            duration,
            source: NotificationSource::Consumer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_omits_unknown_timestamp_and_empty_optionals() -> Result<(), serde_json::Error> {
        let m = Metadata {
            id: "1".into(),
            source: "orders".into(),
            type_: "Order.Created".into(),
            spec_version: "1.0".into(),
            ..Metadata::default()
        };
        assert_eq!(
            serde_json::to_string(&m)?,
            r#"{"id":"1","correlationId":"","source":"orders","type":"Order.Created","specVersion":"1.0"}"#
        );
        Ok(())
    }

    #[test]
    fn metadata_timestamp_keeps_offset() -> Result<(), Box<dyn std::error::Error>> {
        let m: Metadata = serde_json::from_str(r#"{"timestamp":"2025-06-15T12:30:00+02:00"}"#)?;
        assert_eq!(m.timestamp_rfc3339(), "2025-06-15T12:30:00+02:00");
        let json = serde_json::to_value(&m)?;
        assert_eq!(json["timestamp"], "2025-06-15T12:30:00+02:00");
        let m: Metadata =
            serde_json::from_str(r#"{"timestamp":"2026-01-01T00:00:00.123456789Z"}"#)?;
        assert_eq!(m.timestamp_rfc3339(), "2026-01-01T00:00:00.123456789Z");
        let m: Metadata = serde_json::from_str(r#"{"timestamp":""}"#)?;
        assert_eq!(m.timestamp, None);
        Ok(())
    }

    #[test]
    fn delivery_info_uses_go_casing_and_accepts_lower_case() -> Result<(), serde_json::Error> {
        let mut h = Headers::new();
        h.insert("x-priority", "high");
        let d = DeliveryInfo::new("orders", "events", "Order.Created").with_headers(h);
        let json = serde_json::to_string(&d)?;
        assert_eq!(
            json,
            r#"{"Destination":"orders","Source":"events","Key":"Order.Created","Headers":{"x-priority":"high"}}"#
        );
        let lower: DeliveryInfo = serde_json::from_str(
            r#"{"destination":"orders","source":"events","key":"Order.Created","headers":{"x-priority":"high"}}"#,
        )?;
        assert_eq!(lower, d);
        let null_headers: DeliveryInfo = serde_json::from_str(r#"{"Headers":null}"#)?;
        assert!(null_headers.headers.is_empty());
        Ok(())
    }

    #[test]
    fn headers_set_if_absent() {
        let mut h = Headers::new();
        assert!(h.insert_if_absent("ce-type", "A"));
        assert!(!h.insert_if_absent("ce-type", "B"));
        assert_eq!(h.get_str("ce-type"), Some("A"));
    }
}
