//! Conversion between NATS header maps and the spec's [`Headers`].

use std::str::FromStr;

use async_nats::HeaderMap;
use async_nats::header::{HeaderName, HeaderValue};
use messaging_spec::Headers;

use crate::error::{Error, Result};

/// Every NATS header, first value only, as strings (keys keep their case).
pub(crate) fn from_nats(map: Option<&HeaderMap>) -> Headers {
    let Some(map) = map else {
        return Headers::new();
    };
    map.iter()
        .filter_map(|(k, vals)| {
            vals.first().map(|v| {
                (
                    k.to_string(),
                    serde_json::Value::String(v.as_str().to_owned()),
                )
            })
        })
        .collect()
}

/// Builds a NATS header map from string-valued headers, validating every key and value
/// (async-nats panics on invalid names, so nothing unchecked may reach it).
pub(crate) fn to_nats<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<HeaderMap> {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.insert(name(k)?, value(k, v)?);
    }
    Ok(map)
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
