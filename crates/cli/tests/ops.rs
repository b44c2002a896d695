//! `discover`, `plan` and `doctor` against real brokers started by the test: a fleet of
//! services on NATS (event consumers, a suffixed consumer, a transient one, request
//! handlers, a publisher) and one on RabbitMQ. Discovery is compared with what each
//! service exports (`Connection::topology()`), minus what a broker cannot know.

mod common;
#[path = "ops/render.rs"]
mod render;

use std::path::{Path, PathBuf};
use std::time::Duration;

use messaging_nats::async_nats::jetstream::{self, AckKind, consumer};
use messaging_nats::{Connection, Setup};
use messaging_spec::{ConsumableEvent, EndpointDirection, HandlerError, Pattern, Topology};
use messaging_testkit::{NatsServer, RabbitServer};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use common::Run;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

const LIMIT: Duration = Duration::from_secs(20);

async fn messaging(args: Vec<String>) -> Run {
    let run = tokio::time::timeout(
        LIMIT,
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            common::messaging(&args, None)
        }),
    )
    .await;
    match run {
        Ok(Ok(run)) => run,
        Ok(Err(e)) => panic!("running messaging: {e}"),
        Err(_) => panic!("messaging did not finish within {LIMIT:?}"),
    }
}

fn args(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| (*s).to_owned()).collect()
}

async fn ok_event(_ev: ConsumableEvent<Value>) -> Result<(), HandlerError> {
    Ok(())
}

/// The fleet: orders publishes and calls billing; notifications consumes two keys on one
/// durable, everything on a suffixed one, and tails transiently; billing answers two
/// requests and consumes the `audit` stream.
struct Fleet {
    orders: Connection,
    notifications: Connection,
    billing: Connection,
    /// One entry per event notifications' consumers handled.
    handled: mpsc::UnboundedReceiver<String>,
}

fn forward(
    tx: &mpsc::UnboundedSender<String>,
) -> impl Fn(ConsumableEvent<Value>) -> std::future::Ready<Result<(), HandlerError>>
+ Clone
+ Send
+ Sync
+ 'static {
    let tx = tx.clone();
    move |ev: ConsumableEvent<Value>| {
        let _ = tx.send(ev.delivery_info.destination);
        std::future::ready(Ok(()))
    }
}

impl Fleet {
    async fn start(url: &str) -> Result<Self, messaging_nats::Error> {
        let (tx, handled) = mpsc::unbounded_channel();
        let charge = |ev: ConsumableEvent<Value>| async move {
            Ok::<Value, HandlerError>(json!({"charged": ev.payload["cents"]}))
        };
        let refund =
            |_ev: ConsumableEvent<Value>| async move { Ok::<Value, HandlerError>(json!({})) };
        let billing = Connection::builder("billing")
            .url(url)
            .setup(Setup::request_handler("Billing.Charge", charge))
            .setup(Setup::request_handler("Billing.Refund", refund))
            .setup(Setup::stream_consumer("audit", "Audit.*", ok_event))
            .start()
            .await?;
        let notifications = Connection::builder("notifications")
            .url(url)
            .setup(Setup::event_consumer("Order.Created", forward(&tx)))
            .setup(Setup::event_consumer("Order.Shipped", forward(&tx)))
            .setup(Setup::event_consumer("Order.#", forward(&tx)).suffix("audit"))
            .setup(Setup::transient_event_consumer("#", forward(&tx)))
            .start()
            .await?;
        let orders = Connection::builder("orders")
            .url(url)
            .event_publisher()
            .service_publisher("billing")
            .start()
            .await?;
        orders
            .event_publisher()?
            .publish("Order.Created", &json!({"id": 1}))
            .await?;
        Ok(Self {
            orders,
            notifications,
            billing,
            handled,
        })
    }

    /// Waits until notifications' three consumers (durable, suffixed, transient) have the
    /// event, so no consumer of the fleet has anything pending.
    async fn settled(&mut self) -> Result<(), tokio::time::error::Elapsed> {
        tokio::time::timeout(LIMIT, async {
            for _ in 0..3 {
                self.handled.recv().await;
            }
        })
        .await
    }

