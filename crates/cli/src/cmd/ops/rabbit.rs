//! The RabbitMQ management API (plain HTTP, basic auth) and the Go reference's discovery
//! rules: exchanges and bindings to consume endpoints, services from the spec's names.
//!
//! Two additions over the reference, both documented in `docs/cli.md#discover`: a transient
//! queue's endpoint is marked `ephemeral` (the reference drops that), and a queue
//! `<exchange>.queue.<service>-<suffix>` is given to `<service>` when a connection of the
//! vhost is named after it (the reference makes `<service>-<suffix>` a service of its own).

use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine;
use messaging_spec::{Endpoint, EndpointDirection, ExchangeKind, Pattern, Topology, Transport};
use serde::Deserialize;

use super::nats_state::split_durable;
use super::redact_url;
use crate::error::CliError;

/// Each management call's bound, as the reference's 10 s.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Bindings of a large vhost run to megabytes; this is far above any real one.
const BODY_LIMIT: u64 = 256 * 1024 * 1024;
const EVENTS_EXCHANGE: &str = "events.topic.exchange";
const REQUEST_SUFFIX: &str = ".direct.exchange.request";
const RESPONSE_SUFFIX: &str = ".headers.exchange.response";

/// An exchange as the management API lists it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Exchange {
    pub(crate) name: String,
    #[serde(rename = "type")]
    pub(crate) kind: String,
}

/// A binding as the management API lists it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Binding {
    pub(crate) source: String,
    pub(crate) destination: String,
    pub(crate) destination_type: String,
    #[serde(default)]
    pub(crate) routing_key: String,
}

#[derive(Debug, Deserialize)]
struct Connection {
    #[serde(default)]
    client_properties: ClientProperties,
}

#[derive(Debug, Default, Deserialize)]
struct ClientProperties {
    #[serde(default)]
    connection_name: Option<String>,
}

