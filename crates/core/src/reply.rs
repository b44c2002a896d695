//! The spec's request-reply error shape, the same on every transport: a failed request
//! is answered with `{"error": "<text>"}`, and a caller reads exactly that shape back as
//! a remote error.

use bytes::Bytes;

use crate::error::Error;

/// The text a caller sees for a failed request: the handler's own error (as Go replies
/// it), or the library's description of what failed.
#[must_use]
pub fn error_text(error: Option<&Error>) -> String {
    match error {
        Some(Error::Handler { source, .. }) => source.to_string(),
        Some(other) => other.to_string(),
        None => "unknown error".to_owned(),
    }
}

/// The reply body for a failed request: `{"error": "<text>"}`.
#[must_use]
pub fn error_body(error: Option<&Error>) -> Bytes {
    Bytes::from(serde_json::json!({ "error": error_text(error) }).to_string())
}

/// An HTTP-like status for a failed request: `400` when the caller sent something the
/// handler refused or could not decode, `500` otherwise (NATS services error codes).
#[must_use]
pub fn error_code(error: &Error) -> &'static str {
    match error {
        Error::Undecodable { .. } | Error::Handler { retry: false, .. } => "400",
        _ => "500",
    }
}

/// The remote error text when `body` is exactly `{"error": "<text>"}`; `None` for any
/// other reply (a handler's own value that merely contains an `error` key is a value).
#[must_use]
pub fn remote_error(body: &[u8]) -> Option<String> {
    // Typed, refusing other keys: an ordinary reply fails at its first key instead of
    // being parsed whole a second time.
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ErrorOnly {
        error: String,
    }
    // A derived struct also reads from an array (`[""]`); the shape is an object only.
    // Its one key is spelt out: every ordinary reply stops here, without the parser
    // building (and allocating) an "unknown field" error to say so.
    let rest = body.trim_ascii_start().strip_prefix(b"{")?;
    if !rest.trim_ascii_start().starts_with(br#""error""#) {
        return None;
    }
    serde_json::from_slice::<ErrorOnly>(body)
        .ok()
        .map(|e| e.error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_round_trip_and_other_values_are_not_errors() {
        let e = Error::Handler {
            routing_key: "A.b".into(),
            retry: false,
            source: "card declined".into(),
        };
        let body = error_body(Some(&e));
        assert_eq!(&body[..], br#"{"error":"card declined"}"#);
        assert_eq!(remote_error(&body).as_deref(), Some("card declined"));
        assert_eq!(error_code(&e), "400");
        let panicked = Error::Panicked {
            routing_key: "A.b".into(),
            message: "boom".into(),
        };
        assert_eq!(error_code(&panicked), "500");
        assert_eq!(error_text(None), "unknown error");
        assert_eq!(remote_error(br#"{"error":"x","code":1}"#), None);
        assert_eq!(remote_error(br#"{"error":1}"#), None);
        assert_eq!(remote_error(b"[1]"), None);
        assert_eq!(remote_error(b"not json"), None);
        assert_eq!(remote_error(br#"{"id":1,"error":"x"}"#), None);
        assert_eq!(remote_error(br#"[""]"#), None);
        // The key as Go's and Node's encoders write it; an escaped spelling is a value.
        assert_eq!(remote_error(br#"{"\u0065rror":"x"}"#), None);
        assert_eq!(
            remote_error(br#" { "error" : "spaced" } "#).as_deref(),
            Some("spaced")
        );
    }
}
