//! Reading what a NATS server holds: streams and their consumers (JetStream API), request
//! handlers (`$SRV.INFO`, and `<service>.request.<key>` subscriptions seen in the account's
//! `CONNZ`), connection names, and who published the events each stream retains.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::StreamExt;
use messaging_nats::async_nats::jetstream::{self, consumer, stream};
use messaging_nats::async_nats::{Client, Message};
use messaging_nats::messaging_core::DEAD_LETTER_HEADER_PREFIX;
use serde::Deserialize;

use super::progress::Progress;
use super::request_error;
use crate::error::CliError;

/// Every answer to a scatter-gather request comes within this, however many there are.
const GATHER_LIMIT: Duration = Duration::from_secs(5);
/// At most this many distinct subjects of one stream are sampled for publishers.
pub(crate) const MAX_SAMPLED_SUBJECTS: usize = 1000;

/// What to read besides streams and consumers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadOptions {
    /// How long to wait for more `$SRV.INFO` / `CONNZ` answers after the last one.
    pub(crate) gather_wait: Duration,
    /// Whether to look up who published each retained subject (one request per subject).
    pub(crate) publishers: bool,
    /// Whether to ask `$SRV.INFO` and `CONNZ` for handlers and connection names.
    pub(crate) services: bool,
}

/// One stream, its consumers and (when sampled) its publishers.
#[derive(Debug, Clone)]
pub(crate) struct StreamState {
    pub(crate) info: stream::Info,
    pub(crate) consumers: Vec<consumer::Info>,
    /// Service → subjects whose last retained message it published.
    pub(crate) publishers: BTreeMap<String, BTreeSet<String>>,
    /// More distinct subjects than were sampled.
    pub(crate) truncated: bool,
}

impl StreamState {
    /// The stream's name.
    pub(crate) fn name(&self) -> &str {
        &self.info.config.name
    }
}

/// Where a request handler was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum HandlerSource {
    /// An endpoint of `$SRV.INFO` (our library, or any spec-named micro endpoint).
    Micro,
    /// A `<service>.request.<key>` subscription of a connection named `<service>` (services
    /// that do not register with `$SRV`, such as the Go reference).
    Subscription,
}

/// A request handler: the spec's `<service>.request.<key>` subject and its routing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Handler {
    pub(crate) service: String,
    /// The routing key in the spec's form (`#`, not `>`).
    pub(crate) routing_key: String,
    pub(crate) subject: String,
    pub(crate) queue_group: String,
    /// How many instances (micro ids or connections) serve it.
    pub(crate) instances: usize,
    pub(crate) source: HandlerSource,
}

/// Everything the ops commands read from a NATS server.
#[derive(Debug, Clone)]
pub(crate) struct NatsState {
    pub(crate) streams: Vec<StreamState>,
    /// By service, then in the order the instance reported them.
    pub(crate) handlers: Vec<Handler>,
    /// Names of the account's connections, when `CONNZ` answered.
    pub(crate) connections: Option<BTreeSet<String>>,
}

impl NatsState {
    /// Names that are known to be services: connection names, micro service names,
    /// publishers of retained events, and a durable `d` when another durable is `d-…`.
    /// Used to split a durable `<service>-<suffix>`.
    pub(crate) fn known_services(&self) -> BTreeSet<String> {
        let mut known: BTreeSet<String> = self.connections.clone().unwrap_or_default();
        known.extend(self.handlers.iter().map(|h| h.service.clone()));
        let durables: BTreeSet<&str> = self
            .streams
            .iter()
            .flat_map(|s| s.consumers.iter())
            .filter_map(|c| c.config.durable_name.as_deref())
            .collect();
        for s in &self.streams {
            known.extend(s.publishers.keys().cloned());
        }
        for d in &durables {
            let prefix = format!("{d}-");
            if durables.iter().any(|other| other.starts_with(&prefix)) {
                known.insert((*d).to_owned());
            }
        }
        known.remove("messaging-cli");
        known
    }
}

