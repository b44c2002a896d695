//! [`NatsServer`]: one real `nats-server` process and its temporary files.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

use crate::auth::NatsAuth;
use crate::binary::{self, Binary};
use crate::builder::{NatsServerBuilder, Readiness, Settings};
use crate::config::ServerConf;
use crate::error::TestkitError;
use crate::ports::{Ports, read_ports_file};
use crate::probe::{http_get, read_info};
use crate::process::{Process, log_tail};
use crate::tls::{self, TlsFiles};
use crate::wait::{Deadline, Probe};

/// How long a clean shutdown may take before the process is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);
const CONFIG_FILE: &str = "server.conf";
const LOG_FILE: &str = "server.log";
const CREDS_FILE: &str = "user.creds";

/// A running `nats-server` on loopback, with JetStream by default.
///
/// The server gets a free client port, a free monitoring port and a fresh
/// temporary directory holding its configuration, its log (`server.log`:
/// stdout and stderr) and, unless another was given, its JetStream store.
/// Dropping it kills the process, waits for it, and deletes that directory,
/// also when a test panics.
///
/// The API is synchronous; every wait is bounded by the startup timeout.
/// It can be used from `#[tokio::test]`s: starting blocks the calling
/// thread for the server's startup (usually well under a second).
///
/// ```no_run
/// use messaging_testkit::NatsServer;
///
/// # fn main() -> Result<(), messaging_testkit::TestkitError> {
/// let mut server = NatsServer::start()?;
/// let url = server.client_url(); // nats://127.0.0.1:<port>
/// server.kill()?; // simulate an outage: the port now refuses connections
/// server.start_again()?; // same port, same store
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct NatsServer {
    // Declared first so it is dropped (killing the process) before `dir`
    // is deleted.
    process: Option<Process>,
    ports: Ports,
    binary: Binary,
    settings: Settings,
    store_dir: PathBuf,
    /// Where the last run's output starts in the log file.
    log_start: u64,
    security: Security,
    dir: TempDir,
}

/// The TLS files, credentials file and configuration made for a server's
/// TLS and authentication settings (kept for restarts).
#[derive(Debug, Default)]
struct Security {
    tls: Option<TlsFiles>,
    credentials_file: Option<PathBuf>,
    /// The `tls` and authentication blocks of the configuration.
    conf: String,
}

impl Security {
    fn prepare(settings: &Settings, dir: &Path) -> Result<Self, TestkitError> {
        let mut security = Self::default();
        if let Some(mode) = settings.tls {
            let files = tls::generate(dir)?;
            security.conf.push_str(&files.render(mode));
            security.tls = Some(files);
        }
        if let Some(auth) = &settings.auth {
            security.conf.push_str(&auth.render());
            if let Some(text) = auth.credentials_text() {
                let path = dir.join(CREDS_FILE);
                std::fs::write(&path, text)
                    .map_err(|e| TestkitError::io(format!("writing {}", path.display()), e))?;
                security.credentials_file = Some(path);
            }
        }
        Ok(security)
    }
}

impl NatsServer {
    /// Starts a server with the default options (see [`NatsServerBuilder`]).
    ///
    /// # Errors
    ///
    /// As [`NatsServerBuilder::start`].
    pub fn start() -> Result<Self, TestkitError> {
        Self::builder().start()
    }

    /// Options for a server, started with [`NatsServerBuilder::start`].
    pub fn builder() -> NatsServerBuilder {
        NatsServerBuilder::default()
    }

    pub(crate) fn launch(settings: Settings) -> Result<Self, TestkitError> {
        let binary = binary::locate()?;
        let dir = tempfile::Builder::new()
            .prefix("nats-testkit-")
            .tempdir()
            .map_err(|e| TestkitError::io("creating a temporary directory", e))?;
        let store_dir = settings
            .store_dir
            .clone()
            .unwrap_or_else(|| dir.path().join("store"));
        let security = Security::prepare(&settings, dir.path())?;
        let (process, ports) = run(
            &binary,
            &settings,
            dir.path(),
            &store_dir,
            &security.conf,
            None,
        )?;
        Ok(Self {
            log_start: process.log_start(),
            process: Some(process),
            ports,
            binary,
            settings,
            store_dir,
            security,
            dir,
        })
    }

