//! The CLI accepts nothing the library would reject: each library rule the reference rules
//! lack, with its exact output and exit code, its text shown to be the library's own
//! error (from the plan `start()` runs), and the spec fixtures untouched by all of it.

mod common;

use std::path::{Path, PathBuf};

use common::{Run, messaging};
use messaging_nats::messaging_core::{self, ConsumerOptions, Rules, Setup};
use messaging_spec::{
    ConsumableEvent, HandlerError, RoutingKey, Topology, validate_for_export,
    validate_topologies_for_export,
};
use serde_json::{Value, json};

async fn noop(_: ConsumableEvent<Value>) -> Result<(), HandlerError> {
    Ok(())
}

async fn answer(ev: ConsumableEvent<Value>) -> Result<Value, HandlerError> {
    Ok(ev.payload)
}

fn write(dir: &Path, name: &str, value: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(value).expect("serialise")).expect("write");
    path
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

/// The spec error behind the plan's refusal of `setups` for `service`.
fn library_error(rules: &Rules, service: &str, setups: &[Setup]) -> messaging_spec::Error {
    match messaging_core::plan(rules, service, setups, &ConsumerOptions::default()) {
        Err(messaging_core::Error::Spec(e))
        | Err(messaging_core::Error::InvalidRegistration {
            source: Some(e), ..
        }) => e,
        Err(other) => panic!("expected a spec error, got {other:?}"),
        Ok(_) => panic!("the library accepted {service} {setups:?}"),
    }
}

fn nats(service: &str, endpoints: &Value) -> Value {
    json!({"transport": "nats", "serviceName": service, "endpoints": endpoints})
}

fn amqp(service: &str, endpoints: &Value) -> Value {
    json!({"transport": "amqp", "serviceName": service, "endpoints": endpoints})
}

/// Exit 1 and exactly `want` under both rule sets.
fn rejects(args: &[&str], want: &str) {
    for rules in ["spec", "export"] {
        let mut all = vec!["--rules", rules];
        all.extend_from_slice(args);
        let run = messaging(&all, None);
        assert_eq!(run.code, Some(1), "{all:?}: {run:?}");
        assert_eq!(run.stdout, want, "{all:?}");
        assert!(run.stderr.is_empty(), "{all:?}: {}", run.stderr);
    }
}

fn ok(run: &Run) {
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (Some(0), "OK\n"),
        "{run:?}"
    );
}

const PUBLISH_ORDER_CREATED: &str = r#"{"direction": "publish", "pattern": "event-stream",
    "exchangeName": "events", "exchangeKind": "topic", "routingKey": "Order.Created"}"#;

fn publish_order_created() -> Value {
    serde_json::from_str(PUBLISH_ORDER_CREATED).expect("endpoint JSON")
}

#[test]
fn unknown_transport() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = json!({"transport": "kafka", "serviceName": "orders",
                   "endpoints": [publish_order_created()]});
    let p = write(dir.path(), "orders.json", &t);
    rejects(
        &["validate", s(&p)],
        &format!(
            "ERROR: {}: transport \"kafka\" is unknown: use one of \"amqp\", \"nats\"\n",
            p.display()
        ),
    );
}

