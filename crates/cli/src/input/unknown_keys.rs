//! Keys a topology file has that the topology format does not.
//!
//! Parsing drops them without a word, as Go's `encoding/json` does, so a misspelt key
//! (`routingkey`) reads as a missing one. The known keys are the ones the library's own
//! serialisation writes for a topology with every field set, so the list follows the
//! `Topology` and `Endpoint` types instead of repeating them.

use std::fmt;

use messaging_spec::{Endpoint, EndpointDirection, ExchangeKind, Pattern, Topology, Transport};
use serde_json::Value;

/// A key of a topology file that the topology format does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnknownKey {
    /// The endpoint it is in (its index), or `None` for the topology object itself.
    pub(crate) endpoint: Option<usize>,
    /// The key, as written.
    pub(crate) key: String,
    /// The known key it most likely misspells.
    pub(crate) did_you_mean: Option<String>,
}

impl fmt::Display for UnknownKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(i) = self.endpoint {
            write!(f, "endpoint[{i}]: ")?;
        }
        write!(f, "unknown key {:?} ", self.key)?;
        match &self.did_you_mean {
            Some(known) => write!(f, "(did you mean {known:?}?); fix it")?,
            None => {
                let (object, known) = match self.endpoint {
                    Some(_) => ("an endpoint", endpoint_keys()),
                    None => ("a topology", topology_keys()),
                };
                let known: Vec<String> = known.iter().map(|k| format!("{k:?}")).collect();
                write!(f, "({object} has only {}); remove it", known.join(", "))?;
            }
        }
        f.write_str(", or pass --allow-unknown-keys to ignore it")
    }
}

/// The unknown keys of the topology object in `bytes` and of its endpoints, each object's
/// in key order. Nothing for input that is not a JSON object.
pub(crate) fn find(bytes: &[u8]) -> Vec<UnknownKey> {
    let Ok(Value::Object(top)) = serde_json::from_slice::<Value>(bytes) else {
        return Vec::new();
    };
    let mut found = unknown_in(&top, &topology_keys(), None);
    if let Some(Value::Array(endpoints)) = top.get("endpoints") {
        let known = endpoint_keys();
        for (i, ep) in endpoints.iter().enumerate() {
            if let Value::Object(ep) = ep {
                found.extend(unknown_in(ep, &known, Some(i)));
            }
        }
    }
    found
}

fn unknown_in(
    object: &serde_json::Map<String, Value>,
    known: &[String],
    endpoint: Option<usize>,
) -> Vec<UnknownKey> {
    // Sorted whatever order the map keeps (serde_json's `preserve_order` may be on).
    let mut keys: Vec<&String> = object.keys().filter(|k| !known.contains(k)).collect();
    keys.sort();
    keys.into_iter()
        .map(|key| UnknownKey {
            endpoint,
            key: key.clone(),
            did_you_mean: closest(key, known),
        })
        .collect()
}

/// The keys of a topology object.
fn topology_keys() -> Vec<String> {
    keys_of(&Topology::new(Some(Transport::Nats), "s"))
}

/// The keys of an endpoint object.
fn endpoint_keys() -> Vec<String> {
    let full = Endpoint::new(
        EndpointDirection::Consume,
        Pattern::EventStream,
        "x",
        ExchangeKind::Topic,
    )
    .with_queue_name("q")
    .with_routing_key("k")
    .with_message_type("m")
    .with_ephemeral(true);
    keys_of(&full)
}

/// The keys `value` serialises with, sorted (whether or not serde_json keeps order).
fn keys_of(value: &impl serde::Serialize) -> Vec<String> {
    let mut keys: Vec<String> = match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    };
    keys.sort();
    keys
}

/// The known key `key` is at most two edits from (ignoring case), if any.
fn closest(key: &str, known: &[String]) -> Option<String> {
    let key = key.to_lowercase();
    known
        .iter()
        .map(|k| (edit_distance(&key, &k.to_lowercase()), k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.clone())
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_keys_are_every_field_of_the_types() {
        assert_eq!(topology_keys(), ["endpoints", "serviceName", "transport"]);
        assert_eq!(
            endpoint_keys(),
            [
                "direction",
                "ephemeral",
                "exchangeKind",
                "exchangeName",
                "messageType",
                "pattern",
                "queueName",
                "routingKey"
            ]
        );
    }

    #[test]
    fn finds_misspelt_and_foreign_keys_with_their_endpoint() {
        let found = find(
            br#"{"serviceNme": "a", "zeta": 1, "endpoints": [
                {"direction": "publish"}, {"routingkey": "k", "ExchangeName": "e"}]}"#,
        );
        let got: Vec<(Option<usize>, &str, Option<&str>)> = found
            .iter()
            .map(|k| (k.endpoint, k.key.as_str(), k.did_you_mean.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (None, "serviceNme", Some("serviceName")),
                (None, "zeta", None),
                (Some(1), "ExchangeName", Some("exchangeName")),
                (Some(1), "routingkey", Some("routingKey")),
            ]
        );
        assert!(find(br#"{"serviceName": "a", "endpoints": null}"#).is_empty());
        assert!(find(b"[1]").is_empty());
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("servicename", "servicename"), 0);
        assert_eq!(edit_distance("servicenme", "servicename"), 1);
    }
}
