//! Layering (defaults, then a TOML file, then `NATS_URL` / `NATS_CREDS`, then
//! `MESSAGING_NATS_*`) with figment, and the mapping of figment's errors onto
//! [`Error::Config`].

use std::path::Path;

use figment::providers::{Env, Format, Toml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider};

use super::{Config, ENV_PREFIX};
use crate::error::{Error, Result};

/// The conventional variable with the server URLs (comma-separated).
const NATS_URL: &str = "NATS_URL";
/// The conventional variable with the path of a `.creds` file.
const NATS_CREDS: &str = "NATS_CREDS";

/// A provider under our own name, so errors can say which file or variable a key came
/// from (figment's `Env` names neither the prefix nor the `__` separator).
struct Labeled<P> {
    inner: P,
    metadata: Metadata,
}

impl<P: Provider> Provider for Labeled<P> {
    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn data(&self) -> std::result::Result<Map<Profile, Dict>, figment::Error> {
        self.inner.data()
    }
}

/// The TOML file at `path`, which must exist.
fn file(path: &Path) -> impl Provider {
    let name = format!("file {}", path.display());
    Labeled {
        inner: Toml::file_exact(path),
        metadata: Metadata::named(name.clone())
            .interpolater(move |_: &Profile, _: &[&str]| name.clone()),
    }
}

/// A TOML string.
fn toml_str(toml: &str) -> impl Provider {
    Labeled {
        inner: Toml::string(toml),
        metadata: Metadata::named("TOML string")
            .interpolater(|_: &Profile, _: &[&str]| "TOML string".to_owned()),
    }
}

/// `NATS_URL` (the key `urls`) and `NATS_CREDS` (the key `creds_file`).
fn nats_env() -> [impl Provider; 2] {
    let one = |var: &'static str, key: &'static str| Labeled {
        inner: Env::raw().only(&[var]).map(move |_| key.into()),
        metadata: Metadata::named(format!("environment variable {var}"))
            .interpolater(move |_: &Profile, _: &[&str]| format!("environment variable {var}")),
    };
    [one(NATS_URL, "urls"), one(NATS_CREDS, "creds_file")]
}

/// `MESSAGING_NATS_*`, with `__` between nested keys.
fn messaging_env() -> impl Provider {
    Labeled {
        inner: Env::prefixed(ENV_PREFIX).split("__"),
        metadata: Metadata::named(format!("environment variables {ENV_PREFIX}*")).interpolater(
            |_: &Profile, keys: &[&str]| {
                let var: Vec<String> = keys.iter().map(|k| k.to_ascii_uppercase()).collect();
                format!("environment variable {ENV_PREFIX}{}", var.join("__"))
            },
        ),
    }
}

impl Config {
    /// Loads the configuration: the defaults, overridden by the TOML file at `path` (when
    /// given; it must exist), overridden by the environment: `NATS_URL` and `NATS_CREDS`,
    /// then `MESSAGING_NATS_*` variables (`MESSAGING_NATS_REQUEST_TIMEOUT=10s`,
    /// `MESSAGING_NATS_STREAMS__EVENTS__MAX_AGE=24h`; `__` separates nested keys).
    ///
    /// # Errors
    /// [`Error::Config`] for the first problem: a file that cannot be read or parsed, an
    /// unknown key, a value of the wrong type, or a value the builder would refuse. It
    /// names the key and where it came from (file path or environment variable).
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let mut figment = Figment::new();
        if let Some(path) = path {
            figment = figment.merge(file(path));
        }
        for provider in nats_env() {
            figment = figment.merge(provider);
        }
        extract(&figment.merge(messaging_env()))
    }

    /// The TOML file at `path` over the defaults, without looking at the environment.
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        extract(&Figment::new().merge(file(path.as_ref())))
    }

    /// TOML text over the defaults.
    ///
    /// # Errors
    /// As [`load`](Self::load); the source is named `TOML string`.
    pub fn from_toml_str(toml: &str) -> Result<Self> {
        extract(&Figment::new().merge(toml_str(toml)))
    }

    /// The environment (`NATS_URL`, `NATS_CREDS`, then `MESSAGING_NATS_*`) over the defaults.
    ///
    /// # Errors
    /// As [`load`](Self::load).
    pub fn from_env() -> Result<Self> {
        Self::load(None)
    }
}

/// Extracts and validates; every error becomes one [`Error::Config`].
fn extract(figment: &Figment) -> Result<Config> {
    let config: Config = figment.extract().map_err(|e| config_error(figment, e))?;
    config.check(&|key| source_of(figment, key))?;
    Ok(config)
}

/// Where the value of `key` came from.
fn source_of(figment: &Figment, key: &str) -> String {
    let parts: Vec<&str> = key.split('.').collect();
    figment.find_metadata(key).map_or_else(
        || "the defaults".to_owned(),
        |md| md.interpolate(&Profile::Default, &parts),
    )
}

/// The first of figment's errors, with its full key and its source.
fn config_error(figment: &Figment, e: figment::Error) -> Error {
    let Some(e) = e.into_iter().next() else {
        return Error::Config {
            key: None,
            source_name: "configuration".to_owned(),
            reason: "unknown error".to_owned(),
        };
    };
    // figment's path of an unknown key already ends with the key; make sure it does.
    let mut path = e.path.clone();
    if let figment::error::Kind::UnknownField(field, _) = &e.kind
        && path.last() != Some(field)
    {
        path.push(field.clone());
    }
    let key = (!path.is_empty()).then(|| path.join("."));
    // The leaf's own metadata names the right layer; the error's is that of the value
    // that failed, which for an unknown key can be the table holding it.
    let source_name = key
        .as_deref()
        .and_then(|k| figment.find_metadata(k))
        .or(e.metadata.as_ref())
        .map_or_else(
            || "configuration".to_owned(),
            |md| md.interpolate(&e.profile.clone().unwrap_or_default(), &path),
        );
    Error::Config {
        key,
        source_name,
        reason: match &e.kind {
            figment::error::Kind::UnknownField(field, known) => {
                format!(
                    "unknown key `{field}`; the keys here are {}",
                    known.join(", ")
                )
            }
            other => other.to_string(),
        },
    }
}
