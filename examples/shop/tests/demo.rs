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
