//! The demo prints what the README says it does, on both brokers.

use std::process::Command;

const STEPS: [&str; 8] = [
    "  [billing] charged order 1: 1250 cents for shop-orders",
    "  [notifications] order 1 for ada placed (receipt R-0001, from shop-orders)",
    "  [orders] order 1 placed, receipt R-0001",
    "  [billing] refused order 2: nothing to charge",
    "  [orders] order 2 refused by billing: nothing to charge",
    "  [billing] charged order 3: 990 cents for shop-orders",
    "  [notifications] order 3 for cy placed (receipt R-0003, from shop-orders)",
    "  [orders] order 3 placed, receipt R-0003",
];

#[test]
fn the_same_shop_runs_on_nats_and_on_rabbitmq() {
    let out = Command::new(env!("CARGO_BIN_EXE_shop-demo"))
        .arg("all")
        .env_remove("NATS_URL")
        .env_remove("RABBITMQ_URL")
        .output()
        .expect("run shop-demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "shop-demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let nats = lines
        .iter()
        .position(|l| l.starts_with("== the shop on NATS"))
        .expect("NATS section");
    let amqp = lines
        .iter()
        .position(|l| l.starts_with("== the shop on RabbitMQ"))
        .expect("RabbitMQ section");
    assert_eq!(&lines[nats + 1..nats + 9], STEPS, "NATS");
    assert_eq!(&lines[amqp + 1..amqp + 9], STEPS, "RabbitMQ");
    assert_eq!(
        lines.len(),
        amqp + 9,
        "nothing after the RabbitMQ section: {stdout}"
    );
}

/// `shop-demo nats --hold --topologies DIR`: the orders go through, each service's
/// topology is written, the fleet stays up until SIGTERM, then stops cleanly.
#[test]
fn the_nats_fleet_holds_until_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::sync::mpsc;
    use std::time::Duration;

    let dir = std::env::temp_dir().join(format!("shop-demo-hold-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut child = Command::new(env!("CARGO_BIN_EXE_shop-demo"))
        .args(["nats", "--hold", "--topologies"])
        .arg(&dir)
        .env_remove("NATS_URL")
        .stdout(Stdio::piped())
        .spawn()
        .expect("run shop-demo");
    let stdout = child.stdout.take().expect("stdout piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let held = loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.starts_with("== holding the fleet on nats://") => break line,
            Ok(line) => lines.push(line),
            Err(e) => {
                let _ = child.kill();
                panic!("no holding line ({e}); got {lines:?}");
            }
        }
    };
    assert_eq!(&lines[1..9], STEPS, "{lines:?}");
    assert!(held.ends_with(" (Ctrl-C to stop)"), "{held}");
    let mut written: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("topologies written")
        .map(|e| {
            let path = e.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("read topology");
            let t: serde_json::Value = serde_json::from_str(&text).expect("topology JSON");
            (
                path.file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned(),
                t["serviceName"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    written.sort();
    assert_eq!(
        written,
        [
            ("shop-billing.json".to_owned(), "shop-billing".to_owned()),
            (
                "shop-notifications.json".to_owned(),
                "shop-notifications".to_owned()
            ),
            ("shop-orders.json".to_owned(), "shop-orders".to_owned()),
        ]
    );
    // Still running: it holds the fleet.
    assert!(child.try_wait().expect("try_wait").is_none());
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(term.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not stopped within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
