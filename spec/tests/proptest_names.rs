//! Property tests (proptest) of the validated names: `ServiceName`, `StreamName`,
//! `ConsumerSuffix`, `RoutingKey` and `RoutingPattern`, on arbitrary strings.
//!
//! Properties: construction never panics; it succeeds exactly when a simple reference
//! model of the documented rules says so; a rejection is the typed `Error` variant with the
//! right `NameKind` and the rejected input; an accepted name round-trips (`as_str`, serde,
//! `FromStr`). See `docs/fuzzing.md`.

use messaging_spec::naming::AMQP_EXCHANGE_SUFFIXES;
use messaging_spec::{
    ConsumerSuffix, Error, NameKind, RoutingKey, RoutingPattern, ServiceName, StreamName,
};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;

/// `cases` unless `PROPTEST_CASES` is set (the `proptest!` macro applies the variable on
/// top of this); no failure-persistence files in the tree.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Strings biased towards the characters the rules are about, plus fully arbitrary ones.
fn name_like() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9_$é-]{0,12}",
        3 => "[a-z.*#>/\\\\ \t\u{0}\u{7}\u{a0}\u{2028}é-]{0,12}",
        2 => any::<String>(),
        1 => "[a-z]{1,6}(\\.(topic\\.exchange|direct\\.exchange\\.request|headers\\.exchange\\.response))?",
    ]
}

/// Strings shaped like routing keys and patterns: dot-separated, with wildcards and junk.
fn key_like() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        4 => "[a-zA-Z0-9+$()_-]{1,5}",
        2 => Just("*".to_owned()),
        2 => Just("#".to_owned()),
        2 => Just(">".to_owned()),
        1 => Just(String::new()),
        1 => "[a-z*#>]{1,4}",
        1 => "[a \t\u{0}\u{85}]{1,3}",
    ];
    prop_oneof![
        6 => prop::collection::vec(token, 1..6).prop_map(|t| t.join(".")),
        1 => any::<String>(),
    ]
}

/// The reference model of the single-token name rules (service, stream, suffix).
fn simple_reason(s: &str) -> Option<bool> {
    // None: valid; Some(true): empty; Some(false): a forbidden character.
    if s.is_empty() {
        return Some(true);
    }
    let bad = s.chars().any(|c| {
        c.is_whitespace() || c.is_control() || matches!(c, '.' | '*' | '>' | '#' | '/' | '\\')
    });
    bad.then_some(false)
}

/// The reference model of the shared key/pattern rules.
fn shared_key_ok(s: &str) -> bool {
    !s.is_empty()
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && s.split('.').all(|t| !t.is_empty())
}

fn key_model(s: &str) -> bool {
    shared_key_ok(s) && !s.contains(['*', '#', '>'])
}

/// `Some(normalised)` when `s` is a valid pattern, per the documented rules.
fn pattern_model(s: &str) -> Option<String> {
    if !shared_key_ok(s) {
        return None;
    }
    let tokens: Vec<&str> = s.split('.').collect();
    let last = tokens.len() - 1;
    let ok = tokens.iter().enumerate().all(|(i, t)| match *t {
        "*" => true,
        "#" | ">" => i == last,
        t => !t.contains(['*', '#', '>']),
    });
    ok.then(|| {
        let mut out: Vec<&str> = tokens;
        if out[last] == ">" {
            out[last] = "#";
        }
        out.join(".")
    })
}

