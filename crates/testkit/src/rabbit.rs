//! [`RabbitServer`]: one real RabbitMQ broker process, its `epmd`, and its
//! temporary files.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use tempfile::TempDir;

use crate::error::TestkitError;
use crate::ports::free_ports;
use crate::probe::accepts_tcp;
use crate::process::{Process, Program, log_tail};
use crate::rabbit_builder::{RabbitServerBuilder, RabbitSettings};
use crate::rabbit_management as management;
use crate::rabbit_setup::{
    BROKER_LOG, EPMD_LOG, MNESIA_DIR, RabbitBinaries, RabbitPorts, broker_command, epmd_command,
    locate, unique_node_name, write_files,
};
use crate::wait::{Deadline, Probe};

/// How long [`RabbitServer::stop`] waits for a clean shutdown (about 6 s
/// on RabbitMQ 3.10) before it kills the broker.
const STOP_GRACE: Duration = Duration::from_secs(30);
/// How often a first start is tried with fresh ports when one was taken.
const START_ATTEMPTS: usize = 3;

/// A running RabbitMQ broker on loopback, with the management plugin and
/// the `guest`/`guest` user.
///
/// # RabbitMQ
///
/// The harness runs the `rabbitmq-server` script named by
/// `RABBITMQ_SERVER_BIN` (see [`RABBITMQ_SERVER_BIN_ENV`]), else Debian's
/// (`/usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin/rabbitmq-server`); install
/// it with `apt-get install --no-install-recommends rabbitmq-server` or
/// `bash scripts/install-deps.sh`. The Debian `/usr/sbin/rabbitmq-server`
/// wrapper (which switches to the `rabbitmq` user) is never used, so the
/// broker runs as a direct child of the test, also as root.
///
/// Each broker gets free loopback ports for AMQP, the management API,
/// Erlang distribution and its own `epmd` (started by the harness, as a
/// child process too), a unique node name
/// (`rabbit-testkit-<pid>-<n>@localhost`), and a fresh temporary directory
/// holding its configuration, data (`mnesia/`), log (`rabbitmq.log`: the
/// broker's console output) and Erlang cookie. No system-wide RabbitMQ
/// configuration or service is touched, and several brokers can run at once.
///
/// Starting blocks until `GET /api/overview` answers 200 for this node and
/// the AMQP port accepts connections: about 6 s (bounded by 60 s by
/// default). An idle broker uses about 150 MB of memory. Dropping it kills
/// the broker and its `epmd`, waits for them, and deletes the directory,
/// also when a test panics.
///
/// ```no_run
/// use messaging_testkit::RabbitServer;
/// use serde_json::json;
///
/// # fn main() -> Result<(), messaging_testkit::TestkitError> {
/// let mut broker = RabbitServer::start()?;
/// let url = broker.amqp_url(); // amqp://guest:guest@127.0.0.1:<port>/%2f
///
/// // Inspect or change broker state through the management API.
/// broker.management_put("/api/queues/%2f/orders", &json!({ "durable": true }))?;
/// let queues = broker.management_get("/api/queues/%2f")?;
/// assert_eq!(queues[0]["name"], "orders");
///
/// // Simulate a crash, then bring the broker back with the same ports and data.
/// broker.kill()?;
/// broker.start_again()?;
/// assert_eq!(broker.amqp_url(), url);
/// # Ok(())
/// # }
/// ```
///
/// [`RABBITMQ_SERVER_BIN_ENV`]: crate::RABBITMQ_SERVER_BIN_ENV
#[derive(Debug)]
pub struct RabbitServer {
    // The processes are stopped (in `Drop`) before `dir` is deleted.
    broker: Option<Process>,
    epmd: Option<Process>,
    ports: RabbitPorts,
    node: String,
    binaries: RabbitBinaries,
    settings: RabbitSettings,
    /// Where the last run's output starts in the broker log.
    log_start: u64,
    startup_time: Duration,
    /// Kills the broker and epmd if this process dies without dropping us (a `static`
    /// broker shared by a test binary is never dropped).
    watchdog: Option<std::process::Child>,
    dir: TempDir,
}