/// Reads the server's state, reporting each step to `progress`.
pub(crate) async fn read(
    client: &Client,
    options: ReadOptions,
    progress: &Progress,
) -> Result<NatsState, CliError> {
    let js = jetstream::new(client.clone());
    progress.step("listing streams");
    let mut infos = Vec::new();
    let mut list = js.streams();
    while let Some(info) = list.next().await {
        infos.push(info.map_err(|e| request_error("listing streams ($JS.API.STREAM.LIST)", e))?);
    }
    infos.sort_by(|a, b| a.config.name.cmp(&b.config.name));
    let count = infos.len();
    let mut streams = Vec::with_capacity(count);
    for (i, info) in infos.into_iter().enumerate() {
        let name = info.config.name.clone();
        progress.step(format!("stream {}/{count}: {name}", i + 1));
        let handle = js
            .get_stream_no_info(&name)
            .await
            .map_err(|e| request_error(format!("opening stream {name}"), e))?;
        let mut consumers = Vec::new();
        let mut list = handle.consumers();
        while let Some(c) = list.next().await {
            consumers
                .push(c.map_err(|e| request_error(format!("listing consumers of {name}"), e))?);
        }
        consumers.sort_by(|a, b| a.name.cmp(&b.name));
        let mut state = StreamState {
            info,
            consumers,
            publishers: BTreeMap::new(),
            truncated: false,
        };
        if options.publishers && state.info.state.messages > 0 {
            sample_publishers(&js, &mut state, progress).await?;
        }
        streams.push(state);
    }
    let (mut handlers, mut connections) = (Vec::new(), None);
    if options.services {
        progress.step("asking $SRV.INFO for request handlers");
        handlers = micro_handlers(client, options.gather_wait).await?;
        progress.step("asking CONNZ for connections");
        if let Some(conns) = connz(client, options.gather_wait).await? {
            add_subscribed_handlers(&mut handlers, &conns);
            connections = Some(conns.into_iter().filter_map(|c| c.name).collect());
        }
    }
    handlers.sort_by(|a, b| a.service.cmp(&b.service));
    progress.done();
    Ok(NatsState {
        streams,
        handlers,
        connections,
    })
}

/// The service that published each retained subject's last message (`ce-source`, else the
/// `service` header). Dead letters are skipped: the consumer that wrote them has no
/// publish endpoint for it.
async fn sample_publishers(
    js: &jetstream::Context,
    state: &mut StreamState,
    progress: &Progress,
) -> Result<(), CliError> {
    let name = state.name().to_owned();
    let handle = js
        .get_stream(&name)
        .await
        .map_err(|e| request_error(format!("opening stream {name}"), e))?;
    let mut subjects = Vec::new();
    let mut list = handle
        .info_with_subjects(">")
        .await
        .map_err(|e| request_error(format!("listing the subjects of {name}"), e))?;
    while let Some(entry) = list.next().await {
        let (subject, _count) =
            entry.map_err(|e| request_error(format!("listing the subjects of {name}"), e))?;
        if subjects.len() == MAX_SAMPLED_SUBJECTS {
            state.truncated = true;
            break;
        }
        subjects.push(subject);
    }
    subjects.sort();
    for (i, subject) in subjects.iter().enumerate() {
        progress.step(format!(
            "stream {name}: publisher of subject {}/{}",
            i + 1,
            subjects.len()
        ));
        // Deleted or expired between the listing and the lookup.
        let Ok(message) = handle.get_last_raw_message_by_subject(subject).await else {
            continue;
        };
        let headers = &message.headers;
        if headers
            .iter()
            .any(|(k, _)| AsRef::<str>::as_ref(k).starts_with(DEAD_LETTER_HEADER_PREFIX))
        {
            continue;
        }
        let source = headers
            .get("ce-source")
            .or_else(|| headers.get("service"))
            .map(|v| v.as_str().to_owned());
        if let Some(service) = source.filter(|s| !s.is_empty()) {
            state
                .publishers
                .entry(service)
                .or_default()
                .insert(subject.clone());
        }
    }
    Ok(())
}

