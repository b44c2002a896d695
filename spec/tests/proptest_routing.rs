//! Property tests (proptest) of routing-key matching: `RoutingPattern::matches`,
//! `covers`, `overlaps`, `cmp_specificity`, the raw-string helpers and `RoutingTable`.
//!
//! The reference model is a few lines of recursion over tokens (`*` = exactly one token,
//! `#` = one or more, literals match themselves); `covers` and `overlaps` are checked by
//! brute force over every key of up to six tokens from a small alphabet, which is enough
//! to tell apart patterns of up to four tokens. See `docs/fuzzing.md`.

use std::cmp::Ordering;

use messaging_spec::{
    Error, RoutingKey, RoutingPattern, RoutingTable, match_routing_key, routing_key_overlaps,
};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;

/// `cases` unless `PROPTEST_CASES` is set; no failure-persistence files in the tree.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// The reference matcher, on the pattern's tokens (`>` already written as `#`).
fn model_match(p: &[&str], k: &[&str]) -> bool {
    match (p, k) {
        ([], []) => true,
        (["#"], rest) => !rest.is_empty(),
        ([], _) | (_, []) => false,
        (["*", p_rest @ ..], [_, k_rest @ ..]) => model_match(p_rest, k_rest),
        ([lit, p_rest @ ..], [tok, k_rest @ ..]) => lit == tok && model_match(p_rest, k_rest),
    }
}

/// The model on raw strings: keys with an empty token match nothing.
fn model_matches(pattern: &str, key: &str) -> bool {
    let p: Vec<&str> = pattern
        .split('.')
        .map(|t| if t == ">" { "#" } else { t })
        .collect();
    let k: Vec<&str> = key.split('.').collect();
    !k.iter().any(|t| t.is_empty()) && model_match(&p, &k)
}

/// A valid pattern of up to four tokens over a small alphabet.
fn small_pattern() -> impl Strategy<Value = RoutingPattern> {
    let token = prop_oneof![
        3 => Just("a"),
        3 => Just("b"),
        2 => Just("*"),
    ];
    (
        prop::collection::vec(token, 0..4),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_filter_map("a pattern has at least one token", |(t, open, gt)| {
            let mut t: Vec<&str> = t;
            if open {
                t.push(if gt { ">" } else { "#" });
            }
            RoutingPattern::new(t.join(".")).ok()
        })
}

/// Every key of 1..=6 tokens over {a, b, c}: `c` stands for "any other literal".
fn universe() -> Vec<String> {
    let mut out = Vec::new();
    let mut layer: Vec<String> = vec![String::new()];
    for _ in 0..6 {
        let mut next = Vec::new();
        for prefix in &layer {
            for t in ["a", "b", "c"] {
                next.push(if prefix.is_empty() {
                    t.to_owned()
                } else {
                    format!("{prefix}.{t}")
                });
            }
        }
        out.extend(next.iter().cloned());
        layer = next;
    }
    out
}

fn universe_cached() -> &'static [String] {
    static U: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    U.get_or_init(universe)
}

/// A valid concrete key.
fn valid_key() -> impl Strategy<Value = RoutingKey> {
    prop::collection::vec("[a-zA-Z0-9+$()_-]{1,6}", 1..6)
        .prop_filter_map("tokens are non-empty and wildcard-free", |t| {
            RoutingKey::new(t.join(".")).ok()
        })
}