impl RabbitServer {
    /// Starts a broker with the default options (see [`RabbitServerBuilder`]).
    ///
    /// # Errors
    ///
    /// As [`RabbitServerBuilder::start`].
    pub fn start() -> Result<Self, TestkitError> {
        Self::builder().start()
    }

    /// Options for a broker, started with [`RabbitServerBuilder::start`].
    pub fn builder() -> RabbitServerBuilder {
        RabbitServerBuilder::default()
    }

    pub(crate) fn launch(settings: RabbitSettings) -> Result<Self, TestkitError> {
        let binaries = locate(settings.binary.as_deref())?;
        let dir = tempfile::Builder::new()
            .prefix("rabbit-testkit-")
            .tempdir()
            .map_err(|e| TestkitError::io("creating a temporary directory", e))?;
        let mut server = Self {
            broker: None,
            epmd: None,
            ports: pick_ports(&settings)?,
            node: unique_node_name(),
            binaries,
            settings,
            log_start: 0,
            startup_time: Duration::ZERO,
            watchdog: None,
            dir,
        };
        let fixed =
            server.settings.amqp_port.is_some() || server.settings.management_port.is_some();
        let mut attempt = 1;
        loop {
            match server.boot() {
                Ok(()) => return Ok(server),
                // Fresh free ports (configured ones stay) after a clash.
                Err(e) if attempt < START_ATTEMPTS && is_port_clash(&e, fixed) => {
                    server.stop_processes(Duration::ZERO);
                    server.ports = pick_ports(&server.settings)?;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The URL AMQP clients connect to:
    /// `amqp://guest:guest@127.0.0.1:<port>/%2f` (the default vhost `/`).
    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.ports.amqp)
    }

    /// The AMQP port. It stays the same across restarts.
    pub fn amqp_port(&self) -> u16 {
        self.ports.amqp
    }

    /// The management API base URL with credentials, without a trailing
    /// slash: `http://guest:guest@127.0.0.1:<port>`; append paths such as
    /// `/api/queues/%2f`.
    pub fn management_url(&self) -> String {
        format!("http://guest:guest@127.0.0.1:{}", self.ports.management)
    }

    /// The management API port. It stays the same across restarts.
    pub fn management_port(&self) -> u16 {
        self.ports.management
    }

    /// The Erlang node name, `rabbit-testkit-<pid>-<n>@localhost`, as the
    /// management API reports it in `node` fields.
    pub fn node_name(&self) -> &str {
        &self.node
    }

    /// The broker's process id (the Erlang VM), or `None` while it is stopped.
    pub fn pid(&self) -> Option<u32> {
        self.broker.as_ref().map(Process::pid)
    }

    /// The process id of the broker's own `epmd`. It keeps running while
    /// the broker is stopped, until the server is dropped.
    pub fn epmd_pid(&self) -> Option<u32> {
        self.epmd.as_ref().map(Process::pid)
    }

    /// The broker's data directory (`RABBITMQ_MNESIA_BASE`). It stays the
    /// same across restarts and is deleted on drop.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join(MNESIA_DIR)
    }

    /// The broker's log file (its console output of every run, appended).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join(BROKER_LOG)
    }

