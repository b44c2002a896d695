//! `--rules spec|export`: topologies exported by transports (publish endpoints without a
//! routing key) fail the Go-exact rules and pass the export rules.

use messaging_spec::{EndpointDirection, Pattern, SetupIntent, Transport, topology_for_intents};

use super::*;

/// What a NATS transport exports for `orders` publishing events and `notifications`
/// consuming `Order.Created` from them.
fn exported_event_stream() -> (Topology, Topology) {
    let publisher = SetupIntent::new(Pattern::EventStream, EndpointDirection::Publish);
    let mut consumer = SetupIntent::new(Pattern::EventStream, EndpointDirection::Consume);
    consumer.routing_key = "Order.Created".to_owned();
    (
        topology_for_intents(&Transport::Nats, "orders", &[publisher]),
        topology_for_intents(&Transport::Nats, "notifications", &[consumer]),
    )
}

fn write_topology(dir: &Path, name: &str, t: &Topology) -> PathBuf {
    write(
        dir,
        name,
        &serde_json::to_value(t).expect("topology serialises"),
    )
}

#[test]
fn exported_topologies_fail_spec_rules_and_pass_export_rules() {
    let (orders, notifications) = exported_event_stream();
    assert_eq!(
        orders.endpoints[0].routing_key, "",
        "transports export keyless publishers"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let o = write_topology(dir.path(), "orders.json", &orders);
    let n = write_topology(dir.path(), "notifications.json", &notifications);
    let (op, np) = (o.display(), n.display());

    let spec_errors = format!(
        "ERROR: {op}: service \"orders\": endpoint[0]: routing key must not be empty for topic exchange\n\
         ERROR: {np}: service \"notifications\" consumes \"Order.Created\" on exchange \"events\" but no service publishes it\n"
    );
    for args in [
        vec!["cross-validate", s(&o), s(&n)],
        vec!["--rules", "spec", "cross-validate", s(&o), s(&n)],
        vec!["visualize", "--rules=spec", s(&o), s(&n)],
    ] {
        let run = messaging(&args, None);
        assert_eq!(run.code, Some(1), "{args:?}: {run:?}");
        assert_eq!(run.stdout, spec_errors, "{args:?}");
    }
    let run = messaging(&["validate", s(&o)], None);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(
        run.stdout,
        format!("ERROR: {op}: endpoint[0]: routing key must not be empty for topic exchange\n")
    );

    let run = messaging(
        &[
            "--rules",
            "export",
            "--verbose",
            "cross-validate",
            s(&o),
            s(&n),
        ],
        None,
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        run.stdout,
        "OK: 2 services (orders, notifications), 2 endpoints OK\n"
    );
    let run = messaging(&["validate", "--rules", "export", s(&o)], None);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (Some(0), "OK\n"),
        "{run:?}"
    );

    let run = messaging(&["visualize", "--rules", "export", s(&o), s(&n)], None);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, mermaid(&[orders, notifications]));
    assert_eq!(
        run.stdout,
        "graph LR\n    \
         notifications[\"notifications\"]\n    \
         orders[\"orders\"]\n    \
         events{{\"events\"}}\n    \
         events -->|\"Order.Created\"| notifications\n    \
         orders --> events\n    \
         style notifications fill:#f9f,stroke:#333\n    \
         style orders fill:#f9f,stroke:#333\n    \
         style events fill:#bbf,stroke:#333\n"
    );
}

