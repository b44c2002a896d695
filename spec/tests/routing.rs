//! Routing-key matching: the spec's shared Go/TS unit cases, the reference's regex
//! pitfalls, pattern coverage/overlap and the most-specific-pattern router.

use std::cmp::Ordering;

use messaging_spec::{
    Error, RoutingPattern, RoutingTable, match_routing_key, routing_key_overlaps,
};

fn pat(s: &str) -> RoutingPattern {
    RoutingPattern::new(s).unwrap_or_else(|e| panic!("{s:?} should be a valid pattern: {e}"))
}

#[test]
fn spec_match_cases() {
    let cases = [
        ("Order.Created", "Order.Created", true),
        ("Order.Created", "Order.Deleted", false),
        ("Order.*", "Order.Created", true),
        ("Order.*", "Order.Created.V2", false),
        ("Order.#", "Order.Created", true),
        ("Order.#", "Order.Created.V2", true),
        ("#", "Order.Created", true),
        ("*.Created", "Order.Created", true),
        ("*.Created", "Order.Deleted", false),
        ("[", "anything", false),
    ];
    for (pattern, key, want) in cases {
        assert_eq!(match_routing_key(pattern, key), want, "{pattern} ~ {key}");
    }
}

#[test]
fn spec_overlap_cases() {
    let cases = [
        ("Order.Created", "Order.Created", true),
        ("Order.Created", "Order.Deleted", false),
        ("Order.#", "Order.Created", true),
        ("Order.Created", "Order.#", true),
        ("Order.*", "Order.Created", true),
        ("Order.*", "User.*", false),
        ("Order.#", "Order.*", true),
        ("[", "Order.Created", false),
    ];
    for (p1, p2, want) in cases {
        assert_eq!(routing_key_overlaps(p1, p2), want, "{p1} vs {p2}");
        assert_eq!(routing_key_overlaps(p2, p1), want, "{p2} vs {p1}");
    }
}

#[test]
fn empty_key_matches_only_empty_pattern() {
    assert!(match_routing_key("", ""));
    assert!(!match_routing_key("", "a"));
    for p in ["#", "*", "a"] {
        assert!(!match_routing_key(p, ""), "{p}");
    }
    assert!(routing_key_overlaps("", ""));
    assert!(!routing_key_overlaps("", "#"));
}

#[test]
fn reference_regex_pitfalls_are_fixed() {
    // `*` never matches an empty token; a key with empty tokens matches nothing.
    assert!(!match_routing_key("Order.*", "Order."));
    assert!(!match_routing_key("#", "a..b"));
    // `#` needs at least one token.
    assert!(!match_routing_key("Order.#", "Order"));
    assert!(match_routing_key("Order.#", "Order.x"));
    // Regex metacharacters are ordinary characters.
    assert!(match_routing_key("a+b.c", "a+b.c"));
    assert!(!match_routing_key("a+b.c", "aab.c"));
    assert!(match_routing_key("(x).y", "(x).y"));
    assert!(!match_routing_key("(x).y", "x.y"));
    assert!(match_routing_key("price.$", "price.$"));
    assert!(!match_routing_key("a$", "a"));
    assert!(match_routing_key("[", "["));
    // `>` is an alias of `#` and actually matches.
    assert!(match_routing_key("Order.>", "Order.Created.V2"));
    assert!(match_routing_key(">", "x"));
    assert_eq!(pat("Order.>"), pat("Order.#"));
    // Invalid patterns match nothing.
    for bad in ["a..b", "#.a", "Ord*", "a b"] {
        assert!(!match_routing_key(bad, "a.b"), "{bad}");
    }
}

#[test]
fn literal_tokens_compare_exactly() {
    assert!(!match_routing_key("order.created", "Order.Created"));
    assert!(!match_routing_key("Order", "Order.Created"));
    assert!(!match_routing_key("Order.Created", "Order"));
    assert!(match_routing_key("*.*", "a.b"));
    assert!(!match_routing_key("*.*", "a"));
    assert!(!match_routing_key("*.*", "a.b.c"));
    assert!(match_routing_key("a.*.c.#", "a.b.c.d.e"));
    assert!(!match_routing_key("a.*.c.#", "a.b.c"));
}

#[test]
fn covers() {
    let yes = [
        ("Order.*", "Order.Created"),
        ("Order.#", "Order.Created"),
        ("Order.#", "Order.*"),
        ("Order.#", "Order.*.#"),
        ("Order.#", "Order.Created.#"),
        ("#", "Order.Created"),
        ("#", "*"),
        ("*.*", "Order.*"),
        ("Order.Created", "Order.Created"),
    ];
    for (a, b) in yes {
        assert!(pat(a).covers(&pat(b)), "{a} covers {b}");
    }
    let no = [
        ("Order.Created", "Order.*"),
        ("Order.*", "Order.#"),
        ("Order.*", "*.Created"),
        ("*.Created", "Order.*"),
        ("Order.*", "Order"),
        ("Order.#", "Order"),
        ("*", "#"),
        ("Order.*.#", "Order.#"),
        ("a.b", "a.b.c"),
    ];
    for (a, b) in no {
        assert!(!pat(a).covers(&pat(b)), "{a} does not cover {b}");
    }
}

