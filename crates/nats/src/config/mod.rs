//! [`Config`]: every builder setting that is not code, loaded from a TOML file and the
//! environment (`docs/configuration.md` lists every key).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use messaging_core::ConsumerOptions;
use serde::Deserialize;

use crate::builder::ConnectionBuilder;
use crate::options::{StreamConfig, Timing};

mod check;
mod de;
mod load;

/// The prefix of the environment variables read by [`Config::load`] and
/// [`Config::from_env`]; `__` separates nested keys (`MESSAGING_NATS_STREAMS__EVENTS__MAX_AGE`).
pub const ENV_PREFIX: &str = "MESSAGING_NATS_";

/// The connection settings that are data, not code: where to connect, credentials, TLS,
/// timings, stream limits and consumer defaults. Registrations, handlers, notification
/// channels, metrics and spans stay in code.
///
/// Load it with [`Config::load`] (defaults, then a TOML file, then environment variables,
/// each overriding the one before) and apply it with
/// [`ConnectionBuilder::config`]. Every field is optional: a field left unset keeps the
/// builder's default, so a `Config` only says what differs. Keys are the field names;
/// `docs/configuration.md` lists each with its environment variable and default.
///
/// Every loader validates what it read with the checks `start()` makes, and reports the
/// first problem as [`Error::Config`](crate::Error::Config), naming the key and where it
/// came from. Unknown keys are rejected.
///
/// `Debug` never shows the password, token or NKey seed, nor user info in URLs.
///
/// ```
/// use std::time::Duration;
/// use messaging_nats::{Config, Connection, StreamConfig};
///
/// let cfg = Config::from_toml_str(r#"
///     urls = ["nats://n1:4222", "nats://n2:4222"]
///     request_timeout = "10s"
///     password = "hunter2"
///     user = "orders"
///
///     [streams.events]
///     max_age = "24h"
///
///     [consumer_defaults]
///     max_deliver = 5
///     backoff = ["1s", "5s"]
/// "#)?;
/// assert_eq!(cfg.request_timeout, Some(Duration::from_secs(10)));
/// assert_eq!(cfg.streams["events"], StreamConfig::new().max_age(Duration::from_secs(86_400)));
/// assert!(!format!("{cfg:?}").contains("hunter2"));
///
/// let builder = Connection::builder("orders").config(&cfg).event_publisher();
/// # let _ = builder;
/// # Ok::<(), messaging_nats::Error>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// Server URLs (`nats://host:4222`, `tls://…`), seeds of one cluster. A TOML array or
    /// one comma-separated string. Also read from `NATS_URL`. Unset: the builder's URLs,
    /// or `nats://127.0.0.1:4222`. Applied with [`ConnectionBuilder::urls`].
    #[serde(deserialize_with = "de::url_list")]
    pub urls: Vec<String>,
    /// The name the server shows for this client. Unset: the service name.
    #[serde(deserialize_with = "de::opt_string")]
    pub connection_name: Option<String>,
    /// User name, together with [`password`](Self::password).
    #[serde(deserialize_with = "de::opt_string")]
    pub user: Option<String>,
    /// Password, together with [`user`](Self::user). Redacted by `Debug`.
    #[serde(deserialize_with = "de::opt_string")]
    pub password: Option<String>,
    /// Token authentication. Redacted by `Debug`.
    #[serde(deserialize_with = "de::opt_string")]
    pub token: Option<String>,
    /// NKey seed (`SU…`) authentication. Redacted by `Debug`.
    #[serde(deserialize_with = "de::opt_string")]
    pub nkey_seed: Option<String>,
    /// A `.creds` file (user JWT and NKey seed), read by `start()`. Also read from
    /// `NATS_CREDS`.
    #[serde(deserialize_with = "de::opt_path")]
    pub creds_file: Option<PathBuf>,
    /// A PEM file of CA certificates to trust instead of the system's roots.
    #[serde(deserialize_with = "de::opt_path")]
    pub tls_root_ca: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS, together with
    /// [`tls_client_key`](Self::tls_client_key).
    #[serde(deserialize_with = "de::opt_path")]
    pub tls_client_cert: Option<PathBuf>,
    /// Client key (PEM) for mutual TLS, together with
    /// [`tls_client_cert`](Self::tls_client_cert).
    #[serde(deserialize_with = "de::opt_path")]
    pub tls_client_key: Option<PathBuf>,
    /// Require TLS even when the server does not ask for it. Unset: `false`.
    pub require_tls: Option<bool>,
    /// Keep retrying the first connection in the background; `start()` waits for it for
    /// at most [`connection_timeout`](Self::connection_timeout). Unset: `false`.
    pub retry_initial_connect: Option<bool>,
    /// Start while the broker is unreachable: `start()` returns a not-ready connection
    /// that connects and sets up in the background
    /// ([`ConnectionBuilder::optional_broker`]). Unset: `false`.
    pub optional_broker: Option<bool>,
    /// Reconnect attempts before giving up. Unset: reconnect forever.
    pub max_reconnects: Option<usize>,
    /// Timeout of each connection attempt, and with `retry_initial_connect` how long
    /// `start()` waits for the first connection. Unset: 5 s.
    #[serde(with = "humantime_serde")]
    pub connection_timeout: Option<Duration>,
    /// How long a request waits for its reply. Unset: 30 s. Must be positive.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Option<Duration>,
    /// The consumers' AckWait. Unset: the server default, 30 s. At least 100 ms.
    #[serde(with = "humantime_serde")]
    pub ack_wait: Option<Duration>,
    /// How long one publish attempt waits for the stream's ack; also the timeout of the
    /// JetStream API calls. Unset: 5 s. Must be positive.
    #[serde(with = "humantime_serde")]
    pub publish_timeout: Option<Duration>,
    /// Attempts per publish, the first included. Unset: 10. At least 1.
    pub publish_attempts: Option<u32>,
    /// The wait before the first publish retry; it doubles, up to 2 s. Unset: 100 ms.
    #[serde(with = "humantime_serde")]
    pub publish_retry_delay: Option<Duration>,
    /// How long `close()` waits for running handlers. Unset: 30 s. Must be positive.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Option<Duration>,
    /// Stream acks in flight for `Publish::send`. Unset: 5 000. At least 1.
    pub max_ack_inflight: Option<usize>,
    /// How often consumers are probed for `Connection::health()`. Unset: 5 s. Between
    /// 10 ms and 1 h.
    #[serde(with = "humantime_serde")]
    pub health_check_interval: Option<Duration>,
    /// Register the request handlers as a NATS service (`$SRV.*`). Unset: on.
    pub micro_service: Option<bool>,
    /// The version that NATS service reports; semver. Unset: `0.0.0`.
    #[serde(deserialize_with = "de::opt_string")]
    pub service_version: Option<String>,
    /// JetStream domain (leaf nodes, hubs); wins over the API prefix.
    #[serde(deserialize_with = "de::opt_string")]
    pub jetstream_domain: Option<String>,
    /// JetStream API prefix (cross-account imports).
    #[serde(deserialize_with = "de::opt_string")]
    pub jetstream_api_prefix: Option<String>,
    /// Settings for every stream the service ensures (table `[stream_defaults]`).
    pub stream_defaults: StreamConfig,
    /// Settings per stream, overriding the defaults field by field (tables
    /// `[streams.<name>]`; AMQP-style names such as `audit.topic.exchange` are accepted).
    pub streams: BTreeMap<String, StreamConfig>,
    /// Options for every consumer (table `[consumer_defaults]`: `max_deliver`,
    /// `backoff`, `concurrency`, `prefetch`, `start_at`, `dead_letter`,
    /// `dead_letter_routing_key`, `replay`, `max_ack_pending`, `inactive_threshold`,
    /// `idle_heartbeat`, `max_batch`, `max_bytes`, `max_expires`); options on a
    /// registration win.
    #[serde(deserialize_with = "de::consumer_options")]
    pub consumer_defaults: ConsumerOptions,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        let urls: Vec<String> = self
            .urls
            .iter()
            .map(|u| crate::builder::redact_url(u))
            .collect();
        f.debug_struct("Config")
            .field("urls", &urls)
            .field("connection_name", &self.connection_name)
            .field("user", &self.user)
            .field("password", &secret(&self.password))
            .field("token", &secret(&self.token))
            .field("nkey_seed", &secret(&self.nkey_seed))
            .field("creds_file", &self.creds_file)
            .field("tls_root_ca", &self.tls_root_ca)
            .field("tls_client_cert", &self.tls_client_cert)
            .field("tls_client_key", &self.tls_client_key)
            .field("require_tls", &self.require_tls)
            .field("retry_initial_connect", &self.retry_initial_connect)
            .field("optional_broker", &self.optional_broker)
            .field("max_reconnects", &self.max_reconnects)
            .field("connection_timeout", &self.connection_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("ack_wait", &self.ack_wait)
            .field("publish_timeout", &self.publish_timeout)
            .field("publish_attempts", &self.publish_attempts)
            .field("publish_retry_delay", &self.publish_retry_delay)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("max_ack_inflight", &self.max_ack_inflight)
            .field("health_check_interval", &self.health_check_interval)
            .field("micro_service", &self.micro_service)
            .field("service_version", &self.service_version)
            .field("jetstream_domain", &self.jetstream_domain)
            .field("jetstream_api_prefix", &self.jetstream_api_prefix)
            .field("stream_defaults", &self.stream_defaults)
            .field("streams", &self.streams)
            .field("consumer_defaults", &self.consumer_defaults)
            .finish()
    }
}