#[test]
fn export_rules_still_reject_invalid_topologies() {
    let (mut orders, notifications) = exported_event_stream();
    orders.endpoints[0].exchange_name = String::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let o = write_topology(dir.path(), "orders.json", &orders);
    let n = write_topology(dir.path(), "notifications.json", &notifications);
    let (op, np) = (o.display(), n.display());

    let run = messaging(&["--rules", "export", "validate", s(&o)], None);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(
        run.stdout,
        format!("ERROR: {op}: endpoint[0]: exchange name must not be empty\n")
    );

    let want = format!(
        "ERROR: {op}: service \"orders\": endpoint[0]: exchange name must not be empty\n\
         ERROR: {np}: service \"notifications\" consumes \"Order.Created\" on exchange \"events\" but no service publishes it\n"
    );
    for cmd in ["cross-validate", "visualize"] {
        let run = messaging(&["--rules", "export", cmd, s(&o), s(&n)], None);
        assert_eq!(run.code, Some(1), "{cmd}: {run:?}");
        assert_eq!(run.stdout, want, "{cmd}");
    }

    let run = messaging(
        &["--rules", "export", "--format", "json", "validate", s(&o)],
        None,
    );
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(
        json_out(&run),
        json!({"ok": false, "errors": [format!("{op}: endpoint[0]: exchange name must not be empty")]})
    );
}

#[test]
fn exported_request_reply_passes_only_export_rules() {
    let mut request = SetupIntent::new(Pattern::ServiceRequest, EndpointDirection::Publish);
    request.target_service = "billing".to_owned();
    let mut response = SetupIntent::new(Pattern::ServiceResponse, EndpointDirection::Consume);
    response.target_service = "billing".to_owned();
    response.routing_key = "invoice.create".to_owned();
    let mut handler = SetupIntent::new(Pattern::ServiceRequest, EndpointDirection::Consume);
    handler.routing_key = "invoice.create".to_owned();
    let web = topology_for_intents(&Transport::Nats, "web-app", &[request, response]);
    let billing = topology_for_intents(&Transport::Nats, "billing", &[handler]);
    let dir = tempfile::tempdir().expect("tempdir");
    let w = write_topology(dir.path(), "web-app.json", &web);
    let b = write_topology(dir.path(), "billing.json", &billing);

    let (wp, bp) = (w.display(), b.display());
    let run = messaging(&["cross-validate", s(&w), s(&b)], None);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(
        run.stdout,
        format!(
            "ERROR: {wp}: service \"web-app\": endpoint[0]: routing key must not be empty for direct exchange\n\
             ERROR: {wp}: service \"web-app\" consumes \"invoice.create\" on exchange \"billing\" but no service publishes it\n\
             ERROR: {bp}: service \"billing\" consumes \"invoice.create\" on exchange \"billing\" but no service publishes it\n"
        )
    );

    let run = messaging(&["--rules", "export", "visualize", s(&w), s(&b)], None);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, mermaid(&[web, billing]));
}

#[test]
fn examples_visualize_under_export_rules_and_check_fixtures_follows_rules() {
    let paths = examples();
    let mut args = vec!["visualize", "--rules", "export"];
    args.extend(paths.iter().map(|p| s(p)));
    let run = messaging(&args, None);
    assert_eq!(run.code, Some(0), "{run:?}");
    let ts: Vec<Topology> = paths
        .iter()
        .map(|p| serde_json::from_slice(&std::fs::read(p).expect("read")).expect("parse"))
        .collect();
    assert_eq!(run.stdout, mermaid(&ts));

    let (orders, _) = exported_event_stream();
    let dir = tempfile::tempdir().expect("tempdir");
    let o = write_topology(dir.path(), "orders.json", &orders);
    let run = messaging(&["check-fixtures", s(dir.path())], None);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(
        run.stdout,
        format!(
            "ERROR: {}: endpoint[0]: routing key must not be empty for topic exchange\n",
            o.display()
        )
    );
    let run = messaging(
        &["check-fixtures", "--rules", "export", s(dir.path())],
        None,
    );
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (Some(0), "OK\n"),
        "{run:?}"
    );

    let run = messaging(&["--rules", "loose", "validate", s(&o)], None);
    assert_eq!(run.code, Some(2), "{run:?}");
    let run = messaging(&["--help"], None);
    assert!(run.stdout.contains("--rules <RULES>"), "{}", run.stdout);
    assert!(run.stdout.contains("export: "), "{}", run.stdout);
}