#[test]
fn overlaps() {
    let yes = [
        ("Order.*", "*.Created"),
        ("a.#", "a.b.c.#"),
        ("#", "x"),
        ("a.*.c", "a.b.*"),
        ("a.#", "*.b.c"),
    ];
    for (a, b) in yes {
        assert!(pat(a).overlaps(&pat(b)), "{a} overlaps {b}");
        assert!(pat(b).overlaps(&pat(a)), "{b} overlaps {a}");
    }
    let no = [
        ("Order.#", "Order"),
        ("a.*", "a.*.*"),
        ("a.b.#", "a.b"),
        ("a.*.c", "a.b.d"),
        ("x.#", "y.#"),
    ];
    for (a, b) in no {
        assert!(!pat(a).overlaps(&pat(b)), "{a} does not overlap {b}");
        assert!(!pat(b).overlaps(&pat(a)), "{b} does not overlap {a}");
    }
}

#[test]
fn specificity_order() {
    // Most specific first; decided token by token, literal > `*` > `#`.
    let order = [
        "Order.Created",
        "Order.*",
        "Order.#",
        "*.Created",
        "*.*",
        "*.#",
        "#",
    ];
    for (i, a) in order.iter().enumerate() {
        for (j, b) in order.iter().enumerate() {
            assert_eq!(pat(a).cmp_specificity(&pat(b)), j.cmp(&i), "{a} vs {b}");
        }
    }
    // A longer pattern that agrees on the shared prefix is more specific.
    assert_eq!(pat("a.*.#").cmp_specificity(&pat("a.*")), Ordering::Greater);
}

#[test]
fn router_picks_most_specific_whatever_the_insertion_order() {
    let patterns = ["#", "*.Created", "Order.#", "Order.*", "Order.Created"];
    let keys = [
        ("Order.Created", Some("Order.Created")),
        ("Order.Deleted", Some("Order.*")),
        ("Order.Created.V2", Some("Order.#")),
        ("User.Created", Some("*.Created")),
        ("User.Deleted", Some("#")),
        ("User", Some("#")),
        ("", None),
        ("a..b", None),
    ];
    for reversed in [false, true] {
        let mut table = RoutingTable::new();
        let mut ps = patterns.to_vec();
        if reversed {
            ps.reverse();
        }
        for p in ps {
            table.insert(pat(p), p).expect("a new pattern");
        }
        assert_eq!(table.len(), 5);
        for (key, want) in keys {
            assert_eq!(
                table.route(key).copied(),
                want,
                "{key} (reversed: {reversed})"
            );
        }
    }
    let empty: RoutingTable<()> = RoutingTable::new();
    assert!(empty.is_empty());
    assert_eq!(empty.route("a"), None);
}

#[test]
fn router_rejects_the_same_pattern_twice() {
    let mut table = RoutingTable::new();
    table.insert(pat("Order.#"), 1).expect("a new pattern");
    let again = table.insert(pat("Order.>"), 2);
    assert!(
        matches!(&again, Err(Error::DuplicateRoutingPattern { pattern }) if pattern == "Order.#"),
        "{again:?}"
    );
    assert_eq!(table.get(&pat("Order.#")), Some(&1));
    assert_eq!(table.len(), 1);
}

#[test]
fn covering_pairs_within_one_consumer() {
    let mut table = RoutingTable::new();
    table.insert(pat("Order.*"), ()).expect("a new pattern");
    table.insert(pat("*.Created"), ()).expect("a new pattern");
    assert_eq!(
        table.find_covering_pair(),
        None,
        "partial overlap is allowed"
    );
    table
        .insert(pat("User.Created"), ())
        .expect("a new pattern");
    table
        .insert(pat("Order.Created"), ())
        .expect("a new pattern");
    let pair = table
        .find_covering_pair()
        .map(|(a, b)| (a.as_str(), b.as_str()));
    // Pairs are tried by the earlier entry first: `Order.*` meets `Order.Created` before
    // `*.Created` meets `User.Created`.
    assert_eq!(pair, Some(("Order.*", "Order.Created")));

    let mut table = RoutingTable::new();
    table
        .insert(pat("Order.Created"), ())
        .expect("a new pattern");
    table.insert(pat("Order.#"), ()).expect("a new pattern");
    let pair = table
        .find_covering_pair()
        .map(|(a, b)| (a.as_str(), b.as_str()));
    assert_eq!(pair, Some(("Order.#", "Order.Created")), "wider side first");
}
