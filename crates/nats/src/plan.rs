//! The NATS view of the core plan: durable names, filter subjects and request subjects.
//! Validation itself happens once, in `messaging_core::plan`.

use std::collections::{BTreeMap, BTreeSet};

use messaging_core::{ConsumerGroup, ConsumerOptions, DeadLetterTarget, Route, Rules};
use messaging_spec::naming::{nats_durable_name, translate_wildcard};
use messaging_spec::{ConsumerSuffix, RoutingTable, ServiceName, StreamName, Topology};

use messaging_core::erased::{ErasedEvent, ErasedRequest};

use crate::error::Result;
use crate::options::StreamConfig;
use messaging_core::PublishTarget;

pub(crate) use messaging_core::ResponseRoute as ResponsePlan;

/// One JetStream consumer: all registrations of a service on one stream with one durable
/// name (or all transient ones) share it, as in the reference.
pub(crate) struct GroupPlan {
    pub(crate) stream: StreamName,
    pub(crate) durable: Option<String>,
    pub(crate) routes: RoutingTable<Route<dyn ErasedEvent>>,
    pub(crate) filters: Vec<String>,
    pub(crate) options: ConsumerOptions,
    /// Where messages given up on go, when the group dead-letters.
    pub(crate) dead_letter: Option<DeadLetterTarget>,
}

impl GroupPlan {
    fn new(
        service: &ServiceName,
        group: ConsumerGroup,
        streams: &BTreeMap<String, StreamName>,
    ) -> Result<Self> {
        let durable = (!group.transient).then(|| {
            nats_durable_name(
                service.as_str(),
                group.suffix.as_ref().map(ConsumerSuffix::as_str),
            )
        });
        let filters = group
            .routes
            .iter()
            .map(|(p, _)| p.nats_filter(&group.stream))
            .collect();
        let dead_letter = group
            .options
            .get_dead_letter()
            .map(|d| DeadLetterTarget::for_streams(d, service, streams.values()))
            .transpose()
            .map_err(|reason| {
                let who = durable.as_deref().unwrap_or("the transient consumer");
                messaging_core::Error::InvalidConfig(format!(
                    "consumer {who} on stream {}: {reason}",
                    group.stream.as_str()
                ))
            })?;
        Ok(Self {
            stream: group.stream,
            durable,
            routes: group.routes,
            filters,
            options: group.options,
            dead_letter,
        })
    }

    /// Stable, readable label: the durable name, or `<service>-transient` for ephemerals.
    pub(crate) fn label(&self, service: &ServiceName) -> String {
        self.durable
            .clone()
            .unwrap_or_else(|| format!("{}-transient", service.as_str()))
    }
}

pub(crate) struct RequestPlan {
    pub(crate) subject: String,
    pub(crate) route: Route<dyn ErasedRequest>,
    pub(crate) options: ConsumerOptions,
}

pub(crate) struct Plan {
    pub(crate) service: ServiceName,
    pub(crate) topology: Topology,
    pub(crate) streams: BTreeMap<String, StreamName>,
    pub(crate) publishers: Vec<PublishTarget>,
    pub(crate) groups: Vec<GroupPlan>,
    pub(crate) requests: Vec<RequestPlan>,
    pub(crate) responses: Vec<ResponsePlan>,
    /// The dead-letter streams the groups use, ensured with the others.
    pub(crate) dead_letter_streams: BTreeSet<StreamName>,
}

impl Plan {
    /// The effective stream settings for `stream`.
    pub(crate) fn stream_config(
        defaults: &StreamConfig,
        per_stream: &BTreeMap<String, StreamConfig>,
        stream: &StreamName,
    ) -> StreamConfig {
        per_stream
            .get(stream.as_str())
            .map_or_else(|| defaults.clone(), |over| defaults.overlay(over))
    }
}

/// Validates every registration (in the core) and maps it onto NATS names.
pub(crate) fn plan(
    service: &str,
    setups: &[messaging_core::Setup],
    consumer_defaults: &ConsumerOptions,
) -> Result<Plan> {
    let core = messaging_core::plan(&Rules::nats(), service, setups, consumer_defaults)?;
    let service = core.service;
    let groups: Vec<GroupPlan> = core
        .groups
        .into_iter()
        .map(|g| GroupPlan::new(&service, g, &core.streams))
        .collect::<Result<_>>()?;
    let dead_letter_streams = groups
        .iter()
        .filter_map(|g| g.dead_letter.as_ref().map(|d| d.stream.clone()))
        .collect();
    let requests = core
        .requests
        .into_iter()
        .map(|r| RequestPlan {
            subject: format!(
                "{}.request.{}",
                service.as_str(),
                translate_wildcard(r.route.pattern.as_str())
            ),
            route: r.route,
            options: r.options,
        })
        .collect();
    Ok(Plan {
        service,
        topology: core.topology,
        streams: core.streams,
        publishers: core.publishers,
        groups,
        requests,
        responses: core.responses,
        dead_letter_streams,
    })
}
