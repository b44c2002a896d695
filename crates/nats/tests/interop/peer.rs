//! The Go peer (`interop/go-peer`): built once per test run with the machine's Go, then
//! run as a subprocess whose one JSON line on stdout the tests assert on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::OnceCell;
use tokio::task::JoinHandle;

/// Bound on building the peer: a fresh module cache downloads nats.go through the proxy
/// and compiles it on a busy 2-core machine.
const BUILD_TIMEOUT: Duration = Duration::from_secs(300);
/// Bound on one peer run (each command also has its own `--timeout`).
const RUN_TIMEOUT: Duration = Duration::from_secs(30);
/// What `serve` prints on stderr once its subscription is on the server.
const READY_LINE: &str = "go-peer: ready";

/// The built peer, or `None` when Go is missing outside CI.
static PEER: OnceCell<Option<GoPeer>> = OnceCell::const_new();

/// A built `go-peer` executable.
#[derive(Debug, Clone)]
pub(crate) struct GoPeer {
    bin: PathBuf,
}

/// The peer, built on first use. `None` (after printing `SKIPPED`) when `go` is not
/// installed and `CI` is not `true`; under `CI=true` a missing Go fails the test.
pub(crate) async fn go_peer() -> Option<GoPeer> {
    let peer = PEER.get_or_init(build).await.clone();
    if peer.is_none() {
        eprintln!("SKIPPED: `go` is not installed; the Go interop tests need it");
    }
    peer
}

fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/go-peer")
}

async fn build() -> Option<GoPeer> {
    match Command::new("go").arg("version").output().await {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                !messaging_testkit::in_ci(),
                "`go` is not installed but CI=true: the Go interop tests must run"
            );
            return None;
        }
        Err(e) => panic!("running `go version`: {e}"),
        Ok(_) => {}
    }
    // Under target/, so `cargo clean` removes it; Go's own build cache makes rebuilds
    // cheap, so it is rebuilt once per test run and is never stale.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-peer");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("creating {}: {e}", dir.display());
    }
    let bin = dir.join("go-peer");
    // Built beside the final path and renamed: another test process may be running the
    // previous binary or building at the same time.
    let partial = dir.join(format!("go-peer.{}.partial", std::process::id()));
    let mut cmd = Command::new("go");
    cmd.args(["build", "-buildvcs=false", "-o"])
        .arg(&partial)
        .arg(".")
        .current_dir(source_dir())
        .kill_on_drop(true);
    go_cache_env(&mut cmd, &dir);
    let output = match tokio::time::timeout(BUILD_TIMEOUT, cmd.output()).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => panic!("running `go build`: {e}"),
        Err(_) => panic!("`go build` of the Go peer took longer than {BUILD_TIMEOUT:?}"),
    };
    assert!(
        output.status.success(),
        "`go build` of {} failed ({}):\n{}",
        source_dir().display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    if let Err(e) = std::fs::rename(&partial, &bin) {
        panic!("moving the Go peer to {}: {e}", bin.display());
    }
    Some(GoPeer { bin })
}

/// Go keeps its caches under `$HOME`; without a home (some CI shells), keep them under
/// target/ instead of failing.
fn go_cache_env(cmd: &mut Command, dir: &Path) {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    if set("HOME") {
        return;
    }
    if !set("GOCACHE") && !set("XDG_CACHE_HOME") {
        cmd.env("GOCACHE", dir.join("cache"));
    }
    if !set("GOPATH") && !set("GOMODCACHE") {
        cmd.env("GOPATH", dir.join("gopath"));
    }
}

impl GoPeer {
    /// The peer's commands against the server at `url`.
    pub(crate) fn on(&self, url: &str) -> Peer {
        Peer {
            bin: self.bin.clone(),
            url: url.to_owned(),
        }
    }
}

/// One message as the peer saw or sent it: headers with every value, keys in wire case.
#[derive(Debug, Deserialize)]
pub(crate) struct WireMessage {
    pub(crate) subject: String,
    pub(crate) headers: BTreeMap<String, Vec<String>>,
    /// The exact body bytes (JSON text).
    pub(crate) body: String,
    /// JetStream delivery count (0 for Core messages).
    #[serde(default)]
    pub(crate) delivered: u64,
}

/// What `publish` printed.
#[derive(Debug, Deserialize)]
pub(crate) struct Published {
    pub(crate) stream_created: bool,
    pub(crate) published: Vec<WireMessage>,
}

/// What `consume` printed.
#[derive(Debug, Deserialize)]
pub(crate) struct Consumed {
    /// The consumer config as the server reported it after create-or-update.
    pub(crate) consumer: serde_json::Value,
    pub(crate) messages: Vec<WireMessage>,
}

/// What `serve` printed.
#[derive(Debug, Deserialize)]
pub(crate) struct Served {
    pub(crate) subject: String,
    pub(crate) requests: Vec<WireMessage>,
    /// The reply body sent for each request.
    pub(crate) replies: Vec<String>,
}

/// What `request` printed.
#[derive(Debug, Deserialize)]
pub(crate) struct Requested {
    pub(crate) request: WireMessage,
    pub(crate) reply: WireMessage,
}

