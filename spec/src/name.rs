//! Validated names: services, streams, consumer suffixes, routing keys and patterns.
//!
//! These strings become NATS subject tokens, stream names and durable consumer names (and
//! AMQP exchange and queue names), so each type rejects what those cannot carry. The rules
//! are stricter than the reference implementations, which validate nothing.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, NameKind};
use crate::naming::{self, AMQP_EXCHANGE_SUFFIXES, TOPIC_EXCHANGE_SUFFIX};

/// Declares a validated string newtype. `$check` turns the raw string into the stored one
/// (validating, and for patterns normalising) or fails.
macro_rules! validated_name {
    ($(#[$meta:meta])* $name:ident, $check:path) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates `value`.
            ///
            /// # Errors
            ///
            /// [`Error::EmptyName`], [`Error::InvalidName`] or [`Error::InvalidRoutingKey`]
            /// when the value breaks this type's rules.
            pub fn new(value: impl Into<String>) -> Result<Self, Error> {
                $check(value.into()).map(Self)
            }

            /// The name as a string slice.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The name as an owned string.
            #[must_use]
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(s: String) -> Result<Self, Error> {
                Self::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = Error;
            fn try_from(s: &str) -> Result<Self, Error> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.0
            }
        }
    };
}

validated_name! {
    /// A service name: used as the durable consumer name, the request subject prefix and
    /// the CloudEvents `ce-source`.
    ///
    /// Must be non-empty and contain no whitespace, control characters, `.`, `*`, `>`, `#`,
    /// `/` or `\`.
    ///
    /// ```
    /// use messaging_spec::{Error, ServiceName};
    /// let svc: ServiceName = "email-svc".parse()?;
    /// assert_eq!(svc.as_str(), "email-svc");
    /// assert!(matches!(ServiceName::new("a.b"), Err(Error::InvalidName { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    ServiceName, check_service
}

validated_name! {
    /// A NATS stream name (the bare base name, as in `events` or `audit`).
    ///
    /// Same character rules as [`ServiceName`]; a name carrying an AMQP exchange suffix is
    /// rejected. Use [`StreamName::from_exchange`] to accept `X.topic.exchange` as `X`.
    ///
    /// ```
    /// use messaging_spec::StreamName;
    /// assert_eq!(StreamName::from_exchange("audit.topic.exchange")?.as_str(), "audit");
    /// assert!(StreamName::new("audit.topic.exchange").is_err());
    /// # Ok::<(), messaging_spec::Error>(())
    /// ```
    StreamName, check_stream
}

validated_name! {
    /// A durable consumer suffix: the durable becomes `<service>-<suffix>`.
    ///
    /// Same character rules as [`ServiceName`].
    ConsumerSuffix, check_suffix
}

validated_name! {
    /// A concrete routing key, as published: non-empty dot-separated tokens with no
    /// wildcards (`*`, `#`, `>`), whitespace or control characters.
    ///
    /// ```
    /// use messaging_spec::RoutingKey;
    /// assert!(RoutingKey::new("Order.Created").is_ok());
    /// assert!(RoutingKey::new("Order.*").is_err());
    /// assert!(RoutingKey::new("Order..Created").is_err());
    /// ```
    RoutingKey, check_key
}

validated_name! {
    /// A consumer binding key: a [`RoutingKey`] whose tokens may also be exactly `*` (one
    /// token) or, as the last token only, `#` (one or more tokens).
    ///
    /// NATS `>` is accepted as an alias of `#` and stored as `#`, so topologies stay in
    /// the spec's AMQP style; [`RoutingPattern::nats_filter`] translates back. A token
    /// mixing a wildcard with text (`Order*`) is rejected, and so is `#` before the last
    /// token, which NATS filters cannot express.
    ///
    /// ```
    /// use messaging_spec::RoutingPattern;
    /// assert_eq!(RoutingPattern::new("Order.>")?.as_str(), "Order.#");
    /// assert!(RoutingPattern::new("#.Created").is_err());
    /// assert!(RoutingPattern::new("Order*").is_err());
    /// # Ok::<(), messaging_spec::Error>(())
    /// ```
    RoutingPattern, check_pattern
}

