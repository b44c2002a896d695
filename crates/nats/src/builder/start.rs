//! The terminal call: connect, ensure streams, create consumers, subscribe request
//! handlers and spawn the loops. Everything before it (in `mod.rs`) is pure configuration.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use async_nats::jetstream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::{ConnectionBuilder, DEFAULT_CONNECTION_TIMEOUT};
use crate::connection::{Connection, Shared};
use crate::consumer::{self, GroupRuntime};
use crate::error::{Error, Result};
use crate::health::HealthTracker;
use crate::metrics::Instruments;
use crate::plan::Plan;
use crate::request;
use messaging_core::Observer;

impl ConnectionBuilder {
    fn connect_options(&mut self) -> async_nats::ConnectOptions {
        let c = std::mem::take(&mut self.client);
        let mut o = c.base.unwrap_or_default();
        o = o.name(c.name.unwrap_or_else(|| self.service.clone()));
        if let Some((u, p)) = c.user_password {
            o = o.user_and_password(u, p);
        }
        if let Some(t) = c.token {
            o = o.token(t);
        }
        if let Some(seed) = c.nkey {
            o = o.nkey(seed);
        }
        for ca in c.root_certificates {
            o = o.add_root_certificates(ca);
        }
        if let Some((cert, key)) = c.client_certificate {
            o = o.add_client_certificate(cert, key);
        }
        if c.require_tls {
            o = o.require_tls(true);
        }
        if c.retry_initial_connect {
            o = o.retry_on_initial_connect();
        }
        if let Some(m) = c.max_reconnects {
            o = o.max_reconnects(m);
        }
        if let Some(t) = c.connection_timeout {
            o = o.connection_timeout(t);
        }
        let events = Arc::clone(&self.events);
        o.event_callback(move |event| {
            let events = Arc::clone(&events);
            async move { events.on_event(&event) }
        })
    }

    /// Validates everything, connects, ensures streams, creates consumers, subscribes
    /// request handlers and starts fetching.
    ///
    /// With [`retry_initial_connect`](Self::retry_initial_connect), it first waits for the
    /// connection, for at most the [`connection_timeout`](Self::connection_timeout).
    ///
    /// # Errors
    /// Invalid registrations or settings (before any I/O), connection failures, and
    /// stream, consumer or subscription failures (the connection is closed again, and
    /// metrics registered by [`metrics`](Self::metrics) are unregistered, so the same
    /// builder settings can be started again).
    pub async fn start(mut self) -> Result<Connection> {
        let plan = self.validate()?;
        let (metrics, registration) = std::mem::take(&mut self.metrics).register()?;
        self.metrics = metrics;
        let started = self.connect(plan).await;
        if started.is_err() {
            registration.undo();
        }
        started
    }

    async fn connect(mut self, plan: Plan) -> Result<Connection> {
        let creds = self.client.credentials_file.take();
        let domain = self.client.domain.take();
        let api_prefix = self.client.api_prefix.take();
        let wait_for_connection = self.client.retry_initial_connect.then(|| {
            self.client
                .connection_timeout
                .unwrap_or(DEFAULT_CONNECTION_TIMEOUT)
        });
        let mut options = self.connect_options();
        if let Some(path) = creds {
            options = options
                .credentials_file(path)
                .await
                .map_err(|e| Error::Connect(Box::new(e)))?;
        }
        let urls = super::connect::urls_or_default(&self.urls);
        let client = super::connect::connect(options, urls).await?;
        let js = {
            let mut b = jetstream::ContextBuilder::new().timeout(self.timing.publish_timeout);
            if let Some(n) = self.timing.max_ack_inflight {
                b = b.max_ack_inflight(n).backpressure_on_inflight(true);
            }
            match (domain, api_prefix) {
                (Some(d), _) => b.domain(d).build(client.clone()),
                (None, Some(p)) => b.api_prefix(p).build(client.clone()),
                (None, None) => b.build(client.clone()),
            }
        };
        // With retry the client connects in the background; without this wait the first
        // JetStream call would time out instead.
        let connected = match wait_for_connection {
            Some(bound) if !self.events.wait_connected(&client, bound).await => {
                Err(Error::ConnectFailed {
                    url: super::connect::display_urls(&self.urls),
                    kind: crate::error::ConnectFailure::TimedOut,
                    source: format!("not connected within {bound:?} (retry_initial_connect)")
                        .into(),
                })
            }
            _ => Ok(()),
        };
        let up = match connected {
            Ok(()) => self.bring_up(plan, client.clone(), js).await,
            Err(e) => Err(e),
        };
        if up.is_err()
            && let Err(drain) = client.drain().await
        {
            tracing::debug!(error = %drain, "drain after failed start failed");
        }
        up
    }

