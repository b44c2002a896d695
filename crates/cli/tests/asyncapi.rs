//! `messaging asyncapi`: the documents it prints and writes are valid AsyncAPI 3.0.0 (the
//! official JSON Schema) with the example fleet's exact channels and operations; schemas,
//! stdin, `--format json` and the failure modes.

mod common;
// The schema helper is shared with the spec crate's tests.
#[path = "../../../spec/tests/common/asyncapi_schema.rs"]
mod asyncapi_schema;

use std::path::{Path, PathBuf};

use common::{Run, messaging};
use serde_json::{Value, json};

fn examples() -> Vec<PathBuf> {
    ["billing", "notifications", "orders", "web-app"]
        .iter()
        .map(|n| common::repo_root().join(format!("examples/topologies/{n}.json")))
        .collect()
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

fn stdout_json(run: &Run) -> Value {
    assert_eq!(run.code, Some(0), "{run:?}");
    serde_json::from_str(&run.stdout).expect("stdout is JSON")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn prints_the_fleet_document_of_the_examples() {
    let validator = asyncapi_schema::validator();
    let files = examples();
    let mut args = vec![
        "asyncapi",
        "--rules",
        "export",
        "--title",
        "Shop",
        "--api-version",
        "2.0.0",
    ];
    args.extend(files.iter().map(|p| s(p)));
    let doc = stdout_json(&messaging(&args, None));
    asyncapi_schema::assert_valid(validator, &doc, "example fleet");

    assert_eq!(doc["asyncapi"], "3.0.0");
    assert_eq!(doc["info"]["title"], "Shop");
    assert_eq!(doc["info"]["version"], "2.0.0");
    assert_eq!(
        doc["channels"]["events.Order.Created"]["address"],
        "events.Order.Created"
    );
    assert_eq!(
        doc["channels"]["billing.request.invoice.create"]["address"],
        "billing.request.invoice.create"
    );
    let ops = doc["operations"].as_object().expect("operations");
    let actions: Vec<(&str, &str)> = ops
        .iter()
        .map(|(id, op)| (id.as_str(), op["action"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        actions,
        [
            ("billing.receive.billing.request.invoice.create", "receive"),
            ("notifications.receive.events.Order.Created", "receive"),
            ("orders.send.events.Order.Created", "send"),
            ("web-app.receive.billing.reply.invoice.create", "receive"),
            ("web-app.send.billing.request.invoice.create", "send"),
        ]
    );
    assert_eq!(
        ops["web-app.send.billing.request.invoice.create"]["reply"]["channel"]["$ref"],
        "#/channels/billing.reply.invoice.create"
    );
}

#[test]
fn out_writes_one_document_per_service_and_the_fleet() {
    let validator = asyncapi_schema::validator();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("docs");
    let files = examples();
    let mut args = vec!["asyncapi", "--rules", "export", "--out", s(&out)];
    args.extend(files.iter().map(|p| s(p)));
    let run = messaging(&args, None);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, "OK\n");

    let mut names: Vec<String> = std::fs::read_dir(&out)
        .expect("out dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "billing.asyncapi.json",
            "fleet.asyncapi.json",
            "notifications.asyncapi.json",
            "orders.asyncapi.json",
            "web-app.asyncapi.json",
        ]
    );
    for name in &names {
        asyncapi_schema::assert_valid(validator, &read_json(&out.join(name)), name);
    }
    let orders = read_json(&out.join("orders.asyncapi.json"));
    assert_eq!(orders["info"]["title"], "orders");
    let ops: Vec<&String> = orders["operations"]
        .as_object()
        .expect("operations")
        .keys()
        .collect();
    assert_eq!(ops, ["orders.send.events.Order.Created"]);
    let fleet = read_json(&out.join("fleet.asyncapi.json"));
    assert_eq!(fleet["operations"].as_object().map(|o| o.len()), Some(5));
}

#[test]
fn schemas_file_supplies_payloads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let schemas = dir.path().join("schemas.json");
    let order = json!({"type": "object", "required": ["orderId"], "properties": {"orderId": {"type": "string"}}});
    std::fs::write(&schemas, json!({"OrderCreated": order}).to_string()).expect("write");
    let orders = common::repo_root().join("examples/topologies/orders.json");
    let doc = stdout_json(&messaging(
        &["asyncapi", "--schemas", s(&schemas), s(&orders)],
        None,
    ));
    assert_eq!(
        doc["components"]["messages"]["OrderCreated"]["payload"],
        order
    );
    asyncapi_schema::assert_valid(asyncapi_schema::validator(), &doc, "with schemas");

    std::fs::write(&schemas, "[1]").expect("write");
    let run = messaging(&["asyncapi", "--schemas", s(&schemas), s(&orders)], None);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stdout.starts_with("ERROR: "), "{}", run.stdout);
    assert!(
        run.stdout.contains("must be a JSON object"),
        "{}",
        run.stdout
    );

    std::fs::write(&schemas, r#"{"OrderCreated": 7}"#).expect("write");
    let run = messaging(&["asyncapi", "--schemas", s(&schemas), s(&orders)], None);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stdout.contains(r#"schema "OrderCreated""#),
        "{}",
        run.stdout
    );
}

#[test]
fn fixture_topology_from_stdin_with_json_format() {
    let Some(fixture) = common::load("topology.json") else {
        return;
    };
    let scenario = fixture["scenarios"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|s| s["name"] == "custom stream publisher and consumer")
        })
        .expect("scenario");
    let topology = json!({
        "transport": "amqp",
        "serviceName": scenario["serviceName"],
        "endpoints": scenario["expectedEndpoints"]["amqp"],
    });
    let run = messaging(
        &["--format", "json", "asyncapi", "--rules", "export", "-"],
        Some(&topology.to_string()),
    );
    let report = stdout_json(&run);
    assert_eq!(report["ok"], true);
    let doc = &report["document"];
    asyncapi_schema::assert_valid(asyncapi_schema::validator(), doc, "custom stream (amqp)");
    let channel = &doc["channels"]["audit.topic.exchange.Audit.Entry"];
    assert_eq!(channel["address"], "Audit.Entry");
    assert_eq!(
        channel["bindings"]["amqp"]["exchange"]["name"],
        "audit.topic.exchange"
    );
    assert_eq!(
        doc["operations"]["analytics.receive.audit.topic.exchange.Audit.Entry"]["action"],
        "receive"
    );
    assert_eq!(
        doc["operations"]["analytics.send.audit.topic.exchange"]["action"],
        "send"
    );
}

