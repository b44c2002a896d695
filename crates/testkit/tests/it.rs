//! Integration tests of the harness against the real `nats-server`.

use std::error::Error;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use messaging_testkit::{NatsCluster, NatsServer, TestkitError};
use serde_json::Value;

type TestResult = Result<(), Box<dyn Error>>;

const IO_TIMEOUT: Duration = Duration::from_secs(10);

fn connect(port: u16) -> io::Result<(TcpStream, BufReader<TcpStream>)> {
    let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    let reader = BufReader::new(stream.try_clone()?);
    Ok((stream, reader))
}

/// The JSON of the `INFO` line a client receives on connect.
fn info(port: u16) -> Result<Value, Box<dyn Error>> {
    let (_stream, mut reader) = connect(port)?;
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let json = line.strip_prefix("INFO ").ok_or("no INFO line")?;
    Ok(serde_json::from_str(json)?)
}

/// A core-NATS request over the raw protocol; returns the reply payload.
fn request(port: u16, subject: &str, body: &str) -> Result<Value, Box<dyn Error>> {
    let (mut stream, mut reader) = connect(port)?;
    let mut line = String::new();
    reader.read_line(&mut line)?;
    write!(
        stream,
        "CONNECT {{\"verbose\":false,\"pedantic\":false}}\r\nSUB _INBOX.testkit 1\r\n\
         PUB {subject} _INBOX.testkit {}\r\n{body}\r\n",
        body.len()
    )?;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err("connection closed before the reply".into());
        }
        if line.starts_with("PING") {
            stream.write_all(b"PONG\r\n")?;
        } else if line.starts_with("-ERR") {
            return Err(line.clone().into());
        } else if line.starts_with("MSG ") {
            let size: usize = line
                .split_whitespace()
                .last()
                .ok_or("MSG without size")?
                .parse()?;
            let mut payload = vec![0; size + 2];
            reader.read_exact(&mut payload)?;
            payload.truncate(size);
            return Ok(serde_json::from_slice(&payload)?);
        }
    }
}