    /// The URL clients connect to: `nats://127.0.0.1:<port>`.
    pub fn client_url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.ports.client)
    }

    /// The client port. It stays the same across restarts.
    pub fn port(&self) -> u16 {
        self.ports.client
    }

    /// The monitoring URL: `http://127.0.0.1:<monitoring port>`.
    pub fn monitoring_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.monitoring)
    }

    /// The monitoring port. It stays the same across restarts.
    pub fn monitoring_port(&self) -> u16 {
        self.ports.monitoring
    }

    /// The JetStream store directory given to the server; it keeps its data
    /// in a `jetstream/` folder inside. It stays the same across restarts.
    pub fn store_dir(&self) -> &Path {
        &self.store_dir
    }

    /// The server's process id, or `None` while it is stopped.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Process::pid)
    }

    /// The server's log file (stdout and stderr of every run, appended).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join(LOG_FILE)
    }

    /// The last lines logged by the current (or last) run.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log_path(), self.log_start)
    }

    /// The certificates of a server started with
    /// [`tls`](NatsServerBuilder::tls) or
    /// [`mutual_tls`](NatsServerBuilder::mutual_tls).
    pub fn tls(&self) -> Option<&TlsFiles> {
        self.security.tls.as_ref()
    }

    /// How clients authenticate, for a server started with
    /// [`auth`](NatsServerBuilder::auth).
    pub fn auth(&self) -> Option<&NatsAuth> {
        self.settings.auth.as_ref()
    }

    /// The user's `.creds` file (JWT and seed), for a server started with
    /// [`NatsAuth::credentials`]. It is deleted with the server's directory.
    pub fn credentials_file(&self) -> Option<&Path> {
        self.security.credentials_file.as_deref()
    }

    /// The configured `server_name`, if one was set.
    pub fn server_name(&self) -> Option<&str> {
        self.settings.server_name.as_deref()
    }

    /// Whether the process is alive; reaps it if it has exited on its own.
    ///
    /// # Errors
    ///
    /// [`TestkitError::Io`] if the process state cannot be read.
    pub fn is_running(&mut self) -> Result<bool, TestkitError> {
        let Some(process) = self.process.as_mut() else {
            return Ok(false);
        };
        if process.exit_status()?.is_some() {
            self.process = None;
            return Ok(false);
        }
        Ok(true)
    }

    /// `Ok(true)` if running, `Ok(false)` if stopped through this handle,
    /// and [`TestkitError::Exited`] if the process died on its own.
    pub(crate) fn check_alive(&mut self) -> Result<bool, TestkitError> {
        let Some(process) = self.process.as_mut() else {
            return Ok(false);
        };
        let Some(status) = process.exit_status()? else {
            return Ok(true);
        };
        let log_tail = self.log_tail();
        self.process = None;
        Err(TestkitError::Exited { status, log_tail })
    }

    /// `GET` a monitoring endpoint such as `/varz`, `/jsz?streams=true` or
    /// `/routez` and parse its JSON.
    ///
    /// # Errors
    ///
    /// [`TestkitError::Io`] if the server does not answer,
    /// [`TestkitError::Http`] for a non-200 status,
    /// [`TestkitError::Malformed`] if the body is not JSON.
    pub fn monitor_json(&self, path: &str) -> Result<serde_json::Value, TestkitError> {
        monitor_json(self.ports.monitoring, path)
    }

    /// Shuts the server down cleanly (SIGTERM, so JetStream flushes its
    /// store), killing it if it takes longer than 10 s. Does nothing if it
    /// is already stopped.
    ///
    /// # Errors
    ///
    /// [`TestkitError::StillRunning`] if the process cannot be made to exit.
    pub fn stop(&mut self) -> Result<(), TestkitError> {
        if let Some(process) = self.process.as_mut() {
            process.terminate(STOP_GRACE)?;
            self.process = None;
        }
        Ok(())
    }

    /// Kills the server at once (SIGKILL), like a crash, and waits until it
    /// is gone. Does nothing if it is already stopped.
    ///
    /// # Errors
    ///
    /// [`TestkitError::StillRunning`] if the process cannot be made to exit.
    pub fn kill(&mut self) -> Result<(), TestkitError> {
        if let Some(process) = self.process.as_mut() {
            process.kill()?;
            self.process = None;
        }
        Ok(())
    }

    /// Starts a stopped server again on the same ports and store directory,
    /// and waits until it is ready.
    ///
    /// # Errors
    ///
    /// [`TestkitError::AlreadyRunning`] if it is running; otherwise as
    /// [`NatsServerBuilder::start`] (a port taken meanwhile by another
    /// process shows up as [`TestkitError::Exited`]).
    pub fn start_again(&mut self) -> Result<(), TestkitError> {
        if let (true, Some(pid)) = (self.is_running()?, self.pid()) {
            return Err(TestkitError::AlreadyRunning { pid });
        }
        let (process, ports) = run(
            &self.binary,
            &self.settings,
            self.dir.path(),
            &self.store_dir,
            &self.security.conf,
            Some(self.ports),
        )?;
        self.log_start = process.log_start();
        self.process = Some(process);
        self.ports = ports;
        Ok(())
    }

    /// [`stop`](Self::stop)s the server, if running, then
    /// [`start_again`](Self::start_again)s it: same ports, same data.
    ///
    /// # Errors
    ///
    /// As [`stop`](Self::stop) and [`start_again`](Self::start_again).
    pub fn restart(&mut self) -> Result<(), TestkitError> {
        self.stop()?;
        self.start_again()
    }
}

