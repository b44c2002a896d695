//! The NATS services ("micro") protocol for request handlers: `$SRV.PING`, `$SRV.INFO`
//! and `$SRV.STATS` answer with this service, its request endpoints and their counters.
//!
//! We serve the discovery subjects ourselves instead of using `async_nats::service`: that
//! module owns the endpoint subscriptions (queue group `q` by default) and counts an error
//! only when the reply is its own empty-bodied error response, while our replies must stay
//! the spec's (`{"error": …}` body, queue group `<service>`). See `docs/micro.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_nats::{Client, Subscriber};
use futures::StreamExt;
use messaging_core::{Error as CoreError, reply};
use messaging_spec::ServiceName;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::Instrument;

use crate::connection::Shared;
use crate::error::{Error, Result};
use crate::plan::RequestPlan;

/// The version reported when the builder sets none.
pub(crate) const DEFAULT_VERSION: &str = "0.0.0";
const API_PREFIX: &str = "$SRV";
const PING_TYPE: &str = "io.nats.micro.v1.ping_response";
const INFO_TYPE: &str = "io.nats.micro.v1.info_response";
const STATS_TYPE: &str = "io.nats.micro.v1.stats_response";
/// The endpoint metadata key holding the routing key the handler was registered for.
const ROUTING_KEY: &str = "routing_key";

/// The builder's micro settings: on by default, version `0.0.0`.
#[derive(Debug, Clone)]
pub(crate) struct MicroSettings {
    pub(crate) enabled: bool,
    pub(crate) version: Option<String>,
}

impl Default for MicroSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            version: None,
        }
    }
}

impl MicroSettings {
    /// An explicit version must be semver (the protocol requires it).
    pub(crate) fn check(&self) -> Result<()> {
        match &self.version {
            Some(v) if !is_semver(v) => Err(Error::invalid_config(format!(
                "service version must be a semantic version (like 1.2.3), got {v:?}"
            ))),
            _ => Ok(()),
        }
    }
}

/// One request endpoint as the protocol shows it, with its counters.
#[derive(Debug)]
pub(crate) struct MicroEndpoint {
    name: String,
    subject: String,
    queue_group: String,
    routing_key: String,
    counters: Mutex<Counters>,
}

#[derive(Debug, Default, Clone)]
struct Counters {
    requests: u64,
    errors: u64,
    last_error: String,
    processing: Duration,
}

impl MicroEndpoint {
    /// Counts one handled request: `error` is what the handler's reply reported, if any.
    pub(crate) fn record(&self, elapsed: Duration, error: Option<&CoreError>) {
        let mut c = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        c.requests += 1;
        c.processing = c.processing.saturating_add(elapsed);
        if let Some(e) = error {
            c.errors += 1;
            c.last_error = format!("{}:{}", reply::error_code(e), reply::error_text(Some(e)));
        }
    }

