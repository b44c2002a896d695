//! The adapter binary over its real wire: requests on stdin, responses on fd 3 (a FIFO
//! here), against a real nats-server.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use messaging_testkit::NatsServer;
use serde_json::{Value, json};

const ADAPTER: &str = env!("CARGO_BIN_EXE_messaging-tck-adapter");
/// Generous bound for one response (the runner allows 30 s per command).
const RESPONSE_WAIT: Duration = Duration::from_secs(20);
const EXIT_WAIT: Duration = Duration::from_secs(10);

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A running adapter: stdin to write requests, fd 3 lines arriving on a channel.
struct Adapter {
    /// `None` once waited for.
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<std::io::Result<String>>,
    next_id: i64,
    _dir: tempfile::TempDir,
}

impl Adapter {
    fn spawn(nats_url: &str) -> Result<Self, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let fifo = dir.path().join("responses");
        let status = Command::new("mkfifo").arg(&fifo).status()?;
        assert!(status.success(), "mkfifo failed");
        // bash wires fd 3 to the FIFO, then execs the adapter (no unsafe pre_exec needed).
        let mut child = Command::new("bash")
            .args(["-c", r#"exec "$ADAPTER" 3>"$FIFO""#])
            .env("ADAPTER", ADAPTER)
            .env("FIFO", &fifo)
            .env("NATS_URL", nats_url)
            .env("RUST_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take();
        Ok(Self {
            child: Some(child),
            stdin,
            lines: read_fifo(fifo),
            next_id: 1,
            _dir: dir,
        })
    }

    fn send_line(&mut self, line: &str) -> TestResult {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        stdin.write_all(line.as_bytes())?;
        stdin.write_all(b"\n")?;
        stdin.flush()?;
        Ok(())
    }

    fn read_line(&self) -> Result<String, Box<dyn std::error::Error>> {
        Ok(self.lines.recv_timeout(RESPONSE_WAIT)??)
    }

    /// Sends a raw line and returns the response line, parsed.
    fn raw(&mut self, line: &str) -> Result<Value, Box<dyn std::error::Error>> {
        self.send_line(line)?;
        let response = self.read_line()?;
        assert!(!response.contains('\n'));
        Ok(serde_json::from_str(&response)?)
    }

    /// Sends a request with the next id; returns the whole response after checking its id.
    fn call(&mut self, method: &str, params: Value) -> Result<Value, Box<dyn std::error::Error>> {
        let id = self.next_id;
        self.next_id += 1;
        let request = serde_json::Map::from_iter([
            ("id".to_owned(), Value::from(id)),
            ("method".to_owned(), Value::from(method)),
            ("params".to_owned(), params),
        ]);
        let line = Value::Object(request).to_string();
        let response = self.raw(&line)?;
        assert_eq!(response["id"], id, "{response}");
        Ok(response)
    }

    /// A call that must succeed; returns its result.
    fn ok(&mut self, method: &str, params: Value) -> Result<Value, Box<dyn std::error::Error>> {
        let response = self.call(method, params)?;
        assert_eq!(
            response.as_object().map(|o| o.keys().cloned().collect()),
            Some(BTreeSet::from(["id".to_owned(), "result".to_owned()])),
            "{response}"
        );
        Ok(response["result"].clone())
    }

    /// A call that must fail; returns its error message.
    fn fails(&mut self, method: &str, params: Value) -> Result<String, Box<dyn std::error::Error>> {
        let response = self.call(method, params)?;
        assert_error_shape(&response);
        Ok(response["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    fn close_stdin(&mut self) {
        drop(self.stdin.take());
    }

    fn wait_exit(mut self) -> Result<ExitStatus, Box<dyn std::error::Error>> {
        wait_exit(self.child.take().ok_or("already waited")?)
    }
}

impl Drop for Adapter {
    fn drop(&mut self) {
        // Only when a test failed part-way: the happy paths wait for the exit.
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn assert_error_shape(response: &Value) {
    assert!(response.get("result").is_none(), "{response}");
    assert_eq!(response["error"]["code"], -1, "{response}");
    assert!(
        response["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{response}"
    );
}

/// Opens the FIFO for reading on a thread (the open blocks until the adapter opens its
/// end) and forwards each line.
fn read_fifo(path: PathBuf) -> mpsc::Receiver<std::io::Result<String>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        for line in BufReader::new(file).lines() {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Waits for a child with a bound, without polling.
fn wait_exit(mut child: Child) -> Result<ExitStatus, Box<dyn std::error::Error>> {
    let id = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    match rx.recv_timeout(EXIT_WAIT) {
        Ok(status) => Ok(status?),
        Err(_) => {
            // Leave no stray process behind.
            let _ = Command::new("kill").arg("-9").arg(id.to_string()).status();
            Err(format!("adapter {id} did not exit within {EXIT_WAIT:?}").into())
        }
    }
}

/// A nats-server and an adapter that has answered `hello`.
fn started() -> Result<(NatsServer, Adapter), Box<dyn std::error::Error>> {
    let server = NatsServer::start()?;
    let mut adapter = Adapter::spawn(&server.client_url())?;
    adapter.ok("hello", json!({"protocolVersion": 1}))?;
    Ok((server, adapter))
}

/// `shutdown` answers `{}` and the process exits 0.
fn shutdown(mut adapter: Adapter) -> TestResult {
    assert_eq!(adapter.ok("shutdown", json!({}))?, json!({}));
    assert_eq!(adapter.wait_exit()?.code(), Some(0));
    Ok(())
}

/// Polls `received` (as the runner does, every 50 ms) until it holds `count` messages.
fn received(
    adapter: &mut Adapter,
    service: &str,
    count: usize,
) -> Result<Vec<Value>, Box<dyn std::error::Error>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let result = adapter.ok("received", json!({"serviceName": service}))?;
        let messages = result["messages"].as_array().cloned().unwrap_or_default();
        if messages.len() >= count || Instant::now() > deadline {
            assert_eq!(messages.len(), count, "{service}: {result}");
            return Ok(messages);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn hello_handshake_is_exact() -> TestResult {
    let server = NatsServer::start()?;
    let url = server.client_url();
    let mut adapter = Adapter::spawn(&url)?;
    let line = r#"{"id":1,"method":"hello","params":{"protocolVersion":1}}"#;
    adapter.send_line(line)?;
    assert_eq!(
        adapter.read_line()?,
        format!(
            r#"{{"id":1,"result":{{"protocolVersion":1,"transportKey":"nats","brokerConfig":{{"AMQPURL":"","ManagementURL":"","NATSURL":"{url}"}}}}}}"#
        )
    );
    adapter.next_id = 2;
    adapter.fails("hello", json!({"protocolVersion": 2}))?;
    adapter.close_stdin();
    assert_eq!(adapter.wait_exit()?.code(), Some(0));
    Ok(())
}

#[test]
fn bad_requests_get_error_responses_and_serving_goes_on() -> TestResult {
    let (_server, mut adapter) = started()?;

    let response = adapter.raw("this is not json")?;
    assert_eq!(response["id"], 0);
    assert_error_shape(&response);
    let response = adapter.raw(r#"{"id":41,"params":{}}"#)?;
    assert_eq!(response["id"], 41);
    assert_error_shape(&response);

    adapter.fails("no_such_method", json!({}))?;
    adapter.fails(
        "publish",
        json!({"serviceName": "ghost", "publisherKey": "event-stream", "routingKey": "A.B", "payload": {}}),
    )?;
    adapter.fails("received", json!({"serviceName": "ghost"}))?;
    let message = adapter.fails(
        "start_service",
        json!({"serviceName": "sender-1", "intents": [{"pattern": "queue-publish", "direction": "publish", "destinationQueue": "task-queue"}]}),
    )?;
    assert_eq!(message, "unsupported intent on NATS: queue-publish");

    let result = adapter.ok(
        "start_service",
        json!({"serviceName": "orders-1", "intents": [{"pattern": "event-stream", "direction": "publish"}]}),
    )?;
    assert_eq!(result["publisherKeys"], json!(["event-stream"]));
    adapter.fails(
        "start_service",
        json!({"serviceName": "orders-1", "intents": [{"pattern": "event-stream", "direction": "publish"}]}),
    )?;
    adapter.fails(
        "publish",
        json!({"serviceName": "orders-1", "publisherKey": "custom-stream:audit", "routingKey": "A.B", "payload": {}}),
    )?;

    // A very long line (well past 64 KiB) is read whole.
    let long = "x".repeat(200 * 1024);
    adapter.fails(
        "publish",
        json!({"serviceName": "ghost", "publisherKey": long, "routingKey": "A.B", "payload": {}}),
    )?;

    assert_eq!(
        adapter.ok("close_service", json!({"serviceName": "orders-1"}))?,
        json!({})
    );
    assert_eq!(
        adapter.ok("close_service", json!({"serviceName": "orders-1"}))?,
        json!({})
    );
    shutdown(adapter)
}

#[test]
fn events_and_requests_are_delivered_with_the_wire_shape() -> TestResult {
    let (_server, mut adapter) = started()?;

    // Consumer first: it must declare the stream itself.
    let worker = adapter.ok(
        "start_service",
        json!({"serviceName": "worker-1a2b3c4d", "intents": [
            {"pattern": "event-stream", "direction": "consume", "routingKey": "Task.Scheduled"}
        ]}),
    )?;
    assert_eq!(worker["publisherKeys"], json!([]));
    assert_eq!(worker["topology"]["serviceName"], "worker-1a2b3c4d");
    assert_eq!(
        worker["topology"]["endpoints"][0]["queueName"],
        "worker-1a2b3c4d"
    );
    let scheduler = adapter.ok(
        "start_service",
        json!({"serviceName": "scheduler-1a2b3c4d", "intents": [
            {"pattern": "event-stream", "direction": "publish"}
        ]}),
    )?;
    assert_eq!(scheduler["publisherKeys"], json!(["event-stream"]));
    assert_eq!(scheduler["topology"]["serviceName"], "scheduler-1a2b3c4d");

    let payload = json!({"_tckNonce": "3f1c", "taskId": "t-1", "amount": 42});
    adapter.ok(
        "publish",
        json!({"serviceName": "scheduler-1a2b3c4d", "publisherKey": "event-stream",
               "routingKey": "Task.Scheduled", "payload": payload,
               "headers": {"x-delay-until": "2026-03-01T00:00:00Z", "x-priority": "high"}}),
    )?;
    let messages = received(&mut adapter, "worker-1a2b3c4d", 1)?;
    let m = &messages[0];
    assert_eq!(
        keys(m),
        BTreeSet::from(["routingKey", "payload", "metadata", "deliveryInfo"])
    );
    assert_eq!(m["routingKey"], "Task.Scheduled");
    assert_eq!(m["payload"], payload);
    let md = &m["metadata"];
    assert_eq!(md["type"], "Task.Scheduled");
    assert_eq!(md["source"], "scheduler-1a2b3c4d");
    assert_eq!(md["specVersion"], "1.0");
    assert_eq!(md["dataContentType"], "application/json");
    assert!(md["id"].as_str().is_some_and(|s| !s.is_empty()), "{md}");
    let ts = md["timestamp"].as_str().ok_or("timestamp missing")?;
    time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)?;
    let di = &m["deliveryInfo"];
    assert_eq!(
        keys(di),
        BTreeSet::from(["Destination", "Source", "Key", "Headers"])
    );
    assert_eq!(di["Destination"], "worker-1a2b3c4d");
    assert_eq!(di["Source"], "events");
    assert_eq!(di["Key"], "Task.Scheduled");
    let headers = &di["Headers"];
    assert_eq!(headers["x-delay-until"], "2026-03-01T00:00:00Z");
    assert_eq!(headers["x-priority"], "high");
    assert_eq!(headers["ce-type"], "Task.Scheduled");
    assert_eq!(headers["ce-source"], "scheduler-1a2b3c4d");
    assert_eq!(headers["service"], "scheduler-1a2b3c4d");

    // A second publish is appended; the first stays where it was.
    adapter.ok(
        "publish",
        json!({"serviceName": "scheduler-1a2b3c4d", "publisherKey": "event-stream",
               "routingKey": "Task.Scheduled", "payload": {"_tckNonce": "second"}}),
    )?;
    let messages = received(&mut adapter, "worker-1a2b3c4d", 2)?;
    assert_eq!(messages[0]["payload"], payload);
    assert_eq!(messages[1]["payload"], json!({"_tckNonce": "second"}));

    // Request-reply: the publish completes only once the handler has answered.
    adapter.ok(
        "start_service",
        json!({"serviceName": "email-svc-1a2b3c4d", "intents": [
            {"pattern": "service-request", "direction": "consume", "routingKey": "email.send"}
        ]}),
    )?;
    let web = adapter.ok(
        "start_service",
        json!({"serviceName": "web-app-1a2b3c4d", "intents": [
            {"pattern": "service-request", "direction": "publish", "targetService": "email-svc-1a2b3c4d"},
            {"pattern": "service-response", "direction": "consume", "targetService": "email-svc-1a2b3c4d", "routingKey": "email.send"}
        ]}),
    )?;
    assert_eq!(
        web["publisherKeys"],
        json!(["service-request:email-svc-1a2b3c4d"])
    );
    adapter.ok(
        "publish",
        json!({"serviceName": "web-app-1a2b3c4d", "publisherKey": "service-request:email-svc-1a2b3c4d",
               "routingKey": "email.send", "payload": {"to": "a@b.c", "_tckNonce": "req"}}),
    )?;
    let requests = received(&mut adapter, "email-svc-1a2b3c4d", 1)?;
    assert_eq!(
        requests[0]["payload"],
        json!({"to": "a@b.c", "_tckNonce": "req"})
    );
    assert_eq!(requests[0]["metadata"]["source"], "web-app-1a2b3c4d");
    assert_eq!(
        requests[0]["deliveryInfo"]["Destination"],
        "email-svc-1a2b3c4d"
    );
    let replies = received(&mut adapter, "web-app-1a2b3c4d", 1)?;
    assert_eq!(replies[0]["payload"], json!({"ok": true}));

    for service in [
        "worker-1a2b3c4d",
        "scheduler-1a2b3c4d",
        "email-svc-1a2b3c4d",
        "web-app-1a2b3c4d",
    ] {
        assert_eq!(
            adapter.ok("close_service", json!({"serviceName": service}))?,
            json!({})
        );
    }
    shutdown(adapter)
}

#[test]
fn stdin_eof_exits_cleanly_with_services_running() -> TestResult {
    let (_server, mut adapter) = started()?;
    adapter.ok(
        "start_service",
        json!({"serviceName": "notifications-1", "intents": [
            {"pattern": "event-stream", "direction": "consume", "routingKey": "Order.Created"}
        ]}),
    )?;
    adapter.close_stdin();
    assert_eq!(adapter.wait_exit()?.code(), Some(0));
    Ok(())
}

#[test]
fn missing_fd_3_is_a_clear_failure() -> TestResult {
    // Close fd 3 explicitly: the test process may have inherited one (e.g. a jobserver).
    let output = Command::new("bash")
        .args(["-c", r#"exec 3>&-; exec "$ADAPTER""#])
        .env("ADAPTER", ADAPTER)
        .stdin(Stdio::null())
        .output()?;
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("fd 3"), "{stderr}");
    Ok(())
}
