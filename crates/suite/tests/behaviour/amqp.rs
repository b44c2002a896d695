//! RabbitMQ: one private broker for the whole binary (it takes seconds to start); the
//! scenarios isolate themselves with unique names. The testkit's watchdog stops the broker
//! when the binary exits, since a `static` is never dropped.

use std::sync::OnceLock;
use std::time::Duration;

use messaging_amqp::{Connection, Publisher};
use messaging_core::Setup;
use messaging_suite::{BoxError, Capabilities, Harness, Started};
use messaging_testkit::RabbitServer;
use tokio::sync::mpsc;

static BROKER: OnceLock<RabbitServer> = OnceLock::new();

pub(crate) struct Amqp {
    url: String,
}

impl Amqp {
    pub(crate) fn new() -> Self {
        let broker = BROKER.get_or_init(|| match RabbitServer::start() {
            Ok(b) => b,
            Err(e) => panic!("starting rabbitmq-server: {e}"),
        });
        Self {
            url: broker.amqp_url(),
        }
    }
}

impl Harness for Amqp {
    type Conn = Connection;
    type Events = Publisher;
    type Calls = Publisher;

    fn name(&self) -> &'static str {
        "amqp"
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.queue_publish = true;
        caps
    }

    async fn start(
        &self,
        service: &str,
        setups: Vec<Setup>,
    ) -> Result<Started<Connection>, BoxError> {
        let (tx, errors) = mpsc::channel(64);
        let conn = Connection::builder(service)
            .url(self.url.as_str())
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

scenarios!(Amqp::new());
