//! Routing-key matching: a token-based matcher, pattern overlap checks, and a router that
//! picks the most specific pattern for a key.
//!
//! Semantics (the spec's routing rules, stated on tokens rather than a regex):
//! - a key is split on `.`; a key with an empty token (`""`, `Order.`, `a..b`) matches no
//!   pattern;
//! - `*` matches exactly one token;
//! - `#` (or its alias `>`) matches **one or more** tokens, so `Order.#` does not match
//!   `Order`, and `#` matches any non-empty key;
//! - every other token matches only itself, character for character.
//!
//! The reference implementations translate patterns into unescaped regular expressions;
//! this matcher does not, so `+`, `(`, `$` and friends are ordinary characters, `*` never
//! matches an empty token, and `>` works.

use std::cmp::Ordering;

use crate::error::Error;
use crate::name::RoutingPattern;

/// How strongly one pattern token constrains a key token. Greater is more specific.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    MultiWildcard,
    SingleWildcard,
    Literal,
}

fn rank(token: &str) -> Rank {
    match token {
        "#" => Rank::MultiWildcard,
        "*" => Rank::SingleWildcard,
        _ => Rank::Literal,
    }
}

/// A pattern split into its fixed-width tokens and whether it ends in `#`.
struct Shape<'a> {
    fixed: Vec<&'a str>,
    open: bool,
}

impl<'a> Shape<'a> {
    fn of(pattern: &'a RoutingPattern) -> Self {
        let mut fixed: Vec<&str> = pattern.tokens().collect();
        // `#` can only be last (the type guarantees it), so popping it leaves fixed tokens.
        let open = fixed.last() == Some(&"#");
        if open {
            fixed.pop();
        }
        Self { fixed, open }
    }

    /// The fewest tokens a matching key has (`#` needs at least one).
    fn min_len(&self) -> usize {
        self.fixed.len() + usize::from(self.open)
    }
}

impl RoutingPattern {
    /// True when `key` matches this pattern.
    ///
    /// ```
    /// use messaging_spec::RoutingPattern;
    /// let p = RoutingPattern::new("Order.#")?;
    /// assert!(p.matches("Order.Created.V2"));
    /// assert!(!p.matches("Order"));
    /// assert!(!RoutingPattern::new("Order.*")?.matches("Order."));
    /// # Ok::<(), messaging_spec::Error>(())
    /// ```
    #[must_use]
    pub fn matches(&self, key: &str) -> bool {
        // Walks both token lists in step: this runs for every delivery, so no allocation.
        let mut keys = key.split('.');
        for p in self.tokens() {
            if p == "#" {
                let mut rest = 0usize;
                for k in keys.by_ref() {
                    if k.is_empty() {
                        return false;
                    }
                    rest += 1;
                }
                return rest > 0;
            }
            match keys.next() {
                Some(k) if !k.is_empty() && (p == "*" || p == k) => {}
                _ => return false,
            }
        }
        keys.next().is_none()
    }

    /// True when every key `other` matches is matched by `self` too (a pattern covers
    /// itself). nats-server rejects filters within one consumer where one covers another
    /// (error 10138, "consumer subject filters cannot overlap").
    ///
    /// ```
    /// use messaging_spec::RoutingPattern;
    /// let wide = RoutingPattern::new("Order.*")?;
    /// let narrow = RoutingPattern::new("Order.Created")?;
    /// assert!(wide.covers(&narrow));
    /// assert!(!narrow.covers(&wide));
    /// # Ok::<(), messaging_spec::Error>(())
    /// ```
    #[must_use]
    pub fn covers(&self, other: &Self) -> bool {
        let (a, b) = (Shape::of(self), Shape::of(other));
        let len_ok = if a.open {
            b.min_len() > a.fixed.len()
        } else {
            !b.open && b.fixed.len() == a.fixed.len()
        };
        // Where `a` has a fixed token, `b` has a fixed token too (by the length check),
        // and `a`'s must accept every token `b`'s accepts.
        len_ok
            && a.fixed
                .iter()
                .zip(&b.fixed)
                .all(|(x, y)| *x == "*" || x == y)
    }

