//! NATS: a fresh JetStream server per scenario (it starts in well under a second).

use std::time::Duration;

use messaging_core::Setup;
use messaging_nats::{Connection, Publisher};
use messaging_suite::{BoxError, Capabilities, Harness, Started};
use messaging_testkit::NatsServer;
use tokio::sync::mpsc;

pub(crate) struct Nats {
    server: NatsServer,
}

impl Nats {
    pub(crate) fn new() -> Self {
        match NatsServer::start() {
            Ok(server) => Self { server },
            Err(e) => panic!("starting nats-server: {e}"),
        }
    }
}

impl Harness for Nats {
    type Conn = Connection;
    type Events = Publisher;
    type Calls = Publisher;

    fn name(&self) -> &'static str {
        "nats"
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
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
            .url(self.server.client_url())
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

    fn queue(&self, _conn: &Connection, _queue: &str) -> Result<Publisher, BoxError> {
        Err("NATS has no queue publish".into())
    }

    async fn close(&self, conn: Connection) -> Result<(), BoxError> {
        Ok(conn.close().await?)
    }
}

scenarios!(Nats::new());