impl Config {
    /// Applies every field that is set to `b`, through the builder's own setters, so
    /// later setters on the builder win. Pairs (`user`/`password`, the TLS client
    /// certificate and key) are applied only when both halves are set; the loaders
    /// reject half a pair.
    pub(crate) fn apply(&self, mut b: ConnectionBuilder) -> ConnectionBuilder {
        let timing = Timing::default();
        b = b.urls(self.urls.iter().cloned());
        if let Some(n) = &self.connection_name {
            b = b.connection_name(n);
        }
        if let (Some(u), Some(p)) = (&self.user, &self.password) {
            b = b.user_and_password(u, p);
        }
        if let Some(t) = &self.token {
            b = b.token(t);
        }
        if let Some(s) = &self.nkey_seed {
            b = b.nkey(s);
        }
        if let Some(p) = &self.creds_file {
            b = b.credentials_file(p);
        }
        if let Some(p) = &self.tls_root_ca {
            b = b.tls_root_certificate(p);
        }
        if let (Some(c), Some(k)) = (&self.tls_client_cert, &self.tls_client_key) {
            b = b.tls_client_certificate(c, k);
        }
        if let Some(r) = self.require_tls {
            b = b.require_tls(r);
        }
        if let Some(r) = self.retry_initial_connect {
            b = b.retry_initial_connect(r);
        }
        if let Some(o) = self.optional_broker {
            b = b.optional_broker(o);
        }
        if let Some(n) = self.max_reconnects {
            b = b.max_reconnects(Some(n));
        }
        if let Some(d) = self.connection_timeout {
            b = b.connection_timeout(d);
        }
        if let Some(d) = self.request_timeout {
            b = b.request_timeout(d);
        }
        if let Some(d) = self.ack_wait {
            b = b.ack_wait(d);
        }
        if let Some(d) = self.publish_timeout {
            b = b.publish_timeout(d);
        }
        if self.publish_attempts.is_some() || self.publish_retry_delay.is_some() {
            b = b.publish_retries(
                self.publish_attempts.unwrap_or(timing.publish_attempts),
                self.publish_retry_delay
                    .unwrap_or(timing.publish_retry_delay),
            );
        }
        if let Some(d) = self.shutdown_timeout {
            b = b.shutdown_timeout(d);
        }
        if let Some(n) = self.max_ack_inflight {
            b = b.max_ack_inflight(n);
        }
        if let Some(on) = self.micro_service {
            b = b.micro_service(on);
        }
        if let Some(v) = &self.service_version {
            b = b.service_version(v);
        }
        if let Some(d) = self.health_check_interval {
            b = b.health_check_interval(d);
        }
        if let Some(d) = &self.jetstream_domain {
            b = b.jetstream_domain(d);
        }
        if let Some(p) = &self.jetstream_api_prefix {
            b = b.jetstream_api_prefix(p);
        }
        if self.stream_defaults != StreamConfig::default() {
            b = b.stream_defaults(self.stream_defaults.clone());
        }
        for (name, cfg) in &self.streams {
            b = b.stream_config(name, cfg.clone());
        }
        if self.consumer_defaults != ConsumerOptions::default() {
            b = b.consumer_defaults(self.consumer_defaults.clone());
        }
        b
    }
}