    fn counters(&self) -> Counters {
        self.counters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// This connection's service instance: identity plus endpoints.
#[derive(Debug)]
pub(crate) struct Registry {
    name: String,
    id: String,
    version: String,
    started: String,
    endpoints: Vec<Arc<MicroEndpoint>>,
}

impl Registry {
    /// The instance for these request handlers; `None` when disabled, when there are no
    /// request handlers, or when the service name is not a valid micro name.
    pub(crate) fn new(
        settings: &MicroSettings,
        service: &ServiceName,
        queue_group: &str,
        requests: &[RequestPlan],
        client: &Client,
    ) -> Option<Self> {
        if !settings.enabled || requests.is_empty() {
            return None;
        }
        let name = service.as_str();
        if !is_micro_name(name) {
            tracing::debug!(
                service = name,
                "service name is not a NATS micro name (A-Z, a-z, 0-9, '-', '_'); request handlers are not registered as a NATS service"
            );
            return None;
        }
        let mut taken = BTreeSet::new();
        let endpoints = requests
            .iter()
            .map(|r| {
                let key = r.route.pattern.as_str();
                Arc::new(MicroEndpoint {
                    name: unique(&mut taken, &endpoint_name(key)),
                    subject: r.subject.clone(),
                    queue_group: queue_group.to_owned(),
                    routing_key: key.to_owned(),
                    counters: Mutex::default(),
                })
            })
            .collect();
        // An inbox ends with a fresh NUID: a unique instance id, as Go's micro uses.
        let inbox = client.new_inbox();
        let id = inbox.rsplit('.').next().unwrap_or(&inbox).to_owned();
        Some(Self {
            name: name.to_owned(),
            id,
            version: settings
                .version
                .clone()
                .unwrap_or_else(|| DEFAULT_VERSION.to_owned()),
            started: OffsetDateTime::now_utc()
                .format(&Rfc3339)
                .unwrap_or_default(),
            endpoints,
        })
    }

    /// The endpoint serving `subject`.
    pub(crate) fn endpoint(&self, subject: &str) -> Option<Arc<MicroEndpoint>> {
        self.endpoints
            .iter()
            .find(|e| e.subject == subject)
            .cloned()
    }

    /// The nine discovery subjects: every verb for all services, for this name, and for
    /// this instance.
    fn subjects(&self) -> Vec<String> {
        let mut subjects = Vec::with_capacity(9);
        for verb in [Verb::Ping, Verb::Info, Verb::Stats] {
            let v = verb.as_str();
            subjects.push(format!("{API_PREFIX}.{v}"));
            subjects.push(format!("{API_PREFIX}.{v}.{}", self.name));
            subjects.push(format!("{API_PREFIX}.{v}.{}.{}", self.name, self.id));
        }
        subjects
    }

    fn identity(&self, kind: &'static str) -> Identity<'_> {
        Identity {
            kind,
            name: &self.name,
            id: &self.id,
            version: &self.version,
            metadata: BTreeMap::new(),
        }
    }

    fn response(&self, verb: Verb) -> serde_json::Result<Vec<u8>> {
        match verb {
            Verb::Ping => serde_json::to_vec(&self.identity(PING_TYPE)),
            Verb::Info => serde_json::to_vec(&InfoResponse {
                identity: self.identity(INFO_TYPE),
                description: "",
                endpoints: self
                    .endpoints
                    .iter()
                    .map(|e| EndpointInfo {
                        name: &e.name,
                        subject: &e.subject,
                        queue_group: &e.queue_group,
                        metadata: BTreeMap::from([(ROUTING_KEY, e.routing_key.as_str())]),
                    })
                    .collect(),
            }),
            Verb::Stats => {
                let counters: Vec<Counters> = self.endpoints.iter().map(|e| e.counters()).collect();
                serde_json::to_vec(&StatsResponse {
                    identity: self.identity(STATS_TYPE),
                    started: &self.started,
                    endpoints: self
                        .endpoints
                        .iter()
                        .zip(&counters)
                        .map(|(e, c)| EndpointStats::new(e, c))
                        .collect(),
                })
            }
        }
    }
}

/// Subscribes the discovery subjects (when this connection registers a service) and
/// answers them until shutdown. Called after the request subscriptions, before the flush.
pub(crate) async fn start(shared: &Arc<Shared>, span: &tracing::Span) -> Result<()> {
    let Some(registry) = &shared.micro else {
        return Ok(());
    };
    let mut subs = Vec::with_capacity(9);
    for subject in registry.subjects() {
        let sub = shared
            .client
            .subscribe(subject.clone())
            .await
            .map_err(|e| Error::Subscribe {
                subject,
                source: Box::new(e),
            })?;
        subs.push(sub);
    }
    tracing::info!(parent: span, service = %registry.name, id = %registry.id, version = %registry.version, "registered NATS service");
    tokio::spawn(serve(Arc::clone(shared), subs).instrument(span.clone()));
    Ok(())
}

/// Answers discovery requests until shutdown (the subscriptions end when dropped), or
/// until the client closes.
async fn serve(shared: Arc<Shared>, subs: Vec<Subscriber>) {
    let Some(registry) = &shared.micro else {
        return;
    };
    let mut requests = futures::stream::select_all(subs);
    loop {
        let msg = tokio::select! {
            () = shared.shutdown.cancelled() => break,
            m = requests.next() => m,
        };
        let Some(msg) = msg else { break };
        let (Some(reply), Some(verb)) = (msg.reply, Verb::of(msg.subject.as_str())) else {
            continue;
        };
        match registry.response(verb) {
            Ok(body) => {
                if let Err(e) = shared.client.publish(reply, body.into()).await {
                    tracing::debug!(subject = %msg.subject, error = %e, "failed to answer NATS service request");
                }
            }
            Err(e) => tracing::warn!(error = %e, "failed to encode NATS service response"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Ping,
    Info,
    Stats,
}

impl Verb {
    fn as_str(self) -> &'static str {
        match self {
            Self::Ping => "PING",
            Self::Info => "INFO",
            Self::Stats => "STATS",
        }
    }

    /// The verb of a discovery subject (`$SRV.<VERB>[.<name>[.<id>]]`).
    fn of(subject: &str) -> Option<Self> {
        let mut tokens = subject.split('.');
        if tokens.next() != Some(API_PREFIX) {
            return None;
        }
        match tokens.next()? {
            "PING" => Some(Self::Ping),
            "INFO" => Some(Self::Info),
            "STATS" => Some(Self::Stats),
            _ => None,
        }
    }
}

/// The fields every response starts with; `type` names the schema.
#[derive(Serialize)]
struct Identity<'a> {
    name: &'a str,
    id: &'a str,
    version: &'a str,
    metadata: BTreeMap<&'static str, &'a str>,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct InfoResponse<'a> {
    #[serde(flatten)]
    identity: Identity<'a>,
    description: &'static str,
    endpoints: Vec<EndpointInfo<'a>>,
}

#[derive(Serialize)]
struct EndpointInfo<'a> {
    name: &'a str,
    subject: &'a str,
    queue_group: &'a str,
    metadata: BTreeMap<&'static str, &'a str>,
}

#[derive(Serialize)]
struct StatsResponse<'a> {
    #[serde(flatten)]
    identity: Identity<'a>,
    started: &'a str,
    endpoints: Vec<EndpointStats<'a>>,
}

#[derive(Serialize)]
struct EndpointStats<'a> {
    name: &'a str,
    subject: &'a str,
    queue_group: &'a str,
    num_requests: u64,
    num_errors: u64,
    last_error: &'a str,
    /// Nanoseconds.
    processing_time: u64,
    /// Nanoseconds.
    average_processing_time: u64,
}

impl<'a> EndpointStats<'a> {
    fn new(e: &'a MicroEndpoint, c: &'a Counters) -> Self {
        let total = u64::try_from(c.processing.as_nanos()).unwrap_or(u64::MAX);
        Self {
            name: &e.name,
            subject: &e.subject,
            queue_group: &e.queue_group,
            num_requests: c.requests,
            num_errors: c.errors,
            last_error: &c.last_error,
            processing_time: total,
            average_processing_time: total.checked_div(c.requests).unwrap_or(0),
        }
    }
}

/// `^[A-Za-z0-9\-_]+$`: the protocol's rule for service and endpoint names.
fn is_micro_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// An endpoint name for a routing key: `.` becomes `-` (as async-nats names endpoints
/// after their subject), any other character the protocol refuses becomes `_`.
fn endpoint_name(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '.' => '-',
            c if c.is_ascii_alphanumeric() || c == '-' || c == '_' => c,
            _ => '_',
        })
        .collect()
}