/// A management API endpoint: where, and as whom. Its `Debug` leaves the credentials out.
pub(crate) struct Management {
    /// `http://host:port[/prefix]`, without user info or a trailing slash.
    base: String,
    /// For messages: the URL as given, without its password.
    shown: String,
    /// The `Authorization` header value; never printed.
    auth: String,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Management {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Management")
            .field("url", &self.shown)
            .finish_non_exhaustive()
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The vhost as one path segment (`/` is `%2F`).
fn vhost_segment(vhost: &str) -> String {
    vhost
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl Management {
    /// Parses `http://[user[:password]@]host[:port][/prefix]`; without user info the
    /// reference's default `guest`/`guest` is used.
    pub(crate) fn new(url: &str) -> Result<Self, CliError> {
        let shown = redact_url(url);
        let fail = |detail: &str| CliError::Management {
            url: shown.clone(),
            detail: detail.to_owned(),
        };
        let rest = match url.split_once("://") {
            Some(("http", rest)) => rest,
            Some(("https", _)) => {
                return Err(fail(
                    "https is not supported by this build; use the plain-HTTP management port \
                     or a TLS-terminating tunnel",
                ));
            }
            _ => return Err(fail("the URL must start with http://")),
        };
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        let (user, password, host) = match authority.rsplit_once('@') {
            Some((info, host)) => {
                let (u, p) = info.split_once(':').unwrap_or((info, ""));
                (percent_decode(u), percent_decode(p), host)
            }
            None => ("guest".to_owned(), "guest".to_owned(), authority),
        };
        if host.is_empty() {
            return Err(fail("the URL has no host"));
        }
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .http_status_as_error(false)
            .build();
        Ok(Self {
            base: format!("http://{host}{}", path.trim_end_matches('/')),
            shown,
            auth: format!("Basic {token}"),
            agent: config.into(),
        })
    }

    fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        let fail = |detail: String| CliError::Management {
            url: self.shown.clone(),
            detail: format!("GET {path}: {detail}"),
        };
        let mut response = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", &self.auth)
            .header("Accept", "application/json")
            .call()
            .map_err(|e| {
                fail(format!(
                    "{e}; check the URL and that the management plugin runs"
                ))
            })?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(BODY_LIMIT)
            .read_to_string()
            .map_err(|e| fail(e.to_string()))?;
        match status {
            200 => serde_json::from_str(&body).map_err(|e| fail(format!("decoding response: {e}"))),
            401 => Err(fail("HTTP 401: wrong user or password".to_owned())),
            code => Err(fail(format!("HTTP {code}: {}", body.trim()))),
        }
    }

    /// `GET /api/exchanges/<vhost>`.
    pub(crate) fn exchanges(&self, vhost: &str) -> Result<Vec<Exchange>, CliError> {
        self.get(&format!("/api/exchanges/{}", vhost_segment(vhost)))
    }

    /// `GET /api/bindings/<vhost>`.
    pub(crate) fn bindings(&self, vhost: &str) -> Result<Vec<Binding>, CliError> {
        self.get(&format!("/api/bindings/{}", vhost_segment(vhost)))
    }

    /// The services connected to the vhost: the `<service>` of each connection named
    /// `<service>#<version>#@<host>`, the reference's connection name.
    pub(crate) fn connection_services(&self, vhost: &str) -> Result<BTreeSet<String>, CliError> {
        let conns: Vec<Connection> =
            self.get(&format!("/api/vhosts/{}/connections", vhost_segment(vhost)))?;
        Ok(conns
            .into_iter()
            .filter_map(|c| c.client_properties.connection_name)
            .filter_map(|n| n.split_once('#').map(|(s, _)| s.to_owned()))
            .filter(|s| !s.is_empty())
            .collect())
    }
}

/// A topic, direct or headers exchange that is not the default or an `amq.*` one.
pub(crate) fn is_spec_exchange(x: &Exchange) -> bool {
    !x.name.is_empty()
        && !x.name.starts_with("amq.")
        && matches!(x.kind.as_str(), "topic" | "direct" | "headers")
}

/// Whether `s` ends with `-<lower-case 8-4-4-4-12 hex UUID>`; the part before it if so.
fn strip_uuid(s: &str) -> Option<&str> {
    let (head, tail) = s.split_at_checked(s.len().checked_sub(37)?)?;
    let uuid = tail.strip_prefix('-')?;
    let groups: Vec<&str> = uuid.split('-').collect();
    let shaped = groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && uuid
            .bytes()
            .all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    shaped.then_some(head)
}

/// One consume endpoint (and its service) per binding that follows the spec's names.
fn endpoint(x: &Exchange, b: &Binding, known: &BTreeSet<String>) -> Option<(String, Endpoint)> {
    let queue_prefix = format!("{}.queue.", x.name);
    let (service, pattern, kind, ephemeral) = match x.kind.as_str() {
        "topic" => {
            let rest = b.destination.strip_prefix(&queue_prefix)?;
            let (service, ephemeral) = match strip_uuid(rest) {
                Some(head) => (head.to_owned(), true),
                None => (split_durable(rest, known).0, false),
            };
            let pattern = if x.name == EVENTS_EXCHANGE {
                Pattern::EventStream
            } else {
                Pattern::CustomStream
            };
            (service, pattern, ExchangeKind::Topic, ephemeral)
        }
        "direct" => {
            let service = x.name.strip_suffix(REQUEST_SUFFIX)?.to_owned();
            (
                service,
                Pattern::ServiceRequest,
                ExchangeKind::Direct,
                false,
            )
        }
        "headers" => {
            x.name.strip_suffix(RESPONSE_SUFFIX)?;
            let service = b.destination.strip_prefix(&queue_prefix)?.to_owned();
            (
                service,
                Pattern::ServiceResponse,
                ExchangeKind::Headers,
                false,
            )
        }
        _ => return None,
    };
    if service.is_empty() {
        return None;
    }
    let ep = Endpoint::new(EndpointDirection::Consume, pattern, &x.name, kind)
        .with_queue_name(&b.destination)
        .with_routing_key(&b.routing_key)
        .with_ephemeral(ephemeral);
    Some((service, ep))
}

/// The reference's discovery: topologies sorted by service, endpoints in binding order.
pub(crate) fn topologies(
    exchanges: &[Exchange],
    bindings: &[Binding],
    known: &BTreeSet<String>,
) -> Vec<Topology> {
    let kept: Vec<&Exchange> = exchanges.iter().filter(|x| is_spec_exchange(x)).collect();
    let mut out: Vec<Topology> = Vec::new();
    for b in bindings {
        if b.source.is_empty() || b.destination_type != "queue" {
            continue;
        }
        let Some(x) = kept.iter().find(|x| x.name == b.source) else {
            continue;
        };
        let Some((service, ep)) = endpoint(x, b, known) else {
            continue;
        };
        match out.iter_mut().find(|t| t.service_name == service) {
            Some(t) => t.endpoints.push(ep),
            None => out.push(Topology::new(Some(Transport::Amqp), service).with_endpoint(ep)),
        }
    }
    out.sort_by(|a, b| a.service_name.cmp(&b.service_name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x(name: &str, kind: &str) -> Exchange {
        Exchange {
            name: name.to_owned(),
            kind: kind.to_owned(),
        }
    }

    fn b(source: &str, queue: &str, key: &str) -> Binding {
        Binding {
            source: source.to_owned(),
            destination: queue.to_owned(),
            destination_type: "queue".to_owned(),
            routing_key: key.to_owned(),
        }
    }

    #[test]
    fn bindings_become_the_references_endpoints() {
        let exchanges = [
            x("events.topic.exchange", "topic"),
            x("billing.direct.exchange.request", "direct"),
            x("billing.headers.exchange.response", "headers"),
            x("amq.topic", "topic"),
            x("fan", "fanout"),
        ];
        let bindings = [
            b(
                "events.topic.exchange",
                "events.topic.exchange.queue.notifications",
                "Order.Created",
            ),
            b(
                "events.topic.exchange",
                "events.topic.exchange.queue.notifications-audit",
                "Order.#",
            ),
            b(
                "events.topic.exchange",
                "events.topic.exchange.queue.dash-0f8fad5b-d9cb-469f-a165-70867728950e",
                "#",
            ),
            b(
                "billing.direct.exchange.request",
                "billing.direct.exchange.request.queue",
                "Billing.Charge",
            ),
            b(
                "billing.headers.exchange.response",
                "billing.headers.exchange.response.queue.web",
                "Billing.Charge",
            ),
            b("amq.topic", "q", "k"),
            b("", "events.topic.exchange.queue.x", "x"),
        ];
        let known: BTreeSet<String> = ["notifications".to_owned()].into();
        let got = topologies(&exchanges, &bindings, &known);
        let services: Vec<&str> = got.iter().map(|t| t.service_name.as_str()).collect();
        assert_eq!(services, ["billing", "dash", "notifications", "web"]);
        assert_eq!(
            got[2].endpoints.len(),
            2,
            "suffixed queue joins its service"
        );
        assert!(got[1].endpoints[0].ephemeral);
        assert_eq!(got[0].endpoints[0].pattern, Pattern::ServiceRequest);
        assert_eq!(got[3].endpoints[0].exchange_kind, ExchangeKind::Headers);
    }

    #[test]
    fn urls_keep_their_password_out_of_sight() -> Result<(), CliError> {
        let api = Management::new("http://ops:p%40ss@127.0.0.1:15672/")?;
        assert_eq!(api.base, "http://127.0.0.1:15672");
        assert_eq!(api.shown, "http://***@127.0.0.1:15672/");
        let debug = format!("{api:?}");
        assert!(
            !debug.contains("p@ss") && !debug.contains(&api.auth),
            "{debug}"
        );
        assert!(matches!(
            Management::new("https://h:15671"),
            Err(CliError::Management { .. })
        ));
        assert_eq!(vhost_segment("/"), "%2F");
        Ok(())
    }
}
