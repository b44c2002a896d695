//! Serde helpers of [`Config`](super::Config): lenient strings (an environment variable
//! `MESSAGING_NATS_PASSWORD=123456` arrives as a number), URL lists, humantime durations, and
//! the mapping of the `[stream_defaults]` / `[streams.*]` and `[consumer_defaults]` tables
//! onto [`StreamConfig`] and [`ConsumerOptions`].

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use messaging_core::{ConsumerOptions, Replay, StartAt};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::options::{Storage, StreamConfig};

/// A string that may also have been written as a number or a boolean.
struct Lenient(String);

impl<'de> Deserialize<'de> for Lenient {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Lenient;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Lenient, E> {
                Ok(Lenient(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Lenient, E> {
                Ok(Lenient(v))
            }
            fn visit_char<E: de::Error>(self, v: char) -> Result<Lenient, E> {
                Ok(Lenient(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Lenient, E> {
                Ok(Lenient(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Lenient, E> {
                Ok(Lenient(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Lenient, E> {
                Ok(Lenient(v.to_string()))
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<Lenient, E> {
                Ok(Lenient(v.to_string()))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Lenient, E> {
                Ok(Lenient(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Lenient, E> {
                Ok(Lenient(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// An optional string, lenient about numbers and booleans.
pub(super) fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<Lenient>::deserialize(d)?.map(|s| s.0))
}

/// An optional path.
pub(super) fn opt_path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    Ok(opt_string(d)?.map(PathBuf::from))
}

/// Splits a comma-separated list, dropping empty entries.
fn split_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// Server URLs: a list, or one string with comma-separated URLs (as `NATS_URL`).
pub(super) fn url_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a URL, a comma-separated list of URLs, or an array of URLs")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<String>, E> {
            Ok(split_list(v).map(str::to_owned).collect())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut out = Vec::new();
            while let Some(Lenient(url)) = seq.next_element()? {
                out.extend(split_list(&url).map(str::to_owned));
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

/// A humantime duration (`"250ms"`, `"30s"`, `"1h 30m"`).
struct Human(Duration);

impl<'de> Deserialize<'de> for Human {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        humantime_serde::deserialize(d).map(Human)
    }
}

/// Backoff delays: an array of durations, or one comma-separated string.
fn opt_durations<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Duration>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<Duration>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of durations, or a comma-separated list of durations")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<Duration>, E> {
            split_list(v)
                .map(|one| {
                    humantime_serde::re::humantime::parse_duration(one)
                        .map_err(|_| E::invalid_value(de::Unexpected::Str(one), &"a duration"))
                })
                .collect()
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Duration>, A::Error> {
            let mut out = Vec::new();
            while let Some(Human(d)) = seq.next_element()? {
                out.push(d);
            }
            Ok(out)
        }
    }
    struct Durations(Vec<Duration>);
    impl<'de> Deserialize<'de> for Durations {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(V).map(Durations)
        }
    }
    Ok(Option::<Durations>::deserialize(d)?.map(|d| d.0))
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum StorageName {
    File,
    Memory,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum ReplayName {
    Instant,
    Original,
}

/// The key TOML's datetimes arrive under through serde (toml_datetime's private field).
const TOML_DATETIME: &str = "$__toml_private_datetime";

/// `start_at`: a position's name, a stream sequence (an integer), or an RFC 3339 time (a
/// string, or a TOML datetime).
struct StartAtValue(StartAt);

impl<'de> Deserialize<'de> for StartAtValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        const EXPECTED: &str = "\"all\", \"new\", \"last\", \"last_per_subject\", a stream \
                                sequence (an integer) or an RFC 3339 time";
        impl<'de> Visitor<'de> for V {
            type Value = StartAt;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StartAt, E> {
                Ok(match v {
                    "all" => StartAt::All,
                    "new" => StartAt::New,
                    "last" => StartAt::Last,
                    "last_per_subject" => StartAt::LastPerSubject,
                    _ => match (v.parse::<u64>(), OffsetDateTime::parse(v, &Rfc3339)) {
                        (Ok(n), _) => StartAt::Sequence(n),
                        (_, Ok(t)) => StartAt::Time(t),
                        _ => return Err(E::invalid_value(de::Unexpected::Str(v), &EXPECTED)),
                    },
                })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StartAt, E> {
                Ok(StartAt::Sequence(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StartAt, E> {
                u64::try_from(v)
                    .map(StartAt::Sequence)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &EXPECTED))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StartAt, A::Error> {
                match map.next_entry::<String, String>()? {
                    Some((k, v)) if k == TOML_DATETIME => self.visit_str(&v),
                    _ => Err(de::Error::invalid_type(de::Unexpected::Map, &EXPECTED)),
                }
            }
        }
        d.deserialize_any(V).map(StartAtValue)
    }
}

/// The keys of a `[stream_defaults]` or `[streams.<name>]` table.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct StreamTable {
    #[serde(with = "humantime_serde")]
    max_age: Option<Duration>,
    max_bytes: Option<i64>,
    max_messages: Option<i64>,
    replicas: Option<usize>,
    storage: Option<StorageName>,
    #[serde(with = "humantime_serde")]
    duplicate_window: Option<Duration>,
}

/// A [`StreamConfig`] from a table with the keys `max_age`, `max_bytes`, `max_messages`,
/// `replicas`, `storage` (`"file"` or `"memory"`) and `duplicate_window`, all optional;
/// durations are humantime strings. Unknown keys are rejected.
impl<'de> Deserialize<'de> for StreamConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let t = StreamTable::deserialize(d)?;
        Ok(Self {
            max_age: t.max_age,
            max_bytes: t.max_bytes,
            max_messages: t.max_messages,
            replicas: t.replicas,
            storage: t.storage.map(|s| match s {
                StorageName::File => Storage::File,
                StorageName::Memory => Storage::Memory,
            }),
            duplicate_window: t.duplicate_window,
        })
    }
}

/// The keys of the `[consumer_defaults]` table.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ConsumerTable {
    max_deliver: Option<i64>,
    #[serde(deserialize_with = "opt_durations")]
    backoff: Option<Vec<Duration>>,
    concurrency: Option<usize>,
    prefetch: Option<usize>,
    start_at: Option<StartAtValue>,
    #[serde(deserialize_with = "opt_string")]
    dead_letter: Option<String>,
    #[serde(deserialize_with = "opt_string")]
    dead_letter_routing_key: Option<String>,
    replay: Option<ReplayName>,
    max_ack_pending: Option<i64>,
    #[serde(with = "humantime_serde")]
    inactive_threshold: Option<Duration>,
    #[serde(with = "humantime_serde")]
    idle_heartbeat: Option<Duration>,
    max_batch: Option<usize>,
    max_bytes: Option<usize>,
    #[serde(with = "humantime_serde")]
    max_expires: Option<Duration>,
}

/// The `[consumer_defaults]` table as [`ConsumerOptions`], through its public setters.
pub(super) fn consumer_options<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<ConsumerOptions, D::Error> {
    let t = ConsumerTable::deserialize(d)?;
    let mut o = ConsumerOptions::new();
    if let Some(n) = t.max_deliver {
        o = o.max_deliver(n);
    }
    if let Some(b) = t.backoff {
        o = o.backoff(b);
    }
    if let Some(n) = t.concurrency {
        o = o.concurrency(n);
    }
    if let Some(n) = t.prefetch {
        o = o.prefetch(n);
    }
    if let Some(StartAtValue(s)) = t.start_at {
        o = o.start_at(s);
    }
    if let Some(r) = t.replay {
        o = o.replay(match r {
            ReplayName::Instant => Replay::Instant,
            ReplayName::Original => Replay::Original,
        });
    }
    if let Some(n) = t.max_ack_pending {
        o = o.max_ack_pending(n);
    }
    if let Some(d) = t.inactive_threshold {
        o = o.inactive_threshold(d);
    }
    if let Some(d) = t.idle_heartbeat {
        o = o.idle_heartbeat(d);
    }
    if let Some(n) = t.max_batch {
        o = o.max_batch(n);
    }
    if let Some(n) = t.max_bytes {
        o = o.max_bytes(n);
    }
    if let Some(d) = t.max_expires {
        o = o.max_expires(d);
    }
    if let Some(k) = t.dead_letter_routing_key {
        o = o.dead_letter_routing_key(k);
    }
    if let Some(s) = t.dead_letter {
        o = o.dead_letter(s);
    }
    Ok(o)
}