/// Raw strings shaped like patterns or keys, valid or not.
fn raw_key() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        4 => "[abc]",
        1 => Just("*".to_owned()),
        1 => Just("#".to_owned()),
        1 => Just(">".to_owned()),
        1 => Just(String::new()),
        1 => "[a-c*#> +(\\[]{1,3}",
    ];
    prop_oneof![
        8 => prop::collection::vec(token, 0..6).prop_map(|t| t.join(".")),
        1 => any::<String>(),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn valid_keys_match_themselves_and_hash(k in valid_key()) {
        let key = k.as_str();
        prop_assert!(RoutingPattern::from(k.clone()).matches(key));
        prop_assert!(match_routing_key(key, key));
        prop_assert!(match_routing_key("#", key));
        prop_assert!(match_routing_key(">", key));
        // `a.b.c` is matched by `a.#`, `a.*.c`, `*.*.*` …: every token replaced by `*`.
        let tokens: Vec<&str> = key.split('.').collect();
        let stars = vec!["*"; tokens.len()].join(".");
        prop_assert!(match_routing_key(&stars, key));
        let first_then_hash = format!("{}.#", tokens[0]);
        prop_assert_eq!(match_routing_key(&first_then_hash, key), tokens.len() > 1);
        // A key never matches a longer literal pattern, nor the same key with an extra token.
        let longer = format!("{key}.x");
        prop_assert!(!match_routing_key(&longer, key));
        prop_assert!(!match_routing_key(key, &longer));
    }

    #[test]
    fn matching_agrees_with_the_reference_model(p in raw_key(), k in raw_key()) {
        let got = match_routing_key(&p, &k);
        let want = if p.is_empty() {
            k.is_empty()
        } else {
            RoutingPattern::new(p.as_str()).is_ok() && model_matches(&p, &k)
        };
        prop_assert_eq!(got, want, "pattern {:?} key {:?}", p, k);
        if let Ok(pat) = RoutingPattern::new(p.as_str()) {
            prop_assert_eq!(pat.matches(&k), model_matches(pat.as_str(), &k));
        }
    }

    #[test]
    fn matching_agrees_with_the_model_on_every_small_key(p in small_pattern()) {
        // Exhaustive over the key universe, so `#` at zero tokens, `*` at a missing token
        // and one-token-too-many keys are always tried.
        for k in universe_cached() {
            prop_assert_eq!(p.matches(k), model_matches(p.as_str(), k), "pattern {} key {}", p, k);
        }
        for k in ["", ".", "a.", ".a", "a..a", "a.b."] {
            prop_assert!(!p.matches(k), "{} must not match {:?}", p, k);
        }
    }

    #[test]
    fn covers_and_overlaps_agree_with_brute_force(a in small_pattern(), b in small_pattern()) {
        let keys = universe_cached();
        let in_a: Vec<bool> = keys.iter().map(|k| a.matches(k)).collect();
        let in_b: Vec<bool> = keys.iter().map(|k| b.matches(k)).collect();
        let covers = in_a.iter().zip(&in_b).all(|(x, y)| *x || !*y);
        let overlaps = in_a.iter().zip(&in_b).any(|(x, y)| *x && *y);
        prop_assert_eq!(a.covers(&b), covers, "{} covers {}", a, b);
        prop_assert_eq!(a.overlaps(&b), overlaps, "{} overlaps {}", a, b);
        prop_assert_eq!(b.overlaps(&a), overlaps, "overlap is symmetric");
        prop_assert!(a.covers(&a) && a.overlaps(&a));
        prop_assert_eq!(routing_key_overlaps(a.as_str(), b.as_str()), overlaps);
    }

    #[test]
    fn specificity_is_a_total_order_that_separates_matching_patterns(
        a in small_pattern(),
        b in small_pattern(),
        c in small_pattern(),
    ) {
        prop_assert_eq!(a.cmp_specificity(&b), b.cmp_specificity(&a).reverse());
        prop_assert_eq!(a.cmp_specificity(&a), Ordering::Equal);
        if a.cmp_specificity(&b) != Ordering::Less && b.cmp_specificity(&c) != Ordering::Less {
            prop_assert_ne!(a.cmp_specificity(&c), Ordering::Less, "transitive");
        }
        // The documented guarantee the router relies on: two distinct patterns that
        // match one key never tie.
        if a != b && universe_cached().iter().any(|k| a.matches(k) && b.matches(k)) {
            prop_assert_ne!(a.cmp_specificity(&b), Ordering::Equal, "{} vs {}", a, b);
        }
    }

    #[test]
    fn overlaps_never_panics_on_raw_strings(p in raw_key(), q in raw_key()) {
        let got = routing_key_overlaps(&p, &q);
        prop_assert_eq!(got, routing_key_overlaps(&q, &p));
        if p == q {
            prop_assert!(got);
        }
    }

    #[test]
    fn the_table_routes_to_the_most_specific_match(
        patterns in prop::collection::vec(small_pattern(), 0..8),
        key_index in any::<prop::sample::Index>(),
    ) {
        let mut table = RoutingTable::new();
        let mut kept: Vec<RoutingPattern> = Vec::new();
        for (i, p) in patterns.iter().enumerate() {
            match table.insert(p.clone(), i) {
                Ok(()) => {
                    prop_assert!(!kept.contains(p));
                    kept.push(p.clone());
                }
                Err(Error::DuplicateRoutingPattern { pattern }) => {
                    prop_assert!(kept.contains(p));
                    prop_assert_eq!(pattern, p.as_str());
                }
                Err(other) => return Err(TestCaseError::fail(format!("untyped {other:?}"))),
            }
        }
        prop_assert_eq!(table.len(), kept.len());
        let keys = universe_cached();
        let key = key_index.get(keys);
        let matching: Vec<&RoutingPattern> = kept.iter().filter(|p| p.matches(key)).collect();
        match table.route_entry(key) {
            None => prop_assert!(matching.is_empty(), "{key}: nothing routed, but {matching:?} match"),
            Some((chosen, _)) => {
                prop_assert!(chosen.matches(key));
                for other in &matching {
                    prop_assert_ne!(other.cmp_specificity(chosen), Ordering::Greater,
                        "{} is more specific than the chosen {} for {}", other, chosen, key);
                }
            }
        }
        match table.find_covering_pair() {
            Some((wide, narrow)) => prop_assert!(wide.covers(narrow) && wide != narrow),
            None => {
                for (i, x) in kept.iter().enumerate() {
                    for y in kept.iter().skip(i + 1) {
                        prop_assert!(!x.covers(y) && !y.covers(x), "{} / {} not reported", x, y);
                    }
                }
            }
        }
    }
}
