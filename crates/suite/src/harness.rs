//! What a transport provides to the suite.

use std::future::Future;

use messaging_core::{EventPublisher, Requester, Setup};
use messaging_spec::ErrorNotification;
use tokio::sync::mpsc;

/// A boxed error from a transport.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a transport can and cannot do. Scenarios branch on these and assert the
/// documented behaviour on both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Capabilities {
    /// Queue publish (sender-selected distribution) exists.
    pub queue_publish: bool,
    /// Wildcard keys on request handlers.
    pub wildcard_requests: bool,
}

/// A started service and the error notifications it sends.
#[derive(Debug)]
pub struct Started<C> {
    /// The transport's connection.
    pub conn: C,
    /// Error notifications of its consumers.
    pub errors: mpsc::Receiver<ErrorNotification>,
}

/// A transport under test.
pub trait Harness: Send + Sync {
    /// The transport's running connection.
    type Conn: Send + Sync + 'static;
    /// Its event publisher.
    type Events: EventPublisher;
    /// Its service (request) publisher.
    type Calls: Requester;

    /// The transport's name, for messages.
    fn name(&self) -> &'static str;

    /// What it can do.
    fn capabilities(&self) -> Capabilities;

    /// Starts `service` with `setups`; error notifications go to the returned receiver.
    fn start(
        &self,
        service: &str,
        setups: Vec<Setup>,
    ) -> impl Future<Output = Result<Started<Self::Conn>, BoxError>> + Send;

    /// The publisher of the `events` stream (registered with `Setup::event_publisher`).
    fn events(&self, conn: &Self::Conn) -> Result<Self::Events, BoxError>;

    /// The request publisher for `target` (registered with `Setup::service_publisher`).
    fn calls(&self, conn: &Self::Conn, target: &str) -> Result<Self::Calls, BoxError>;

    /// The queue publisher for `queue`, where the transport has one.
    fn queue(&self, conn: &Self::Conn, queue: &str) -> Result<Self::Events, BoxError>;

    /// Graceful close: waits for handlers in flight.
    fn close(&self, conn: Self::Conn) -> impl Future<Output = Result<(), BoxError>> + Send;
}
