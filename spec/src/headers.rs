//! Message headers: string keys to JSON-like values, kept sorted by key.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

type Entry = (Cow<'static, str>, serde_json::Value);

/// Up to this many headers, a lookup scans rather than searches.
const SCAN_MAX: usize = 16;

/// Message headers: string keys to JSON-like values (the spec allows non-strings).
///
/// Keys are kept in sorted order so output is deterministic.
///
/// ```
/// use messaging_spec::Headers;
/// let mut h = Headers::new();
/// h.insert("ce-id", "abc");
/// h.insert("count", 3);
/// assert_eq!(h.get_str("ce-id"), Some("abc"));
/// assert_eq!(h.get_str("count"), None); // not a string
/// assert!(h.contains_key("count"));
/// ```
// A sorted vector, not a `BTreeMap`: a message has a handful of headers, every consumed
// message builds a map and looks up a dozen keys, and in a profile of request-reply the
// tree's node search and insertion were most of that work.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<Entry>);

impl Headers {
    /// No headers.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Where `key` is, or where it would go.
    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_ref().cmp(key))
    }

    /// Where `key` is. A message's dozen headers are scanned with the length compared
    /// first, which skips most byte comparisons; the binary search compares bytes at every
    /// step, and those calls were most of a lookup's time.
    fn position(&self, key: &str) -> Option<usize> {
        if self.0.len() > SCAN_MAX {
            return self.find(key).ok();
        }
        self.0
            .iter()
            .position(|(k, _)| k.len() == key.len() && k.as_ref() == key)
    }

    fn put(
        &mut self,
        key: Cow<'static, str>,
        value: serde_json::Value,
    ) -> Option<serde_json::Value> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (key, value));
                None
            }
        }
    }

    /// Sets `key` to `value`, returning the previous value.
    pub fn insert(
        &mut self,
        key: impl Into<String>,
        value: impl Into<serde_json::Value>,
    ) -> Option<serde_json::Value> {
        self.put(Cow::Owned(key.into()), value.into())
    }

    /// [`insert`](Self::insert) for a key known at compile time (the `ce-*` names, say):
    /// the key is not copied. Transports fill headers of every message with it.
    pub fn insert_static(
        &mut self,
        key: &'static str,
        value: impl Into<serde_json::Value>,
    ) -> Option<serde_json::Value> {
        self.put(Cow::Borrowed(key), value.into())
    }

    /// Sets `key` only when it is absent. Returns true when it was inserted.
    pub fn insert_if_absent(
        &mut self,
        key: impl Into<String>,
        value: impl Into<serde_json::Value>,
    ) -> bool {
        let key = key.into();
        match self.find(&key) {
            Ok(_) => false,
            Err(i) => {
                self.0.insert(i, (Cow::Owned(key), value.into()));
                true
            }
        }
    }

    /// The raw value of `key`.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&serde_json::Value> {
        self.position(key).map(|i| &self.0[i].1)
    }

    /// The value of `key` when it is a string; non-strings count as absent.
    #[must_use]
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(serde_json::Value::as_str)
    }

    /// True when `key` is present, whatever its value.
    #[must_use]
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &str) -> Option<serde_json::Value> {
        self.position(key).map(|i| self.0.remove(i).1)
    }

    /// Number of headers.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no headers.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &serde_json::Value)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v))
    }

    /// Iterates over the string-valued headers only, in key order.
    pub fn iter_str(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|v| (k.as_ref(), v)))
    }

    /// Entries in any order to a sorted map: a later key replaces an earlier one.
    fn from_entries(mut entries: Vec<Entry>) -> Self {
        // Stable, so equal keys keep their order and the last one can win.
        entries.sort_by(|(a, _), (b, _)| a.cmp(b));
        entries.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                std::mem::swap(&mut later.1, &mut kept.1);
            }
            same
        });
        Self(entries)
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Headers {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map: Option<BTreeMap<String, serde_json::Value>> = Option::deserialize(d)?;
        Ok(map.map(Self::from).unwrap_or_default())
    }
}

impl FromIterator<(String, serde_json::Value)> for Headers {
    fn from_iter<I: IntoIterator<Item = (String, serde_json::Value)>>(iter: I) -> Self {
        Self::from_entries(iter.into_iter().map(|(k, v)| (Cow::Owned(k), v)).collect())
    }
}

/// Keys borrowed for `'static` (known names) are not copied.
impl FromIterator<(Cow<'static, str>, serde_json::Value)> for Headers {
    fn from_iter<I: IntoIterator<Item = (Cow<'static, str>, serde_json::Value)>>(iter: I) -> Self {
        Self::from_entries(iter.into_iter().collect())
    }
}

