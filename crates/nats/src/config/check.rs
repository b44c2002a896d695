//! Validation of a [`Config`] with the builder's own checks: each setting is applied on
//! its own to a fresh builder, whose [`topology`](ConnectionBuilder::topology) runs the
//! checks of `start()` without any I/O, so a failure names the one key at fault.

use messaging_core::ConsumerOptions;
use messaging_spec::StreamName;

use super::Config;
use crate::connection::Connection;
use crate::error::{Error, Result};

/// The service name of the probe builders (any valid name).
const PROBE: &str = "config";

/// The reason in an error of the builder's checks, without their own prefix.
fn reason(e: Error) -> String {
    match e {
        Error::Core(messaging_core::Error::InvalidConfig(r)) => r,
        other => other.to_string(),
    }
}

impl Config {
    /// Checks this configuration as [`ConnectionBuilder::start`](crate::ConnectionBuilder::start)
    /// would, before any I/O. The loaders call it; call it yourself on a `Config` built
    /// or changed in code.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first invalid key; its source is `Config value`.
    pub fn validate(&self) -> Result<()> {
        self.check(&|_| "Config value".to_owned())
    }

    /// Checks every setting, `source` naming where a key came from.
    pub(super) fn check(&self, source: &dyn Fn(&str) -> String) -> Result<()> {
        let fail = |key: &str, reason: String| Error::Config {
            key: Some(key.to_owned()),
            source_name: source(key),
            reason,
        };
        for (i, url) in self.urls.iter().enumerate() {
            // The URL itself is not shown: it may carry a password.
            if let Err(e) = url.parse::<async_nats::ServerAddr>() {
                return Err(fail("urls", format!("URL #{} is invalid: {e}", i + 1)));
            }
        }
        let pairs = [
            (
                ("user", self.user.is_some()),
                ("password", self.password.is_some()),
            ),
            (
                ("tls_client_cert", self.tls_client_cert.is_some()),
                ("tls_client_key", self.tls_client_key.is_some()),
            ),
        ];
        for ((a, va), (b, vb)) in pairs {
            match (va, vb) {
                (true, false) => return Err(fail(a, format!("{a} needs {b}"))),
                (false, true) => return Err(fail(b, format!("{b} needs {a}"))),
                _ => {}
            }
        }
        let one = |key: &str, cfg: Config| -> Result<()> {
            cfg.apply(Connection::builder(PROBE))
                .topology()
                .map(drop)
                .map_err(|e| fail(key, reason(e)))
        };
        let mut probe = Config::default();
        macro_rules! alone {
            ($($field:ident),*) => {$(
                if self.$field.is_some() {
                    probe.$field = self.$field;
                    one(stringify!($field), probe.clone())?;
                    probe.$field = None;
                }
            )*};
        }
        alone!(
            request_timeout,
            ack_wait,
            publish_timeout,
            publish_attempts,
            publish_retry_delay,
            shutdown_timeout,
            max_ack_inflight,
            health_check_interval
        );
        if let Some(v) = &self.service_version {
            probe.service_version = Some(v.clone());
            one("service_version", probe.clone())?;
            probe.service_version = None;
        }
        for name in self.streams.keys() {
            StreamName::from_exchange(name.as_str())
                .map_err(|e| fail(&format!("streams.{name}"), e.to_string()))?;
        }
        self.check_consumer_defaults(&fail, &one)
    }

    /// Each consumer default on its own, then all together (`backoff` against
    /// `max_deliver`).
    fn check_consumer_defaults(
        &self,
        fail: &dyn Fn(&str, String) -> Error,
        one: &dyn Fn(&str, Config) -> Result<()>,
    ) -> Result<()> {
        let d = &self.consumer_defaults;
        let with = |o: ConsumerOptions| Config {
            consumer_defaults: o,
            ..Config::default()
        };
        let mut fields: Vec<(&str, ConsumerOptions)> = Vec::new();
        if let Some(n) = d.get_max_deliver() {
            fields.push(("max_deliver", ConsumerOptions::new().max_deliver(n)));
        }
        if !d.get_backoff().is_empty() {
            let b = d.get_backoff().to_vec();
            fields.push(("backoff", ConsumerOptions::new().backoff(b)));
        }
        if let Some(n) = d.get_concurrency() {
            fields.push(("concurrency", ConsumerOptions::new().concurrency(n)));
        }
        if let Some(n) = d.get_prefetch() {
            fields.push(("prefetch", ConsumerOptions::new().prefetch(n)));
        }
        if let Some(dl) = d.get_dead_letter() {
            let key = "consumer_defaults.dead_letter";
            StreamName::from_exchange(dl.destination.as_str())
                .map_err(|e| fail(key, e.to_string()))?;
            if let Some(rk) = &dl.routing_key {
                messaging_spec::RoutingKey::new(rk.as_str()).map_err(|e| {
                    fail("consumer_defaults.dead_letter_routing_key", e.to_string())
                })?;
            }
        }
        for (field, o) in fields {
            one(&format!("consumer_defaults.{field}"), with(o))?;
        }
        one("consumer_defaults.backoff", with(d.clone()))
    }
}