/// Publishes `payload` to `subject` with a reply inbox and collects every answer until
/// none came for `wait` (or [`GATHER_LIMIT`] passed). `None` when nobody answers at all.
async fn gather(
    client: &Client,
    subject: &str,
    payload: &'static [u8],
    wait: Duration,
) -> Result<Vec<Message>, CliError> {
    let inbox = client.new_inbox();
    let mut sub = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| request_error(format!("subscribing for {subject} answers"), e))?;
    client
        .publish_with_reply(subject.to_owned(), inbox, payload.into())
        .await
        .map_err(|e| request_error(format!("asking {subject}"), e))?;
    client
        .flush()
        .await
        .map_err(|e| request_error(format!("asking {subject}"), e))?;
    let deadline = tokio::time::Instant::now() + GATHER_LIMIT;
    let mut answers = Vec::new();
    loop {
        // The first answer may take a round trip longer than the gap between answers.
        let gap = if answers.is_empty() { wait * 4 } else { wait };
        let until = (tokio::time::Instant::now() + gap).min(deadline);
        match tokio::time::timeout_at(until, sub.next()).await {
            Ok(Some(m)) => answers.push(m),
            _ => break,
        }
    }
    let _ = sub.unsubscribe().await;
    Ok(answers)
}

#[derive(Debug, Deserialize)]
struct InfoResponse {
    name: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    endpoints: Vec<InfoEndpoint>,
}

#[derive(Debug, Deserialize)]
struct InfoEndpoint {
    subject: String,
    #[serde(default)]
    queue_group: String,
    #[serde(default)]
    metadata: Option<BTreeMap<String, String>>,
}

/// The spec's routing key of `subject` for `service`, if it is `<service>.request.<key>`.
fn request_key(service: &str, subject: &str) -> Option<String> {
    let key = subject.strip_prefix(service)?.strip_prefix(".request.")?;
    (!key.is_empty()).then(|| key.replace('>', "#"))
}

async fn micro_handlers(client: &Client, wait: Duration) -> Result<Vec<Handler>, CliError> {
    let answers = gather(client, "$SRV.INFO", b"", wait).await?;
    let mut handlers: Vec<Handler> = Vec::new();
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    for answer in answers {
        let Ok(info) = serde_json::from_slice::<InfoResponse>(&answer.payload) else {
            continue;
        };
        if !seen.insert((info.name.clone(), info.id.clone())) {
            continue;
        }
        for ep in info.endpoints {
            let key = ep
                .metadata
                .as_ref()
                .and_then(|m| m.get("routing_key").cloned())
                .or_else(|| request_key(&info.name, &ep.subject));
            // Micro services that do not follow the spec's subjects are not ours to show.
            let Some(routing_key) = key else { continue };
            match handlers
                .iter_mut()
                .find(|h| h.service == info.name && h.subject == ep.subject)
            {
                Some(h) => h.instances += 1,
                None => handlers.push(Handler {
                    service: info.name.clone(),
                    routing_key,
                    subject: ep.subject,
                    queue_group: ep.queue_group,
                    instances: 1,
                    source: HandlerSource::Micro,
                }),
            }
        }
    }
    Ok(handlers)
}

#[derive(Debug, Deserialize)]
struct ConnzAnswer {
    data: Option<ConnzData>,
}

