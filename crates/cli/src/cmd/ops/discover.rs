//! `messaging discover`: each service's topology, reconstructed from what the broker holds.
//!
//! On NATS (see `docs/cli.md#discover` for what the broker cannot know):
//! - durable consumers give consume endpoints: the stream is the exchange, the durable the
//!   queue, each filter subject a routing key; the durable `<service>[-<suffix>]` is split
//!   on the service names the server knows (connection names, `$SRV` names, publishers);
//! - request handlers come from `$SRV.INFO` (and `<service>.request.<key>` subscriptions
//!   of connections named `<service>`, in the account's `CONNZ`);
//! - the last retained message of each subject names its publisher (`ce-source`), which
//!   gives the publish endpoint the service exports for that stream.
//!
//! On RabbitMQ, from the management API's exchanges and bindings, as the Go reference does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use messaging_spec::{
    DEFAULT_EVENT_EXCHANGE_NAME, Endpoint, EndpointDirection, ExchangeKind, Pattern, Topology,
    Transport,
};
use serde_json::json;

use super::nats_state::{self, NatsState, ReadOptions};
use super::progress::Progress;
use super::rabbit::{self, Management};
use super::table::table;
use super::{Broker, DEFAULT_SRV_WAIT, block_on, connect};
use crate::error::CliError;
use crate::output::{Outcome, service_files, write_json_files};

/// What `discover` was asked for.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Discover {
    #[command(flatten)]
    pub(crate) broker: Broker,
    /// Write one `<service>.json` topology file per service into DIR instead of printing.
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
}

/// Runs `discover`.
pub(crate) fn run(discover: &Discover, verbose: bool) -> Outcome {
    let progress = Progress::new(verbose);
    if let Some(url) = &discover.broker.rabbitmq {
        return match rabbit_fleet(url, &discover.broker.vhost, &progress) {
            Ok(found) => report(&found, discover.out.as_deref()),
            Err(e) => e.into(),
        };
    }
    block_on(async {
        let client = connect(&discover.broker.nats).await?;
        let options = ReadOptions {
            gather_wait: DEFAULT_SRV_WAIT,
            publishers: true,
            services: true,
        };
        let state = nats_state::read(&client, options, &progress).await?;
        drop(client);
        Ok(report(&nats_fleet(&state), discover.out.as_deref()))
    })
}

/// What was found: the topologies and a summary of what they came from.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub(crate) topologies: Vec<Topology>,
    /// `STREAM`/`EXCHANGE` rows for the text summary.
    resources: Vec<Vec<String>>,
    resource_header: &'static [&'static str],
    /// Things seen but not attributed to a service.
    notes: Vec<String>,
}

fn stream_pattern(stream: &str) -> Pattern {
    if stream == DEFAULT_EVENT_EXCHANGE_NAME {
        Pattern::EventStream
    } else {
        Pattern::CustomStream
    }
}

fn nats_fleet(state: &NatsState) -> Found {
    let known = state.known_services();
    let mut by_service: BTreeMap<String, Vec<Endpoint>> = BTreeMap::new();
    let mut notes = Vec::new();
    // Publishers first, then consumers, then handlers: the order services register them in
    // most often; the broker keeps no registration order.
    for s in &state.streams {
        for service in s.publishers.keys() {
            by_service
                .entry(service.clone())
                .or_default()
                .push(Endpoint::new(
                    EndpointDirection::Publish,
                    stream_pattern(s.name()),
                    s.name(),
                    ExchangeKind::Topic,
                ));
        }
        if s.truncated {
            notes.push(format!(
                "stream {}: publishers sampled from its first {} subjects only",
                s.name(),
                nats_state::MAX_SAMPLED_SUBJECTS
            ));
        }
    }
    for s in &state.streams {
        let mut ephemeral = 0;
        for c in &s.consumers {
            let Some(durable) = c.config.durable_name.as_deref() else {
                ephemeral += 1;
                continue;
            };
            let (service, _suffix) = nats_state::split_durable(durable, &known);
            let filters = nats_state::filters(&c.config);
            let keys: Vec<String> = if filters.is_empty() {
                vec!["#".to_owned()]
            } else {
                filters
                    .iter()
                    .filter_map(|f| nats_state::filter_key(s.name(), f))
                    .collect()
            };
            if keys.is_empty() {
                notes.push(format!(
                    "consumer {}/{durable}: its filters are outside the stream's spec subjects",
                    s.name()
                ));
                continue;
            }
            let endpoints = by_service.entry(service).or_default();
            for key in keys {
                endpoints.push(
                    Endpoint::new(
                        EndpointDirection::Consume,
                        stream_pattern(s.name()),
                        s.name(),
                        ExchangeKind::Topic,
                    )
                    .with_queue_name(durable)
                    .with_routing_key(key),
                );
            }
        }
        if ephemeral > 0 {
            notes.push(format!(
                "stream {}: {ephemeral} ephemeral consumer(s) not attributed (they carry no service name)",
                s.name()
            ));
        }
    }
    for h in &state.handlers {
        by_service.entry(h.service.clone()).or_default().push(
            Endpoint::new(
                EndpointDirection::Consume,
                Pattern::ServiceRequest,
                &h.service,
                ExchangeKind::Direct,
            )
            .with_queue_name(&h.service)
            .with_routing_key(&h.routing_key),
        );
    }
    if state.connections.is_none() {
        notes.push(
            "CONNZ did not answer: durable names were split on $SRV and publisher names only"
                .to_owned(),
        );
    }
    let topologies = by_service
        .into_iter()
        .map(|(service, endpoints)| {
            let mut t = Topology::new(Some(Transport::Nats), service);
            t.endpoints = endpoints;
            t
        })
        .collect();
    let resources = state
        .streams
        .iter()
        .map(|s| {
            vec![
                s.name().to_owned(),
                s.info.config.subjects.join(","),
                s.info.state.messages.to_string(),
                s.consumers.len().to_string(),
                s.publishers.keys().cloned().collect::<Vec<_>>().join(","),
            ]
        })
        .collect();
    Found {
        topologies,
        resources,
        resource_header: &["STREAM", "SUBJECTS", "MESSAGES", "CONSUMERS", "PUBLISHERS"],
        notes,
    }
}