impl ServiceName {
    /// This service's durable consumer name: `<service>` or `<service>-<suffix>`.
    #[must_use]
    pub fn durable_name(&self, suffix: Option<&ConsumerSuffix>) -> String {
        naming::nats_durable_name(&self.0, suffix.map(ConsumerSuffix::as_str))
    }

    /// The Core NATS subject this service handles requests for `key` on:
    /// `<service>.request.<key>`.
    #[must_use]
    pub fn request_subject(&self, key: &RoutingKey) -> String {
        naming::nats_request_subject(&self.0, key.as_str())
    }
}

impl StreamName {
    /// Accepts an AMQP-style exchange name: strips one trailing `.topic.exchange`, then
    /// validates what is left.
    ///
    /// # Errors
    ///
    /// As [`StreamName::new`] for the stripped name.
    pub fn from_exchange(exchange: impl AsRef<str>) -> Result<Self, Error> {
        Self::new(naming::nats_stream_name(exchange.as_ref()))
    }

    /// The one subject this stream captures: `<stream>.>`.
    #[must_use]
    pub fn subjects(&self) -> String {
        naming::nats_stream_subjects(&self.0)
    }

    /// The publish subject for `key`: `<stream>.<key>`.
    #[must_use]
    pub fn subject(&self, key: &RoutingKey) -> String {
        naming::nats_subject(&self.0, key.as_str())
    }
}

impl RoutingPattern {
    /// The consumer filter subject on `stream`: `<stream>.<pattern>` with `#` as `>`.
    ///
    /// ```
    /// use messaging_spec::{RoutingPattern, StreamName};
    /// let p = RoutingPattern::new("Order.#")?;
    /// assert_eq!(p.nats_filter(&StreamName::new("events")?), "events.Order.>");
    /// # Ok::<(), messaging_spec::Error>(())
    /// ```
    #[must_use]
    pub fn nats_filter(&self, stream: &StreamName) -> String {
        naming::nats_filter_subject(stream.as_str(), &self.0)
    }

    /// True when any token is a wildcard (`*` or `#`).
    #[must_use]
    pub fn is_wildcard(&self) -> bool {
        self.tokens().any(|t| t == "*" || t == "#")
    }

    /// The dot-separated tokens, `>` already normalised to `#`.
    pub(crate) fn tokens(&self) -> std::str::Split<'_, char> {
        self.0.split('.')
    }
}

impl From<RoutingKey> for RoutingPattern {
    /// Every concrete key is a pattern that matches only itself.
    fn from(key: RoutingKey) -> Self {
        Self(key.0)
    }
}

fn check_service(s: String) -> Result<String, Error> {
    check_simple(NameKind::Service, s)
}

fn check_suffix(s: String) -> Result<String, Error> {
    check_simple(NameKind::Suffix, s)
}

fn check_stream(s: String) -> Result<String, Error> {
    if AMQP_EXCHANGE_SUFFIXES.iter().any(|sfx| s.ends_with(sfx)) {
        let reason = if s.ends_with(TOPIC_EXCHANGE_SUFFIX) {
            "must not carry the AMQP suffix \".topic.exchange\" (StreamName::from_exchange strips it)"
        } else {
            "must not carry an AMQP request or response exchange suffix"
        };
        return Err(invalid(NameKind::Stream, s, reason));
    }
    check_simple(NameKind::Stream, s)
}

/// The rules for names that are a single NATS token and a valid stream/durable name.
fn check_simple(kind: NameKind, s: String) -> Result<String, Error> {
    if s.is_empty() {
        return Err(Error::EmptyName { kind });
    }
    let reason = s.chars().find_map(|c| match c {
        c if c.is_whitespace() => Some("must not contain whitespace"),
        c if c.is_control() => Some("must not contain control characters"),
        '.' => Some("must not contain '.' (the NATS subject token separator)"),
        '*' | '>' => Some("must not contain the NATS wildcards '*' or '>'"),
        '#' => Some("must not contain the AMQP wildcard '#'"),
        '/' | '\\' => Some("must not contain path separators '/' or '\\'"),
        _ => None,
    });
    match reason {
        Some(reason) => Err(invalid(kind, s, reason)),
        None => Ok(s),
    }
}

fn invalid(kind: NameKind, name: String, reason: &'static str) -> Error {
    Error::InvalidName { kind, name, reason }
}

