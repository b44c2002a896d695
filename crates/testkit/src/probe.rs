//! Plain-TCP probes of a running server: monitoring HTTP, the NATS client
//! `INFO` line, and the RabbitMQ management API (HTTP/1.1 with basic auth).

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

/// One HTTP/1.1 request to a loopback port.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    /// `GET`, `PUT`, `DELETE`, ...
    pub(crate) method: &'a str,
    /// The request target, starting with `/`.
    pub(crate) path: &'a str,
    /// The base64 of `user:password`, sent as `Authorization: Basic ..`.
    pub(crate) basic_auth: Option<&'a str>,
    /// A JSON body.
    pub(crate) body: Option<&'a str>,
    /// Bounds the connect and each read and write.
    pub(crate) timeout: Duration,
}

fn connect(port: u16) -> io::Result<TcpStream> {
    connect_within(port, PROBE_TIMEOUT)
}

fn connect_within(port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    Ok(stream)
}

/// Whether something accepts TCP connections on the loopback `port`.
pub(crate) fn accepts_tcp(port: u16) -> io::Result<()> {
    connect(port).map(drop)
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
    parse_reply(&raw)
}

/// Sends `request` over HTTP/1.1 with `Connection: close` and reads the
/// whole reply (`Content-Length` or chunked bodies).
pub(crate) fn http_request(port: u16, request: &Request<'_>) -> io::Result<HttpReply> {
    let mut stream = connect_within(port, request.timeout)?;
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\n\
         Connection: close\r\n",
        request.method, request.path
    );
    if let Some(auth) = request.basic_auth {
        head.push_str(&format!("Authorization: Basic {auth}\r\n"));
    }
    let body = request.body.unwrap_or("");
    if request.body.is_some() {
        head.push_str("Content-Type: application/json\r\n");
    }
    if request.body.is_some() || matches!(request.method, "PUT" | "POST") {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_reply(&raw)
}

/// Splits an HTTP reply into its status and body, honouring
/// `Content-Length` and `Transfer-Encoding: chunked`.
fn parse_reply(raw: &[u8]) -> io::Result<HttpReply> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| invalid(format!("no header end in HTTP reply {text:?}")))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid(format!("bad HTTP status line in {head:?}")))?;
    let header = |name: &str| {
        head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    };
    let body = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(body)?
    } else if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.get(..len).unwrap_or(body).to_owned()
    } else {
        body.to_owned()
    };
    Ok(HttpReply { status, body })
}

/// Decodes a chunked body (no trailers expected).
fn dechunk(mut rest: &str) -> io::Result<String> {
    let mut body = String::new();
    loop {
        let (size_line, after) = rest
            .split_once("\r\n")
            .ok_or_else(|| invalid(format!("truncated chunk header in {rest:?}")))?;
        let size_text = size_line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| invalid(format!("bad chunk size {size_line:?}")))?;
        if size == 0 {
            return Ok(body);
        }
        let chunk = after
            .get(..size)
            .ok_or_else(|| invalid(format!("truncated chunk of {size} bytes")))?;
        body.push_str(chunk);
        rest = after[size..].strip_prefix("\r\n").unwrap_or(&after[size..]);
    }
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

#[cfg(test)]
mod tests {
    use super::parse_reply;

    #[test]
    fn parses_content_length_and_chunked_replies() -> std::io::Result<()> {
        let plain = parse_reply(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n[]")?;
        assert_eq!((plain.status, plain.body.as_str()), (200, "[]"));
        let chunked = parse_reply(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n",
        )?;
        assert_eq!((chunked.status, chunked.body.as_str()), (200, r#"{"a":1}"#));
        let empty = parse_reply(b"HTTP/1.1 204 No Content\r\ndate: x\r\n\r\n")?;
        assert_eq!((empty.status, empty.body.as_str()), (204, ""));
        let old = parse_reply(b"HTTP/1.0 503 Service Unavailable\r\n\r\nnot yet")?;
        assert_eq!((old.status, old.body.as_str()), (503, "not yet"));
        assert!(parse_reply(b"garbage").is_err());
        Ok(())
    }
}
