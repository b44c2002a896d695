//! The bring-up on a connected client: check the server, ensure streams, create
//! consumers, subscribe request handlers, register the NATS service, then start the
//! loops. `start()` runs it before returning; with `optional_broker` it runs in the
//! background (`background.rs`) and is retried until it succeeds.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::Subscriber;
use async_nats::jetstream::consumer::PullConsumer;
use messaging_core::{ConsumerOptions, Setup};
use messaging_spec::{ServiceName, StreamName};
use tracing::Instrument;

use crate::connection::Shared;
use crate::consumer::{self, GroupRuntime};
use crate::error::{Error, Result};
use crate::options::StreamConfig;
use crate::plan::{self, GroupPlan, Plan, RequestPlan};
use crate::request;

/// What the bring-up needs besides the shared state: the builder's stream settings, the
/// streams to ensure, and the registrations (to plan again for a retry: a plan's
/// consumers and handlers are used up by one attempt).
pub(super) struct BringUp {
    pub(super) urls: Vec<String>,
    pub(super) span: tracing::Span,
    pub(super) streams: Vec<StreamName>,
    pub(super) stream_defaults: StreamConfig,
    pub(super) stream_configs: BTreeMap<String, StreamConfig>,
    pub(super) setups: Vec<Setup>,
    pub(super) consumer_defaults: ConsumerOptions,
}

/// The consumers and request subscriptions of one attempt, not running yet. Dropping it
/// unsubscribes (server-side consumers stay: creating them again is idempotent).
pub(super) struct Prepared {
    runtimes: Vec<(GroupRuntime, PullConsumer)>,
    subscriptions: Vec<(Arc<RequestPlan>, Subscriber)>,
    /// When this attempt started talking to the server: violations since explain it.
    since: Instant,
}

/// How long `start()` waits, after the flush, for the server to refuse a subscription,
/// on servers that require authentication (only they can have permissions). The `-ERR`
/// comes before the flush's `PONG`, but reaches us on another task.
const SUBSCRIBE_VERDICT: Duration = Duration::from_millis(100);

/// The parts of a plan one bring-up attempt uses up.
pub(super) type Work = (Vec<GroupPlan>, Vec<RequestPlan>);

impl BringUp {
    /// The consumers and request handlers again, for another attempt. The registrations
    /// were validated by `start()`, so this fails only if planning is not deterministic.
    pub(super) fn replan(&self, service: &ServiceName) -> Result<Work> {
        let plan = plan::plan(service.as_str(), &self.setups, &self.consumer_defaults)?;
        Ok((plan.groups, plan.requests))
    }

    /// Everything that talks to the server before anything runs: the version check,
    /// streams, consumers, duplicate filters and request subscriptions.
    pub(super) async fn prepare(&self, shared: &Arc<Shared>, work: Work) -> Result<Prepared> {
        let since = Instant::now();
        let (groups, requests) = work;
        let prepared = self.prepare_since(shared, groups, requests).await;
        // A denied JetStream API call or subscription fails as a timeout; the server said
        // why.
        prepared.map_err(|e| match shared.violations.find(since, |_| true) {
            Some(v) => v.into_error(shared.url.clone()),
            None => e,
        })
    }

    async fn prepare_since(
        &self,
        shared: &Arc<Shared>,
        groups: Vec<GroupPlan>,
        requests: Vec<RequestPlan>,
    ) -> Result<Prepared> {
        let since = Instant::now();
        super::connect::check_server(&shared.client, &self.urls)?;
        for stream in &self.streams {
            let cfg = self.stream_config(stream);
            crate::stream::ensure(&shared.js, stream, &cfg)
                .await
                .map_err(|e| super::connect::explain_stream_error(e, &self.urls))?;
        }
        let mut runtimes = Vec::with_capacity(groups.len());
        for group in groups {
            let consumer = consumer::create(shared, &group).await?;
            let label = group.label(&shared.service);
            shared.health.register(&label, group.stream.as_str());
            let stream_config = self.stream_config(&group.stream);
            tracing::info!(parent: &self.span, consumer = %label, stream = group.stream.as_str(), filters = ?group.filters, "started JetStream consumer");
            let dedup = consumer::Dedup::prepare(shared, &group, &label).await?;
            runtimes.push((
                GroupRuntime::new(Arc::clone(shared), group, stream_config, label)
                    .with_dedup(dedup),
                consumer,
            ));
        }
        let mut subscriptions = Vec::with_capacity(requests.len());
        for req in requests {
            let sub = request::subscribe(shared, &req).await?;
            tracing::info!(parent: &self.span, subject = %req.subject, "started request handler");
            subscriptions.push((Arc::new(req), sub));
        }
        Ok(Prepared {
            runtimes,
            subscriptions,
            since,
        })
    }

    /// Registers the NATS service, flushes, and starts the fetch, request and health
    /// loops. With `strict_flush`, a failed flush is an error; otherwise (background
    /// bring-up, where the NATS service is already serving) it is only logged: the client
    /// sends the subscriptions again when it reconnects.
    pub(super) async fn launch(
        &self,
        shared: &Arc<Shared>,
        prepared: Prepared,
        strict_flush: bool,
    ) -> Result<()> {
        let span = &self.span;
        crate::micro::start(shared, span).await?;
        // Make sure the server has our subscriptions before callers are told we are up.
        match shared.client.flush().await {
            Ok(()) => {}
            Err(e) if strict_flush => return Err(Error::Connect(Box::new(e))),
            Err(e) => tracing::debug!(parent: span, error = %e, "flush after set-up failed"),
        }
        if strict_flush && shared.client.server_info().auth_required {
            let refused = shared
                .violations
                .wait_for(prepared.since, SUBSCRIBE_VERDICT, |v| {
                    v.permission == crate::Permission::Subscribe
                });
            if let Some(v) = refused.await {
                return Err(v.into_error(shared.url.clone()));
            }
        }
        // Fetch loops hold a `loops` token while they run; close() waits on them, then on
        // their handlers (tracked).
        for (rt, consumer) in prepared.runtimes {
            tokio::spawn(rt.run(consumer).instrument(span.clone()));
        }
        tokio::spawn(crate::health::monitor(Arc::clone(shared)).instrument(span.clone()));
        // Request loops are tracked from the start: at close they drain, and the requests
        // already delivered to this instance are answered before the client is drained.
        for (req, sub) in prepared.subscriptions {
            shared
                .loops
                .spawn(request::run(Arc::clone(shared), req, sub).instrument(span.clone()));
        }
        tracing::info!(parent: span, "connection started");
        Ok(())
    }

    fn stream_config(&self, stream: &StreamName) -> StreamConfig {
        Plan::stream_config(&self.stream_defaults, &self.stream_configs, stream)
    }
}
