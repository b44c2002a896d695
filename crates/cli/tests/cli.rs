//! End-to-end tests of the `messaging` binary: every `validate.json` case, exit codes,
//! stdin, JSON output, check-fixtures, file/endpoint naming in errors, and `--rules`.

mod common;

use std::path::{Path, PathBuf};

use common::{Run, messaging};
use messaging_spec::{Topology, mermaid, validate, validate_topologies};
use serde_json::{Value, json};

fn write(dir: &Path, name: &str, value: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(value).expect("serialise")).expect("write");
    path
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

fn topology(value: &Value) -> Topology {
    serde_json::from_value(value.clone()).expect("fixture topology parses")
}

fn json_out(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).expect("stdout is JSON")
}

fn examples() -> Vec<PathBuf> {
    ["billing", "notifications", "orders", "web-app"]
        .iter()
        .map(|n| common::repo_root().join(format!("examples/topologies/{n}.json")))
        .collect()
}

/// A NATS service `audit` consuming `routing_key` from `events`, with no publisher.
fn audit_consumer(routing_key: &str) -> Value {
    json!({
        "transport": "nats",
        "serviceName": "audit",
        "endpoints": [{"direction": "consume", "pattern": "event-stream", "exchangeName": "events",
                       "exchangeKind": "topic", "queueName": "audit", "routingKey": routing_key}]
    })
}

#[test]
fn validate_every_single_fixture_case() {
    let Some(fixture) = common::load("validate.json") else {
        return;
    };
    let cases = fixture["single"].as_array().expect("single cases");
    let dir = tempfile::tempdir().expect("tempdir");
    for (i, case) in cases.iter().enumerate() {
        let name = case["name"].as_str().expect("name");
        let path = write(dir.path(), &format!("case-{i}.json"), &case["topology"]);
        let want_lines = validate(&topology(&case["topology"]))
            .err()
            .map(|e| e.lines())
            .unwrap_or_default();

        // Text, from a file.
        let run = messaging(&["validate", s(&path)], None);
        match case["expectedError"].as_str() {
            None => {
                assert_eq!(run.code, Some(0), "{name}: {run:?}");
                assert_eq!(run.stdout, "OK\n", "{name}");
            }
            Some(expected) => {
                assert_eq!(run.code, Some(1), "{name}: {run:?}");
                assert!(run.stdout.contains(expected), "{name}: {}", run.stdout);
                let want: String = want_lines
                    .iter()
                    .map(|l| format!("ERROR: {}: {l}\n", path.display()))
                    .collect();
                assert_eq!(run.stdout, want, "{name}");
            }
        }

        // JSON, from stdin.
        let text = serde_json::to_string(&case["topology"]).expect("serialise");
        let run = messaging(&["--format", "json", "validate", "-"], Some(&text));
        let out = json_out(&run);
        match case["expectedError"].as_str() {
            None => {
                assert_eq!(run.code, Some(0), "{name} (stdin): {run:?}");
                assert_eq!(out, json!({"ok": true}), "{name} (stdin)");
            }
            Some(_) => {
                assert_eq!(run.code, Some(1), "{name} (stdin): {run:?}");
                let errors: Vec<String> =
                    want_lines.iter().map(|l| format!("<stdin>: {l}")).collect();
                assert_eq!(
                    out,
                    json!({"ok": false, "errors": errors}),
                    "{name} (stdin)"
                );
            }
        }
    }
    common::report("validate.json single (cli)", cases.len());
}