fn check_key(s: String) -> Result<String, Error> {
    // Every publish checks its key: printable ASCII takes one pass over the bytes, and
    // anything else (or any fault) the full check below, which names the rule broken.
    if is_plain_key(s.as_bytes()) {
        return Ok(s);
    }
    check_tokens(s, key_token)
}

/// A routing key's rule for each of its tokens.
fn key_token(token: &str, _is_last: bool) -> Result<(), &'static str> {
    if token.contains(['*', '#', '>']) {
        Err("must not contain wildcards ('*', '#', '>'); use a RoutingPattern to bind")
    } else {
        Ok(())
    }
}

/// Printable ASCII without wildcards, in non-empty dot-separated tokens.
fn is_plain_key(b: &[u8]) -> bool {
    let mut prev = b'.';
    for &c in b {
        let ok = match c {
            b'.' => prev != b'.',
            b'*' | b'#' | b'>' => false,
            c => c.is_ascii_graphic(),
        };
        if !ok {
            return false;
        }
        prev = c;
    }
    prev != b'.'
}

fn check_pattern(s: String) -> Result<String, Error> {
    let s = check_tokens(s, |token, is_last| match token {
        "*" => Ok(()),
        "#" | ">" if is_last => Ok(()),
        "#" | ">" => Err("'#' (or '>') may only be the last token"),
        t if t.contains(['*', '#', '>']) => {
            Err("a wildcard must be a whole token, not mixed with text")
        }
        _ => Ok(()),
    })?;
    // `>` can only be the whole last token by now, so this rewrites exactly that token.
    Ok(if s.ends_with('>') {
        s.replace('>', "#")
    } else {
        s
    })
}

