//! One running service: its connection (NATS or AMQP), its publishers by key, and its
//! received log.

use std::collections::BTreeMap;
use std::time::Duration;

use messaging_spec::tck::{PublishParams, ReceivedMessage, StartServiceResult};
use messaging_spec::{PublisherKey, SetupIntent, Topology, Transport};
use serde_json::value::RawValue;

use crate::broker::Broker;
use crate::capture::ReceivedLog;
use crate::error::{Error, Result};
use crate::intent::{self, Route};

/// Below the runner's 30 s command timeout, so a stuck request becomes an error response
/// instead of a runner timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(25);
/// Bounds `close_service` (and shutdown) well inside the runner's limits.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);
/// The header the runner names a response's recipient with; not put on the wire.
const TARGET_HEADER: &str = "_tckTargetService";

/// A transport's connection.
#[derive(Debug)]
enum Conn {
    Nats(messaging_nats::Connection),
    Amqp(messaging_amqp::Connection),
}

/// How a publisher key is served.
#[derive(Debug)]
enum Outlet {
    Nats(messaging_nats::Publisher),
    Amqp(messaging_amqp::Publisher),
    /// AMQP: `publish_service_response` to the header's target (default: the key's tail).
    Response(String),
    Discard,
}

/// A started service.
#[derive(Debug)]
pub(crate) struct Service {
    conn: Conn,
    publishers: BTreeMap<PublisherKey, Outlet>,
    keys: Vec<String>,
    log: ReceivedLog,
}

impl Service {
    /// Maps the intents, connects, declares everything and starts consuming.
    ///
    /// # Errors
    /// Unsupported intents (before any I/O) and transport failures.
    pub(crate) async fn start(
        name: &str,
        intents: &[SetupIntent],
        broker: &Broker,
    ) -> Result<Self> {
        let log = ReceivedLog::default();
        let transport = match broker {
            Broker::Nats { .. } => Transport::Nats,
            Broker::Amqp { .. } => Transport::Amqp,
        };
        let mapped = intent::map_intents(intents, &log, &transport)?;
        let conn = match broker {
            Broker::Nats { url } => Conn::Nats(
                messaging_nats::Connection::builder(name)
                    .url(url.as_str())
                    .request_timeout(REQUEST_TIMEOUT)
                    .shutdown_timeout(CLOSE_TIMEOUT)
                    .setups(mapped.setups)
                    .start()
                    .await?,
            ),
            Broker::Amqp { url, .. } => Conn::Amqp(
                messaging_amqp::Connection::builder(name)
                    .url(url.as_str())
                    .request_timeout(REQUEST_TIMEOUT)
                    .shutdown_timeout(CLOSE_TIMEOUT)
                    .setups(mapped.setups)
                    .start()
                    .await?,
            ),
        };
        let mut publishers = BTreeMap::new();
        let mut keys = Vec::with_capacity(mapped.publishers.len());
        for (key, route) in mapped.publishers {
            let outlet = match resolve(&conn, &route) {
                Ok(outlet) => outlet,
                Err(e) => {
                    close(conn, name).await;
                    return Err(e);
                }
            };
            keys.push(key.to_string());
            publishers.insert(key, outlet);
        }
        Ok(Self {
            conn,
            publishers,
            keys,
            log,
        })
    }

    fn topology(&self) -> &Topology {
        match &self.conn {
            Conn::Nats(c) => c.topology(),
            Conn::Amqp(c) => c.topology(),
        }
    }

    /// The `start_service` result: one key per publish intent and the topology.
    pub(crate) fn started(&self) -> StartServiceResult {
        StartServiceResult::new(self.keys.clone(), self.topology().clone())
    }

    /// Publishes the payload verbatim with every header; waits for the broker's ack (or
    /// the service's reply).
    ///
    /// # Errors
    /// [`Error::UnknownPublisher`] for a key `start_service` did not return; transport
    /// failures.
    pub(crate) async fn publish(&self, params: PublishParams) -> Result<()> {
        let key = PublisherKey::parse(&params.publisher_key);
        let Some(outlet) = self.publishers.get(&key) else {
            return Err(Error::UnknownPublisher {
                service: params.service_name,
                key: params.publisher_key,
            });
        };
        let mut headers = params.headers.unwrap_or_default();
        let body = Box::<str>::from(params.payload).into_string();
        match outlet {
            Outlet::Discard => {}
            Outlet::Nats(p) => {
                let receipt = p
                    .publish_raw(&params.routing_key, body)
                    .headers(headers)
                    .await?;
                tracing::debug!(service = %params.service_name, subject = %receipt.subject, id = %receipt.id, "published");
            }
            Outlet::Amqp(p) => {
                p.publish_raw(&params.routing_key, body)
                    .headers(headers)
                    .await?;
                tracing::debug!(service = %params.service_name, routing_key = %params.routing_key, "published");
            }
            Outlet::Response(fallback) => {
                let target = headers
                    .remove(TARGET_HEADER)
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| fallback.clone());
                let Conn::Amqp(conn) = &self.conn else {
                    return Ok(());
                };
                let payload = RawValue::from_string(body).map_err(Error::Encode)?;
                conn.publish_service_response(&target, &params.routing_key, &payload)
                    .await?;
                tracing::debug!(service = %params.service_name, %target, "published a response");
            }
        }
        Ok(())
    }

    /// Every message received so far, in arrival order.
    pub(crate) fn received(&self) -> Vec<ReceivedMessage> {
        self.log.snapshot()
    }

    /// Closes the connection, logging (not returning) failures.
    pub(crate) async fn close(self, name: &str) {
        close(self.conn, name).await;
    }
}

fn resolve(conn: &Conn, route: &Route) -> Result<Outlet> {
    Ok(match (conn, route) {
        (_, Route::Discard) => Outlet::Discard,
        (_, Route::Response(target)) => Outlet::Response(target.clone()),
        (Conn::Nats(c), Route::Events) => Outlet::Nats(c.event_publisher()?),
        (Conn::Nats(c), Route::Stream(stream)) => Outlet::Nats(c.stream_publisher(stream)?),
        (Conn::Nats(c), Route::Service(target)) => Outlet::Nats(c.service_publisher(target)?),
        (Conn::Amqp(c), Route::Events) => Outlet::Amqp(c.event_publisher()?),
        (Conn::Amqp(c), Route::Stream(stream)) => Outlet::Amqp(c.stream_publisher(stream)?),
        (Conn::Amqp(c), Route::Service(target)) => Outlet::Amqp(c.service_publisher(target)?),
        (Conn::Amqp(c), Route::Queue(queue)) => Outlet::Amqp(c.queue_publisher(queue)?),
        (Conn::Nats(_), Route::Queue(_)) => Outlet::Discard,
    })
}

async fn close(conn: Conn, name: &str) {
    let result = match conn {
        Conn::Nats(c) => c.close().await.map_err(Error::from),
        Conn::Amqp(c) => c.close().await.map_err(Error::from),
    };
    match result {
        Ok(()) => tracing::info!(service = name, "service closed"),
        Err(e) => tracing::warn!(service = name, error = %e, "service closed with an error"),
    }
}
