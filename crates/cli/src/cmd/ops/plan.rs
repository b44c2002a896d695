//! `messaging plan FILES…`: declared topologies against the live broker, like `terraform
//! plan`. Exit 0 when they agree, 1 when there is drift (or the broker cannot be read).
//!
//! On NATS it compares streams (exist, subjects `<stream>.>`), durable consumers (exist,
//! filter subjects, and `--ack-wait` / `--max-deliver` when given) and request handlers
//! (served by the running instances of their service), and lists durable consumers and
//! handlers that no file declares. Transient consumers are not compared: the server names
//! them, so nothing ties one to a declaration. On RabbitMQ it compares exchanges and the
//! bindings discovery reads (`docs/cli.md#plan`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use messaging_spec::naming::{
    nats_filter_subject, nats_request_subject, nats_stream_name, nats_stream_subjects,
};
use messaging_spec::{EndpointDirection, Pattern, Topology, Transport};
use serde::Serialize;
use serde_json::json;

use super::nats_state::{self, NatsState, ReadOptions};
use super::progress::Progress;
use super::rabbit::{self, Management};
use super::table::table;
use super::{Broker, DEFAULT_SRV_WAIT, block_on, connect};
use crate::error::CliError;
use crate::input::load_all;
use crate::output::Outcome;

/// What `plan` compares.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Plan {
    #[command(flatten)]
    pub(crate) broker: Broker,
    /// The declared topology JSON files (`-` for stdin).
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// Every declared consumer must have this ack wait (not compared unless given).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub(crate) ack_wait: Option<Duration>,
    /// Every declared consumer must have this max deliver, -1 for unlimited (not compared
    /// unless given).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub(crate) max_deliver: Option<i64>,
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{s:?} is not a number of seconds"))
}

/// What would have to happen for the broker to match the files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Action {
    /// Declared, not on the broker.
    Create,
    /// On the broker, configured differently.
    Update,
    /// On the broker, declared by no file.
    Orphan,
}

/// What kind of thing drifted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Kind {
    Stream,
    Consumer,
    Handler,
    Exchange,
    Binding,
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub(crate) struct Change {
    pub(crate) action: Action,
    pub(crate) kind: Kind,
    pub(crate) name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) service: String,
    pub(crate) detail: String,
}

/// Runs `plan`.
pub(crate) fn run(plan: &Plan, verbose: bool) -> Outcome {
    let declared: Vec<Topology> = match load_all(plan.files.clone()) {
        Ok(loaded) => loaded.into_iter().map(|l| l.topology).collect(),
        Err(e) => return e.into(),
    };
    let progress = Progress::new(verbose);
    if let Some(url) = &plan.broker.rabbitmq {
        let result = (|| {
            let api = Management::new(url)?;
            progress.step("listing exchanges");
            let exchanges = api.exchanges(&plan.broker.vhost)?;
            progress.step("listing bindings");
            let bindings = api.bindings(&plan.broker.vhost)?;
            let known = declared.iter().map(|t| t.service_name.clone()).collect();
            progress.done();
            let found = rabbit::topologies(&exchanges, &bindings, &known);
            Ok::<_, CliError>(amqp_changes(&declared, &exchanges, &found))
        })();
        return match result {
            Ok((changes, notes)) => outcome(&changes, &notes, declared.len()),
            Err(e) => e.into(),
        };
    }
    block_on(async {
        let client = connect(&plan.broker.nats).await?;
        let options = ReadOptions {
            gather_wait: DEFAULT_SRV_WAIT,
            publishers: false,
            services: true,
        };
        let state = nats_state::read(&client, options, &progress).await?;
        drop(client);
        let (changes, notes) = nats_changes(plan, &declared, &state);
        Ok(outcome(&changes, &notes, declared.len()))
    })
}

/// A declared durable consumer.
#[derive(Debug, Default)]
struct Wanted {
    service: String,
    filters: BTreeSet<String>,
}

fn is_stream(pattern: &Pattern) -> bool {
    matches!(pattern, Pattern::EventStream | Pattern::CustomStream)
}