/// Checks the rules shared by keys and patterns, then `token_rule(token, is_last)` on
/// every token.
fn check_tokens(
    s: String,
    token_rule: impl Fn(&str, bool) -> Result<(), &'static str>,
) -> Result<String, Error> {
    let shared = if s.is_empty() {
        Some("must not be empty")
    } else if s.chars().any(char::is_whitespace) {
        Some("must not contain whitespace")
    } else if s.chars().any(char::is_control) {
        Some("must not contain control characters")
    } else if s.split('.').any(str::is_empty) {
        Some("has an empty token (leading, trailing or double '.')")
    } else {
        None
    };
    let reason = shared.or_else(|| {
        let last = s.split('.').count() - 1;
        s.split('.')
            .enumerate()
            .find_map(|(i, t)| token_rule(t, i == last).err())
    });
    match reason {
        Some(reason) => Err(Error::InvalidRoutingKey { key: s, reason }),
        None => Ok(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(e: &Error) -> Option<NameKind> {
        match e {
            Error::EmptyName { kind } | Error::InvalidName { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    #[test]
    fn simple_names_accept_ordinary_names() {
        for ok in [
            "svc",
            "email-service",
            "payment_gateway-v3",
            "Ünïcode",
            "a$b",
        ] {
            assert_eq!(
                ServiceName::new(ok).map(String::from).ok(),
                Some(ok.to_owned())
            );
            assert!(StreamName::new(ok).is_ok(), "{ok}");
            assert!(ConsumerSuffix::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn simple_names_reject_what_nats_cannot_carry() {
        let bad = [
            "a b", "a\tb", "a\u{a0}b", "a\u{7}b", "a.b", "a*", "a>", "a#", "a/b", "a\\b",
        ];
        for name in bad {
            let e = ServiceName::new(name).err();
            assert!(
                matches!(&e, Some(Error::InvalidName { kind: NameKind::Service, name: n, .. }) if n == name),
                "{name:?}: {e:?}"
            );
            assert_eq!(
                StreamName::new(name).err().as_ref().and_then(kind_of),
                Some(NameKind::Stream)
            );
            assert_eq!(
                ConsumerSuffix::new(name).err().as_ref().and_then(kind_of),
                Some(NameKind::Suffix)
            );
        }
        assert!(matches!(
            ServiceName::new(""),
            Err(Error::EmptyName {
                kind: NameKind::Service
            })
        ));
    }

    #[test]
    fn stream_names_and_amqp_suffixes() {
        assert_eq!(
            StreamName::from_exchange("events").expect("valid").as_str(),
            "events"
        );
        assert_eq!(
            StreamName::from_exchange("audit.topic.exchange")
                .expect("valid")
                .as_str(),
            "audit"
        );
        for bad in [
            "audit.topic.exchange",
            "svc.direct.exchange.request",
            "svc.headers.exchange.response",
        ] {
            assert!(matches!(
                StreamName::new(bad),
                Err(Error::InvalidName {
                    kind: NameKind::Stream,
                    ..
                })
            ));
        }
        assert!(StreamName::from_exchange("svc.direct.exchange.request").is_err());
        assert!(matches!(
            StreamName::from_exchange(".topic.exchange"),
            Err(Error::EmptyName {
                kind: NameKind::Stream
            })
        ));
    }

    #[test]
    fn routing_keys() {
        assert!(RoutingKey::new("Order.Created.V2").is_ok());
        assert!(RoutingKey::new("a+b.(x).$").is_ok());
        for bad in [
            "", ".a", "a.", "a..b", "a b", "a\u{0}", "Order.*", "Order.#", "Order.>", "Ord*er",
        ] {
            assert!(
                matches!(RoutingKey::new(bad), Err(Error::InvalidRoutingKey { ref key, .. }) if key == bad),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_plain_key_pass_agrees_with_the_full_check() {
        let full = |k: &str| check_tokens(k.to_owned(), key_token).is_ok();
        for k in [
            "a",
            "Order.Created.V2",
            "a+b.(x).$",
            "",
            ".",
            "..",
            ".a",
            "a.",
            "a..b",
            "a b",
            "a\tb",
            "a\u{7f}",
            "Order.*",
            "x#",
            ">",
            "é.b",
            "a.b\u{a0}",
        ] {
            // The plain pass may only say yes where the full check does.
            assert!(!is_plain_key(k.as_bytes()) || full(k), "{k:?}");
            assert_eq!(RoutingKey::new(k).is_ok(), full(k), "{k:?}");
        }
        assert!(is_plain_key(b"Order.Created.V2"));
        assert!(
            !is_plain_key("é.b".as_bytes()),
            "non-ASCII takes the full check"
        );
    }

    #[test]
    fn routing_patterns() {
        for ok in [
            "Order.Created",
            "*",
            "#",
            "Order.*",
            "*.Created",
            "Order.*.Detail.#",
        ] {
            assert_eq!(RoutingPattern::new(ok).expect("valid").as_str(), ok);
        }
        assert_eq!(RoutingPattern::new(">").expect("valid").as_str(), "#");
        assert_eq!(
            RoutingPattern::new("a.*.>").expect("valid").as_str(),
            "a.*.#"
        );
        for bad in [
            "", "a..b", "#.a", ">.a", "a.#.b", "Order*", "a.b#", "x>", "a .b",
        ] {
            assert!(
                matches!(
                    RoutingPattern::new(bad),
                    Err(Error::InvalidRoutingKey { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(RoutingPattern::new("Order.#").expect("valid").is_wildcard());
        assert!(
            !RoutingPattern::new("Order.Created")
                .expect("valid")
                .is_wildcard()
        );
    }

    #[test]
    fn serde_is_a_validated_plain_string() {
        let p: RoutingPattern = serde_json::from_str(r#""Order.>""#).expect("valid");
        assert_eq!(serde_json::to_string(&p).expect("valid"), r#""Order.#""#);
        assert!(serde_json::from_str::<ServiceName>(r#""a.b""#).is_err());
        let s: ServiceName = serde_json::from_str(r#""svc""#).expect("valid");
        assert_eq!(serde_json::to_string(&s).expect("valid"), r#""svc""#);
    }

    #[test]
    fn typed_subjects() {
        let svc = ServiceName::new("backend").expect("valid");
        let sfx = ConsumerSuffix::new("reminders").expect("valid");
        let stream = StreamName::new("events").expect("valid");
        let key = RoutingKey::new("Order.Created").expect("valid");
        assert_eq!(svc.durable_name(None), "backend");
        assert_eq!(svc.durable_name(Some(&sfx)), "backend-reminders");
        assert_eq!(svc.request_subject(&key), "backend.request.Order.Created");
        assert_eq!(stream.subjects(), "events.>");
        assert_eq!(stream.subject(&key), "events.Order.Created");
        assert_eq!(RoutingPattern::from(key).as_str(), "Order.Created");
    }
}