#[test]
fn cross_validate_every_cross_fixture_case() {
    let Some(fixture) = common::load("validate.json") else {
        return;
    };
    let cases = fixture["cross"].as_array().expect("cross cases");
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let dir = tempfile::tempdir().expect("tempdir");
        let values = case["topologies"].as_array().expect("topologies");
        let paths: Vec<PathBuf> = values
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let svc = t["serviceName"].as_str().expect("serviceName");
                write(dir.path(), &format!("{i}-{svc}.json"), t)
            })
            .collect();
        let mut args = vec!["cross-validate"];
        args.extend(paths.iter().map(|p| s(p)));
        let run = messaging(&args, None);
        let Some(expected) = case["expectedError"].as_str() else {
            assert_eq!(run.code, Some(0), "{name}: {run:?}");
            assert_eq!(run.stdout, "OK\n", "{name}");
            continue;
        };
        assert_eq!(run.code, Some(1), "{name}: {run:?}");
        assert!(run.stdout.contains(expected), "{name}: {}", run.stdout);

        // Each line is the library's line behind the file of the service it names.
        let ts: Vec<Topology> = values.iter().map(topology).collect();
        let lib_lines = validate_topologies(&ts)
            .err()
            .map(|e| e.lines())
            .unwrap_or_default();
        let got: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(got.len(), lib_lines.len(), "{name}: {}", run.stdout);
        let mut owner = None;
        for (got, lib) in got.iter().zip(&lib_lines) {
            // A line naming no service continues the previous service's errors.
            if let Some(svc) = lib
                .strip_prefix("service \"")
                .and_then(|r| r.split('"').next())
            {
                owner = ts.iter().position(|t| t.service_name == svc);
            }
            let i = owner.expect("the first line names a service");
            assert_eq!(
                *got,
                format!("ERROR: {}: {lib}", paths[i].display()),
                "{name}"
            );
        }
    }
    common::report("validate.json cross (cli)", cases.len());
}

#[test]
fn errors_name_file_and_endpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = json!({
        "transport": "nats",
        "serviceName": "orders",
        "endpoints": [
            {"direction": "publish", "pattern": "event-stream", "exchangeName": "events",
             "exchangeKind": "topic", "routingKey": "Order.Created"},
            {"direction": "consume", "pattern": "event-stream", "exchangeName": "events",
             "exchangeKind": "topic", "routingKey": "Order.Created"},
            {"direction": "consume", "pattern": "event-stream", "exchangeName": "bad name",
             "exchangeKind": "topic", "queueName": "q", "routingKey": "Order.>"}
        ]
    });
    let path = write(dir.path(), "orders.json", &t);
    let run = messaging(&["validate", s(&path)], None);
    assert_eq!(run.code, Some(1));
    let p = path.display();
    assert_eq!(
        run.stdout,
        format!(
            "ERROR: {p}: endpoint[1]: consume endpoint must have a queue name\n\
             ERROR: {p}: endpoint[2]: routing key must not contain '>' (use '#' for multi-level wildcard)\n\
             ERROR: {p}: endpoint[2]: NATS exchange \"bad name\" must not contain whitespace\n"
        )
    );

    // Across files, the service prefix stays and continuation lines keep the file too.
    let other = write(dir.path(), "audit.json", &audit_consumer("Order.Paid"));
    let run = messaging(&["cross-validate", s(&other), s(&path)], None);
    assert_eq!(run.code, Some(1));
    let o = other.display();
    assert_eq!(
        run.stdout,
        format!(
            "ERROR: {p}: service \"orders\": endpoint[1]: consume endpoint must have a queue name\n\
             ERROR: {p}: endpoint[2]: routing key must not contain '>' (use '#' for multi-level wildcard)\n\
             ERROR: {p}: endpoint[2]: NATS exchange \"bad name\" must not contain whitespace\n\
             ERROR: {o}: service \"audit\" consumes \"Order.Paid\" on exchange \"events\" but no service publishes it\n"
        )
    );
}

#[test]
fn unreadable_and_malformed_inputs_exit_1_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.json");
    let run = messaging(&["validate", s(&missing)], None);
    assert_eq!(run.code, Some(1));
    let prefix = format!("ERROR: reading {}: ", missing.display());
    assert!(run.stdout.starts_with(&prefix), "{}", run.stdout);
    assert_eq!(run.stdout.lines().count(), 1);

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{not json").expect("write");
    for args in [
        vec!["validate", s(&bad)],
        vec!["cross-validate", s(&bad)],
        vec!["visualize", s(&bad)],
    ] {
        let run = messaging(&args, None);
        assert_eq!(run.code, Some(1), "{args:?}");
        let prefix = format!("ERROR: parsing {}: ", bad.display());
        assert!(run.stdout.starts_with(&prefix), "{args:?}: {}", run.stdout);
    }

    let run = messaging(&["--format", "json", "validate", "-"], Some("[]"));
    assert_eq!(run.code, Some(1));
    let out = json_out(&run);
    let error = out["errors"][0].as_str().expect("one error");
    assert!(error.starts_with("parsing <stdin>: "), "{error}");
    assert_eq!(out["ok"], json!(false));
}