#[derive(Debug, Deserialize)]
struct ConnzData {
    #[serde(default)]
    connections: Vec<Conn>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Conn {
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    subscriptions_list_detail: Vec<SubDetail>,
}

#[derive(Debug, Clone, Deserialize)]
struct SubDetail {
    subject: String,
    #[serde(default)]
    qgroup: String,
}

/// The account's connections with their subscriptions. Every account imports
/// `$SYS.REQ.SERVER.PING.CONNZ` (scoped to itself) unless the server runs without a system
/// account; `None` then.
async fn connz(client: &Client, wait: Duration) -> Result<Option<Vec<Conn>>, CliError> {
    let answers = gather(
        client,
        "$SYS.REQ.SERVER.PING.CONNZ",
        br#"{"subscriptions_detail":true,"limit":100000}"#,
        wait,
    )
    .await?;
    let mut conns = Vec::new();
    let mut any = false;
    for answer in answers {
        if let Ok(ConnzAnswer { data: Some(data) }) = serde_json::from_slice(&answer.payload) {
            any = true;
            conns.extend(data.connections);
        }
    }
    Ok(any.then_some(conns))
}

/// Request subscriptions of connections named like the subject's service, for services
/// that do not answer `$SRV.INFO`.
fn add_subscribed_handlers(handlers: &mut Vec<Handler>, conns: &[Conn]) {
    let micro: BTreeSet<String> = handlers.iter().map(|h| h.service.clone()).collect();
    for conn in conns {
        let Some(service) = conn.name.as_deref() else {
            continue;
        };
        if micro.contains(service) {
            continue;
        }
        for sub in &conn.subscriptions_list_detail {
            let Some(routing_key) = request_key(service, &sub.subject) else {
                continue;
            };
            match handlers
                .iter_mut()
                .find(|h| h.service == service && h.subject == sub.subject)
            {
                Some(h) => h.instances += 1,
                None => handlers.push(Handler {
                    service: service.to_owned(),
                    routing_key,
                    subject: sub.subject.clone(),
                    queue_group: sub.qgroup.clone(),
                    instances: 1,
                    source: HandlerSource::Subscription,
                }),
            }
        }
    }
}

/// The filter subjects of a consumer, whichever field holds them.
pub(crate) fn filters(config: &consumer::Config) -> Vec<String> {
    if config.filter_subjects.is_empty() {
        if config.filter_subject.is_empty() {
            Vec::new()
        } else {
            vec![config.filter_subject.clone()]
        }
    } else {
        config.filter_subjects.clone()
    }
}

/// The routing key (`#` for `>`) of a filter subject on `stream`.
pub(crate) fn filter_key(stream: &str, filter: &str) -> Option<String> {
    let key = filter.strip_prefix(stream)?.strip_prefix('.')?;
    (!key.is_empty()).then(|| key.replace('>', "#"))
}

/// Splits a durable name into (service, suffix) using the known service names: the longest
/// known name `s` with `durable == s` or `durable` starting `s-`. Unknown: the whole name.
pub(crate) fn split_durable(durable: &str, known: &BTreeSet<String>) -> (String, Option<String>) {
    if known.contains(durable) {
        return (durable.to_owned(), None);
    }
    let best = known
        .iter()
        .filter(|s| {
            durable
                .strip_prefix(s.as_str())
                .and_then(|r| r.strip_prefix('-'))
                .is_some_and(|r| !r.is_empty())
        })
        .max_by_key(|s| s.len());
    match best {
        Some(s) => (s.clone(), Some(durable[s.len() + 1..].to_owned())),
        None => (durable.to_owned(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durables_split_on_the_longest_known_service() {
        let known: BTreeSet<String> = ["web", "web-app", "orders"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(split_durable("web-app", &known), ("web-app".into(), None));
        assert_eq!(
            split_durable("web-app-audit", &known),
            ("web-app".into(), Some("audit".into()))
        );
        assert_eq!(
            split_durable("orders-x", &known),
            ("orders".into(), Some("x".into()))
        );
        assert_eq!(
            split_durable("billing-eu", &known),
            ("billing-eu".into(), None)
        );
    }

    #[test]
    fn keys_come_back_in_the_spec_form() {
        assert_eq!(
            filter_key("events", "events.Order.>"),
            Some("Order.#".into())
        );
        assert_eq!(filter_key("events", "audit.Order"), None);
        assert_eq!(
            request_key("billing", "billing.request.Billing.Charge"),
            Some("Billing.Charge".into())
        );
        assert_eq!(request_key("billing", "billing-eu.request.X"), None);
    }
}
