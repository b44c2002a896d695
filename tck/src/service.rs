//! One running service: its NATS connection, its publishers by key, and its received log.

use std::collections::BTreeMap;
use std::time::Duration;

use messaging_nats::{Connection, Publisher};
use messaging_spec::tck::{PublishParams, ReceivedMessage, StartServiceResult};
use messaging_spec::{PublisherKey, SetupIntent};

use crate::capture::ReceivedLog;
use crate::error::{Error, Result};
use crate::intent::{self, Route};

/// Below the runner's 30 s command timeout, so a stuck request becomes an error response
/// instead of a runner timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(25);
/// Bounds `close_service` (and shutdown) well inside the runner's limits.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// How a publisher key is served.
#[derive(Debug)]
enum Outlet {
    Live(Publisher),
    Discard,
}

/// A started service.
#[derive(Debug)]
pub(crate) struct Service {
    conn: Connection,
    publishers: BTreeMap<PublisherKey, Outlet>,
    keys: Vec<String>,
    log: ReceivedLog,
}

impl Service {
    /// Maps the intents, connects, declares everything and starts consuming.
    ///
    /// # Errors
    /// Unsupported intents (before any I/O) and transport failures.
    pub(crate) async fn start(name: &str, intents: &[SetupIntent], url: &str) -> Result<Self> {
        let log = ReceivedLog::default();
        let mapped = intent::map_intents(intents, &log)?;
        let conn = Connection::builder(name)
            .url(url)
            .request_timeout(REQUEST_TIMEOUT)
            .shutdown_timeout(CLOSE_TIMEOUT)
            .setups(mapped.setups)
            .start()
            .await?;
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

    /// The `start_service` result: one key per publish intent and the topology.
    pub(crate) fn started(&self) -> StartServiceResult {
        StartServiceResult::new(self.keys.clone(), self.conn.topology().clone())
    }

    /// Publishes the payload verbatim with every header; waits for the stream's ack (or
    /// the service's reply).
    ///
    /// # Errors
    /// [`Error::UnknownPublisher`] for a key `start_service` did not return; transport
    /// failures.
    pub(crate) async fn publish(&self, params: PublishParams) -> Result<()> {
        let key = PublisherKey::parse(&params.publisher_key);
        let publisher = match self.publishers.get(&key) {
            Some(Outlet::Live(p)) => p,
            Some(Outlet::Discard) => return Ok(()),
            None => {
                return Err(Error::UnknownPublisher {
                    service: params.service_name,
                    key: params.publisher_key,
                });
            }
        };
        let body = Box::<str>::from(params.payload).into_string();
        let receipt = publisher
            .publish_raw(&params.routing_key, body)
            .headers(params.headers.unwrap_or_default())
            .await?;
        tracing::debug!(service = %params.service_name, subject = %receipt.subject, id = %receipt.id, "published");
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

fn resolve(conn: &Connection, route: &Route) -> Result<Outlet> {
    Ok(match route {
        Route::Events => Outlet::Live(conn.event_publisher()?),
        Route::Stream(stream) => Outlet::Live(conn.stream_publisher(stream)?),
        Route::Service(target) => Outlet::Live(conn.service_publisher(target)?),
        Route::Discard => Outlet::Discard,
    })
}

async fn close(conn: Connection, name: &str) {
    match conn.close().await {
        Ok(()) => tracing::info!(service = name, "service closed"),
        Err(e) => tracing::warn!(service = name, error = %e, "service closed with an error"),
    }
}
