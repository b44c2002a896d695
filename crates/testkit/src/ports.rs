//! Learning the ports a server picked, and picking free ones ourselves.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use crate::error::TestkitError;

/// The ports a running server listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ports {
    pub(crate) client: u16,
    pub(crate) monitoring: u16,
}

/// Reads the ports file `nats-server` writes once it listens
/// (`<executable>_<pid>.ports` in `ports_file_dir`).
///
/// `None` while the file is missing or still being written.
pub(crate) fn read_ports_file(dir: &Path, pid: u32) -> Result<Option<Ports>, TestkitError> {
    let suffix = format!("_{pid}.ports");
    let entries = std::fs::read_dir(dir)
        .map_err(|e| TestkitError::io(format!("listing {}", dir.display()), e))?;
    let Some(path) = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().ends_with(&suffix))
        })
    else {
        return Ok(None);
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    Ok(parse_ports(&text))
}

/// Parses `{"nats":["nats://127.0.0.1:4222"],"monitoring":["http://127.0.0.1:8222"]}`.
fn parse_ports(text: &str) -> Option<Ports> {
    let json: serde_json::Value = serde_json::from_str(text).ok()?;
    let port_of = |key: &str| -> Option<u16> {
        let url = json.get(key)?.get(0)?.as_str()?;
        url.rsplit_once(':')?.1.parse().ok()
    };
    Some(Ports {
        client: port_of("nats")?,
        monitoring: port_of("monitoring")?,
    })
}

/// Ports recently handed out by [`free_ports`], so two servers started at
/// once by one test process never get the same port before binding it.
static HANDED_OUT: Mutex<VecDeque<u16>> = Mutex::new(VecDeque::new());
/// How many handed-out ports are remembered.
const REMEMBERED: usize = 4096;
/// Bound on ports skipped in one call (each holds a socket until it returns).
const MAX_SKIPPED: usize = 64;

/// Finds `count` distinct free loopback ports.
///
/// The listeners are held together so the ports differ, then released for
/// the server to bind. Ports handed out recently by this process are
/// skipped, so servers started concurrently by one test binary do not
/// collide. Another process could still take one in between; callers
/// retry when the server then fails to start.
pub(crate) fn free_ports(count: usize) -> Result<Vec<u16>, TestkitError> {
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
    let mut listeners = Vec::with_capacity(count);
    let mut ports = Vec::with_capacity(count);
    // Skipped listeners stay bound until the end, so the kernel offers others.
    let mut skipped = Vec::new();
    while ports.len() < count {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| TestkitError::io("reserving loopback ports", e))?;
        let port = listener
            .local_addr()
            .map_err(|e| TestkitError::io("reading a reserved port", e))?
            .port();
        if handed_out.contains(&port) && skipped.len() < MAX_SKIPPED {
            skipped.push(listener);
            continue;
        }
        ports.push(port);
        listeners.push(listener);
    }
    for port in &ports {
        if handed_out.len() == REMEMBERED {
            handed_out.pop_front();
        }
        handed_out.push_back(*port);
    }
    Ok(ports)
}

/// A free loopback port, for a test that points a client at a port before any server
/// listens there, then starts one on it with
/// [`NatsServerBuilder::port`](crate::NatsServerBuilder::port).
///
/// Like the ports the harness picks for itself, it is not handed out again by this
/// process for a while; another process could still take it in between.
///
/// # Errors
/// [`TestkitError::Io`] when no loopback port can be reserved.
pub fn free_port() -> Result<u16, TestkitError> {
    let mut ports = free_ports(1)?;
    ports.pop().ok_or_else(|| {
        TestkitError::io(
            "reserving a loopback port",
            std::io::Error::other("no port reserved"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::{Ports, free_port, free_ports, parse_ports};

    #[test]
    fn parses_ports_file() {
        let text = r#"{"nats":["nats://127.0.0.1:34321"],"monitoring":["http://127.0.0.1:37513"],"cluster":["nats://127.0.0.1:15000"]}"#;
        assert_eq!(
            parse_ports(text),
            Some(Ports {
                client: 34321,
                monitoring: 37513
            })
        );
        assert_eq!(parse_ports(r#"{"nats":["nats://127.0.0.1:1"]"#), None);
        assert_eq!(parse_ports(r#"{"nats":["nats://127.0.0.1:1"]}"#), None);
    }

    #[test]
    fn free_ports_are_distinct() -> Result<(), crate::TestkitError> {
        let mut ports = free_ports(5)?;
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 5);
        assert!(ports.iter().all(|p| *p != 0));
        Ok(())
    }

    #[test]
    fn a_free_port_is_not_handed_out_again() -> Result<(), crate::TestkitError> {
        let one = free_port()?;
        assert_ne!(one, 0);
        assert!(!free_ports(4)?.contains(&one));
        Ok(())
    }

    #[test]
    fn free_ports_are_not_handed_out_twice() -> Result<(), crate::TestkitError> {
        let first = free_ports(4)?;
        let second = free_ports(4)?;
        assert!(
            first.iter().all(|p| !second.contains(p)),
            "{first:?} {second:?}"
        );
        Ok(())
    }
}
