//! The headers of a publish, exactly as the NATS transport sends them, and NATS's rules
//! for header keys and values (so a test fails here where it would fail on NATS).

use messaging_spec::{CE_ID, Headers, SERVICE_HEADER, new_event_id, publish_headers};
use time::OffsetDateTime;

use crate::error::{Error, Result};

/// JetStream's de-duplication header.
pub(crate) const NATS_MSG_ID: &str = "Nats-Msg-Id";
/// Header carrying a handler's error text on a reply (the NATS services convention).
pub(crate) const SERVICE_ERROR: &str = "Nats-Service-Error";
/// Header carrying the error code on a reply.
pub(crate) const SERVICE_ERROR_CODE: &str = "Nats-Service-Error-Code";

/// A NATS header name: non-empty, printable ASCII, no `:`.
pub(crate) fn check_name(key: &str) -> Result<()> {
    if key.is_empty() || key.contains(|c: char| !c.is_ascii_graphic() || c == ':') {
        return Err(Error::InvalidHeader(key.to_owned()));
    }
    Ok(())
}

/// A NATS header value: no CR or LF.
pub(crate) fn check_value(key: &str, value: &str) -> Result<()> {
    if value.contains(['\r', '\n']) {
        return Err(Error::InvalidHeaderValue(key.to_owned()));
    }
    Ok(())
}

/// The headers of one publish and its `ce-id`: the caller's headers (validated, last one
/// wins, `service` refused), then `.id(..)` as `ce-id`, then the CloudEvents defaults
/// where absent ([`publish_headers`]), `Nats-Msg-Id` = `ce-id` for stream targets (unless
/// the caller set one), and `service`.
pub(crate) fn publish(
    custom: Vec<(String, String)>,
    id: Option<String>,
    routing_key: &str,
    service: &str,
    msg_id: bool,
) -> Result<(Headers, String)> {
    let mut mine = Headers::new();
    for (k, v) in custom {
        if k == SERVICE_HEADER {
            return Err(Error::ReservedHeader(k));
        }
        check_name(&k)?;
        check_value(&k, &v)?;
        mine.insert(k, v);
    }
    if let Some(id) = id {
        check_value(CE_ID, &id)?;
        mine.insert(CE_ID, id);
    }
    let ce_id = mine
        .get_str(CE_ID)
        .map_or_else(new_event_id, ToOwned::to_owned);
    let mut headers = publish_headers(
        &mine,
        routing_key,
        service,
        OffsetDateTime::now_utc(),
        || ce_id.clone(),
    );
    if msg_id {
        headers.insert_if_absent(NATS_MSG_ID, ce_id.as_str());
    }
    headers.insert(SERVICE_HEADER, service);
    Ok((headers, ce_id))
}

/// The headers of a reply: CloudEvents attributes of the answering service, plus the NATS
/// services error headers on failure.
pub(crate) fn reply(service: &str, key: &str, error: Option<(&str, &str)>) -> Headers {
    let mut h = publish_headers(
        &Headers::new(),
        key,
        service,
        OffsetDateTime::now_utc(),
        new_event_id,
    );
    if let Some((text, code)) = error {
        h.insert(SERVICE_ERROR, text.replace(['\r', '\n'], " "));
        h.insert(SERVICE_ERROR_CODE, code);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_follow_nats_rules() {
        assert!(check_name("x-tenant").is_ok());
        for bad in ["", "a:b", "ké", "a b"] {
            assert!(
                matches!(check_name(bad), Err(Error::InvalidHeader(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            check_value("k", "a\r\nb"),
            Err(Error::InvalidHeaderValue(_))
        ));
    }

    #[test]
    fn caller_headers_win_and_service_is_ours() -> Result<()> {
        let (h, id) = publish(
            vec![("ce-type".into(), "Custom".into())],
            Some("id-1".into()),
            "Order.Created",
            "orders",
            true,
        )?;
        assert_eq!(id, "id-1");
        assert_eq!(h.get_str("ce-type"), Some("Custom"));
        assert_eq!(h.get_str("ce-id"), Some("id-1"));
        assert_eq!(h.get_str(NATS_MSG_ID), Some("id-1"));
        assert_eq!(h.get_str("service"), Some("orders"));
        assert!(matches!(
            publish(vec![("service".into(), "x".into())], None, "a", "s", false),
            Err(Error::ReservedHeader(_))
        ));
        Ok(())
    }
}
