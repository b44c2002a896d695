//! Plain-TCP probes of a running server: monitoring HTTP and the client `INFO` line.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// How long one probe may take; the surrounding poll has its own deadline.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// An HTTP answer from the monitoring port.
#[derive(Debug)]
pub(crate) struct HttpReply {
    pub(crate) status: u16,
    pub(crate) body: String,
}

fn connect(port: u16) -> io::Result<TcpStream> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let stream = TcpStream::connect_timeout(&addr, PROBE_TIMEOUT)?;
    stream.set_read_timeout(Some(PROBE_TIMEOUT))?;
    stream.set_write_timeout(Some(PROBE_TIMEOUT))?;
    Ok(stream)
}

fn invalid(detail: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, detail)
}

/// `GET path` on the loopback monitoring port, over HTTP/1.0 so the server
/// closes the connection and the body is simply the rest of the stream.
pub(crate) fn http_get(port: u16, path: &str) -> io::Result<HttpReply> {
    let mut stream = connect(port)?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| invalid(format!("no header end in HTTP reply {text:?}")))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid(format!("bad HTTP status line in {head:?}")))?;
    Ok(HttpReply {
        status,
        body: body.to_owned(),
    })
}

/// Connects to the client port and returns the JSON of the server's `INFO` line.
pub(crate) fn read_info(port: u16) -> io::Result<String> {
    let stream = connect(port)?;
    let mut line = String::new();
    // INFO is a few hundred bytes; the cap guards against a non-NATS peer.
    BufReader::new(stream)
        .take(64 * 1024)
        .read_line(&mut line)?;
    line.strip_prefix("INFO ")
        .map(|json| json.trim_end().to_owned())
        .ok_or_else(|| invalid(format!("expected an INFO line, got {line:?}")))
}