    fn topologies(&self) -> Vec<Topology> {
        [&self.billing, &self.notifications, &self.orders]
            .iter()
            .map(|c| c.topology().clone())
            .collect()
    }

    async fn close(self) -> Result<(), messaging_nats::Error> {
        self.orders.close().await?;
        self.notifications.close().await?;
        self.billing.close().await
    }
}

/// What a broker can know of an exported topology: no message types, no request
/// publishers (Core NATS requests leave no trace), no response consumers on NATS (nothing
/// on the broker), no transient consumers on NATS (the server names them), no publishers
/// on RabbitMQ; endpoints sorted, since the broker keeps no registration order.
fn knowable(t: &Topology, on_nats: bool) -> Topology {
    let mut t = t.clone();
    t.endpoints.retain(|e| match (&e.direction, &e.pattern) {
        (EndpointDirection::Publish, Pattern::EventStream | Pattern::CustomStream) => on_nats,
        (EndpointDirection::Publish, _) => false,
        (_, Pattern::ServiceResponse) => !on_nats,
        _ => !(on_nats && e.ephemeral),
    });
    for e in &mut t.endpoints {
        e.message_type.clear();
    }
    sorted(t)
}

fn sorted(mut t: Topology) -> Topology {
    t.endpoints
        .sort_by_key(|e| serde_json::to_string(e).unwrap_or_default());
    t
}