fn create_stream_with_one_message(server: &NatsServer) -> TestResult {
    let created = request(
        server.port(),
        "$JS.API.STREAM.CREATE.ORDERS",
        r#"{"name":"ORDERS","subjects":["orders.>"],"storage":"file"}"#,
    )?;
    assert_eq!(created["config"]["name"], "ORDERS", "{created}");
    let ack = request(server.port(), "orders.created", r#"{"id":1}"#)?;
    assert_eq!(ack["stream"], "ORDERS", "{ack}");
    assert_eq!(ack["seq"], 1, "{ack}");
    Ok(())
}

fn jsz_counts(server: &NatsServer) -> Result<(u64, u64), Box<dyn Error>> {
    let jsz = server.monitor_json("/jsz")?;
    let streams = jsz["streams"].as_u64().ok_or("no streams count")?;
    let messages = jsz["messages"].as_u64().ok_or("no messages count")?;
    Ok((streams, messages))
}

fn assert_refused(port: u16) {
    let outcome = TcpStream::connect((Ipv4Addr::LOCALHOST, port));
    assert_eq!(
        outcome.map_err(|e| e.kind()).err(),
        Some(io::ErrorKind::ConnectionRefused),
        "port {port} should refuse connections"
    );
}

#[cfg(unix)]
fn process_exists(pid: u32) -> bool {
    use rustix::process::{Pid, test_kill_process};
    let raw = i32::try_from(pid).ok().and_then(Pid::from_raw);
    raw.is_some_and(|pid| test_kill_process(pid).is_ok())
}

#[test]
fn start_serves_jetstream_clients() -> TestResult {
    let server = NatsServer::start()?;
    let port = server.port();
    assert_eq!(server.client_url(), format!("nats://127.0.0.1:{port}"));
    assert_eq!(
        server.monitoring_url(),
        format!("http://127.0.0.1:{}", server.monitoring_port())
    );
    assert_ne!(port, server.monitoring_port());
    let info = info(port)?;
    assert_eq!(info["jetstream"], true, "{info}");
    assert_eq!(info["port"], port, "{info}");
    let varz = server.monitor_json("/varz")?;
    assert_eq!(varz["port"], port, "{varz}");
    let store = server.store_dir().join("jetstream");
    assert_eq!(
        varz["jetstream"]["config"]["store_dir"],
        store.to_string_lossy().as_ref()
    );
    assert!(server.pid().is_some());
    assert!(server.log_tail().contains("Server is ready"));
    Ok(())
}

#[test]
fn restart_keeps_port_store_and_data() -> TestResult {
    let mut server = NatsServer::start()?;
    let (port, monitoring, store) = (
        server.port(),
        server.monitoring_port(),
        server.store_dir().to_path_buf(),
    );
    let first_pid = server.pid();
    create_stream_with_one_message(&server)?;

    server.restart()?;
    assert_eq!(server.port(), port);
    assert_eq!(server.monitoring_port(), monitoring);
    assert_eq!(server.store_dir(), store);
    assert!(server.pid().is_some());
    assert_ne!(server.pid(), first_pid);
    assert_eq!(info(port)?["jetstream"], true);
    assert_eq!(jsz_counts(&server)?, (1, 1));
    Ok(())
}

#[test]
fn kill_refuses_connections_until_started_again() -> TestResult {
    let mut server = NatsServer::start()?;
    let port = server.port();
    create_stream_with_one_message(&server)?;
    let pid = server.pid().ok_or("no pid")?;

    server.kill()?;
    assert_eq!(server.pid(), None);
    assert!(!server.is_running()?);
    assert_refused(port);
    #[cfg(unix)]
    assert!(!process_exists(pid));
    server.kill()?; // idempotent

    server.start_again()?;
    assert!(server.is_running()?);
    assert_eq!(server.port(), port);
    assert_eq!(info(port)?["jetstream"], true);
    assert_eq!(jsz_counts(&server)?.0, 1, "the stream survives a crash");

    let again = server.start_again();
    assert!(
        matches!(again, Err(TestkitError::AlreadyRunning { pid }) if Some(pid) == server.pid()),
        "{again:?}"
    );
    Ok(())
}

#[test]
fn stop_then_start_again() -> TestResult {
    let mut server = NatsServer::start()?;
    let port = server.port();
    server.stop()?;
    assert_eq!(server.pid(), None);
    assert_refused(port);
    assert!(server.log_tail().contains("Server Exiting"));
    server.start_again()?;
    assert_eq!(info(port)?["port"], port);
    Ok(())
}

#[cfg(unix)]
#[test]
fn drop_kills_the_process_and_removes_its_files() -> TestResult {
    let server = NatsServer::start()?;
    let pid = server.pid().ok_or("no pid")?;
    let (store, log, port) = (
        server.store_dir().to_path_buf(),
        server.log_path(),
        server.port(),
    );
    assert!(process_exists(pid));
    assert!(log.exists());
    drop(server);
    assert!(!process_exists(pid));
    assert!(!store.exists());
    assert!(!log.exists());
    assert_refused(port);
    Ok(())
}

#[cfg(unix)]
#[test]
fn a_panicking_test_still_kills_its_server() -> TestResult {
    let (tx, rx) = std::sync::mpsc::channel();
    let outcome = std::thread::spawn(move || -> Result<(), Box<dyn Error + Send + Sync>> {
        let server = NatsServer::start()?;
        tx.send(server.pid())?;
        panic!("test failure while the server runs");
    })
    .join();
    assert!(outcome.is_err(), "the thread should have panicked");
    let pid = rx.recv_timeout(IO_TIMEOUT)?.ok_or("no pid")?;
    assert!(!process_exists(pid));
    Ok(())
}

#[test]
fn builder_options_are_applied() -> TestResult {
    // A port that was free a moment ago; the server binds it right after.
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port();
    let store = tempfile::tempdir()?;
    let server = NatsServer::builder()
        .port(port)
        .server_name("builder-test")
        .store_dir(store.path())
        .config("max_payload: 2MB")
        .arg("--logtime=false")
        .start()?;
    assert_eq!(server.port(), port);
    assert_eq!(server.server_name(), Some("builder-test"));
    let info = info(port)?;
    assert_eq!(info["server_name"], "builder-test", "{info}");
    assert_eq!(info["max_payload"], 2 * 1024 * 1024, "{info}");
    assert_eq!(info["jetstream"], true, "{info}");
    let jetstream_dir: PathBuf = store.path().join("jetstream");
    assert!(jetstream_dir.is_dir());
    drop(server);
    assert!(jetstream_dir.is_dir(), "a caller's store dir is kept");
    Ok(())
}

#[test]
fn jetstream_can_be_disabled() -> TestResult {
    let server = NatsServer::builder().jetstream(false).start()?;
    let info = info(server.port())?;
    assert_eq!(info.get("jetstream"), None, "{info}");
    let varz = server.monitor_json("/varz")?;
    assert_eq!(varz["jetstream"], serde_json::json!({}), "{varz}");
    Ok(())
}

#[test]
fn a_bad_config_fails_with_the_log_tail() {
    let outcome = NatsServer::builder()
        .config("this is { not valid")
        .startup_timeout(Duration::from_secs(5))
        .start();
    match outcome {
        Err(TestkitError::Exited { status, log_tail }) => {
            assert!(!status.success());
            assert!(!log_tail.trim().is_empty());
        }
        other => panic!("expected Exited, got {other:?}"),
    }
}

/// Server names of the routes a node has, without pool duplicates.
fn route_peers(node: &NatsServer) -> Result<Vec<String>, Box<dyn Error>> {
    let routez = node.monitor_json("/routez")?;
    let mut peers: Vec<String> = routez["routes"]
        .as_array()
        .ok_or("no routes")?
        .iter()
        .filter_map(|r| r["remote_name"].as_str().map(str::to_owned))
        .collect();
    peers.sort();
    peers.dedup();
    Ok(peers)
}

#[test]
fn cluster_of_three_forms_and_survives_a_node_restart() -> TestResult {
    let mut cluster = NatsCluster::start(3)?;
    assert_eq!(cluster.len(), 3);
    assert_eq!(cluster.client_urls().len(), 3);
    let names = ["testkit-0", "testkit-1", "testkit-2"];
    for (i, node) in cluster.nodes().iter().enumerate() {
        assert_eq!(node.server_name(), Some(names[i]));
        let mut expected: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        expected.remove(i);
        assert_eq!(route_peers(node)?, expected, "routes of {}", names[i]);
        let info = info(node.port())?;
        assert_eq!(info["cluster"], "testkit", "{info}");
        assert_eq!(info["jetstream"], true, "{info}");
        let varz = node.monitor_json("/varz")?;
        assert_eq!(varz["cluster"]["name"], "testkit");
    }
    let stores: Vec<_> = cluster.nodes().iter().map(NatsServer::store_dir).collect();
    assert!(stores[0] != stores[1] && stores[1] != stores[2] && stores[0] != stores[2]);
    let leader = cluster.meta_leader()?.ok_or("no meta leader")?;
    assert!(leader < 3);

    let victim = (leader + 1) % 3;
    let port = cluster.node(victim).ok_or("no node")?.port();
    cluster.kill_node(victim)?;
    assert_refused(port);
    cluster.wait_ready()?;
    cluster.restart_node(victim)?;
    let node = cluster.node(victim).ok_or("no node")?;
    assert_eq!(node.port(), port);
    assert_eq!(route_peers(node)?.len(), 2);

    assert!(cluster.node(3).is_none());
    assert!(matches!(
        cluster.kill_node(3),
        Err(TestkitError::NoSuchNode { index: 3, len: 3 })
    ));
    Ok(())
}

#[test]
fn a_cluster_needs_two_nodes() {
    assert!(matches!(
        NatsCluster::start(1),
        Err(TestkitError::InvalidClusterSize { size: 1 })
    ));
}