#[test]
fn usage_errors_exit_2() {
    let orders = examples()[2].clone();
    let cases: Vec<Vec<&str>> = vec![
        vec![],
        vec!["frobnicate"],
        vec!["cross-validate"],
        vec!["visualize"],
        vec!["validate", "a.json", "b.json"],
        vec!["--format", "xml", "validate", s(&orders)],
        vec!["visualize", "--mermaid-src", "x.mjs", s(&orders)],
        vec!["validate", "--bogus", s(&orders)],
    ];
    for args in cases {
        let run = messaging(&args, None);
        assert_eq!(run.code, Some(2), "{args:?}: {run:?}");
        assert!(run.stdout.is_empty(), "{args:?}: usage goes to stderr");
        assert!(!run.stderr.is_empty(), "{args:?}");
    }
    let run = messaging(&["--help"], None);
    assert_eq!(run.code, Some(0));
    assert!(run.stdout.contains("cross-validate"));
}

#[test]
fn validate_reads_stdin_without_argument_and_flags_go_anywhere() {
    let text = std::fs::read_to_string(&examples()[2]).expect("orders example");
    let run = messaging(&["validate"], Some(&text));
    assert_eq!((run.code, run.stdout.as_str()), (Some(0), "OK\n"));
    let run = messaging(&["validate", "-", "--verbose"], Some(&text));
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (Some(0), "OK: orders: 1 endpoints OK\n")
    );
    let run = messaging(&["validate", "--format=json", "--verbose"], Some(&text));
    assert_eq!(run.code, Some(0));
    assert_eq!(
        json_out(&run),
        json!({"ok": true, "details": "orders: 1 endpoints OK"})
    );
    // Pretty-printed with two spaces, as Go's encoder does.
    assert_eq!(
        run.stdout,
        "{\n  \"ok\": true,\n  \"details\": \"orders: 1 endpoints OK\"\n}\n"
    );
}

#[test]
fn examples_cross_validate_and_visualize() {
    let paths = examples();
    let mut args = vec!["--verbose", "cross-validate"];
    args.extend(paths.iter().map(|p| s(p)));
    let run = messaging(&args, None);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        run.stdout,
        "OK: 4 services (billing, notifications, orders, web-app), 5 endpoints OK\n"
    );

    let ts: Vec<Topology> = paths
        .iter()
        .map(|p| serde_json::from_slice(&std::fs::read(p).expect("read")).expect("parse"))
        .collect();
    let mut args = vec!["visualize"];
    args.extend(paths.iter().map(|p| s(p)));
    let run = messaging(&args, None);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, mermaid(&ts));

    args.insert(0, "--format=json");
    let run = messaging(&args, None);
    assert_eq!(json_out(&run), json!({"ok": true, "diagram": mermaid(&ts)}));
}

#[test]
fn visualize_validates_unless_told_not_to_and_writes_html() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lonely = audit_consumer("A&B<C");
    let path = write(dir.path(), "audit.json", &lonely);
    let page = dir.path().join("page.html");
    let run = messaging(&["visualize", "--html", s(&page), s(&path)], None);
    assert_eq!(run.code, Some(1));
    assert_eq!(
        run.stdout,
        format!(
            "ERROR: {}: service \"audit\" consumes \"A&B<C\" on exchange \"events\" but no service publishes it\n",
            path.display()
        )
    );
    assert!(!page.exists(), "no page for an invalid topology");

    let run = messaging(
        &["visualize", "--no-validate", "--html", s(&page), s(&path)],
        None,
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    let diagram = mermaid(&[topology(&lonely)]);
    assert_eq!(run.stdout, diagram);
    assert_eq!(run.stderr, format!("wrote {}\n", page.display()));
    let html = std::fs::read_to_string(&page).expect("page written");
    let escaped = diagram
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    // Self-contained by default: the picture inline, the Mermaid text to copy, no script.
    assert!(
        html.contains(&format!("<pre id=\"mermaid-source\">\n{escaped}</pre>")),
        "{html}"
    );
    assert!(html.contains("<figure id=\"picture\">\n<svg"), "{html}");
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("https://"), "{html}");

    let run = messaging(
        &[
            "visualize",
            "--no-validate",
            "--html",
            s(&page),
            "--mermaid-src",
            "./m.mjs?a&b",
            s(&path),
        ],
        None,
    );
    assert_eq!(run.code, Some(0), "{run:?}");
    let html = std::fs::read_to_string(&page).expect("page written");
    assert!(html.contains("<meta name=\"mermaid-src\" content=\"./m.mjs?a&amp;b\">"));
    assert!(
        html.contains(&format!("<pre class=\"mermaid\">\n{escaped}</pre>")),
        "{html}"
    );

    let run = messaging(
        &[
            "visualize",
            "--html",
            s(&dir.path().join("no/such/dir.html")),
            s(&examples()[2]),
        ],
        None,
    );
    assert_eq!(run.code, Some(1));
    assert!(run.stdout.starts_with("ERROR: writing "), "{}", run.stdout);
}