/// Writes the configuration, starts the process and waits until it is ready.
/// On failure the process is killed (dropping [`Process`] kills it).
fn run(
    binary: &Binary,
    settings: &Settings,
    dir: &Path,
    store_dir: &Path,
    security: &str,
    known: Option<Ports>,
) -> Result<(Process, Ports), TestkitError> {
    let conf = ServerConf {
        port: known.map(|p| p.client).or(settings.port),
        monitoring_port: known.map(|p| p.monitoring).or(settings.monitoring_port),
        ports_dir: dir,
        server_name: settings.server_name.as_deref(),
        jetstream_store: settings.jetstream.then_some(store_dir),
        cluster: settings.cluster.as_ref(),
        security,
        extra: &settings.config,
    };
    let conf_path = dir.join(CONFIG_FILE);
    std::fs::write(&conf_path, conf.render())
        .map_err(|e| TestkitError::io(format!("writing {}", conf_path.display()), e))?;
    let log = dir.join(LOG_FILE);
    let mut process = Process::spawn(binary, &conf_path, &settings.args, &log, dir)?;
    let deadline = Deadline::after(settings.startup_timeout);
    let outcome = deadline.poll(|| probe_ready(&mut process, settings, dir));
    let tail = |process: &Process| log_tail(&log, process.log_start());
    match outcome {
        Ok(Ok(ports)) => Ok((process, ports)),
        Ok(Err(reason)) => Err(TestkitError::NotReady {
            waited: deadline.elapsed(),
            reason,
            log_tail: tail(&process),
        }),
        Err(ProbeError::Exited(status)) => Err(TestkitError::Exited {
            status,
            log_tail: tail(&process),
        }),
        Err(ProbeError::Fatal(e)) => Err(e),
    }
}

/// Why readiness polling stopped early.
enum ProbeError {
    Exited(std::process::ExitStatus),
    Fatal(TestkitError),
}

impl From<TestkitError> for ProbeError {
    fn from(e: TestkitError) -> Self {
        Self::Fatal(e)
    }
}

/// One readiness check: alive, ports known, healthy, and serving clients.
fn probe_ready(
    process: &mut Process,
    settings: &Settings,
    dir: &Path,
) -> Result<Probe<Ports>, ProbeError> {
    if let Some(status) = process.exit_status()? {
        return Err(ProbeError::Exited(status));
    }
    let Some(ports) = read_ports_file(dir, process.pid())? else {
        return Ok(Probe::NotYet(
            "the server has not written its ports file".to_owned(),
        ));
    };
    let health = match settings.readiness {
        Readiness::Full => "/healthz",
        Readiness::JetStreamEnabled => "/healthz?js-enabled-only=true",
    };
    match http_get(ports.monitoring, health) {
        Ok(reply) if reply.status == 200 => {}
        Ok(reply) => {
            return Ok(Probe::NotYet(format!(
                "GET {health}: HTTP {} {}",
                reply.status,
                reply.body.trim()
            )));
        }
        Err(e) => return Ok(Probe::NotYet(format!("GET {health}: {e}"))),
    }
    let info = match read_info(ports.client) {
        Ok(info) => info,
        Err(e) => return Ok(Probe::NotYet(format!("client port {}: {e}", ports.client))),
    };
    if settings.jetstream && !info_has_jetstream(&info) {
        return Ok(Probe::NotYet(format!("INFO without JetStream: {info}")));
    }
    Ok(Probe::Ready(ports))
}

fn info_has_jetstream(info: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(info)
        .ok()
        .and_then(|v| v.get("jetstream")?.as_bool())
        .unwrap_or(false)
}

/// `GET` a monitoring path and parse the JSON body.
pub(crate) fn monitor_json(port: u16, path: &str) -> Result<serde_json::Value, TestkitError> {
    let reply = http_get(port, path).map_err(|e| TestkitError::io(format!("GET {path}"), e))?;
    if reply.status != 200 {
        return Err(TestkitError::Http {
            path: path.to_owned(),
            status: reply.status,
            body: reply.body,
        });
    }
    serde_json::from_str(&reply.body).map_err(|e| TestkitError::Malformed {
        what: "monitoring JSON",
        detail: format!("GET {path}: {e}"),
    })
}