/// `name`, or `name-2`, `name-3`… when an earlier endpoint already has it.
fn unique(taken: &mut BTreeSet<String>, name: &str) -> String {
    let mut candidate = name.to_owned();
    let mut n = 1;
    while taken.contains(&candidate) {
        n += 1;
        candidate = format!("{name}-{n}");
    }
    taken.insert(candidate.clone());
    candidate
}

/// Semantic Versioning 2.0.0: `MAJOR.MINOR.PATCH[-pre.release][+build.meta]`.
fn is_semver(v: &str) -> bool {
    let (rest, build) = match v.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (v, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    let numeric = |s: &str| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
    };
    let ident =
        |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| numeric(p))
        && pre.is_none_or(|p| {
            p.split('.')
                .all(|id| ident(id) && (!id.bytes().all(|b| b.is_ascii_digit()) || numeric(id)))
        })
        && build.is_none_or(|b| b.split('.').all(ident))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_follows_the_spec() {
        for ok in [
            "0.0.0",
            "1.2.3",
            "10.20.30",
            "1.0.0-alpha.1",
            "1.0.0-0.3.7",
            "1.0.0+20130313144700",
            "1.0.0-beta+exp.sha.5114f85",
            "1.0.0-x-y-z.--",
        ] {
            assert!(is_semver(ok), "{ok}");
        }
        for bad in [
            "",
            "1",
            "1.2",
            "1.2.3.4",
            "01.2.3",
            "1.02.3",
            "1.2.3-",
            "1.2.3-01",
            "1.2.3+",
            "1.2.3-a..b",
            "v1.2.3",
            "1.2.x",
            "1.2.3-ä",
        ] {
            assert!(!is_semver(bad), "{bad}");
        }
    }

    #[test]
    fn micro_names() {
        assert!(is_micro_name("email-svc_2"));
        for bad in ["", "a b", "a:b", "caf\u{e9}", "a@b"] {
            assert!(!is_micro_name(bad), "{bad}");
        }
    }

    #[test]
    fn endpoint_names_are_valid_and_unique() {
        let mut taken = BTreeSet::new();
        assert_eq!(
            unique(&mut taken, &endpoint_name("Billing.Charge")),
            "Billing-Charge"
        );
        assert_eq!(
            unique(&mut taken, &endpoint_name("Billing-Charge")),
            "Billing-Charge-2"
        );
        assert_eq!(unique(&mut taken, &endpoint_name("Billing.*")), "Billing-_");
        assert_eq!(
            unique(&mut taken, &endpoint_name("Billing.#")),
            "Billing-_-2"
        );
        for name in &taken {
            assert!(is_micro_name(name), "{name}");
        }
    }

    #[test]
    fn verbs_are_read_from_the_subject() {
        assert_eq!(Verb::of("$SRV.PING"), Some(Verb::Ping));
        assert_eq!(Verb::of("$SRV.INFO.billing"), Some(Verb::Info));
        assert_eq!(Verb::of("$SRV.STATS.billing.abc"), Some(Verb::Stats));
        assert_eq!(Verb::of("$SRV.SCHEMA.billing"), None);
        assert_eq!(Verb::of("billing.request.PING"), None);
    }

    #[test]
    fn stats_count_errors_and_average_time() {
        let e = MicroEndpoint {
            name: "Billing-Charge".into(),
            subject: "billing.request.Billing.Charge".into(),
            queue_group: "billing".into(),
            routing_key: "Billing.Charge".into(),
            counters: Mutex::default(),
        };
        let failure = CoreError::Handler {
            routing_key: "Billing.Charge".into(),
            retry: false,
            source: "card declined".into(),
        };
        e.record(Duration::from_nanos(100), None);
        e.record(Duration::from_nanos(300), Some(&failure));
        let c = e.counters();
        let json = serde_json::to_value(EndpointStats::new(&e, &c)).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({
                "name": "Billing-Charge",
                "subject": "billing.request.Billing.Charge",
                "queue_group": "billing",
                "num_requests": 2,
                "num_errors": 1,
                "last_error": "400:card declined",
                "processing_time": 400,
                "average_processing_time": 200,
            })
        );
    }

    #[test]
    fn an_invalid_explicit_version_is_a_config_error() {
        let bad = MicroSettings {
            enabled: true,
            version: Some("1.0".into()),
        };
        assert!(bad.check().is_err());
        assert!(MicroSettings::default().check().is_ok());
    }
}