    /// True when at least one key matches both patterns.
    ///
    /// ```
    /// use messaging_spec::RoutingPattern;
    /// let a = RoutingPattern::new("Order.*")?;
    /// assert!(a.overlaps(&RoutingPattern::new("*.Created")?));
    /// assert!(!a.overlaps(&RoutingPattern::new("User.*")?));
    /// # Ok::<(), messaging_spec::Error>(())
    /// ```
    #[must_use]
    pub fn overlaps(&self, other: &Self) -> bool {
        let (a, b) = (Shape::of(self), Shape::of(other));
        let (la, lb) = (a.fixed.len(), b.fixed.len());
        let len_ok = match (a.open, b.open) {
            (false, false) => la == lb,
            (true, false) => lb >= a.min_len(),
            (false, true) => la >= b.min_len(),
            (true, true) => true,
        };
        // Beyond the shorter fixed part, the shorter side's `#` accepts anything.
        len_ok
            && a.fixed
                .iter()
                .zip(&b.fixed)
                .all(|(x, y)| *x == "*" || *y == "*" || x == y)
    }

    /// Orders patterns by specificity; `Greater` means `self` is more specific.
    ///
    /// Tokens are compared left to right, ranked literal > `*` > `#`; the first position
    /// where the ranks differ decides. If one pattern's ranks are a prefix of the other's,
    /// the longer pattern is more specific. So, for example:
    /// `Order.Created` > `Order.*` > `Order.#` > `*.Created` > `*.*` > `#`.
    ///
    /// ```
    /// use std::cmp::Ordering;
    /// use messaging_spec::RoutingPattern;
    /// let a = RoutingPattern::new("Order.#")?;
    /// let b = RoutingPattern::new("*.Created")?;
    /// assert_eq!(a.cmp_specificity(&b), Ordering::Greater);
    /// # Ok::<(), messaging_spec::Error>(())
    /// ```
    #[must_use]
    pub fn cmp_specificity(&self, other: &Self) -> Ordering {
        self.tokens().map(rank).cmp(other.tokens().map(rank))
    }
}

/// True when `key` matches `pattern`, on raw strings. A `pattern` that is not a valid
/// [`RoutingPattern`] matches nothing, except that an empty pattern matches the empty key
/// (the spec's rule "an empty key matches only an empty key").
///
/// ```
/// use messaging_spec::match_routing_key;
/// assert!(match_routing_key("Order.*", "Order.Created"));
/// assert!(!match_routing_key("Order.#", "Order"));
/// assert!(!match_routing_key("[", "anything"));
/// ```
#[must_use]
pub fn match_routing_key(pattern: &str, key: &str) -> bool {
    if pattern.is_empty() {
        return key.is_empty();
    }
    RoutingPattern::new(pattern).is_ok_and(|p| p.matches(key))
}

/// True when some key matches both patterns, on raw strings. Identical strings always
/// overlap (as in the reference); otherwise an invalid pattern overlaps nothing.
///
/// Unlike the reference, which only tests each pattern against the other as a literal
/// key, this is true set overlap: `Order.*` and `*.Created` overlap (`Order.Created`).
///
/// ```
/// use messaging_spec::routing_key_overlaps;
/// assert!(routing_key_overlaps("Order.#", "Order.*"));
/// assert!(!routing_key_overlaps("Order.*", "User.*"));
/// ```
#[must_use]
pub fn routing_key_overlaps(p1: &str, p2: &str) -> bool {
    if p1 == p2 {
        return true;
    }
    match (RoutingPattern::new(p1), RoutingPattern::new(p2)) {
        (Ok(a), Ok(b)) => a.overlaps(&b),
        _ => false,
    }
}