    /// The last lines logged by the current (or last) run.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log_path(), self.log_start)
    }

    /// How long the last start (or restart) took until the broker was ready.
    pub fn startup_time(&self) -> Duration {
        self.startup_time
    }

    /// Whether the broker is alive; reaps it if it has exited on its own.
    ///
    /// # Errors
    ///
    /// [`TestkitError::Io`] if the process state cannot be read.
    pub fn is_running(&mut self) -> Result<bool, TestkitError> {
        let Some(broker) = self.broker.as_mut() else {
            return Ok(false);
        };
        if broker.exit_status()?.is_some() {
            self.broker = None;
            return Ok(false);
        }
        Ok(true)
    }

    /// `GET` a management API path such as `/api/queues/%2f` or
    /// `/api/exchanges/%2f/events` and parse its JSON.
    ///
    /// # Errors
    ///
    /// [`TestkitError::Io`] if the broker does not answer,
    /// [`TestkitError::ManagementHttp`] for a non-2xx status (404 for a
    /// missing queue), [`TestkitError::Malformed`] if the body is not JSON.
    pub fn management_get(&self, path: &str) -> Result<serde_json::Value, TestkitError> {
        management::get_json(self.ports.management, path)
    }

    /// `PUT` a JSON body to a management API path, for example
    /// `/api/queues/%2f/orders` with `{"durable": true}` to declare a queue.
    ///
    /// # Errors
    ///
    /// [`TestkitError::Io`] if the broker does not answer,
    /// [`TestkitError::ManagementHttp`] for a non-2xx status.
    pub fn management_put(&self, path: &str, body: &serde_json::Value) -> Result<(), TestkitError> {
        management::put_json(self.ports.management, path, body)
    }

    /// `DELETE` a management API path, for example `/api/queues/%2f/orders`.
    ///
    /// # Errors
    ///
    /// [`TestkitError::Io`] if the broker does not answer,
    /// [`TestkitError::ManagementHttp`] for a non-2xx status.
    pub fn management_delete(&self, path: &str) -> Result<(), TestkitError> {
        management::delete(self.ports.management, path)
    }

    /// Shuts the broker down cleanly (SIGTERM; about 6 s on RabbitMQ 3.10),
    /// killing it if it takes longer than 30 s. Its `epmd` keeps running.
    /// Does nothing if it is already stopped.
    ///
    /// # Errors
    ///
    /// [`TestkitError::RabbitStillRunning`] if the process cannot be made to exit.
    pub fn stop(&mut self) -> Result<(), TestkitError> {
        if let Some(broker) = self.broker.as_mut() {
            broker.terminate(STOP_GRACE)?;
            self.broker = None;
        }
        Ok(())
    }

    /// Kills the broker at once (SIGKILL), like a crash, and waits until it
    /// is gone. Its `epmd` keeps running. Does nothing if it is already
    /// stopped.
    ///
    /// # Errors
    ///
    /// [`TestkitError::RabbitStillRunning`] if the process cannot be made to exit.
    pub fn kill(&mut self) -> Result<(), TestkitError> {
        if let Some(broker) = self.broker.as_mut() {
            broker.kill()?;
            self.broker = None;
        }
        Ok(())
    }

    /// Starts a stopped broker again with the same node name, ports and data
    /// directory (durable queues and exchanges survive), and waits until it
    /// is ready.
    ///
    /// # Errors
    ///
    /// [`TestkitError::RabbitAlreadyRunning`] if it is running; otherwise as
    /// [`RabbitServerBuilder::start`] (a port taken meanwhile by another
    /// process shows up as [`TestkitError::RabbitExited`]).
    pub fn start_again(&mut self) -> Result<(), TestkitError> {
        if let (true, Some(pid)) = (self.is_running()?, self.pid()) {
            return Err(TestkitError::RabbitAlreadyRunning { pid });
        }
        self.boot()
    }

    /// [`stop`](Self::stop)s the broker, if running, then
    /// [`start_again`](Self::start_again)s it: same ports, same data.
    ///
    /// # Errors
    ///
    /// As [`stop`](Self::stop) and [`start_again`](Self::start_again).
    pub fn restart(&mut self) -> Result<(), TestkitError> {
        self.stop()?;
        self.start_again()
    }

    /// Starts `epmd` if it is not running, writes the configuration, starts
    /// the broker and waits until it is ready. On failure the broker is
    /// killed (dropping [`Process`] kills it); `epmd` stays for a retry.
    fn boot(&mut self) -> Result<(), TestkitError> {
        let deadline = Deadline::after(self.settings.startup_timeout);
        self.ensure_epmd(&deadline)?;
        let dir = self.dir.path();
        write_files(
            dir,
            self.ports,
            &self.settings.plugins,
            &self.settings.config,
        )?;
        let command = broker_command(&self.binaries.server, dir, &self.node, self.ports);
        let mut broker =
            Process::spawn_command(command, &self.log_path(), Program::RabbitMq, true)?;
        self.log_start = broker.log_start();
        let outcome = deadline.poll(|| self.probe_ready(&mut broker));
        match outcome {
            Ok(Ok(())) => {
                self.startup_time = deadline.elapsed();
                // The previous run's watchdog must not fire: dropping its handle closes
                // its pipe, which is its signal to kill.
                self.stop_watchdog();
                self.watchdog = self.spawn_watchdog(broker.pid());
                self.broker = Some(broker);
                Ok(())
            }
            Ok(Err(reason)) => Err(TestkitError::RabbitNotReady {
                waited: deadline.elapsed(),
                reason,
                log_tail: self.log_tail(),
            }),
            Err(Exit::Broker(status)) => Err(TestkitError::RabbitExited {
                program: Program::RabbitMq.name(),
                status,
                log_tail: self.log_tail(),
            }),
            Err(Exit::Epmd(status)) => Err(self.epmd_exited(status)),
            Err(Exit::Fatal(e)) => Err(e),
        }
    }

    /// One readiness check: broker and `epmd` alive, the management API
    /// answering for this node and listing its AMQP listener, the AMQP port
    /// accepting connections.
    fn probe_ready(&mut self, broker: &mut Process) -> Result<Probe<()>, Exit> {
        if let Some(status) = broker.exit_status()? {
            return Err(Exit::Broker(status));
        }
        if let Some(epmd) = self.epmd.as_mut()
            && let Some(status) = epmd.exit_status()?
        {
            return Err(Exit::Epmd(status));
        }
        let overview = match management::probe_overview(self.ports.management) {
            Ok(overview) => overview,
            Err(reason) => return Ok(Probe::NotYet(reason)),
        };
        if overview["node"] != self.node.as_str() {
            return Ok(Probe::NotYet(format!(
                "the management port answers for node {}, not {}",
                overview["node"], self.node
            )));
        }
        // The management API starts before the AMQP listener, and a port
        // that accepts TCP may belong to another process: only a listener
        // the broker reports as running counts.
        let amqp = self.ports.amqp;
        if !management::has_listener(&overview, &self.node, "amqp", amqp) {
            return Ok(Probe::NotYet(format!(
                "no running AMQP listener on port {amqp} yet"
            )));
        }
        if let Err(e) = accepts_tcp(self.ports.amqp) {
            return Ok(Probe::NotYet(format!("AMQP port {}: {e}", self.ports.amqp)));
        }
        Ok(Probe::Ready(()))
    }

    /// Starts the broker's own `epmd` unless it runs, and waits until it
    /// accepts connections.
    fn ensure_epmd(&mut self, deadline: &Deadline) -> Result<(), TestkitError> {
        if let Some(epmd) = self.epmd.as_mut()
            && epmd.exit_status()?.is_none()
        {
            return Ok(());
        }
        self.epmd = None;
        let dir = self.dir.path();
        let command = epmd_command(&self.binaries.epmd, dir, self.ports.epmd);
        let mut epmd = Process::spawn_command(command, &dir.join(EPMD_LOG), Program::Epmd, true)?;
        let port = self.ports.epmd;
        let outcome = deadline.poll(|| {
            if let Some(status) = epmd.exit_status()? {
                return Err(Exit::Epmd(status));
            }
            Ok(match accepts_tcp(port) {
                Ok(()) => Probe::Ready(()),
                Err(e) => Probe::NotYet(format!("epmd port {port}: {e}")),
            })
        });
        let log = dir.join(EPMD_LOG);
        match outcome {
            Ok(Ok(())) => {
                self.epmd = Some(epmd);
                Ok(())
            }
            Ok(Err(reason)) => Err(TestkitError::RabbitNotReady {
                waited: deadline.elapsed(),
                reason,
                log_tail: log_tail(&log, epmd.log_start()),
            }),
            Err(Exit::Epmd(status) | Exit::Broker(status)) => Err(TestkitError::RabbitExited {
                program: Program::Epmd.name(),
                status,
                log_tail: log_tail(&log, epmd.log_start()),
            }),
            Err(Exit::Fatal(e)) => Err(e),
        }
    }

    fn epmd_exited(&mut self, status: ExitStatus) -> TestkitError {
        let from = self.epmd.as_ref().map_or(0, Process::log_start);
        self.epmd = None;
        TestkitError::RabbitExited {
            program: Program::Epmd.name(),
            status,
            log_tail: log_tail(&self.dir.path().join(EPMD_LOG), from),
        }
    }

    /// Stops the broker (SIGTERM with `grace`, or SIGKILL at once), then
    /// kills `epmd`, waiting for both.
    /// A shell that waits for its stdin (our end of a pipe) to close, then kills the
    /// broker's process group and epmd and deletes the data. The pipe closes when this
    /// process exits, however it exits; a normal drop kills the watchdog first.
    fn spawn_watchdog(&self, broker_pid: u32) -> Option<std::process::Child> {
        let epmd = self
            .epmd
            .as_ref()
            .map(|e| e.pid().to_string())
            .unwrap_or_default();
        let script = format!(
            "read _ignored; kill -9 -{broker_pid} {epmd} 2>/dev/null; rm -rf '{}'",
            self.dir.path().display()
        );
        std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()
    }

    fn stop_watchdog(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }

    fn stop_processes(&mut self, grace: Duration) {
        self.stop_watchdog();
        if let Some(mut broker) = self.broker.take() {
            let _ = if grace.is_zero() {
                broker.kill()
            } else {
                broker.terminate(grace)
            };
        }
        if let Some(mut epmd) = self.epmd.take() {
            let _ = epmd.kill();
        }
    }
}