/// Checks one simple-name constructor against the model.
fn check_simple<T>(
    s: &str,
    kind: NameKind,
    made: Result<T, Error>,
    as_str: impl Fn(&T) -> &str,
    extra_invalid: bool,
) -> Result<(), TestCaseError>
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let model = simple_reason(s);
    match (model, extra_invalid, made) {
        (None, false, Ok(n)) => {
            prop_assert_eq!(as_str(&n), s);
            let json = serde_json::to_string(&n).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let back: T =
                serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back, n);
        }
        (Some(true), _, Err(Error::EmptyName { kind: k })) => prop_assert_eq!(k, kind),
        (_, _, Err(Error::InvalidName { kind: k, name, .. })) => {
            prop_assert!(
                model.is_some() || extra_invalid,
                "rejected a valid name {s:?}"
            );
            prop_assert_ne!(model, Some(true), "empty name must be EmptyName");
            prop_assert_eq!(k, kind);
            prop_assert_eq!(name, s);
        }
        (m, x, r) => {
            return Err(TestCaseError::fail(format!(
                "{s:?}: model {m:?} (extra invalid {x}) but got {r:?}"
            )));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn service_names_follow_the_model(s in name_like()) {
        check_simple(&s, NameKind::Service, ServiceName::new(s.as_str()), ServiceName::as_str, false)?;
        // FromStr and TryFrom agree with new().
        prop_assert_eq!(s.parse::<ServiceName>().ok(), ServiceName::new(s.as_str()).ok());
        prop_assert_eq!(ServiceName::try_from(s.as_str()).is_ok(), simple_reason(&s).is_none());
    }

    #[test]
    fn consumer_suffixes_follow_the_model(s in name_like()) {
        check_simple(&s, NameKind::Suffix, ConsumerSuffix::new(s.as_str()), ConsumerSuffix::as_str, false)?;
    }

    #[test]
    fn stream_names_follow_the_model(s in name_like()) {
        let amqp = AMQP_EXCHANGE_SUFFIXES.iter().any(|sfx| s.ends_with(sfx));
        check_simple(&s, NameKind::Stream, StreamName::new(s.as_str()), StreamName::as_str, amqp)?;
        // from_exchange strips one `.topic.exchange` and validates the rest.
        let stripped = s.strip_suffix(".topic.exchange").unwrap_or(&s);
        let via_exchange = StreamName::from_exchange(&s);
        prop_assert_eq!(via_exchange.ok(), StreamName::new(stripped).ok());
    }

    #[test]
    fn routing_keys_follow_the_model(s in key_like()) {
        match RoutingKey::new(s.as_str()) {
            Ok(k) => {
                prop_assert!(key_model(&s), "accepted {s:?}");
                prop_assert_eq!(k.as_str(), s.as_str());
                prop_assert_eq!(&k.to_string(), &s);
                let json = serde_json::to_string(&k).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let back: RoutingKey = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(&back, &k);
                // Every key is also a pattern that matches itself and nothing shorter.
                let p = RoutingPattern::from(k.clone());
                prop_assert!(p.matches(k.as_str()));
                prop_assert!(!p.is_wildcard());
                prop_assert_eq!(RoutingPattern::new(s.as_str()).ok(), Some(p));
            }
            Err(Error::InvalidRoutingKey { key, .. }) => {
                prop_assert!(!key_model(&s), "rejected {s:?}");
                prop_assert_eq!(key, s);
            }
            Err(other) => return Err(TestCaseError::fail(format!("{s:?}: untyped {other:?}"))),
        }
    }

    #[test]
    fn routing_patterns_follow_the_model(s in key_like()) {
        let model = pattern_model(&s);
        match RoutingPattern::new(s.as_str()) {
            Ok(p) => {
                prop_assert_eq!(Some(p.as_str()), model.as_deref(), "input {:?}", s);
                // Normalised patterns are fixed points, and serde keeps them.
                prop_assert_eq!(RoutingPattern::new(p.as_str()).ok(), Some(p.clone()));
                let json = serde_json::to_string(&p).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let back: RoutingPattern = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(&back, &p);
                prop_assert_eq!(p.is_wildcard(), p.as_str().split('.').any(|t| t == "*" || t == "#"));
                prop_assert!(!p.as_str().contains('>'));
            }
            Err(Error::InvalidRoutingKey { key, .. }) => {
                prop_assert_eq!(model, None, "rejected {:?}", s);
                prop_assert_eq!(key, s);
            }
            Err(other) => return Err(TestCaseError::fail(format!("{s:?}: untyped {other:?}"))),
        }
    }

    #[test]
    fn serde_rejects_what_new_rejects(s in key_like()) {
        let json = serde_json::to_string(&s).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(serde_json::from_str::<RoutingPattern>(&json).is_ok(), pattern_model(&s).is_some());
        prop_assert_eq!(serde_json::from_str::<RoutingKey>(&json).is_ok(), key_model(&s));
        prop_assert_eq!(serde_json::from_str::<ServiceName>(&json).is_ok(), simple_reason(&s).is_none());
    }

    #[test]
    fn names_from_arbitrary_json_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..32)) {
        // Not a JSON string at all (or not JSON): a serde error, never a panic.
        let _ = serde_json::from_slice::<ServiceName>(&bytes);
        let _ = serde_json::from_slice::<StreamName>(&bytes);
        let _ = serde_json::from_slice::<RoutingKey>(&bytes);
        let _ = serde_json::from_slice::<RoutingPattern>(&bytes);
    }
}
