//! Rendering a `visualize --html` page in headless Chromium, with Mermaid from a local npm
//! install served on localhost (the page itself is self-contained but for Mermaid).
//! Without chromium or npm, `Browser::find` prints SKIPPED and returns `None`, except
//! under `CI=true`, where it fails.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const CHROMIUM_LIMIT: Duration = Duration::from_secs(60);
const NPM_LIMIT: Duration = Duration::from_secs(180);
const MERMAID_PATH: &str = "/node_modules/mermaid/dist/mermaid.esm.min.mjs";

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Chromium plus a localhost file server for a temporary directory holding Mermaid.
pub(crate) struct Browser {
    dir: tempfile::TempDir,
    addr: SocketAddr,
}

impl Browser {
    /// Installs Mermaid and starts serving; `None` (skipped) without the tools.
    pub(crate) fn find() -> Result<Option<Self>, Error> {
        if let Err(reason) = run_bounded(Command::new("chromium").arg("--version"), CHROMIUM_LIMIT)
        {
            return skip(&format!("chromium unavailable: {reason}"));
        }
        let dir = tempfile::tempdir()?;
        let mut npm = Command::new("npm");
        npm.args([
            "install",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            "--prefix",
        ])
        .arg(dir.path())
        .arg("mermaid@11");
        if let Err(reason) = run_bounded(&mut npm, NPM_LIMIT) {
            return skip(&format!("npm install mermaid@11 failed: {reason}"));
        }
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let root = dir.path().to_owned();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let root = root.clone();
                thread::spawn(move || {
                    let _ = respond(&root, stream);
                });
            }
        });
        Ok(Some(Self { dir, addr }))
    }

    /// The served directory.
    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Where pages load Mermaid from.
    pub(crate) fn mermaid_src(&self) -> String {
        format!("http://{}{MERMAID_PATH}", self.addr)
    }

    /// Renders `page` (relative to the root) and returns the ids of the drawn nodes, sorted,
    /// failing if one is drawn twice.
    pub(crate) fn node_ids(&self, page: &str) -> Result<Vec<String>, Error> {
        let profile = tempfile::tempdir_in(self.root())?;
        let mut cmd = Command::new("chromium");
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--dump-dom", &format!("http://{}/{page}", self.addr)]);
        let dom = run_bounded(&mut cmd, CHROMIUM_LIMIT)?;
        let start = dom
            .find("<svg")
            .ok_or_else(|| format!("no <svg> in the DOM:\n{dom}"))?;
        let mut ids = Vec::new();
        for (at, _) in dom[start..].match_indices("<g class=\"node ") {
            let tag = &dom[start + at..];
            let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
            let id = tag
                .split_once(" id=\"")
                .and_then(|(_, rest)| rest.split_once('"'))
                .map(|(id, _)| id)
                .ok_or("a node without an id")?;
            // `<prefix>-flowchart-<id>-<n>`
            let id = id.split_once("-flowchart-").map_or(id, |(_, rest)| rest);
            let id = id.rsplit_once('-').map_or(id, |(name, _)| name);
            ids.push(id.to_owned());
        }
        let drawn = ids.len();
        ids.sort();
        ids.dedup();
        if ids.len() != drawn {
            return Err(format!("a node was drawn twice: {drawn} nodes for {ids:?}").into());
        }
        Ok(ids)
    }
}

fn skip(reason: &str) -> Result<Option<Browser>, Error> {
    if messaging_testkit::in_ci() {
        return Err(format!("{reason} (required under CI=true)").into());
    }
    println!("SKIPPED: {reason}");
    Ok(None)
}

/// Runs `cmd` within `limit` (killed otherwise); its stdout on success.
fn run_bounded(cmd: &mut Command, limit: Duration) -> Result<String, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start: {e}"))?;
    let (tx, rx) = mpsc::channel();
    let pipes: [Option<Box<dyn Read + Send>>; 2] = [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    ];
    for (i, pipe) in pipes.into_iter().enumerate() {
        let tx = tx.clone();
        thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            let _ = tx.send((i, text));
        });
    }
    let deadline = Instant::now() + limit;
    let mut out = [None, None];
    while out.iter().any(Option::is_none) {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok((i, text)) => out[i] = Some(text),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("killed after {limit:?}"));
            }
        }
    }
    let [stdout, stderr] = out.map(Option::unwrap_or_default);
    let status = child.wait().map_err(|e| e.to_string())?;
    if status.success() {
        Ok(stdout)
    } else {
        Err(format!("{status}; stderr:\n{stderr}"))
    }
}

fn respond(root: &Path, mut stream: TcpStream) -> io::Result<()> {
    // Browsers open speculative connections that never send a request.
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("/");
    let path = target.split(['?', '#']).next().unwrap_or_default();
    let rel = path.trim_start_matches('/');
    let body: Option<Vec<u8>> = if rel.split('/').any(|p| p == "..") {
        None
    } else {
        std::fs::read(PathBuf::from(root).join(rel)).ok()
    };
    let kind = match path.rsplit_once('.').map(|(_, ext)| ext) {
        // Module scripts are refused unless served with a JavaScript MIME type.
        Some("mjs" | "js") => "text/javascript",
        Some("html") => "text/html; charset=utf-8",
        _ => "application/octet-stream",
    };
    match body {
        Some(body) => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            stream.write_all(&body)?;
        }
        None => stream.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )?,
    }
    stream.flush()
}
