//! The terminal call: connect, declare, open publisher channels, start consumers. Every
//! check happens before the connection is opened; a failure afterwards closes it again.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use lapin::uri::AMQPUri;
use messaging_core::Observer;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::ConnectionBuilder;
use crate::connect::{self, DEFAULT_URL, redact};
use crate::connection::{Connection, Shared};
use crate::consume::{self, QueueRuntime};
use crate::declare::ExchangeSpec;
use crate::error::{Error, Result};
use crate::health::QueueHealth;
use crate::link::{Link, Target};
use crate::metrics::Instruments;
use crate::plan::{Plan, QueueKind};
use crate::publish::PublishChannel;
use crate::publisher::{PublisherInner, Publishers};
use crate::reply::ReplyClient;

impl ConnectionBuilder {
    /// Validates everything, connects, declares the exchanges, queues and bindings,
    /// opens the publisher channels (confirm mode) and starts consuming. When it returns,
    /// every declaration is visible on the broker.
    ///
    /// # Errors
    /// Invalid registrations, settings or URL (before any I/O); connection, declaration
    /// and channel failures (the connection is closed again, and metrics registered by
    /// [`metrics`](Self::metrics) are unregistered, so the same settings can be started
    /// again).
    pub async fn start(mut self) -> Result<Connection> {
        let plan = self.validate()?;
        let url = self.url.clone().unwrap_or_else(|| DEFAULT_URL.to_owned());
        let uri = connect::parse(&url, cfg!(feature = "rustls"))?;
        let (metrics, registration) = std::mem::take(&mut self.metrics).register()?;
        self.metrics = metrics;
        let started = self.connect(plan, uri, &redact(&url)).await;
        if started.is_err() {
            registration.undo();
        }
        started
    }

    async fn connect(self, plan: Plan, uri: AMQPUri, redacted: &str) -> Result<Connection> {
        let name = self
            .connection_name
            .clone()
            .unwrap_or_else(|| connect::connection_name(plan.service.as_str()));
        let timeout = self.timing.connection_timeout;
        let connection = Arc::new(connect::connect(uri.clone(), &name, redacted, timeout).await?);
        tracing::info!(url = %redacted, connection = %name, "connected to amqp");
        let target = Target {
            uri,
            name,
            redacted: redacted.to_owned(),
            timeout,
        };
        let link = Arc::new(Link::new(Arc::clone(&connection), target));
        let up = self.bring_up(plan, link).await;
        if up.is_err()
            && let Err(e) = connection.close(200, "OK".into()).await
        {
            tracing::debug!(error = %e, "closing after a failed start failed");
        }
        up
    }

    async fn bring_up(self, plan: Plan, link: Arc<Link>) -> Result<Connection> {
        let connection = link.current();
        let span = self
            .span
            .clone()
            .unwrap_or_else(|| tracing::info_span!("messaging", service = plan.service.as_str()));
        declare_all(&connection, &plan).await?;
        let exchanges: Vec<ExchangeSpec> = plan.exchanges().into_iter().collect();
        let mut publishers = Publishers::default();
        for p in &plan.publishers {
            let channel = PublishChannel::open(
                Arc::clone(&link),
                p.target.to_string(),
                self.timing.max_in_flight_confirms,
                self.timing.publish_timeout,
            )
            .await
            .map_err(|e| {
                Error::channel(format!("open the publisher channel for {}", p.target), e)
            })?;
            tracing::info!(parent: &span, exchange = p.exchange_name(), target = %p.target, "configured publisher");
            publishers.0.push(Arc::new(PublisherInner {
                target: p.target.clone(),
                exchange: p.exchange_name().to_owned(),
                channel,
            }));
        }
        let serves_requests = plan
            .queues
            .iter()
            .any(|q| matches!(q.kind, QueueKind::Requests(_)));
        let queues: Vec<Arc<crate::plan::QueuePlan>> =
            plan.queues.into_iter().map(Arc::new).collect();
        let responses = queues
            .iter()
            .filter_map(|q| match &q.kind {
                QueueKind::Responses { target } => Some((target.clone(), Arc::clone(q))),
                _ => None,
            })
            .collect();
        let health: Vec<QueueHealth> = queues
            .iter()
            .map(|q| QueueHealth::new(q.queue.name.clone()))
            .collect();
        let response_exchange = OnceCell::new();
        if serves_requests {
            // Declared with the request queue, as the reference.
            let _ = response_exchange.set(());
        }
        let observer = Observer::new(self.notifications.clone(), self.errors.clone());
        let shared = Arc::new(Shared {
            service: plan.service.clone(),
            replies: ReplyClient::new(Arc::clone(&link), self.timing.publish_timeout),
            link: Arc::clone(&link),
            timing: self.timing.clone(),
            observer,
            metrics: self.metrics.instruments(),
            otel: self.tracing(plan.service.as_str()),
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
            loops: TaskTracker::new(),
            closed: AtomicBool::new(false),
            responses,
            responder: OnceCell::new(),
            response_exchange,
            health: health.clone(),
        });
        let mut runtimes = Vec::with_capacity(queues.len());
        let mut consumers = Vec::with_capacity(queues.len());
        for (q, h) in queues.iter().zip(health) {
            let (channel, consumer) = consume::open(&connection, q).await?;
            runtimes.push(Arc::new(QueueRuntime::new(
                Arc::clone(&shared),
                Arc::clone(q),
                h,
                channel,
            )));
            consumers.push(consumer);
        }
        for (rt, consumer) in runtimes.iter().zip(consumers) {
            shared
                .loops
                .spawn(Arc::clone(rt).run(consumer).instrument(span.clone()));
        }
        shared.loops.spawn(
            link.supervise(shared.shutdown.clone(), exchanges, shared.metrics.clone())
                .instrument(span.clone()),
        );
        tracing::info!(parent: &span, consumers = runtimes.len(), "connection started");
        Ok(Connection {
            shared,
            topology: plan.topology,
            publishers,
            queues: runtimes,
        })
    }

    #[cfg(feature = "otel")]
    fn tracing(&self, service: &str) -> crate::otel::Tracing {
        self.otel.clone().unwrap_or_default().build(service)
    }

    #[cfg(not(feature = "otel"))]
    fn tracing(&self, _service: &str) -> crate::otel::Tracing {
        crate::otel::Tracing
    }
}

/// Every exchange, then every queue with its bindings, on one setup channel (closed
/// afterwards; a failed declaration closes it and fails `start`).
async fn declare_all(connection: &lapin::Connection, plan: &Plan) -> Result<()> {
    let setup = connection
        .create_channel()
        .await
        .map_err(|e| Error::channel("open the setup channel", e))?;
    let declared = async {
        for x in plan.exchanges() {
            x.declare(&setup).await?;
        }
        for q in &plan.queues {
            q.queue.declare(&setup).await?;
            for b in &q.bindings {
                b.declare(&setup).await?;
                tracing::debug!(queue = %b.queue, exchange = %b.exchange, routing_key = %b.routing_key, "bound queue to exchange");
            }
        }
        Ok::<(), Error>(())
    }
    .await;
    if setup.status().connected() {
        let _ = setup.close(200, "OK".into()).await;
    }
    declared
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
    fn instruments(&self) -> Instruments {
        match self {
            Self::Shared(m) => Instruments::new(Some(m)),
            _ => Instruments::new(None),
        }
    }

    #[cfg(not(feature = "metrics"))]
    fn instruments(&self) -> Instruments {
        Instruments
    }
}