#[test]
fn service_names_the_library_rejects() {
    let e = library_error(&Rules::nats(), "orders.v2", &[Setup::event_publisher()]);
    assert_eq!(
        e.to_string(),
        "service name \"orders.v2\" is invalid: must not contain '.' (the NATS subject token separator)"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(
        dir.path(),
        "orders.json",
        &nats("orders.v2", &json!([publish_order_created()])),
    );
    rejects(
        &["validate", s(&p)],
        &format!("ERROR: {}: {e}\n", p.display()),
    );
}

#[test]
fn routing_keys_the_library_rejects() {
    let consume = |key: &str| {
        json!({"direction": "consume", "pattern": "event-stream", "exchangeName": "events",
               "exchangeKind": "topic", "queueName": "orders", "routingKey": key})
    };
    let mut publish = publish_order_created();
    publish["routingKey"] = json!("Order.*");
    let t = nats(
        "orders",
        &json!([consume("Order..Created"), publish, consume("Order*")]),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(dir.path(), "orders.json", &t);

    let nats = Rules::nats();
    let empty_token = library_error(
        &nats,
        "orders",
        &[Setup::event_consumer("Order..Created", noop)],
    );
    let mixed = library_error(&nats, "orders", &[Setup::event_consumer("Order*", noop)]);
    // Publishers take their key per message, as a RoutingKey.
    let wildcard = RoutingKey::new("Order.*").expect_err("a wildcard is no routing key");
    assert_eq!(
        wildcard.to_string(),
        "routing key \"Order.*\" is invalid: must not contain wildcards ('*', '#', '>'); use a RoutingPattern to bind"
    );
    let p = p.display();
    rejects(
        &["validate", &p.to_string()],
        &format!(
            "ERROR: {p}: endpoint[0]: {empty_token}\n\
             ERROR: {p}: endpoint[1]: {wildcard}\n\
             ERROR: {p}: endpoint[2]: {mixed}\n"
        ),
    );
}

#[test]
fn stream_and_exchange_names_the_library_rejects() {
    let dir = tempfile::tempdir().expect("tempdir");
    let on = |pattern: &str, exchange: &str, kind: &str| {
        json!({"direction": "publish", "pattern": pattern, "exchangeName": exchange,
               "exchangeKind": kind, "routingKey": "Audit.Entry"})
    };

    let n = write(
        dir.path(),
        "nats.json",
        &nats(
            "orders",
            &json!([
                on("custom-stream", "audit.log", "topic"),
                on("service-request", "billing/v2", "direct")
            ]),
        ),
    );
    let stream = library_error(
        &Rules::nats(),
        "orders",
        &[Setup::stream_publisher("audit.log")],
    );
    let target = library_error(
        &Rules::nats(),
        "orders",
        &[Setup::service_publisher("billing/v2")],
    );
    let np = n.display();
    rejects(
        &["validate", s(&n)],
        &format!("ERROR: {np}: endpoint[0]: {stream}\nERROR: {np}: endpoint[1]: {target}\n"),
    );
    assert_eq!(
        stream.to_string(),
        "stream name \"audit.log\" is invalid: must not contain '.' (the NATS subject token separator)"
    );

    let a = write(
        dir.path(),
        "amqp.json",
        &amqp(
            "orders",
            &json!([
                on("custom-stream", "audit log.topic.exchange", "topic"),
                on(
                    "service-request",
                    "bill.ing.direct.exchange.request",
                    "direct"
                )
            ]),
        ),
    );
    let amqp_rules = Rules::amqp();
    let stream = library_error(
        &amqp_rules,
        "orders",
        &[Setup::stream_publisher("audit log.topic.exchange")],
    );
    let target = library_error(
        &amqp_rules,
        "orders",
        &[Setup::service_publisher("bill.ing")],
    );
    let ap = a.display();
    rejects(
        &["validate", s(&a)],
        &format!("ERROR: {ap}: endpoint[0]: {stream}\nERROR: {ap}: endpoint[1]: {target}\n"),
    );
    assert_eq!(
        stream.to_string(),
        "stream name \"audit log\" is invalid: must not contain whitespace"
    );
}

#[test]
fn nats_durables_are_the_service_or_service_dash_suffix() {
    let consume = |queue: &str| {
        json!({"direction": "consume", "pattern": "event-stream", "exchangeName": "events",
               "exchangeKind": "topic", "queueName": queue, "routingKey": "Order.Created"})
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(
        dir.path(),
        "orders.json",
        &nats(
            "orders",
            &json!([
                consume("billing"),
                consume("orders-a*b"),
                consume("orders-audit")
            ]),
        ),
    );
    let suffix = library_error(
        &Rules::nats(),
        "orders",
        &[Setup::event_consumer("Order.Created", noop).suffix("a*b")],
    );
    let p = p.display();
    rejects(
        &["validate", &p.to_string()],
        &format!(
            "ERROR: {p}: endpoint[0]: queue name \"billing\" is not a durable of service \"orders\": \
             NATS durables are named \"orders\" or \"orders-<suffix>\"\n\
             ERROR: {p}: endpoint[1]: {suffix}\n"
        ),
    );
}

#[test]
fn directions_patterns_and_kinds_outside_the_spec() {
    let mut direction = publish_order_created();
    direction["direction"] = json!("publsh");
    let mut pattern = publish_order_created();
    pattern["pattern"] = json!("event_stream");
    let mut kind = publish_order_created();
    kind["exchangeKind"] = json!("fanout");
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(
        dir.path(),
        "orders.json",
        &nats("orders", &json!([direction, pattern, kind])),
    );
    let p = p.display();
    rejects(
        &["validate", &p.to_string()],
        &format!(
            "ERROR: {p}: endpoint[0]: direction \"publsh\" is unknown: use one of \"publish\", \"consume\"\n\
             ERROR: {p}: endpoint[1]: pattern \"event_stream\" is unknown: use one of \"event-stream\", \
             \"custom-stream\", \"service-request\", \"service-response\", \"queue-publish\"\n\
             ERROR: {p}: endpoint[2]: exchange kind \"fanout\" is unknown: use one of \"topic\", \
             \"direct\", \"headers\" (\"\" only for queue-publish)\n"
        ),
    );
}

#[test]
fn unknown_keys_are_rejected_unless_allowed() {
    let text = r#"{"transport": "nats", "serviceName": "orders", "owner": "team-a",
        "endpoints": [{"direction": "consume", "pattern": "event-stream", "exchangeName": "events",
                       "exchangeKind": "topic", "queueName": "orders", "routingkey": "Order.Created"}]}"#;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("orders.json");
    std::fs::write(&path, text).expect("write");
    let p = path.display();
    let reference =
        format!("ERROR: {p}: endpoint[0]: routing key must not be empty for topic exchange\n");
    rejects(
        &["validate", s(&path)],
        &format!(
            "{reference}\
             ERROR: {p}: unknown key \"owner\" (a topology has only \"endpoints\", \"serviceName\", \
             \"transport\"); remove it, or pass --allow-unknown-keys to ignore it\n\
             ERROR: {p}: endpoint[0]: unknown key \"routingkey\" (did you mean \"routingKey\"?); \
             fix it, or pass --allow-unknown-keys to ignore it\n"
        ),
    );
    // Allowed, they are dropped, as Go drops them: what is left is the reference's finding.
    let run = messaging(&["validate", "--allow-unknown-keys", s(&path)], None);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (Some(1), reference.as_str())
    );

    let fixed = text.replace("routingkey", "routingKey");
    let run = messaging(&["validate", "-"], Some(&fixed));
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(
        run.stdout,
        "ERROR: <stdin>: unknown key \"owner\" (a topology has only \"endpoints\", \"serviceName\", \
         \"transport\"); remove it, or pass --allow-unknown-keys to ignore it\n"
    );
    ok(&messaging(
        &["--allow-unknown-keys", "validate", "-"],
        Some(&fixed),
    ));
    let run = messaging(&["--format", "json", "cross-validate", "-"], Some(&fixed));
    assert_eq!(run.code, Some(1), "{run:?}");
    let out: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(
        out,
        json!({"ok": false, "errors": [
            "<stdin>: service \"orders\" consumes \"Order.Created\" on exchange \"events\" but no service publishes it",
            "<stdin>: unknown key \"owner\" (a topology has only \"endpoints\", \"serviceName\", \
             \"transport\"); remove it, or pass --allow-unknown-keys to ignore it"
        ]})
    );
    // --no-validate draws whatever parses.
    let run = messaging(&["visualize", "--no-validate", "-"], Some(&fixed));
    assert_eq!(run.code, Some(0), "{run:?}");

    let help = messaging(&["validate", "--help"], None);
    assert!(
        help.stdout.contains("--allow-unknown-keys"),
        "{}",
        help.stdout
    );
}

#[test]
fn cross_validate_names_the_file_of_each_error_and_services_given_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let orders = write(
        dir.path(),
        "orders.json",
        &nats(
            "orders",
            &json!([{"direction": "publish", "pattern": "custom-stream", "exchangeName": "audit.log",
                     "exchangeKind": "topic", "routingKey": "Order.Created"}]),
        ),
    );
    let audit = write(
        dir.path(),
        "audit.json",
        &nats(
            "audit.v2",
            &json!([{"direction": "consume", "pattern": "event-stream", "exchangeName": "events",
                     "exchangeKind": "topic", "queueName": "audit.v2", "routingKey": "Order.Created"}]),
        ),
    );
    let (o, a) = (orders.display(), audit.display());
    rejects(
        &["cross-validate", s(&orders), s(&audit)],
        &format!(
            "ERROR: {a}: service \"audit.v2\" consumes \"Order.Created\" on exchange \"events\" but no service publishes it\n\
             ERROR: {o}: endpoint[0]: stream name \"audit.log\" is invalid: must not contain '.' (the NATS subject token separator)\n\
             ERROR: {a}: service name \"audit.v2\" is invalid: must not contain '.' (the NATS subject token separator)\n"
        ),
    );

    let example = common::repo_root().join("examples/topologies/orders.json");
    let again = dir.path().join("orders-again.json");
    std::fs::copy(&example, &again).expect("copy");
    let want = format!(
        "ERROR: {}: service \"orders\" already has a topology in {}: give each service once\n",
        again.display(),
        example.display()
    );
    for cmd in ["cross-validate", "visualize", "asyncapi"] {
        rejects(&[cmd, s(&example), s(&again)], &want);
    }
    let run = messaging(
        &["visualize", "--no-validate", s(&example), s(&again)],
        None,
    );
    assert_eq!(run.code, Some(0), "{run:?}");
}