#[test]
fn visualize_writes_the_picture_as_svg() {
    let dir = tempfile::tempdir().expect("tempdir");
    let svg = dir.path().join("fleet.svg");
    let files: Vec<PathBuf> = examples();
    let mut args = vec!["visualize", "--rules", "export", "--svg", s(&svg)];
    args.extend(files.iter().map(|f| s(f)));
    let run = messaging(&args, None);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stderr, format!("wrote {}\n", svg.display()));
    let picture = std::fs::read_to_string(&svg).expect("svg written");
    assert!(picture.contains("<svg"), "{picture}");
    for t in &files {
        let topology: Topology =
            serde_json::from_str(&std::fs::read_to_string(t).expect("read")).expect("parse");
        let name = format!(">{}<", topology.service_name);
        assert!(picture.contains(&name), "{name} missing");
    }

    // Nothing named: no picture, an error, no file.
    let nameless = dir.path().join("nameless.json");
    write(
        dir.path(),
        "nameless.json",
        &json!({"serviceName": "", "endpoints": []}),
    );
    let empty = dir.path().join("empty.svg");
    let run = messaging(
        &[
            "visualize",
            "--no-validate",
            "--svg",
            s(&empty),
            s(&nameless),
        ],
        None,
    );
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stdout.starts_with("ERROR: nothing to draw"), "{run:?}");
    assert!(!empty.exists());
}

#[test]
fn check_fixtures_on_a_temp_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let good = std::fs::read(&examples()[2]).expect("orders example");
    std::fs::write(d.join("a-good.json"), good).expect("write");
    write(
        d,
        "b-bad.json",
        &json!({
            "transport": "amqp",
            "serviceName": "svc",
            "endpoints": [{"direction": "consume", "pattern": "event-stream", "exchangeName": "x",
                           "exchangeKind": "topic", "routingKey": "k"}]
        }),
    );
    write(d, "c-table.json", &json!({"cases": [1, 2, 3]}));
    write(d, "d-array.json", &json!([{"serviceName": 5}]));
    std::fs::write(d.join("e-broken.json"), "{\"a\": ").expect("write");
    std::fs::write(d.join("notes.txt"), "not json at all").expect("write");
    std::fs::create_dir(d.join("sub")).expect("mkdir");
    std::fs::write(d.join("sub/deep.json"), "broken").expect("write");

    let run = messaging(&["check-fixtures", s(d)], None);
    assert_eq!(run.code, Some(1), "{run:?}");
    let bad = d.join("b-bad.json");
    let broken = d.join("e-broken.json");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    assert_eq!(
        lines[0],
        format!(
            "ERROR: {}: endpoint[0]: consume endpoint must have a queue name",
            bad.display()
        )
    );
    assert_eq!(
        lines[1],
        format!(
            "ERROR: {}: endpoint[0]: topic exchange \"x\" must end with .topic.exchange",
            bad.display()
        )
    );
    assert!(
        lines[2].starts_with(&format!("ERROR: {}: invalid JSON: ", broken.display())),
        "{}",
        lines[2]
    );

    std::fs::remove_file(&bad).expect("rm");
    std::fs::remove_file(&broken).expect("rm");
    let run = messaging(&["check-fixtures", "--verbose", s(d)], None);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        run.stdout,
        format!("OK: 3 JSON files checked in {}\n", d.display())
    );

    let run = messaging(&["check-fixtures", s(&d.join("absent"))], None);
    assert_eq!(run.code, Some(1));
    assert!(run.stdout.starts_with(&format!(
        "ERROR: reading directory {}: ",
        d.join("absent").display()
    )));
}

#[test]
fn check_fixtures_accepts_the_spec_testdata() {
    let dir = common::testdata_dir();
    if common::load("validate.json").is_none() {
        return;
    }
    let run = messaging(&["check-fixtures", s(&dir)], None);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (Some(0), "OK\n"),
        "{run:?}"
    );
}

// A subdirectory, so Cargo does not build it as a test target of its own.
#[path = "cli/rules.rs"]
mod rules;
