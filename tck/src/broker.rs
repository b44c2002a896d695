//! Which broker the adapter serves, chosen from the environment as the Go reference
//! adapters do: `TCK_TRANSPORT=amqp` selects RabbitMQ (`RABBITMQ_URL` or `AMQP_URL`, and
//! `RABBITMQ_MANAGEMENT_URL`); anything else NATS (`NATS_URL`).

use messaging_spec::tck::BrokerConfig;

const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";
const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const DEFAULT_MANAGEMENT_URL: &str = "http://guest:guest@localhost:15672";

/// The broker and its addresses.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Broker {
    /// A NATS server with JetStream.
    Nats {
        /// Client URL.
        url: String,
    },
    /// A RabbitMQ broker with the management plugin.
    Amqp {
        /// AMQP URL.
        url: String,
        /// Management API URL, credentials in its userinfo.
        management_url: String,
    },
}

impl std::fmt::Debug for Broker {
    // URLs carry credentials: show where, never who.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Nats { url } => write!(f, "Nats({})", redact(url)),
            Self::Amqp {
                url,
                management_url,
            } => write!(f, "Amqp({}, {})", redact(url), redact(management_url)),
        }
    }
}

/// `scheme://user:pass@host` → `scheme://***@host`.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Broker {
    /// From the process environment.
    pub(crate) fn from_env() -> Self {
        Self::from_lookup(var)
    }

    fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        if get("TCK_TRANSPORT").is_some_and(|t| t.eq_ignore_ascii_case("amqp")) {
            Self::Amqp {
                url: get("RABBITMQ_URL")
                    .or_else(|| get("AMQP_URL"))
                    .unwrap_or_else(|| DEFAULT_AMQP_URL.to_owned()),
                management_url: get("RABBITMQ_MANAGEMENT_URL")
                    .unwrap_or_else(|| DEFAULT_MANAGEMENT_URL.to_owned()),
            }
        } else {
            Self::Nats {
                url: get("NATS_URL").unwrap_or_else(|| DEFAULT_NATS_URL.to_owned()),
            }
        }
    }

    /// The transport key `hello` reports.
    pub(crate) fn transport_key(&self) -> &'static str {
        match self {
            Self::Nats { .. } => "nats",
            Self::Amqp { .. } => "amqp",
        }
    }

    /// What `hello` tells the runner: it dials and queries only these.
    pub(crate) fn config(&self) -> BrokerConfig {
        match self {
            Self::Nats { url } => BrokerConfig::nats(url.as_str()),
            Self::Amqp {
                url,
                management_url,
            } => BrokerConfig::amqp(url.as_str(), management_url.trim_end_matches('/')),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn nats_unless_amqp_is_asked_for() {
        assert_eq!(
            Broker::from_lookup(env(&[("NATS_URL", "nats://h:1")])),
            Broker::Nats {
                url: "nats://h:1".into()
            }
        );
        assert_eq!(Broker::from_lookup(env(&[])).transport_key(), "nats");
    }

    #[test]
    fn amqp_reads_rabbitmq_url_then_amqp_url_and_trims_the_management_slash() {
        let b = Broker::from_lookup(env(&[
            ("TCK_TRANSPORT", "amqp"),
            ("AMQP_URL", "amqp://a"),
            ("RABBITMQ_MANAGEMENT_URL", "http://u:p@h:1/"),
        ]));
        assert_eq!(b.transport_key(), "amqp");
        let c = b.config();
        assert_eq!(
            (
                c.amqp_url.as_str(),
                c.management_url.as_str(),
                c.nats_url.as_str()
            ),
            ("amqp://a", "http://u:p@h:1", "")
        );
        let b = Broker::from_lookup(env(&[
            ("TCK_TRANSPORT", "AMQP"),
            ("RABBITMQ_URL", "amqp://r"),
            ("AMQP_URL", "amqp://a"),
        ]));
        assert_eq!(b.config().amqp_url, "amqp://r");
        assert_eq!(b.config().management_url, DEFAULT_MANAGEMENT_URL);
    }

    #[test]
    fn debug_never_shows_credentials() {
        let b = Broker::Amqp {
            url: "amqp://guest:s3cret@h:5672/%2f".into(),
            management_url: "http://guest:s3cret@h:15672".into(),
        };
        let shown = format!("{b:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert_eq!(shown, "Amqp(amqp://***@h:5672/%2f, http://***@h:15672)");
    }
}