#[test]
fn spec_fixtures_pass_through_untouched() {
    let Some(fixture) = common::load("validate.json") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = fixture["single"].as_array().expect("single cases");
    // `--rules spec` is compared with Go's text in cli.rs; the export rules add nothing either.
    for (i, case) in cases.iter().enumerate() {
        let path = write(dir.path(), &format!("case-{i}.json"), &case["topology"]);
        let t: Topology = serde_json::from_value(case["topology"].clone()).expect("topology");
        let want: String = validate_for_export(&t)
            .err()
            .map(|e| e.lines())
            .unwrap_or_default()
            .iter()
            .map(|l| format!("ERROR: {}: {l}\n", path.display()))
            .collect();
        let run = messaging(&["--rules", "export", "validate", s(&path)], None);
        let want = if want.is_empty() {
            "OK\n".to_owned()
        } else {
            want
        };
        assert_eq!(run.stdout, want, "{}", case["name"]);
    }
    // Across files, too, the export rules' lines are the reference's and no more (each
    // line behind its file is checked for the spec rules in cli.rs).
    for case in fixture["cross"].as_array().expect("cross cases") {
        let ts: Vec<Topology> = case["topologies"]
            .as_array()
            .expect("topologies")
            .iter()
            .map(|t| serde_json::from_value(t.clone()).expect("topology"))
            .collect();
        let paths: Vec<PathBuf> = ts
            .iter()
            .map(|t| {
                let value = serde_json::to_value(t).expect("serialise");
                write(dir.path(), &format!("{}.json", t.service_name), &value)
            })
            .collect();
        let mut args = vec!["--rules", "export", "cross-validate"];
        args.extend(paths.iter().map(|p| s(p)));
        let run = messaging(&args, None);
        match validate_topologies_for_export(&ts) {
            Ok(()) => ok(&run),
            Err(e) => {
                assert_eq!(run.code, Some(1), "{}", case["name"]);
                let got: Vec<&str> = run.stdout.lines().collect();
                let want = e.lines();
                assert_eq!(got.len(), want.len(), "{}: {}", case["name"], run.stdout);
                for (got, want) in got.iter().zip(&want) {
                    assert!(got.ends_with(want.as_str()), "{}: {got}", case["name"]);
                }
            }
        }
    }
    for rules in ["spec", "export"] {
        let run = messaging(
            &[
                "--rules",
                rules,
                "check-fixtures",
                s(&common::testdata_dir()),
            ],
            None,
        );
        ok(&run);
    }
}