impl Drop for RabbitServer {
    fn drop(&mut self) {
        // Never leave an orphan broker or epmd, also when a test panics;
        // `dir` is deleted after this, when the fields drop.
        self.stop_processes(self.settings.drop_grace);
    }
}

/// Why readiness polling stopped early.
enum Exit {
    Broker(ExitStatus),
    Epmd(ExitStatus),
    Fatal(TestkitError),
}

impl From<TestkitError> for Exit {
    fn from(e: TestkitError) -> Self {
        Self::Fatal(e)
    }
}

/// The configured ports, and free loopback ones for the rest.
fn pick_ports(settings: &RabbitSettings) -> Result<RabbitPorts, TestkitError> {
    let free = free_ports(4)?;
    Ok(RabbitPorts {
        amqp: settings.amqp_port.unwrap_or(free[0]),
        management: settings.management_port.unwrap_or(free[1]),
        dist: free[2],
        epmd: free[3],
    })
}

/// Whether a failed first start is worth retrying with fresh ports: `epmd`
/// (always on a port we picked) could not bind, or the broker reported a
/// port in use and all its ports were picked by us (a configured port that
/// is taken stays taken).
fn is_port_clash(error: &TestkitError, fixed_ports: bool) -> bool {
    match error {
        TestkitError::RabbitExited {
            program, log_tail, ..
        } => *program == Program::Epmd.name() || (!fixed_ports && log_tail.contains("eaddrinuse")),
        _ => false,
    }
}