#[test]
fn failures_exit_one_and_name_the_cause() {
    // Under the default (spec) rules the web-app's publisher without a key is invalid.
    let web_app = json!({"transport": "nats", "serviceName": "web-app", "endpoints": [
        {"direction": "publish", "pattern": "service-request", "exchangeName": "billing", "exchangeKind": "direct"}
    ]});
    let run = messaging(&["asyncapi", "-"], Some(&web_app.to_string()));
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stdout.starts_with("ERROR: "), "{}", run.stdout);
    let run = messaging(
        &["asyncapi", "--no-validate", "-"],
        Some(&web_app.to_string()),
    );
    assert_eq!(
        stdout_json(&run)["channels"]["billing.request.all"]["address"],
        "billing.request.>"
    );

    // The same service twice would overwrite its own document.
    let dir = tempfile::tempdir().expect("tempdir");
    let orders = common::repo_root().join("examples/topologies/orders.json");
    let run = messaging(
        &[
            "asyncapi",
            "--no-validate",
            "--out",
            s(dir.path()),
            s(&orders),
            s(&orders),
        ],
        None,
    );
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stdout.contains("orders.asyncapi.json"),
        "{}",
        run.stdout
    );

    let run = messaging(&["asyncapi", "/nonexistent/topology.json"], None);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stdout.contains("/nonexistent/topology.json"),
        "{}",
        run.stdout
    );
}