/// A set of routing patterns, each with a value (typically a handler), that routes a key
/// to the **most specific** matching pattern.
///
/// Choice order, deterministic whatever the insertion order: among the patterns matching
/// the key, the greatest by [`RoutingPattern::cmp_specificity`] wins (compare tokens left
/// to right, literal beats `*` beats `#`, first difference decides). Two distinct valid
/// patterns that both match one key always differ in specificity; should they ever tie,
/// the earlier registration wins.
///
/// ```
/// use messaging_spec::{RoutingPattern, RoutingTable};
/// let mut table = RoutingTable::new();
/// table.insert(RoutingPattern::new("Order.#")?, "any order")?;
/// table.insert(RoutingPattern::new("Order.Created")?, "created")?;
/// table.insert(RoutingPattern::new("*.Created")?, "anything created")?;
/// assert_eq!(table.route("Order.Created"), Some(&"created"));
/// assert_eq!(table.route("Order.Deleted"), Some(&"any order"));
/// assert_eq!(table.route("User.Created"), Some(&"anything created"));
/// assert_eq!(table.route("User.Deleted"), None);
/// # Ok::<(), messaging_spec::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingTable<T> {
    entries: Vec<(RoutingPattern, T)>,
}

impl<T> Default for RoutingTable<T> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<T> RoutingTable<T> {
    /// An empty table.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `pattern` with `value`.
    ///
    /// # Errors
    ///
    /// [`Error::DuplicateRoutingPattern`] when the exact same pattern is already present
    /// (`Order.>` and `Order.#` are the same pattern).
    pub fn insert(&mut self, pattern: RoutingPattern, value: T) -> Result<(), Error> {
        if self.get(&pattern).is_some() {
            return Err(Error::DuplicateRoutingPattern {
                pattern: pattern.into_inner(),
            });
        }
        self.entries.push((pattern, value));
        Ok(())
    }

    /// The value registered for exactly `pattern`.
    #[must_use]
    pub fn get(&self, pattern: &RoutingPattern) -> Option<&T> {
        self.entries
            .iter()
            .find(|(p, _)| p == pattern)
            .map(|(_, v)| v)
    }

    /// The value of the most specific pattern matching `key` (see the type docs).
    #[must_use]
    pub fn route(&self, key: &str) -> Option<&T> {
        self.route_entry(key).map(|(_, v)| v)
    }

    /// The most specific pattern matching `key`, with its value.
    #[must_use]
    pub fn route_entry(&self, key: &str) -> Option<(&RoutingPattern, &T)> {
        let mut best: Option<&(RoutingPattern, T)> = None;
        for entry in self.entries.iter().filter(|(p, _)| p.matches(key)) {
            // Strictly greater only, so a tie keeps the earlier registration.
            if best.is_none_or(|(b, _)| entry.0.cmp_specificity(b) == Ordering::Greater) {
                best = Some(entry);
            }
        }
        best.map(|(p, v)| (p, v))
    }

    /// The first pair of registered patterns where one covers the other, as
    /// `(covering, covered)`; pairs are tried in registration order. nats-server refuses
    /// such filters within one consumer (error 10138), so a transport checks this before
    /// creating a consumer. Partial overlaps (`Order.*` and `*.Created`) are allowed and
    /// not reported.
    #[must_use]
    pub fn find_covering_pair(&self) -> Option<(&RoutingPattern, &RoutingPattern)> {
        self.entries.iter().enumerate().find_map(|(i, (a, _))| {
            self.entries.iter().skip(i + 1).find_map(|(b, _)| {
                if a.covers(b) {
                    Some((a, b))
                } else if b.covers(a) {
                    Some((b, a))
                } else {
                    None
                }
            })
        })
    }

    /// The entries in registration order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&RoutingPattern, &T)> {
        self.entries.iter().map(|(p, v)| (p, v))
    }

    /// The number of patterns.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no pattern is registered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