/// The peer's commands against one server.
#[derive(Debug)]
pub(crate) struct Peer {
    bin: PathBuf,
    url: String,
}

impl Peer {
    /// `publish`: `extra` adds flags such as `--count`.
    pub(crate) async fn publish(
        &self,
        service: &str,
        key: &str,
        body: &str,
        extra: &[&str],
    ) -> Published {
        let args = [
            "publish",
            "--service",
            service,
            "--key",
            key,
            "--body",
            body,
        ];
        self.run(&[&args[..], extra].concat()).await
    }

    /// `consume`: `extra` is `--expect N` or `--drain`, plus any other flags.
    pub(crate) async fn consume(&self, service: &str, key: &str, extra: &[&str]) -> Consumed {
        let args = ["consume", "--service", service, "--key", key];
        self.run(&[&args[..], extra].concat()).await
    }

    /// `serve`, returned once its subscription is on the server; `extra` is
    /// `--reply JSON` or `--error TEXT`, plus any other flags.
    pub(crate) async fn serve(&self, service: &str, key: &str, extra: &[&str]) -> Running {
        let args = ["serve", "--service", service, "--key", key];
        self.spawn_ready(&[&args[..], extra].concat()).await
    }

    /// `request`.
    pub(crate) async fn request(
        &self,
        service: &str,
        target: &str,
        key: &str,
        body: &str,
    ) -> Requested {
        let args = [
            "request",
            "--service",
            service,
            "--target",
            target,
            "--key",
            key,
            "--body",
            body,
        ];
        self.run(&args).await
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        // The command name first, then the URL, then the rest.
        cmd.args(&args[..1])
            .args(["--url", self.url.as_str()])
            .args(&args[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Runs a command to completion and returns its JSON result; panics with its stderr
    /// when it fails (a mismatch the peer found) or prints no JSON.
    async fn run<T: DeserializeOwned>(&self, args: &[&str]) -> T {
        let output = match tokio::time::timeout(RUN_TIMEOUT, self.command(args).output()).await {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => panic!("running go-peer {args:?}: {e}"),
            Err(_) => panic!("go-peer {args:?} did not finish within {RUN_TIMEOUT:?}"),
        };
        result(
            args,
            output.status.success(),
            &output.stdout,
            &String::from_utf8_lossy(&output.stderr),
        )
    }

    /// Starts a long-running command and returns once it reports that its subscription is
    /// on the server.
    async fn spawn_ready(&self, args: &[&str]) -> Running {
        let mut child = match self.command(args).spawn() {
            Ok(c) => c,
            Err(e) => panic!("starting go-peer {args:?}: {e}"),
        };
        let Some(stderr) = child.stderr.take() else {
            panic!("go-peer stderr is not piped")
        };
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = String::new();
        let ready = tokio::time::timeout(RUN_TIMEOUT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line == READY_LINE {
                    return true;
                }
                seen.push_str(&line);
                seen.push('\n');
            }
            false
        })
        .await;
        assert!(
            matches!(ready, Ok(true)),
            "go-peer {args:?} did not become ready:\n{seen}"
        );
        // Keep draining stderr so the peer never blocks on a full pipe.
        let rest = tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                seen.push_str(&line);
                seen.push('\n');
            }
            seen
        });
        Running {
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            child,
            stderr: rest,
        }
    }
}

/// A peer command running in the background.
#[derive(Debug)]
pub(crate) struct Running {
    args: Vec<String>,
    child: Child,
    stderr: JoinHandle<String>,
}

impl Running {
    /// Waits for the command to exit and returns its JSON result (panics as
    /// [`GoPeer::run`]).
    pub(crate) async fn finish<T: DeserializeOwned>(mut self) -> T {
        let Some(mut stdout) = self.child.stdout.take() else {
            panic!("go-peer stdout is not piped")
        };
        let done = tokio::time::timeout(RUN_TIMEOUT, async {
            let mut out = Vec::new();
            let read = stdout.read_to_end(&mut out).await;
            let status = self.child.wait().await;
            (read.map(|_| out), status)
        })
        .await;
        let (out, status) = match done {
            Ok((Ok(out), Ok(status))) => (out, status),
            Ok((Err(e), _) | (_, Err(e))) => panic!("waiting for go-peer {:?}: {e}", self.args),
            Err(_) => panic!(
                "go-peer {:?} did not exit within {RUN_TIMEOUT:?}",
                self.args
            ),
        };
        let stderr = self.stderr.await.unwrap_or_default();
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        result(&args, status.success(), &out, &stderr)
    }
}

fn result<T: DeserializeOwned>(args: &[&str], success: bool, stdout: &[u8], stderr: &str) -> T {
    let stdout = String::from_utf8_lossy(stdout);
    assert!(
        success,
        "go-peer {args:?} failed:\n{stderr}\nstdout: {stdout}"
    );
    match serde_json::from_str(stdout.trim()) {
        Ok(v) => v,
        Err(e) => panic!(
            "go-peer {args:?} printed no JSON result of the expected shape ({e}): {stdout:?}\n{stderr}"
        ),
    }
}