fn write_topologies(dir: &Path, topologies: &[Topology]) -> Result<Vec<PathBuf>, std::io::Error> {
    topologies
        .iter()
        .map(|t| {
            let path = dir.join(format!("{}.json", t.service_name));
            std::fs::write(&path, serde_json::to_string_pretty(t).unwrap_or_default())?;
            Ok(path)
        })
        .collect()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_reads_back_what_the_fleet_exports() -> TestResult {
    let server = NatsServer::start()?;
    let url = server.client_url();
    let fleet = Fleet::start(&url).await?;
    let run = messaging(args(&["discover", "--nats", &url, "--format", "json"])).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        run.stderr, "",
        "no progress when stderr is piped without --verbose"
    );
    assert!(
        run.stdout
            .starts_with("[\n  {\n    \"transport\": \"nats\",\n    \"serviceName\": \"billing\","),
        "the spec's field order: {}",
        run.stdout
    );
    let found: Vec<Topology> = serde_json::from_str(&run.stdout)?;
    let found: Vec<Topology> = found.into_iter().map(sorted).collect();
    let exported: Vec<Topology> = fleet
        .topologies()
        .iter()
        .map(|t| knowable(t, true))
        .collect();
    assert_eq!(found, exported);
    // The difference, spelled out once: what the services export and the broker cannot know.
    let dropped: usize = fleet
        .topologies()
        .iter()
        .zip(&exported)
        .map(|(t, k)| t.endpoints.len() - k.endpoints.len())
        .sum();
    assert_eq!(
        dropped, 2,
        "orders' request publisher, notifications' transient consumer"
    );

    let text = messaging(args(&["discover", "--nats", &url, "--verbose"])).await;
    assert_eq!(text.code, Some(0), "{text:?}");
    println!("--- discover (text)\n{}", text.stdout);
    assert!(
        text.stderr.contains("messaging: listing streams"),
        "{text:?}"
    );
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(
        lines[..9],
        [
            "SERVICE        ENDPOINT          EXCHANGE  QUEUE                ROUTING KEY",
            "billing        consumes          audit     billing              Audit.*",
            "billing        handles requests  billing   billing              Billing.Charge",
            "billing        handles requests  billing   billing              Billing.Refund",
            "notifications  consumes          events    notifications        Order.Created",
            "notifications  consumes          events    notifications        Order.Shipped",
            "notifications  consumes          events    notifications-audit  Order.#",
            "orders         publishes to      events",
            "",
        ]
    );
    assert_eq!(
        lines[9..],
        [
            "STREAM  SUBJECTS  MESSAGES  CONSUMERS  PUBLISHERS",
            "audit   audit.>   0         1",
            "events  events.>  1         3          orders",
            "note: stream events: 1 ephemeral consumer(s) not attributed (they carry no service name)",
        ]
    );

    // `--out` writes files that the topology commands read as they are.
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("fleet");
    let wrote = messaging(args(&["discover", "--nats", &url, "--out", s(&out)])).await;
    assert_eq!(wrote.code, Some(0), "{wrote:?}");
    let files: Vec<PathBuf> = ["billing", "notifications", "orders"]
        .iter()
        .map(|n| out.join(format!("{n}.json")))
        .collect();
    assert_eq!(
        wrote.stdout,
        files
            .iter()
            .map(|f| format!("wrote {}\n", f.display()))
            .collect::<String>()
    );
    let mut visualize = vec!["visualize", "--no-validate"];
    visualize.extend(files.iter().map(|f| s(f)));
    let drawn = messaging(args(&visualize)).await;
    assert_eq!(drawn.code, Some(0), "{drawn:?}");
    assert!(drawn.stdout.starts_with("graph LR\n"), "{drawn:?}");
    for file in &files {
        let run = messaging(args(&["validate", "--rules", "export", s(file)])).await;
        assert_eq!(run.code, Some(0), "{}: {run:?}", file.display());
    }
    fleet.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_finds_exactly_the_drift() -> TestResult {
    let server = NatsServer::start()?;
    let url = server.client_url();
    let fleet = Fleet::start(&url).await?;
    let dir = tempfile::tempdir()?;
    let files = write_topologies(dir.path(), &fleet.topologies())?;
    let mut plan = vec!["plan".to_owned(), "--nats".to_owned(), url.clone()];
    plan.extend(files.iter().map(|f| s(f).to_owned()));

    let clean = messaging(plan.clone()).await;
    assert_eq!(clean.code, Some(0), "{clean:?}");
    assert_eq!(
        clean.stdout,
        "No drift: the broker matches the 3 declared topologies.\n"
    );

    // One declared routing key changed: the consumer's filters differ.
    let notifications = &files[1];
    let text = std::fs::read_to_string(notifications)?.replace("Order.Shipped", "Order.Paid");
    std::fs::write(notifications, text)?;
    let mut json_plan = plan.clone();
    json_plan.extend(["--format".to_owned(), "json".to_owned()]);
    let drift = messaging(json_plan).await;
    assert_eq!(drift.code, Some(1), "{drift:?}");
    let drift: Value = serde_json::from_str(&drift.stdout)?;
    assert_eq!(
        drift["changes"],
        json!([{
            "action": "update",
            "kind": "consumer",
            "name": "events/notifications",
            "service": "notifications",
            "detail": "filters events.Order.Created, events.Order.Shipped → events.Order.Created, events.Order.Paid",
        }])
    );
    assert_eq!(
        drift["summary"],
        json!({"create": 0, "update": 1, "orphan": 0})
    );
    let text = messaging(plan.clone()).await;
    assert_eq!(text.code, Some(1));
    println!("--- plan (changed routing key)\n{}", text.stdout);

    // Back to the declared files, plus a consumer nobody declares.
    write_topologies(dir.path(), &fleet.topologies())?;
    let js = jetstream::new(fleet.orders.client().clone());
    js.get_stream("events")
        .await?
        .create_consumer(consumer::pull::Config {
            durable_name: Some("legacy".to_owned()),
            filter_subject: "events.Order.Created".to_owned(),
            ..Default::default()
        })
        .await?;
    let orphan = messaging(plan).await;
    assert_eq!(orphan.code, Some(1), "{orphan:?}");
    println!("--- plan (orphan)\n{}", orphan.stdout);
    assert_eq!(
        orphan.stdout,
        "ACTION    KIND      NAME           SERVICE  DETAIL\n\
         - orphan  consumer  events/legacy  legacy   declared by no file (1 pending, filters events.Order.Created)\n\
         \n\
         Plan: 0 to create, 0 to update, 1 orphan(s).\n"
    );
    fleet.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reports_lag_redeliveries_and_missing_jetstream() -> TestResult {
    let server = NatsServer::start()?;
    let url = server.client_url();
    let mut fleet = Fleet::start(&url).await?;
    let js = jetstream::new(fleet.orders.client().clone());
    let events = js.get_stream("events").await?;
    // `legacy` holds the one event nobody pulls: one pending.
    events
        .create_consumer(consumer::pull::Config {
            durable_name: Some("legacy".to_owned()),
            ..Default::default()
        })
        .await?;
    // `flaky` naks its message once and holds the redelivery unacknowledged.
    let flaky = events
        .create_consumer(consumer::pull::Config {
            durable_name: Some("flaky".to_owned()),
            ack_policy: consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await?;
    let fetch = || async {
        let mut batch = flaky
            .fetch()
            .max_messages(1)
            .expires(LIMIT)
            .messages()
            .await?;
        futures::StreamExt::next(&mut batch)
            .await
            .ok_or("no message")?
            .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e })
    };
    let first = fetch().await?;
    first.ack_with(AckKind::Nak(None)).await?;
    let again = fetch().await?;
    assert_eq!(again.info()?.delivered, 2);

    fleet.settled().await?;
    let doctor = [
        "doctor",
        "--nats",
        &url,
        "--max-lag",
        "0",
        "--max-redelivered",
        "0",
    ];
    let run = messaging(args(&doctor)).await;
    println!("--- doctor\n{}", run.stdout);
    assert_eq!(run.code, Some(0), "warnings only: {run:?}");
    let mut as_json = doctor.to_vec();
    as_json.extend(["--format", "json"]);
    let json = messaging(args(&as_json)).await;
    let report: Value = serde_json::from_str(&json.stdout)?;
    let checks = report["checks"].as_array().ok_or("checks")?;
    let got: Vec<(&str, &str)> = checks
        .iter()
        .map(|c| {
            (
                c["check"].as_str().unwrap_or(""),
                c["status"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("server", "ok"),
            ("jetstream", "ok"),
            ("account limits", "ok"),
            ("stream retention", "warn"),
            ("stream retention", "warn"),
            ("consumer lag", "warn"),
            ("redeliveries", "warn"),
            ("slow consumers", "ok"),
            ("clock skew", "ok"),
        ]
    );
    let detail = |i: usize| checks[i]["detail"].as_str().unwrap_or_default();
    assert_eq!(
        detail(5),
        "events/legacy: 1 message(s) pending (more than 0)"
    );
    assert_eq!(
        detail(6),
        "events/flaky: 1 message(s) redelivered (more than 0); handlers fail or exceed the ack wait"
    );
    assert!(
        detail(3).starts_with("audit: no max_age, max_bytes or max_msgs"),
        "{}",
        detail(3)
    );
    assert_eq!(report["summary"], json!({"ok": 5, "warn": 4, "fail": 0}));
    again.ack().await?;
    fleet.close().await?;

    let bare = NatsServer::builder().jetstream(false).start()?;
    let failed = messaging(args(&["doctor", "--nats", &bare.client_url()])).await;
    assert_eq!(failed.code, Some(1), "{failed:?}");
    assert!(
        failed.stdout.lines().any(|l| l.starts_with("jetstream ")
            && l.contains(" FAIL    JetStream is not enabled: start nats-server with -js")),
        "{failed:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_never_appear_in_errors() {
    let run = messaging(args(&[
        "discover",
        "--nats",
        "nats://ops:hunter2@127.0.0.1:1",
        "--format",
        "json",
    ]))
    .await;
    assert_eq!(run.code, Some(1));
    assert!(run.stdout.contains("nats://***@127.0.0.1:1"), "{run:?}");
    assert!(!format!("{run:?}").contains("hunter2"), "{run:?}");
    let rabbit = messaging(args(&[
        "discover",
        "--rabbitmq",
        "http://ops:hunter2@127.0.0.1:1",
    ]))
    .await;
    assert_eq!(rabbit.code, Some(1));
    assert!(
        rabbit.stdout.contains("http://***@127.0.0.1:1"),
        "{rabbit:?}"
    );
    assert!(!format!("{rabbit:?}").contains("hunter2"), "{rabbit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_and_plan_on_rabbitmq() -> TestResult {
    let rabbit = tokio::task::spawn_blocking(RabbitServer::start).await??;
    let url = rabbit.amqp_url();
    let charge = |_ev: ConsumableEvent<Value>| async move { Ok::<Value, HandlerError>(json!({})) };
    let billing = messaging_amqp::Connection::builder("billing")
        .url(&url)
        .setup(Setup::request_handler("Billing.Charge", charge))
        .start()
        .await?;
    let notifications = messaging_amqp::Connection::builder("notifications")
        .url(&url)
        .setup(Setup::event_consumer("Order.Created", ok_event))
        .setup(Setup::event_consumer("Order.Shipped", ok_event))
        .setup(Setup::transient_event_consumer("#", ok_event))
        .start()
        .await?;
    let web = messaging_amqp::Connection::builder("web")
        .url(&url)
        .event_publisher()
        .service_publisher("billing")
        .setup(Setup::service_response_consumer(
            "billing",
            "Billing.Charge",
            ok_event,
        ))
        .start()
        .await?;
    let exported: Vec<Topology> = [&billing, &notifications, &web]
        .iter()
        .map(|c| knowable(c.topology(), false))
        .collect();
    let management = rabbit.management_url();
    let run = messaging(args(&[
        "discover",
        "--rabbitmq",
        &management,
        "--format",
        "json",
    ]))
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let found: Vec<Topology> = serde_json::from_str::<Vec<Topology>>(&run.stdout)?
        .into_iter()
        .map(sorted)
        .collect();
    assert_eq!(found, exported);
    let text = messaging(args(&["discover", "--rabbitmq", &management])).await;
    println!("--- discover --rabbitmq\n{}", text.stdout);

    let dir = tempfile::tempdir()?;
    let topologies: Vec<Topology> = [&billing, &notifications, &web]
        .iter()
        .map(|c| c.topology().clone())
        .collect();
    let files = write_topologies(dir.path(), &topologies)?;
    let mut plan = vec!["plan", "--rabbitmq", &management];
    plan.extend(files.iter().map(|f| s(f)));
    let clean = messaging(args(&plan)).await;
    assert_eq!(clean.code, Some(0), "{clean:?}");
    let text = std::fs::read_to_string(&files[1])?.replace("Order.Shipped", "Order.Paid");
    std::fs::write(&files[1], text)?;
    let drift = messaging(args(&plan)).await;
    assert_eq!(drift.code, Some(1), "{drift:?}");
    println!("--- plan --rabbitmq\n{}", drift.stdout);
    assert_eq!(
        drift
            .stdout
            .lines()
            .filter(|l| l.starts_with(['+', '~', '-']))
            .count(),
        2,
        "the binding to create and the one no file declares: {drift:?}"
    );
    for c in [billing, notifications, web] {
        c.close().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discovered_fleet_renders_in_headless_chromium() -> TestResult {
    let Some(browser) = render::Browser::find()? else {
        return Ok(());
    };
    let server = NatsServer::start()?;
    let url = server.client_url();
    let fleet = Fleet::start(&url).await?;
    let out = browser.root().join("fleet");
    let wrote = messaging(args(&["discover", "--nats", &url, "--out", s(&out)])).await;
    assert_eq!(wrote.code, Some(0), "{wrote:?}");
    fleet.close().await?;
    let page = browser.root().join("fleet.html");
    let src = browser.mermaid_src();
    let mut visualize = vec![
        "visualize",
        "--no-validate",
        "--html",
        s(&page),
        "--mermaid-src",
        &src,
    ];
    let files: Vec<PathBuf> = ["billing", "notifications", "orders"]
        .iter()
        .map(|n| out.join(format!("{n}.json")))
        .collect();
    visualize.extend(files.iter().map(|f| s(f)));
    let drawn = messaging(args(&visualize)).await;
    assert_eq!(drawn.code, Some(0), "{drawn:?}");
    let nodes = tokio::task::spawn_blocking(move || browser.node_ids("fleet.html")).await??;
    assert_eq!(
        nodes,
        ["audit", "billing", "events", "notifications", "orders"],
        "every service and stream of the fleet drawn once"
    );
    Ok(())
}
