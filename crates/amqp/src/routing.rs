//! Routing a delivery to its handler with the broker's topic semantics.
//!
//! The spec's matcher reads `#` as one or more tokens, but a RabbitMQ topic binding
//! `Order.#` also delivers the key `Order` (`#` is zero or more words there). The Go
//! reference then finds no handler and rejects the message, losing it (digest §9.8). Here
//! a key no pattern matches is tried once more with each trailing `.#` matching zero
//! words, so every message the broker delivers for a binding reaches that binding's
//! handler.

use messaging_spec::{RoutingPattern, RoutingTable};

/// The handler for `key`: the most specific pattern, else (broker semantics) a pattern
/// `<base>.#` whose `<base>` matches `key`, or `#` for the empty key.
pub(crate) fn route<'a, T>(table: &'a RoutingTable<T>, key: &str) -> Option<&'a T> {
    if let Some(v) = table.route(key) {
        return Some(v);
    }
    table.iter().find_map(|(pattern, v)| {
        let p = pattern.as_str();
        let zero_words = if p == "#" {
            key.is_empty()
        } else {
            p.strip_suffix(".#")
                .and_then(|base| RoutingPattern::new(base).ok())
                .is_some_and(|base| base.matches(key))
        };
        zero_words.then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(patterns: &[&str]) -> RoutingTable<String> {
        let mut t = RoutingTable::new();
        for p in patterns {
            if let Ok(pattern) = RoutingPattern::new(*p)
                && t.insert(pattern, (*p).to_owned()).is_ok()
            {
                continue;
            }
            panic!("bad test pattern {p}");
        }
        t
    }

    #[test]
    fn a_trailing_hash_also_matches_zero_words_as_on_the_broker() {
        let t = table(&["Order.#", "Audit.*.#", "Order.Created"]);
        assert_eq!(
            route(&t, "Order.Created").map(String::as_str),
            Some("Order.Created")
        );
        assert_eq!(
            route(&t, "Order.Line.Added").map(String::as_str),
            Some("Order.#")
        );
        assert_eq!(route(&t, "Order").map(String::as_str), Some("Order.#"));
        assert_eq!(
            route(&t, "Audit.Login").map(String::as_str),
            Some("Audit.*.#")
        );
        assert_eq!(route(&t, "Audit"), None);
        assert_eq!(route(&t, "Other"), None);
        let all = table(&["#"]);
        assert_eq!(route(&all, "").map(String::as_str), Some("#"));
        assert_eq!(route(&all, "a.b").map(String::as_str), Some("#"));
    }
}
