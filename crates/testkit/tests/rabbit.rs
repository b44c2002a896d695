//! Integration tests of the RabbitMQ harness against the real `rabbitmq-server`.
//!
//! Each broker start takes about 6 s, so the tests share brokers between
//! checks: one broker goes through the whole lifecycle, two more run at
//! once (one of them in a panicking thread), and the failure test starts one
//! that cannot bind its AMQP port.

use std::error::Error;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use messaging_testkit::{RabbitServer, TestkitError};
use serde_json::{Value, json};

type TestResult = Result<(), Box<dyn Error>>;

const IO_TIMEOUT: Duration = Duration::from_secs(10);

fn connect(port: u16) -> io::Result<TcpStream> {
    let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(stream)
}

/// Sends an AMQP protocol header and returns the first bytes of the answer.
fn amqp_answer(port: u16, header: &[u8; 8], len: usize) -> io::Result<Vec<u8>> {
    let mut stream = connect(port)?;
    stream.write_all(header)?;
    let mut answer = vec![0; len];
    stream.read_exact(&mut answer)?;
    Ok(answer)
}

/// The broker answers the 0-9-1 header with a `connection.start` frame and
/// any other header with the protocol header it speaks.
fn assert_speaks_amqp_091(port: u16) -> TestResult {
    let start = amqp_answer(port, b"AMQP\0\0\x09\x01", 13)?;
    assert_eq!(start[0], 1, "a method frame: {start:?}");
    assert_eq!(&start[1..3], &[0, 0], "on channel 0: {start:?}");
    assert_eq!(
        &start[7..11],
        &[0, 10, 0, 10],
        "connection.start: {start:?}"
    );
    assert_eq!(&start[11..13], &[0, 9], "version 0-9: {start:?}");
    let greeting = amqp_answer(port, b"AMQP\0\0\x09\x02", 8)?;
    assert_eq!(&greeting, b"AMQP\0\0\x09\x01");
    Ok(())
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

/// The executable a process runs and its resident memory, from `/proc`.
#[cfg(target_os = "linux")]
fn exe_and_rss(pid: u32) -> Result<(String, String), Box<dyn Error>> {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe"))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default();
    Ok((exe.to_string_lossy().into_owned(), rss))
}

fn queue_names(broker: &RabbitServer) -> Result<Vec<String>, Box<dyn Error>> {
    let queues = broker.management_get("/api/queues/%2f")?;
    let list = queues.as_array().ok_or("queues is not a list")?;
    Ok(list
        .iter()
        .filter_map(|q| q["name"].as_str().map(str::to_owned))
        .collect())
}

fn listener_port(overview: &Value, protocol: &str) -> Option<u64> {
    overview["listeners"]
        .as_array()?
        .iter()
        .find(|l| l["protocol"] == protocol)?["port"]
        .as_u64()
}

/// Everything one broker must do, on one broker: ports, management API,
/// AMQP, a crash and restart that keeps a durable queue, a clean stop, and
/// a drop that leaves no process or file behind.
#[test]
fn one_broker_through_its_lifecycle() -> TestResult {
    let mut broker = RabbitServer::start()?;
    let (amqp, management) = (broker.amqp_port(), broker.management_port());
    assert_ne!(amqp, management);
    assert_eq!(
        broker.amqp_url(),
        format!("amqp://guest:guest@127.0.0.1:{amqp}/%2f")
    );
    assert_eq!(
        broker.management_url(),
        format!("http://guest:guest@127.0.0.1:{management}")
    );
    let pid = broker.pid().ok_or("no broker pid")?;
    let epmd_pid = broker.epmd_pid().ok_or("no epmd pid")?;
    #[cfg(target_os = "linux")]
    {
        let (exe, rss) = exe_and_rss(pid)?;
        assert!(exe.ends_with("beam.smp"), "the child is the VM: {exe}");
        eprintln!(
            "rabbitmq-server ready in {:?}, RSS {rss}",
            broker.startup_time()
        );
    }

    let overview = broker.management_get("/api/overview")?;
    assert_eq!(overview["node"], broker.node_name());
    assert_eq!(overview["rabbitmq_version"], "3.10.8", "{overview}");
    assert_eq!(listener_port(&overview, "amqp"), Some(u64::from(amqp)));
    assert_eq!(
        listener_port(&overview, "http"),
        Some(u64::from(management))
    );
    assert_speaks_amqp_091(amqp)?;

    broker.management_put(
        "/api/queues/%2f/testkit.durable",
        &json!({ "durable": true }),
    )?;
    broker.management_put(
        "/api/queues/%2f/testkit.transient",
        &json!({ "durable": false }),
    )?;
    let mut names = queue_names(&broker)?;
    names.sort();
    assert_eq!(names, ["testkit.durable", "testkit.transient"]);
    let missing = broker.management_get("/api/queues/%2f/testkit.nope");
    assert!(
        matches!(
            missing,
            Err(TestkitError::ManagementHttp { status: 404, .. })
        ),
        "{missing:?}"
    );

    broker.kill()?;
    assert_eq!(broker.pid(), None);
    assert!(!broker.is_running()?);
    #[cfg(unix)]
    assert!(!process_exists(pid));
    assert_refused(amqp);
    assert_eq!(broker.epmd_pid(), Some(epmd_pid), "epmd outlives a crash");
    broker.kill()?; // idempotent

    broker.start_again()?;
    eprintln!("rabbitmq-server ready again in {:?}", broker.startup_time());
    assert!(broker.is_running()?);
    assert_eq!(
        (broker.amqp_port(), broker.management_port()),
        (amqp, management)
    );
    assert_eq!(
        queue_names(&broker)?,
        ["testkit.durable"],
        "only the durable queue survives"
    );
    assert_speaks_amqp_091(amqp)?;
    let again = broker.start_again();
    assert!(
        matches!(again, Err(TestkitError::RabbitAlreadyRunning { pid }) if Some(pid) == broker.pid()),
        "{again:?}"
    );
    broker.management_delete("/api/queues/%2f/testkit.durable")?;
    assert!(queue_names(&broker)?.is_empty());

    let second_pid = broker.pid().ok_or("no broker pid")?;
    broker.stop()?;
    assert_eq!(broker.pid(), None);
    #[cfg(unix)]
    assert!(!process_exists(second_pid));
    assert_refused(amqp);
    assert!(
        broker.log_tail().contains("SIGTERM received"),
        "{}",
        broker.log_tail()
    );

    let (data, log) = (broker.data_dir(), broker.log_path());
    assert!(data.exists() && log.exists());
    drop(broker);
    #[cfg(unix)]
    assert!(!process_exists(epmd_pid), "epmd is stopped on drop");
    assert!(!data.exists() && !log.exists());
    Ok(())
}

/// Two brokers at once, on different ports and node names; one is owned by
/// a thread that panics, and neither leaves a process or file behind.
#[test]
fn two_brokers_run_at_once_and_clean_up_on_drop_and_panic() -> TestResult {
    let (tx, rx) = std::sync::mpsc::channel();
    let panicking = std::thread::spawn(move || -> Result<(), Box<dyn Error + Send + Sync>> {
        let broker = RabbitServer::start()?;
        let pids = (broker.pid(), broker.epmd_pid(), broker.data_dir());
        tx.send((broker.amqp_port(), broker.node_name().to_owned(), pids))?;
        // Wait for the other broker to be checked against this one.
        std::thread::sleep(Duration::from_secs(2));
        panic!("test failure while the broker runs");
    });
    let broker = RabbitServer::start()?;
    let (other_port, other_node, (other_pid, other_epmd, other_dir)) =
        rx.recv_timeout(Duration::from_secs(120))?;
    assert_ne!(broker.amqp_port(), other_port);
    assert_ne!(broker.node_name(), other_node);
    assert_speaks_amqp_091(broker.amqp_port())?;
    assert_speaks_amqp_091(other_port)?;
    let overview = broker.management_get("/api/overview")?;
    assert_eq!(overview["node"], broker.node_name());

    assert!(panicking.join().is_err(), "the thread should have panicked");
    #[cfg(unix)]
    for pid in [other_pid, other_epmd] {
        let pid = pid.ok_or("no pid")?;
        assert!(!process_exists(pid), "pid {pid} left behind by a panic");
    }
    assert!(!other_dir.exists());
    assert_refused(other_port);

    let pids = [broker.pid(), broker.epmd_pid()];
    let (port, data) = (broker.amqp_port(), broker.data_dir());
    drop(broker);
    #[cfg(unix)]
    for pid in pids {
        let pid = pid.ok_or("no pid")?;
        assert!(!process_exists(pid), "pid {pid} left behind by drop");
    }
    assert!(!data.exists());
    assert_refused(port);
    Ok(())
}

/// Startup failures are typed errors carrying the broker's log.
#[test]
fn startup_failures_are_typed_errors() -> TestResult {
    let missing = RabbitServer::builder()
        .binary("/nonexistent/rabbitmq-server")
        .start();
    match missing {
        Err(e @ TestkitError::RabbitNotFound { .. }) => {
            let text = e.to_string();
            assert!(text.contains("apt-get install --no-install-recommends rabbitmq-server"));
            assert!(text.contains("/nonexistent/rabbitmq-server"));
        }
        other => panic!("expected RabbitNotFound, got {other:?}"),
    }

    // An executable that is not a broker: it exits at once.
    let dir = tempfile::tempdir()?;
    let fake = dir.path().join("rabbitmq-server");
    std::fs::write(&fake, "#!/bin/sh\necho 'not a broker' >&2\nexit 3\n")?;
    make_executable(&fake)?;
    let exited = RabbitServer::builder()
        .binary(&fake)
        .startup_timeout(Duration::from_secs(30))
        .start();
    match exited {
        Err(TestkitError::RabbitExited {
            program: "rabbitmq-server",
            status,
            log_tail,
        }) => {
            assert_eq!(status.code(), Some(3));
            assert!(log_tail.contains("not a broker"), "{log_tail}");
        }
        other => panic!("expected RabbitExited, got {other:?}"),
    }

    // A configured AMQP port held by another socket: the management API
    // comes up, but the broker is not taken as ready (the foreign socket
    // accepts TCP) and gives up when its listener fails.
    let holder = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let taken = holder.local_addr()?.port();
    let clash = RabbitServer::builder().amqp_port(taken).start();
    match clash {
        Err(TestkitError::RabbitExited {
            program: "rabbitmq-server",
            log_tail,
            ..
        }) => assert!(log_tail.contains("eaddrinuse"), "{log_tail}"),
        other => panic!("expected RabbitExited for a taken port, got {other:?}"),
    }
    Ok(())
}

#[cfg(unix)]
fn make_executable(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) -> io::Result<()> {
    Ok(())
}

/// A process that dies without dropping its broker (SIGKILL, or a `static` that is never
/// dropped) leaves nothing behind: the watchdog sees its pipe close and kills the broker
/// and epmd. Driven through the `testkit-broker` binary, killed with SIGKILL.
#[test]
fn a_killed_owner_leaves_no_broker_behind() -> TestResult {
    let dir = tempfile::tempdir()?;
    let env_file = dir.path().join("rabbit.env");
    let mut owner = std::process::Command::new(env!("CARGO_BIN_EXE_testkit-broker"))
        .arg("rabbitmq")
        .arg(&env_file)
        .stdin(std::process::Stdio::piped())
        .spawn()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while !env_file.exists() {
        assert!(std::time::Instant::now() < deadline, "broker did not start");
        assert!(owner.try_wait()?.is_none(), "testkit-broker exited early");
        std::thread::sleep(Duration::from_millis(100));
    }
    let env = std::fs::read_to_string(&env_file)?;
    let amqp_port: u16 = env
        .lines()
        .find_map(|l| l.strip_prefix("RABBITMQ_URL="))
        .and_then(|u| u.rsplit(':').next())
        .and_then(|p| p.split('/').next())
        .ok_or("no AMQP URL")?
        .parse()?;
    owner.kill()?; // SIGKILL: no destructor runs in the owner.
    owner.wait()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while connect(amqp_port).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "the broker outlived its owner"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}
