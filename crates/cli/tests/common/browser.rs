//! Headless Chromium and a localhost file server, for the tests that render pages.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

/// The longest a Chromium run may take.
pub const CHROMIUM_LIMIT: Duration = Duration::from_secs(60);

/// Loads `url` in headless Chromium and returns the DOM after scripts ran.
pub fn chromium_dom(root: &Path, url: &str) -> Result<String, String> {
    let profile = tempfile::tempdir_in(root).map_err(|e| format!("profile dir: {e}"))?;
    let mut cmd = Command::new("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--virtual-time-budget=10000",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(["--dump-dom", url]);
    run_bounded(&mut cmd, CHROMIUM_LIMIT).map_err(|e| format!("chromium on {url}: {e}"))
}

/// Runs `cmd` to completion within `limit`, killing it otherwise. Ok(stdout) on success.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Result<String, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start: {e}"))?;
    let (tx, rx) = mpsc::channel();
    for (stream, pipe) in [
        (
            0,
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ),
        (
            1,
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ),
    ] {
        let tx = tx.clone();
        thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            let _ = tx.send((stream, text));
        });
    }
    let deadline = Instant::now() + limit;
    let mut outputs = [None, None];
    while outputs.iter().any(Option::is_none) {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok((i, text)) => outputs[i] = Some(text),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("killed after {limit:?}"));
            }
        }
    }
    let [stdout, stderr] = outputs.map(Option::unwrap_or_default);
    let status: ExitStatus = child.wait().map_err(|e| e.to_string())?;
    if status.success() {
        Ok(stdout)
    } else {
        Err(format!("{status}; stderr:\n{stderr}"))
    }
}

/// A static file server for `root` on an ephemeral localhost port, one thread per
/// connection; it lives as long as the test process.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Serves `root`.
    pub fn start(root: PathBuf) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (root, log) = (root.clone(), Arc::clone(&log));
                thread::spawn(move || {
                    let _ = respond(&root, stream, &log);
                });
            }
        });
        Ok(Self { addr, requests })
    }

    /// Every path requested so far.
    pub fn paths(&self) -> Vec<String> {
        self.requests.lock().expect("request log").clone()
    }

    /// Whether any request's path satisfied `pred`.
    pub fn requested(&self, pred: impl Fn(&str) -> bool) -> bool {
        self.requests
            .lock()
            .expect("request log")
            .iter()
            .any(|p| pred(p))
    }
}

fn respond(root: &Path, mut stream: TcpStream, log: &Mutex<Vec<String>>) -> io::Result<()> {
    // Browsers open speculative connections that never send a request.
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    // Closed without a request (a speculative connection, when the browser exits): not a
    // fetch. It used to be logged as `/`, and a CI run failed on it.
    if reader.read_line(&mut request_line)? == 0 {
        return Ok(());
    }
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("/");
    let path = target
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .to_owned();
    if let Ok(mut log) = log.lock() {
        log.push(path.clone());
    }
    let rel = path.trim_start_matches('/');
    let body = if rel.split('/').any(|part| part == "..") {
        None
    } else {
        std::fs::read(root.join(rel)).ok()
    };
    let head = match &body {
        Some(body) => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            content_type(&path),
            body.len()
        ),
        None => {
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned()
        }
    };
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_deref().unwrap_or_default())?;
    stream.flush()
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        // Module scripts are refused unless served with a JavaScript MIME type.
        Some("mjs" | "js") => "text/javascript",
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}