fn list(set: &BTreeSet<String>) -> String {
    if set.is_empty() {
        "(none)".to_owned()
    } else {
        set.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// The drift between `declared` (NATS topologies) and `state`, and notes on what was not
/// compared.
pub(crate) fn nats_changes(
    plan: &Plan,
    declared: &[Topology],
    state: &NatsState,
) -> (Vec<Change>, Vec<String>) {
    let mut notes = Vec::new();
    let mut streams: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut consumers: BTreeMap<(String, String), Wanted> = BTreeMap::new();
    let mut handlers: BTreeMap<(String, String), ()> = BTreeMap::new();
    for t in declared {
        if matches!(t.transport, Some(Transport::Amqp)) {
            notes.push(format!(
                "{}: an AMQP topology, not compared with NATS",
                t.service_name
            ));
            continue;
        }
        for e in &t.endpoints {
            if is_stream(&e.pattern) {
                let stream = nats_stream_name(&e.exchange_name);
                streams
                    .entry(stream.clone())
                    .or_default()
                    .insert(t.service_name.clone());
                if e.direction == EndpointDirection::Consume
                    && !e.ephemeral
                    && !e.queue_name.is_empty()
                {
                    let w = consumers
                        .entry((stream.clone(), e.queue_name.clone()))
                        .or_default();
                    w.service.clone_from(&t.service_name);
                    w.filters
                        .insert(nats_filter_subject(&stream, &e.routing_key));
                }
            } else if e.pattern == Pattern::ServiceRequest
                && e.direction == EndpointDirection::Consume
            {
                handlers.insert((t.service_name.clone(), e.routing_key.clone()), ());
            }
        }
    }
    let mut changes = Vec::new();
    let live: BTreeMap<&str, &nats_state::StreamState> =
        state.streams.iter().map(|s| (s.name(), s)).collect();
    for (stream, services) in &streams {
        let subjects = nats_stream_subjects(stream);
        match live.get(stream.as_str()) {
            None => changes.push(Change {
                action: Action::Create,
                kind: Kind::Stream,
                name: stream.clone(),
                service: list(services),
                detail: format!("subjects {subjects}"),
            }),
            Some(s) if !s.info.config.subjects.contains(&subjects) => changes.push(Change {
                action: Action::Update,
                kind: Kind::Stream,
                name: stream.clone(),
                service: list(services),
                detail: format!(
                    "subjects {} → {subjects}",
                    s.info.config.subjects.join(", ")
                ),
            }),
            Some(_) => {}
        }
    }
    for ((stream, durable), wanted) in &consumers {
        let name = format!("{stream}/{durable}");
        let found = live.get(stream.as_str()).and_then(|s| {
            s.consumers
                .iter()
                .find(|c| c.config.durable_name.as_deref() == Some(durable.as_str()))
        });
        let Some(c) = found else {
            changes.push(Change {
                action: Action::Create,
                kind: Kind::Consumer,
                name,
                service: wanted.service.clone(),
                detail: format!("filters {}", list(&wanted.filters)),
            });
            continue;
        };
        let mut diffs = Vec::new();
        let has: BTreeSet<String> = nats_state::filters(&c.config).into_iter().collect();
        if has != wanted.filters {
            diffs.push(format!(
                "filters {} → {}",
                list(&has),
                list(&wanted.filters)
            ));
        }
        if let Some(want) = plan.ack_wait.filter(|w| *w != c.config.ack_wait) {
            diffs.push(format!("ack wait {:?} → {want:?}", c.config.ack_wait));
        }
        if let Some(want) = plan.max_deliver.filter(|m| *m != c.config.max_deliver) {
            diffs.push(format!("max deliver {} → {want}", c.config.max_deliver));
        }
        if !diffs.is_empty() {
            changes.push(Change {
                action: Action::Update,
                kind: Kind::Consumer,
                name,
                service: wanted.service.clone(),
                detail: diffs.join("; "),
            });
        }
    }
    let known = state.known_services();
    for s in &state.streams {
        // Streams that do not follow the spec (KV buckets, mirrors) are not ours to judge.
        if s.info.config.subjects != [nats_stream_subjects(s.name())] {
            continue;
        }
        for c in &s.consumers {
            let Some(durable) = c.config.durable_name.as_deref() else {
                continue;
            };
            if !consumers.contains_key(&(s.name().to_owned(), durable.to_owned())) {
                changes.push(Change {
                    action: Action::Orphan,
                    kind: Kind::Consumer,
                    name: format!("{}/{durable}", s.name()),
                    service: nats_state::split_durable(durable, &known).0,
                    detail: format!(
                        "declared by no file ({} pending, filters {})",
                        c.num_pending,
                        list(&nats_state::filters(&c.config).into_iter().collect())
                    ),
                });
            }
        }
    }
    let running: BTreeSet<&str> = state
        .handlers
        .iter()
        .map(|h| h.service.as_str())
        .chain(state.connections.iter().flatten().map(String::as_str))
        .collect();
    let mut unchecked: BTreeMap<&str, usize> = BTreeMap::new();
    for (service, key) in handlers.keys() {
        let subject = nats_request_subject(service, &key.replace('#', ">"));
        if !running.contains(service.as_str()) {
            *unchecked.entry(service).or_default() += 1;
        } else if !state
            .handlers
            .iter()
            .any(|h| h.service == *service && h.routing_key == *key)
        {
            changes.push(Change {
                action: Action::Create,
                kind: Kind::Handler,
                name: subject,
                service: service.clone(),
                detail: format!("no running instance of {service} serves it"),
            });
        }
    }
    for (service, n) in unchecked {
        notes.push(format!(
            "{service}: not running, so its {n} request handler(s) were not checked"
        ));
    }
    for h in &state.handlers {
        if !handlers.contains_key(&(h.service.clone(), h.routing_key.clone())) {
            changes.push(Change {
                action: Action::Orphan,
                kind: Kind::Handler,
                name: h.subject.clone(),
                service: h.service.clone(),
                detail: format!("declared by no file ({} instance(s))", h.instances),
            });
        }
    }
    changes.sort();
    (changes, notes)
}

/// The drift between `declared` (AMQP topologies) and what discovery found.
fn amqp_changes(
    declared: &[Topology],
    exchanges: &[rabbit::Exchange],
    found: &[Topology],
) -> (Vec<Change>, Vec<String>) {
    let mut notes = Vec::new();
    let mut wanted_exchanges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut wanted: BTreeMap<(String, String, String), String> = BTreeMap::new();
    for t in declared {
        if !matches!(t.transport, Some(Transport::Amqp)) {
            notes.push(format!(
                "{}: not an AMQP topology, not compared with RabbitMQ",
                t.service_name
            ));
            continue;
        }
        for e in &t.endpoints {
            if e.exchange_name.is_empty() || e.pattern == Pattern::QueuePublish {
                continue;
            }
            wanted_exchanges
                .entry(e.exchange_name.clone())
                .or_default()
                .insert(t.service_name.clone());
            if e.direction == EndpointDirection::Consume && !e.ephemeral {
                wanted.insert(
                    (
                        e.exchange_name.clone(),
                        e.queue_name.clone(),
                        e.routing_key.clone(),
                    ),
                    t.service_name.clone(),
                );
            }
        }
    }
    let mut changes = Vec::new();
    for (name, services) in &wanted_exchanges {
        if !exchanges.iter().any(|x| x.name == *name) {
            changes.push(Change {
                action: Action::Create,
                kind: Kind::Exchange,
                name: name.clone(),
                service: list(services),
                detail: "not declared on the broker".to_owned(),
            });
        }
    }
    let mut have: BTreeMap<(String, String, String), String> = BTreeMap::new();
    for t in found {
        for e in t.endpoints.iter().filter(|e| !e.ephemeral) {
            have.insert(
                (
                    e.exchange_name.clone(),
                    e.queue_name.clone(),
                    e.routing_key.clone(),
                ),
                t.service_name.clone(),
            );
        }
    }
    for ((exchange, queue, key), service) in &wanted {
        if !have.contains_key(&(exchange.clone(), queue.clone(), key.clone())) {
            changes.push(Change {
                action: Action::Create,
                kind: Kind::Binding,
                name: format!("{exchange} → {queue}"),
                service: service.clone(),
                detail: format!("routing key {key}"),
            });
        }
    }
    for ((exchange, queue, key), service) in &have {
        if !wanted.contains_key(&(exchange.clone(), queue.clone(), key.clone())) {
            changes.push(Change {
                action: Action::Orphan,
                kind: Kind::Binding,
                name: format!("{exchange} → {queue}"),
                service: service.clone(),
                detail: format!("routing key {key}, declared by no file"),
            });
        }
    }
    changes.sort();
    (changes, notes)
}

fn symbol(action: Action) -> &'static str {
    match action {
        Action::Create => "+ create",
        Action::Update => "~ update",
        Action::Orphan => "- orphan",
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Stream => "stream",
        Kind::Consumer => "consumer",
        Kind::Handler => "handler",
        Kind::Exchange => "exchange",
        Kind::Binding => "binding",
    }
}

fn outcome(changes: &[Change], notes: &[String], files: usize) -> Outcome {
    let count = |a: Action| changes.iter().filter(|c| c.action == a).count();
    let (create, update, orphan) = (
        count(Action::Create),
        count(Action::Update),
        count(Action::Orphan),
    );
    let mut text = if changes.is_empty() {
        format!(
            "No drift: the broker matches the {files} declared topolog{}.",
            if files == 1 { "y" } else { "ies" }
        )
    } else {
        let rows: Vec<Vec<String>> = changes
            .iter()
            .map(|c| {
                vec![
                    symbol(c.action).to_owned(),
                    kind_name(c.kind).to_owned(),
                    c.name.clone(),
                    c.service.clone(),
                    c.detail.clone(),
                ]
            })
            .collect();
        format!(
            "{}\n\nPlan: {create} to create, {update} to update, {orphan} orphan(s).",
            table(&["ACTION", "KIND", "NAME", "SERVICE", "DETAIL"], &rows)
        )
    };
    for note in notes {
        text.push_str("\nnote: ");
        text.push_str(note);
    }
    let json = json!({
        "ok": changes.is_empty(),
        "changes": changes,
        "summary": {"create": create, "update": update, "orphan": orphan},
        "notes": notes,
    });
    if changes.is_empty() {
        Outcome::Report { text, json }
    } else {
        Outcome::Flagged { text, json }
    }
}
