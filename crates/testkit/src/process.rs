//! One server child process (`nats-server`, `rabbitmq-server`, `epmd`):
//! spawn, signal, reap, and its log.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::binary::Binary;
use crate::error::TestkitError;
use crate::wait::{Deadline, Probe};

/// How long a killed process may take to disappear.
const REAP_TIMEOUT: Duration = Duration::from_secs(10);
/// How many log lines an error carries.
const TAIL_LINES: usize = 40;

/// Which program a [`Process`] runs, for its error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Program {
    /// `nats-server`.
    NatsServer,
    /// The `rabbitmq-server` script, which `exec`s the Erlang VM.
    RabbitMq,
    /// The Erlang port mapper daemon a RabbitMQ node registers with.
    Epmd,
}

impl Program {
    /// The name used in messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::NatsServer => "nats-server",
            Self::RabbitMq => "rabbitmq-server",
            Self::Epmd => "epmd",
        }
    }
}

/// A running (or just exited, not yet reaped) server process.
#[derive(Debug)]
pub(crate) struct Process {
    child: Child,
    /// Where this run's output starts in the (appended) log file.
    log_start: u64,
    program: Program,
    /// Whether the child leads its own process group, which signals then reach.
    own_group: bool,
}

impl Process {
    /// Starts `nats-server -c config [args]` with both output streams
    /// appended to `log`.
    pub(crate) fn spawn(
        bin: &Binary,
        config: &Path,
        args: &[OsString],
        log: &Path,
        cwd: &Path,
    ) -> Result<Self, TestkitError> {
        let mut command = Command::new(&bin.program);
        command.arg("-c").arg(config).args(args).current_dir(cwd);
        Self::spawn_command(command, log, Program::NatsServer, false)
    }

    /// Starts a prepared `command` with stdin closed and both output streams
    /// appended to `log`. With `own_group` (Unix) the child leads a new
    /// process group, and [`kill`](Self::kill) and
    /// [`terminate`](Self::terminate) signal that whole group.
    pub(crate) fn spawn_command(
        mut command: Command,
        log: &Path,
        program: Program,
        own_group: bool,
    ) -> Result<Self, TestkitError> {
        let open = || {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .map_err(|e| TestkitError::io(format!("opening {}", log.display()), e))
        };
        let stdout = open()?;
        let log_start = stdout
            .metadata()
            .map_err(|e| TestkitError::io(format!("reading {}", log.display()), e))?
            .len();
        let stderr = open()?;
        #[cfg(unix)]
        if own_group {
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| {
                TestkitError::io(
                    format!("starting {}", command.get_program().to_string_lossy()),
                    e,
                )
            })?;
        Ok(Self {
            child,
            log_start,
            program,
            own_group: own_group && cfg!(unix),
        })
    }

    /// The operating-system process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Where this run's output starts in the log file.
    pub(crate) fn log_start(&self) -> u64 {
        self.log_start
    }

    /// The exit status if the process has exited (reaping it), else `None`.
    pub(crate) fn exit_status(&mut self) -> Result<Option<ExitStatus>, TestkitError> {
        self.child
            .try_wait()
            .map_err(|e| TestkitError::io(format!("checking the {} process", self.name()), e))
    }

    /// Kills the process at once (SIGKILL) and reaps it.
    pub(crate) fn kill(&mut self) -> Result<ExitStatus, TestkitError> {
        if let Some(status) = self.exit_status()? {
            return Ok(status);
        }
        if !self.signal_group(GroupSignal::Kill) {
            self.child
                .kill()
                .map_err(|e| TestkitError::io(format!("killing {}", self.name()), e))?;
        }
        self.reap(REAP_TIMEOUT)
    }

    /// Asks the server to shut down cleanly (SIGTERM: JetStream flushes its
    /// stores), and kills it if it has not exited within `grace`.
    pub(crate) fn terminate(&mut self, grace: Duration) -> Result<ExitStatus, TestkitError> {
        if let Some(status) = self.exit_status()? {
            return Ok(status);
        }
        if self.send_term()
            && let Ok(status) = self.reap(grace)
        {
            return Ok(status);
        }
        self.kill()
    }

    #[cfg(unix)]
    fn send_term(&self) -> bool {
        use rustix::process::{Pid, Signal, kill_process};
        self.signal_group(GroupSignal::Term)
            || kill_process(Pid::from_child(&self.child), Signal::TERM).is_ok()
    }

    /// Signals the child's process group, if it leads one; `false` if it
    /// does not or the signal could not be sent.
    #[cfg(unix)]
    fn signal_group(&self, signal: GroupSignal) -> bool {
        use rustix::process::{Pid, Signal, kill_process_group};
        let signal = match signal {
            GroupSignal::Term => Signal::TERM,
            GroupSignal::Kill => Signal::KILL,
        };
        self.own_group && kill_process_group(Pid::from_child(&self.child), signal).is_ok()
    }

    #[cfg(not(unix))]
    fn signal_group(&self, _signal: GroupSignal) -> bool {
        false
    }

    fn name(&self) -> &'static str {
        self.program.name()
    }

    #[cfg(not(unix))]
    fn send_term(&self) -> bool {
        false
    }

    fn reap(&mut self, timeout: Duration) -> Result<ExitStatus, TestkitError> {
        let deadline = Deadline::after(timeout);
        let reaped = deadline.poll(|| {
            Ok::<_, TestkitError>(match self.exit_status()? {
                Some(status) => Probe::Ready(status),
                None => Probe::NotYet(String::new()),
            })
        })?;
        reaped.map_err(|_| match self.program {
            Program::NatsServer => TestkitError::StillRunning {
                pid: self.pid(),
                waited: deadline.elapsed(),
            },
            Program::RabbitMq | Program::Epmd => TestkitError::RabbitStillRunning {
                program: self.name(),
                pid: self.pid(),
                waited: deadline.elapsed(),
            },
        })
    }
}

/// The signals sent to a process group.
#[derive(Debug, Clone, Copy)]
enum GroupSignal {
    Term,
    Kill,
}

impl Drop for Process {
    fn drop(&mut self) {
        // Never leave an orphan server, also when a test panics.
        let _ = self.kill();
    }
}

/// The last lines logged since byte `from`, for error messages.
pub(crate) fn log_tail(log: &Path, from: u64) -> String {
    let read = || -> std::io::Result<String> {
        let mut file = File::open(log)?;
        file.seek(SeekFrom::Start(from))?;
        let mut raw = Vec::new();
        file.read_to_end(&mut raw)?;
        Ok(String::from_utf8_lossy(&raw).into_owned())
    };
    match read() {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            let skip = lines.len().saturating_sub(TAIL_LINES);
            lines[skip..].join("\n")
        }
        Err(e) => format!("(log {} unreadable: {e})", log.display()),
    }
}
