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

    /// Each consumer default on its own, then the pairs checked against each other
    /// (`backoff` against `max_deliver`, `idle_heartbeat` against `max_expires`), then
    /// all together.
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
        if let Some(s) = d.get_start_at() {
            fields.push(("start_at", ConsumerOptions::new().start_at(s)));
        }
        if let Some(r) = d.get_replay() {
            fields.push(("replay", ConsumerOptions::new().replay(r)));
        }
        if let Some(n) = d.get_max_ack_pending() {
            fields.push(("max_ack_pending", ConsumerOptions::new().max_ack_pending(n)));
        }
        if let Some(t) = d.get_inactive_threshold() {
            let o = ConsumerOptions::new().inactive_threshold(t);
            fields.push(("inactive_threshold", o));
        }
        if let Some(t) = d.get_idle_heartbeat() {
            fields.push(("idle_heartbeat", ConsumerOptions::new().idle_heartbeat(t)));
        }
        if let Some(n) = d.get_max_batch() {
            fields.push(("max_batch", ConsumerOptions::new().max_batch(n)));
        }
        if let Some(n) = d.get_max_bytes() {
            fields.push(("max_bytes", ConsumerOptions::new().max_bytes(n)));
        }
        if let Some(t) = d.get_max_expires() {
            fields.push(("max_expires", ConsumerOptions::new().max_expires(t)));
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
        // The pairs checked against each other, named by the key that must change.
        if let (Some(n), false) = (d.get_max_deliver(), d.get_backoff().is_empty()) {
            let o = ConsumerOptions::new()
                .max_deliver(n)
                .backoff(d.get_backoff().to_vec());
            one("consumer_defaults.backoff", with(o))?;
        }
        if let (Some(hb), Some(exp)) = (d.get_idle_heartbeat(), d.get_max_expires()) {
            let o = ConsumerOptions::new().idle_heartbeat(hb).max_expires(exp);
            one("consumer_defaults.idle_heartbeat", with(o))?;
        }
        one("consumer_defaults", with(d.clone()))
    }
}
