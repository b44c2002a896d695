//! Renders `messaging visualize --html` pages in headless Chromium: the self-contained
//! picture page, and Mermaid pages loading Mermaid from a local npm install served on
//! localhost (checking the SVG Mermaid drew).
//!
//! Needs `chromium` (Debian) and `npm`. Without them the test prints SKIPPED and passes,
//! except under `CI=true`, where it fails.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::browser::{CHROMIUM_LIMIT, Server, run_bounded};
use common::messaging;

/// [`common::browser::chromium_dom`], failing the test on error.
fn chromium_dom(root: &Path, url: &str) -> String {
    common::browser::chromium_dom(root, url).unwrap_or_else(|e| panic!("{e}"))
}
const NPM_LIMIT: Duration = Duration::from_secs(180);
const MERMAID_PATH: &str = "/node_modules/mermaid/dist/mermaid.esm.min.mjs";

#[test]
fn html_pages_render_in_headless_chromium() {
    if let Err(reason) = run_bounded(Command::new("chromium").arg("--version"), CHROMIUM_LIMIT) {
        return skip(&format!("chromium unavailable: {reason}"));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let mut npm = Command::new("npm");
    npm.args([
        "install",
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
        "--prefix",
    ])
    .arg(root)
    .arg("mermaid@11");
    if let Err(reason) = run_bounded(&mut npm, NPM_LIMIT) {
        return skip(&format!("npm install mermaid@11 failed: {reason}"));
    }
    let server = Server::start(root.to_owned()).expect("start file server");
    let src = format!("http://{}{MERMAID_PATH}", server.addr);

    // The README demo: NATS. The request "exchange" is named after the billing service,
    // so (spec §6.2) both share the node id `billing`: five nodes for six names.
    let examples = common::repo_root().join("examples/topologies");
    let files: Vec<PathBuf> = ["billing", "notifications", "orders", "web-app"]
        .iter()
        .map(|n| examples.join(format!("{n}.json")))
        .collect();
    let nodes = render_nodes(&server, root, "examples.html", &src, &files);
    assert_eq!(
        nodes.keys().map(String::as_str).collect::<Vec<_>>(),
        ["billing", "events", "notifications", "orders", "web_app"]
    );
    for (id, node) in &nodes {
        assert_eq!(node.count, 1, "node {id} drawn once");
    }
    assert_eq!(
        nodes["events"].shape, "polygon",
        "topic stream is a hexagon"
    );
    for service in ["notifications", "orders", "web_app"] {
        assert_eq!(
            (nodes[service].shape.as_str(), nodes[service].fill.as_str()),
            ("rect", "#f9f")
        );
    }
    assert!(
        server.requested(|p| p.starts_with("/node_modules/mermaid/dist/chunks/")),
        "mermaid's chunks came from the local server"
    );

    // AMQP request/response plus an event: one node per service and per exchange, each kind
    // in its shape.
    let amqp = root.join("amqp");
    std::fs::create_dir(&amqp).expect("mkdir");
    let files = write_amqp_sample(&amqp);
    let nodes = render_nodes(&server, root, "amqp.html", &src, &files);
    let got: Vec<(&str, usize, &str, &str)> = nodes
        .iter()
        .map(|(id, n)| (id.as_str(), n.count, n.shape.as_str(), n.fill.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("email_svc", 1, "rect", "#f9f"),
            ("email_svc_direct_exchange_request", 1, "rect", "#bbf"),
            ("email_svc_headers_exchange_response", 1, "circle", "#bbf"),
            ("events_topic_exchange", 1, "polygon", "#bbf"),
            ("web_app", 1, "rect", "#f9f"),
        ]
    );

    // An unreachable Mermaid is reported on the page instead of failing silently.
    let missing = format!("http://{}/no/such/mermaid.mjs", server.addr);
    let page = root.join("broken.html");
    let mut args = vec!["visualize", "--html", s(&page), "--mermaid-src", &missing];
    args.extend(files.iter().map(|f| s(f)));
    let run = messaging(&args, None);
    assert_eq!(run.code, Some(0), "{run:?}");
    let dom = chromium_dom(root, &format!("http://{}/broken.html", server.addr));
    assert!(!dom.contains("<svg"), "nothing rendered without mermaid");
    assert!(
        dom.contains(&format!(
            "Could not render the diagram with Mermaid from {missing}"
        )),
        "{dom}"
    );
}

/// The default page (no `--mermaid-src`) draws the fleet itself: Chromium shows the
/// picture's SVG with every service, stream and request path, and fetches nothing but the
/// page.
#[test]
fn the_fleet_picture_page_is_self_contained() {
    if let Err(reason) = run_bounded(Command::new("chromium").arg("--version"), CHROMIUM_LIMIT) {
        return skip(&format!("chromium unavailable: {reason}"));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let server = Server::start(root.to_owned()).expect("start file server");
    let examples = common::repo_root().join("examples/topologies");
    let page = root.join("picture.html");
    let mut args = vec!["visualize", "--html", s(&page)];
    let files: Vec<PathBuf> = ["billing", "notifications", "orders", "web-app"]
        .iter()
        .map(|n| examples.join(format!("{n}.json")))
        .collect();
    args.extend(files.iter().map(|f| s(f)));
    let run = messaging(&args, None);
    assert_eq!(run.code, Some(0), "{run:?}");
    let dom = chromium_dom(root, &format!("http://{}/picture.html", server.addr));
    let start = dom
        .find("<figure id=\"picture\">")
        .unwrap_or_else(|| panic!("no picture in DOM:\n{dom}"));
    let end = dom[start..].find("</figure>").expect("figure closes") + start;
    let figure = &dom[start..end];
    assert!(figure.contains("<svg"), "{figure}");
    let texts: Vec<&str> = figure
        .split("<tspan")
        .skip(1)
        .filter_map(|t| t.split_once('>').map(|(_, rest)| rest))
        .filter_map(|rest| rest.split_once('<').map(|(text, _)| text.trim()))
        .collect();
    for name in [
        "billing",
        "notifications",
        "orders",
        "web-app",
        "events",
        "stream",
        "requests",
    ] {
        assert!(texts.contains(&name), "{name} not drawn: {texts:?}");
    }
    // billing's request subjects and web-app's responses from it are nodes of their own,
    // next to the service (Mermaid gives all three one id).
    assert_eq!(
        texts.iter().filter(|t| **t == "billing").count(),
        3,
        "{texts:?}"
    );
    assert!(texts.contains(&"responses"), "{texts:?}");
    assert!(
        !server.requested(|p| p != "/picture.html" && p != "/favicon.ico"),
        "the page fetched something: {:?}",
        server.paths()
    );
}

fn skip(reason: &str) {
    assert!(!common::in_ci(), "{reason} (required under CI=true)");
    println!("SKIPPED: {reason}");
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

/// Writes `page` for `files` under `root`, renders it and returns the SVG's nodes.
fn render_nodes(
    server: &Server,
    root: &Path,
    page: &str,
    src: &str,
    files: &[PathBuf],
) -> BTreeMap<String, Node> {
    let path = root.join(page);
    let mut args = vec!["visualize", "--html", s(&path), "--mermaid-src", src];
    args.extend(files.iter().map(|f| s(f)));
    let run = messaging(&args, None);
    assert_eq!(run.code, Some(0), "{run:?}");
    let dom = chromium_dom(root, &format!("http://{}/{page}", server.addr));
    let start = dom
        .find("<svg")
        .unwrap_or_else(|| panic!("{page}: no <svg> in DOM:\n{dom}"));
    let end = dom[start..].find("</svg>").expect("svg closes") + start;
    nodes(&dom[start..end])
}

/// One drawn Mermaid node: how often its id occurs, its outline element and fill.
#[derive(Debug)]
struct Node {
    count: usize,
    shape: String,
    fill: String,
}

/// Mermaid draws each node as `<g class="node …" id="…-flowchart-<id>-<n>">` whose first
/// child is the outline (`rect`, `circle` or `polygon`) carrying the style's fill.
fn nodes(svg: &str) -> BTreeMap<String, Node> {
    let mut found: BTreeMap<String, Node> = BTreeMap::new();
    for (at, _) in svg.match_indices("<g class=\"node ") {
        let tag_end = svg[at..].find('>').expect("tag closes") + at;
        let tag = &svg[at..tag_end];
        let id = attr(tag, "id").expect("node has an id");
        let id = id.split_once("-flowchart-").map_or(id, |(_, rest)| rest);
        let id = id.rsplit_once('-').map_or(id, |(name, _)| name).to_owned();
        let child = svg[tag_end + 1..].trim_start();
        let shape: String = child
            .trim_start_matches('<')
            .chars()
            .take_while(char::is_ascii_alphabetic)
            .collect();
        let child_tag = &child[..child.find('>').unwrap_or(child.len())];
        let fill = child_tag
            .split_once("fill:")
            .map(|(_, rest)| {
                rest.chars()
                    .take_while(|c| *c == '#' || c.is_ascii_hexdigit())
                    .collect()
            })
            .unwrap_or_default();
        let node = found.entry(id).or_insert(Node {
            count: 0,
            shape,
            fill,
        });
        node.count += 1;
    }
    found
}

fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let len = tag[start..].find('"')?;
    Some(&tag[start..start + len])
}

/// A valid AMQP sample (spec §6.2's request/response example plus an event publisher).
fn write_amqp_sample(dir: &Path) -> Vec<PathBuf> {
    let email = serde_json::json!({
        "transport": "amqp",
        "serviceName": "email-svc",
        "endpoints": [
            {"direction": "consume", "pattern": "service-request",
             "exchangeName": "email-svc.direct.exchange.request", "exchangeKind": "direct",
             "queueName": "email-svc.direct.exchange.request.queue", "routingKey": "email.send"},
            {"direction": "publish", "pattern": "service-response",
             "exchangeName": "email-svc.headers.exchange.response", "exchangeKind": "headers",
             "routingKey": "email.send"}
        ]
    });
    let web = serde_json::json!({
        "transport": "amqp",
        "serviceName": "web-app",
        "endpoints": [
            {"direction": "publish", "pattern": "service-request",
             "exchangeName": "email-svc.direct.exchange.request", "exchangeKind": "direct",
             "routingKey": "email.send"},
            {"direction": "consume", "pattern": "service-response",
             "exchangeName": "email-svc.headers.exchange.response", "exchangeKind": "headers",
             "queueName": "email-svc.headers.exchange.response.queue.web-app",
             "routingKey": "email.send"},
            {"direction": "publish", "pattern": "event-stream",
             "exchangeName": "events.topic.exchange", "exchangeKind": "topic",
             "routingKey": "Signup.Completed"}
        ]
    });
    [("email-svc.json", email), ("web-app.json", web)]
        .into_iter()
        .map(|(name, value)| {
            let path = dir.join(name);
            std::fs::write(&path, value.to_string()).expect("write sample");
            path
        })
        .collect()
}
