//! The terminal call: validate, connect, then bring up (`bring_up.rs`) before returning,
//! or with `optional_broker` in the background (`background.rs`). Everything before it
//! (in `mod.rs`) is pure configuration.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use async_nats::jetstream;
use messaging_spec::ServiceName;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::bring_up::BringUp;
use super::{ConnectionBuilder, DEFAULT_CONNECTION_TIMEOUT};
use crate::connection::{Connection, Shared};
use crate::error::{Error, Result};
use crate::health::{HealthTracker, Startup};
use crate::metrics::Instruments;
use crate::plan::{Plan, RequestPlan, ResponsePlan};
use crate::request;
use messaging_core::Observer;

impl ConnectionBuilder {
    fn connect_options(&mut self, startup: &Arc<Startup>) -> async_nats::ConnectOptions {
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
        if c.retry_initial_connect || self.optional_broker {
            o = o.retry_on_initial_connect();
        }
        if self.optional_broker {
            // async-nats cannot cancel its first-connect loop: once the connection is
            // closed, the delay parks it instead of letting it retry for ever.
            let startup = Arc::clone(startup);
            o = o.reconnect_delay_callback(move |attempts| startup.reconnect_delay(attempts));
        }
        if let Some(m) = c.max_reconnects {
            o = o.max_reconnects(m);
        }
        if let Some(t) = c.connection_timeout {
            o = o.connection_timeout(t);
        }
        let events = Arc::clone(&self.events);
        let startup = Arc::clone(startup);
        o.event_callback(move |event| {
            let events = Arc::clone(&events);
            let startup = Arc::clone(&startup);
            async move {
                startup.on_event(&event);
                events.on_event(&event);
            }
        })
    }

    /// Validates everything, connects, ensures streams, creates consumers, subscribes
    /// request handlers and starts fetching.
    ///
    /// With [`retry_initial_connect`](Self::retry_initial_connect), it first waits for the
    /// connection, for at most the [`connection_timeout`](Self::connection_timeout). With
    /// [`optional_broker`](Self::optional_broker), it returns once everything is
    /// validated, and the rest happens in the background.
    ///
    /// # Errors
    /// Invalid registrations or settings (before any I/O), connection failures, and
    /// stream, consumer or subscription failures (the connection is closed again, and
    /// metrics registered by [`metrics`](Self::metrics) are unregistered, so the same
    /// builder settings can be started again). With `optional_broker`, only the
    /// validation errors, an unreadable credentials file and invalid URLs.
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
        let optional = self.optional_broker;
        let url = super::connect::display_urls(&self.urls);
        let startup = Arc::new(if optional {
            Startup::pending(url)
        } else {
            Startup::done()
        });
        let creds = self.client.credentials_file.take();
        let domain = self.client.domain.take();
        let api_prefix = self.client.api_prefix.take();
        let wait_for_connection = (self.client.retry_initial_connect && !optional).then(|| {
            self.client
                .connection_timeout
                .unwrap_or(DEFAULT_CONNECTION_TIMEOUT)
        });
        let mut options = self.connect_options(&startup);
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
        let Plan {
            service,
            topology,
            streams,
            publishers,
            groups,
            requests,
            responses,
            dead_letter_streams,
        } = plan;
        let shared = self.shared(service, &requests, responses, client.clone(), js, startup);
        let bring_up = self.bring_up(&shared.service, streams, dead_letter_streams);
        let work = (groups, requests);
        let connection = |shared| Connection {
            shared,
            topology,
            publishers,
        };
        if optional {
            let span = bring_up.span.clone();
            let url = super::connect::display_urls(&self.urls);
            tracing::info!(parent: &span, %url, "connection created; connecting to NATS in the background (optional_broker)");
            let reporter = super::background::Reporter {
                errors: self.errors.take(),
            };
            let task = super::background::run(
                bring_up,
                Arc::clone(&shared),
                Arc::clone(&self.events),
                reporter,
                work,
            );
            shared.loops.spawn(task.instrument(span));
            return Ok(connection(shared));
        }
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
            Ok(()) => match bring_up.prepare(&shared, work).await {
                Ok(prepared) => bring_up.launch(&shared, prepared, true).await,
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        if let Err(e) = up {
            if let Err(drain) = client.drain().await {
                tracing::debug!(error = %drain, "drain after failed start failed");
            }
            return Err(e);
        }
        Ok(connection(shared))
    }

    /// The state shared by the connection and its tasks (no I/O). Takes the notification
    /// channels; the error channel stays for the background bring-up.
    fn shared(
        &mut self,
        service: ServiceName,
        requests: &[RequestPlan],
        responses: Vec<ResponsePlan>,
        client: async_nats::Client,
        js: jetstream::Context,
        startup: Arc<Startup>,
    ) -> Arc<Shared> {
        let instruments = self.metrics.instruments(service.as_str());
        let otel = self.tracing(service.as_str());
        let observer = Observer::new(self.notifications.take(), self.errors.clone());
        #[cfg(feature = "metrics")]
        let observer = observer.with_drop_hook(
            instruments
                .dropped_notifications()
                .map(|c| std::sync::Arc::new(move || c.inc()) as messaging_core::DropHook),
        );
        let micro = crate::micro::Registry::new(
            &self.micro,
            &service,
            request::queue_group(&service),
            requests,
            &client,
        );
        let shared = Arc::new(Shared {
            service,
            url: super::connect::display_urls(&self.urls),
            client,
            js,
            timing: self.timing.clone(),
            observer,
            health: HealthTracker::new(self.health_interval).with_startup(startup),
            metrics: instruments,
            otel,
            responses,
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
            loops: TaskTracker::new(),
            ephemerals: std::sync::Mutex::default(),
            closed: AtomicBool::new(false),
            micro,
            violations: Arc::clone(&self.events.violations),
        });
        self.events.attach(&shared);
        shared
    }

    /// What the bring-up needs from the builder.
    fn bring_up(
        &mut self,
        service: &ServiceName,
        streams: std::collections::BTreeMap<String, messaging_spec::StreamName>,
        dead_letter_streams: std::collections::BTreeSet<messaging_spec::StreamName>,
    ) -> BringUp {
        let span = self
            .span
            .clone()
            .unwrap_or_else(|| tracing::info_span!("messaging", service = service.as_str()));
        BringUp {
            urls: self.urls.clone(),
            span,
            streams: streams.into_values().chain(dead_letter_streams).collect(),
            stream_defaults: std::mem::take(&mut self.stream_defaults),
            stream_configs: std::mem::take(&mut self.stream_configs),
            setups: std::mem::take(&mut self.setups),
            consumer_defaults: std::mem::take(&mut self.consumer_defaults),
        }
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