#[test]
fn what_the_spec_maps_and_the_library_plans_passes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut checked = 0;
    if let Some(fixture) = common::load("topology.json") {
        for scenario in fixture["scenarios"].as_array().expect("scenarios") {
            let service = scenario["serviceName"].as_str().expect("serviceName");
            let by_transport = scenario["expectedEndpoints"]
                .as_object()
                .expect("endpoints");
            for (transport, endpoints) in by_transport {
                // An AMQP transient queue ends in a fresh UUID; the fixture gives the prefix.
                let endpoints: Vec<Value> = endpoints
                    .as_array()
                    .expect("endpoint list")
                    .iter()
                    .map(|ep| {
                        let mut ep = ep.as_object().expect("endpoint").clone();
                        if let Some(Value::String(prefix)) = ep.remove("queueNamePrefix") {
                            let queue = format!("{prefix}6f1c1c43-7c8a-4a55-9a43-3c2a5c1d2e0f");
                            ep.insert("queueName".to_owned(), json!(queue));
                        }
                        Value::Object(ep)
                    })
                    .collect();
                let t =
                    json!({"transport": transport, "serviceName": service, "endpoints": endpoints});
                let path = write(dir.path(), &format!("{transport}-{service}.json"), &t);
                ok(&messaging(
                    &["--rules", "export", "validate", s(&path)],
                    None,
                ));
                checked += 1;
            }
        }
        assert_eq!(checked, 18);
    }

    let mut setups = vec![
        Setup::event_publisher(),
        Setup::stream_publisher("audit"),
        Setup::service_publisher("billing"),
        Setup::event_consumer("Order.#", noop),
        Setup::event_consumer("Order.Created", noop).suffix("mail"),
        Setup::transient_event_consumer("Order.*", noop),
        Setup::stream_consumer("audit", "Audit.Entry", noop),
        Setup::request_handler("invoice.create", answer),
        Setup::service_response_consumer("billing", "invoice.create", noop),
    ];
    for rules in [Rules::nats(), Rules::amqp()] {
        if rules == Rules::amqp() {
            setups.push(Setup::queue_publisher("tasks"));
        }
        let plan = messaging_core::plan(&rules, "shop", &setups, &ConsumerOptions::default())
            .expect("the library plans these");
        let value = serde_json::to_value(&plan.topology).expect("serialise");
        let path = write(
            dir.path(),
            &format!("planned-{:?}.json", rules.transport),
            &value,
        );
        ok(&messaging(
            &["--rules", "export", "validate", s(&path)],
            None,
        ));
    }
}