/// A later key replaces an earlier one.
impl Extend<(Cow<'static, str>, serde_json::Value)> for Headers {
    fn extend<I: IntoIterator<Item = (Cow<'static, str>, serde_json::Value)>>(&mut self, iter: I) {
        if self.0.is_empty() {
            // Filling a new map (a transport reading a message): sort once.
            *self = Self::from_entries(iter.into_iter().collect());
            return;
        }
        for (k, v) in iter {
            self.put(k, v);
        }
    }
}

impl<'a> FromIterator<(&'a str, &'a str)> for Headers {
    fn from_iter<I: IntoIterator<Item = (&'a str, &'a str)>>(iter: I) -> Self {
        Self::from_entries(
            iter.into_iter()
                .map(|(k, v)| {
                    (
                        Cow::Owned(k.to_owned()),
                        serde_json::Value::String(v.to_owned()),
                    )
                })
                .collect(),
        )
    }
}

impl From<BTreeMap<String, serde_json::Value>> for Headers {
    fn from(map: BTreeMap<String, serde_json::Value>) -> Self {
        // Already sorted and unique.
        Self(map.into_iter().map(|(k, v)| (Cow::Owned(k), v)).collect())
    }
}

/// The owned pairs of an [`IntoIterator`] of [`Headers`].
pub type HeadersIntoIter =
    std::iter::Map<std::vec::IntoIter<Entry>, fn(Entry) -> (String, serde_json::Value)>;

impl IntoIterator for Headers {
    type Item = (String, serde_json::Value);
    type IntoIter = HeadersIntoIter;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter().map(|(k, v)| (k.into_owned(), v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(h: &Headers) -> Vec<&str> {
        h.iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn keys_stay_sorted_whatever_the_insertion_order() {
        let mut h = Headers::new();
        for k in [
            "service",
            "ce-type",
            "traceparent",
            "ce-id",
            "Nats-Msg-Id",
            "ce-time",
        ] {
            h.insert(k, k);
        }
        assert_eq!(
            keys(&h),
            [
                "Nats-Msg-Id",
                "ce-id",
                "ce-time",
                "ce-type",
                "service",
                "traceparent"
            ]
        );
        assert_eq!(h.insert("ce-id", "2"), Some(serde_json::json!("ce-id")));
        assert_eq!(h.len(), 6);
        assert_eq!(h.remove("ce-time"), Some(serde_json::json!("ce-time")));
        assert_eq!(h.remove("ce-time"), None);
        assert_eq!(
            keys(&h),
            ["Nats-Msg-Id", "ce-id", "ce-type", "service", "traceparent"]
        );
        assert!(!h.insert_if_absent("ce-id", "3"));
        assert!(h.insert_if_absent("a", "3"));
        assert_eq!(keys(&h)[1], "a");
        assert_eq!(h.get_str("ce-id"), Some("2"));
    }

    #[test]
    fn a_later_key_wins_when_collecting_and_extending() {
        let h: Headers = [("b", "1"), ("a", "1"), ("b", "2"), ("b", "3"), ("a", "2")]
            .into_iter()
            .collect();
        assert_eq!(keys(&h), ["a", "b"]);
        assert_eq!((h.get_str("a"), h.get_str("b")), (Some("2"), Some("3")));

        let entries = |pairs: &[(&'static str, &str)]| -> Vec<Entry> {
            pairs
                .iter()
                .map(|(k, v)| (Cow::Borrowed(*k), serde_json::json!(v)))
                .collect()
        };
        // Into an empty map (sorted once) and into a filled one (one by one) alike.
        let mut empty = Headers::new();
        empty.extend(entries(&[("z", "1"), ("y", "1"), ("z", "2")]));
        assert_eq!(keys(&empty), ["y", "z"]);
        assert_eq!(empty.get_str("z"), Some("2"));
        empty.extend(entries(&[("y", "2"), ("x", "1")]));
        assert_eq!(keys(&empty), ["x", "y", "z"]);
        assert_eq!(empty.get_str("y"), Some("2"));
    }

    #[test]
    fn json_and_debug_are_those_of_a_map() -> serde_json::Result<()> {
        let h: Headers = [("b", "2"), ("a", "1")].into_iter().collect();
        assert_eq!(serde_json::to_string(&h)?, r#"{"a":"1","b":"2"}"#);
        assert_eq!(format!("{h:?}"), r#"{"a": String("1"), "b": String("2")}"#);
        let back: Headers = serde_json::from_str(r#"{"b":"2","a":"1"}"#)?;
        assert_eq!(back, h);
        let none: Headers = serde_json::from_str("null")?;
        assert!(none.is_empty());
        Ok(())
    }
}