    async fn bring_up(
        self,
        plan: Plan,
        client: async_nats::Client,
        js: jetstream::Context,
    ) -> Result<Connection> {
        let span = self
            .span
            .clone()
            .unwrap_or_else(|| tracing::info_span!("messaging", service = plan.service.as_str()));
        super::connect::check_server(&client, &self.urls)?;
        for stream in plan.streams.values().chain(&plan.dead_letter_streams) {
            let cfg = Plan::stream_config(&self.stream_defaults, &self.stream_configs, stream);
            crate::stream::ensure(&js, stream, &cfg)
                .await
                .map_err(|e| super::connect::explain_stream_error(e, &self.urls))?;
        }
        let instruments = self.metrics.instruments(plan.service.as_str());
        let otel = self.tracing(plan.service.as_str());
        let observer = Observer::new(self.notifications, self.errors);
        #[cfg(feature = "metrics")]
        let observer = observer.with_drop_hook(
            instruments
                .dropped_notifications()
                .map(|c| std::sync::Arc::new(move || c.inc()) as messaging_core::DropHook),
        );
        let micro = crate::micro::Registry::new(
            &self.micro,
            &plan.service,
            request::queue_group(&plan.service),
            &plan.requests,
            &client,
        );
        let shared = Arc::new(Shared {
            service: plan.service.clone(),
            client,
            js,
            timing: self.timing.clone(),
            observer,
            health: HealthTracker::new(self.health_interval),
            metrics: instruments,
            otel,
            responses: plan.responses,
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
            loops: TaskTracker::new(),
            ephemerals: std::sync::Mutex::default(),
            closed: AtomicBool::new(false),
            micro,
        });
        self.events.attach(&shared);
        let mut runtimes = Vec::with_capacity(plan.groups.len());
        for group in plan.groups {
            let consumer = consumer::create(&shared, &group).await?;
            let label = group.label(&plan.service);
            shared.health.register(&label, group.stream.as_str());
            let stream_config =
                Plan::stream_config(&self.stream_defaults, &self.stream_configs, &group.stream);
            tracing::info!(parent: &span, consumer = %label, stream = group.stream.as_str(), filters = ?group.filters, "started JetStream consumer");
            let dedup = consumer::Dedup::prepare(&shared, &group, &label).await?;
            runtimes.push((
                GroupRuntime::new(Arc::clone(&shared), group, stream_config, label)
                    .with_dedup(dedup),
                consumer,
            ));
        }
        let mut subscriptions = Vec::with_capacity(plan.requests.len());
        for req in plan.requests {
            let sub = request::subscribe(&shared, &req).await?;
            tracing::info!(parent: &span, subject = %req.subject, "started request handler");
            subscriptions.push((Arc::new(req), sub));
        }
        crate::micro::start(&shared, &span).await?;
        // Make sure the server has our subscriptions before callers are told we are up.
        shared
            .client
            .flush()
            .await
            .map_err(|e| Error::Connect(Box::new(e)))?;
        // Fetch loops hold a `loops` token while they run; close() waits on them, then on
        // their handlers (tracked).
        for (rt, consumer) in runtimes {
            tokio::spawn(rt.run(consumer).instrument(span.clone()));
        }
        tokio::spawn(crate::health::monitor(Arc::clone(&shared)).instrument(span.clone()));
        // Request loops are tracked from the start: at close they drain, and the requests
        // already delivered to this instance are answered before the client is drained.
        for (req, sub) in subscriptions {
            shared
                .loops
                .spawn(request::run(Arc::clone(&shared), req, sub).instrument(span.clone()));
        }
        tracing::info!(parent: &span, "connection started");
        Ok(Connection {
            shared,
            topology: plan.topology,
            publishers: plan.publishers,
        })
    }
}

impl ConnectionBuilder {
    #[cfg(feature = "otel")]
    fn tracing(&self, service: &str) -> crate::otel::Tracing {
        self.otel.clone().unwrap_or_default().build(service)
    }

    #[cfg(not(feature = "otel"))]
    fn tracing(&self, _service: &str) -> crate::otel::Tracing {
        crate::otel::Tracing
    }
}

/// Where the connection's metrics go.
#[derive(Default)]
pub(super) enum MetricsSetting {
    #[default]
    Off,
    #[cfg(feature = "metrics")]
    Register(prometheus::Registry),
    #[cfg(feature = "metrics")]
    Shared(crate::Metrics),
}

/// A registration made by `start()`, undone when the start fails.
#[derive(Default)]
struct Registration {
    #[cfg(feature = "metrics")]
    registered: Option<(prometheus::Registry, crate::Metrics)>,
}

impl Registration {
    fn undo(self) {
        #[cfg(feature = "metrics")]
        if let Some((registry, metrics)) = self.registered {
            metrics.unregister(&registry);
        }
    }
}

impl MetricsSetting {
    /// Registers on the registry, if one was given (before connecting: a duplicate
    /// registration fails without touching the broker).
    fn register(self) -> Result<(Self, Registration)> {
        match self {
            #[cfg(feature = "metrics")]
            Self::Register(registry) => {
                let metrics = crate::Metrics::register(&registry)?;
                let registration = Registration {
                    registered: Some((registry, metrics.clone())),
                };
                Ok((Self::Shared(metrics), registration))
            }
            other => Ok((other, Registration::default())),
        }
    }

    #[cfg(feature = "metrics")]
    fn instruments(&self, service: &str) -> Instruments {
        match self {
            Self::Shared(m) => Instruments::new(Some(m), service),
            _ => Instruments::new(None, service),
        }
    }

    #[cfg(not(feature = "metrics"))]
    fn instruments(&self, _service: &str) -> Instruments {
        Instruments
    }
}