fn rabbit_fleet(url: &str, vhost: &str, progress: &Progress) -> Result<Found, CliError> {
    let api = Management::new(url)?;
    progress.step("listing exchanges");
    let exchanges = api.exchanges(vhost)?;
    progress.step("listing bindings");
    let bindings = api.bindings(vhost)?;
    progress.step("listing connections");
    let known = api.connection_services(vhost)?;
    progress.done();
    let topologies = rabbit::topologies(&exchanges, &bindings, &known);
    let resources = exchanges
        .iter()
        .filter(|x| rabbit::is_spec_exchange(x))
        .map(|x| {
            let n = bindings
                .iter()
                .filter(|b| b.source == x.name && b.destination_type == "queue")
                .count();
            vec![x.name.clone(), x.kind.clone(), n.to_string()]
        })
        .collect();
    Ok(Found {
        topologies,
        resources,
        resource_header: &["EXCHANGE", "TYPE", "BINDINGS"],
        notes: Vec::new(),
    })
}

/// One row per endpoint.
fn endpoint_rows(topologies: &[Topology]) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for t in topologies {
        for e in &t.endpoints {
            let kind = match (&e.direction, &e.pattern) {
                (EndpointDirection::Publish, _) => "publishes to",
                (_, Pattern::ServiceRequest) => "handles requests",
                (_, Pattern::ServiceResponse) => "gets responses",
                _ => "consumes",
            };
            rows.push(vec![
                t.service_name.clone(),
                kind.to_owned(),
                e.exchange_name.clone(),
                e.queue_name.clone(),
                e.routing_key.clone(),
            ]);
        }
    }
    rows
}

fn summary(found: &Found) -> String {
    let mut text = if found.topologies.is_empty() {
        "no services found".to_owned()
    } else {
        table(
            &["SERVICE", "ENDPOINT", "EXCHANGE", "QUEUE", "ROUTING KEY"],
            &endpoint_rows(&found.topologies),
        )
    };
    if !found.resources.is_empty() {
        text.push_str("\n\n");
        text.push_str(&table(found.resource_header, &found.resources));
    }
    for note in &found.notes {
        text.push_str("\nnote: ");
        text.push_str(note);
    }
    text
}

fn report(found: &Found, out: Option<&Path>) -> Outcome {
    match out {
        Some(dir) => match write_all(dir, &found.topologies) {
            Ok(files) => Outcome::Report {
                text: if files.is_empty() {
                    format!("no services found; nothing written to {}", dir.display())
                } else {
                    files
                        .iter()
                        .map(|f| format!("wrote {}", f.display()))
                        .collect::<Vec<_>>()
                        .join("\n")
                },
                json: json!({"ok": true, "files": files}),
            },
            Err(e) => e.into(),
        },
        None => {
            // `--format json` prints the array itself, in the spec's field order.
            Outcome::Rendered {
                text: summary(found),
                json: serde_json::to_string_pretty(&found.topologies).unwrap_or_default(),
            }
        }
    }
}

fn write_all(dir: &Path, topologies: &[Topology]) -> Result<Vec<PathBuf>, CliError> {
    let files = service_files(topologies, ".json")?;
    write_json_files(dir, files.into_iter().zip(topologies))
}
