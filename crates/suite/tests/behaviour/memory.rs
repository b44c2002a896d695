//! In memory: a fresh in-process broker per scenario, on the real clock (the scenarios
//! also run against real brokers, so they never rely on a paused one).

use std::time::Duration;

use messaging_core::Setup;
use messaging_memory::{Broker, Connection, Publisher};
use messaging_suite::{BoxError, Capabilities, Harness, Started};
use tokio::sync::mpsc;

pub(crate) struct Memory {
    broker: Broker,
}

impl Memory {
    pub(crate) fn new() -> Self {
        Self {
            broker: Broker::new(),
        }
    }
}

impl Harness for Memory {
    type Conn = Connection;
    type Events = Publisher;
    type Calls = Publisher;

    fn name(&self) -> &'static str {
        "memory"
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.queue_publish = true;
        caps.wildcard_requests = true;
        caps
    }

    async fn start(
        &self,
        service: &str,
        setups: Vec<Setup>,
    ) -> Result<Started<Connection>, BoxError> {
        let (tx, errors) = mpsc::channel(64);
        let conn = Connection::builder(service)
            .broker(&self.broker)
            .request_timeout(Duration::from_secs(10))
            .error_notifications(tx)
            .setups(setups)
            .start()
            .await?;
        Ok(Started { conn, errors })
    }

    fn events(&self, conn: &Connection) -> Result<Publisher, BoxError> {
        Ok(conn.event_publisher()?)
    }

    fn calls(&self, conn: &Connection, target: &str) -> Result<Publisher, BoxError> {
        Ok(conn.service_publisher(target)?)
    }

    fn queue(&self, conn: &Connection, queue: &str) -> Result<Publisher, BoxError> {
        Ok(conn.queue_publisher(queue)?)
    }

    async fn close(&self, conn: Connection) -> Result<(), BoxError> {
        Ok(conn.close().await?)
    }
}

scenarios!(Memory::new());
