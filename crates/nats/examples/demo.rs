//! Three services and a dashboard in one process, over a real NATS server.
//!
//! - `orders` publishes `Order.Created` / `Order.Paid` events and asks `billing` to charge
//!   each order with a typed request;
//! - `notifications` consumes `Order.Created` with a durable consumer;
//! - `billing` answers `Billing.Charge` requests with a typed receipt (and refuses one);
//! - `dashboard` watches `Order.#` with a transient consumer.
//!
//! Run it with `bash scripts/demo.sh`, or `cargo run -p messaging-nats --example demo`.
//! With `NATS_URL` set it uses that server; otherwise it starts a throwaway `nats-server`
//! (which must be on `PATH` or named by `NATS_SERVER_BIN`). Logs go to stderr at `warn`;
//! set `RUST_LOG` to see more.
//!
//! Handlers run concurrently, so they do not print: they report to a journal, and the
//! main task prints each step's lines in a fixed order once they have all arrived.

use std::collections::VecDeque;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use messaging_nats::messaging_spec::{self, ConsumableEvent, HandlerError};
use messaging_nats::{Connection, ConnectionBuilder, Error, StreamConfig};
use messaging_testkit::NatsServer;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};
use tracing_subscriber::EnvFilter;

/// Every wait in the demo gives up after this long.
const WAIT: Duration = Duration::from_secs(10);
/// Marks this run's messages, so history on a shared server is ignored.
const RUN_HEADER: &str = "x-demo-run";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Serialize, Deserialize)]
struct OrderCreated {
    id: u32,
    customer: String,
    total_cents: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct OrderPaid {
    id: u32,
    receipt: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Charge {
    order_id: u32,
    amount_cents: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Receipt {
    receipt: String,
    order_id: u32,
    amount_cents: u64,
}

fn money(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// One line a handler wants printed, tagged so the main task can order it.
#[derive(Debug)]
struct Line {
    service: &'static str,
    /// What it is about, e.g. `Order.Created #1`.
    topic: String,
    text: String,
}

/// Where handlers report what they saw.
#[derive(Clone)]
struct Journal {
    run: Arc<str>,
    tx: mpsc::UnboundedSender<Line>,
}

impl Journal {
    /// True when the event belongs to this run (not history on a shared server).
    fn ours<T>(&self, ev: &ConsumableEvent<T>) -> bool {
        ev.delivery_info.headers.get_str(RUN_HEADER) == Some(&*self.run)
    }

    fn report(&self, service: &'static str, topic: String, text: String) {
        // The receiver lives until the end of main; a send error only means it is over.
        let _ = self.tx.send(Line {
            service,
            topic,
            text,
        });
    }
}

/// Receives journal lines and prints them in the order the caller asks for.
struct Printer {
    rx: mpsc::UnboundedReceiver<Line>,
    early: VecDeque<Line>,
}

impl Printer {
    /// Waits (bounded) for one line per `(service, topic)` and prints them in that order.
    async fn expect(&mut self, wanted: &[(&str, &str)]) -> Result<(), BoxError> {
        let deadline = Instant::now() + WAIT;
        let mut found: Vec<Option<Line>> = wanted.iter().map(|_| None).collect();
        let slot_for = |line: &Line, found: &[Option<Line>]| {
            wanted.iter().enumerate().position(|(i, (s, t))| {
                found[i].is_none() && *s == line.service && *t == line.topic
            })
        };
        let mut keep = VecDeque::new();
        while let Some(line) = self.early.pop_front() {
            match slot_for(&line, &found) {
                Some(i) => found[i] = Some(line),
                None => keep.push_back(line),
            }
        }
        self.early = keep;
        while found.iter().any(Option::is_none) {
            let line = match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(line)) => line,
                Ok(None) => return Err("all handlers are gone".into()),
                Err(_) => {
                    let missing: Vec<String> = wanted
                        .iter()
                        .zip(&found)
                        .filter(|(_, f)| f.is_none())
                        .map(|((s, t), _)| format!("[{s}] {t}"))
                        .collect();
                    return Err(format!(
                        "nothing arrived within {WAIT:?} for: {}",
                        missing.join(", ")
                    )
                    .into());
                }
            };
            match slot_for(&line, &found) {
                Some(i) => found[i] = Some(line),
                None => self.early.push_back(line),
            }
        }
        for line in found.into_iter().flatten() {
            println!("[{}] {}", line.service, line.text);
        }
        Ok(())
    }
}

/// `notifications`: a durable consumer of `Order.Created`.
async fn notifications(url: &str, journal: Journal) -> Result<Connection, Error> {
    let handler = move |ev: ConsumableEvent<OrderCreated>| {
        let journal = journal.clone();
        async move {
            if journal.ours(&ev) {
                let order = &ev.payload;
                journal.report(
                    "notifications",
                    format!("Order.Created #{}", order.id),
                    format!(
                        "got {} #{} from {} (consumer {}): emailing {}",
                        ev.metadata.type_,
                        order.id,
                        ev.metadata.source,
                        ev.delivery_info.destination,
                        order.customer
                    ),
                );
            }
            Ok::<(), HandlerError>(())
        }
    };
    service("notifications", url)
        .event_consumer("Order.Created", handler)
        .start()
        .await
}

/// `dashboard`: a transient consumer of everything under `Order.`, payload left untyped.
async fn dashboard(url: &str, journal: Journal) -> Result<Connection, Error> {
    let handler = move |ev: ConsumableEvent<serde_json::Value>| {
        let journal = journal.clone();
        async move {
            if journal.ours(&ev) {
                let id = ev.payload.get("id").cloned().unwrap_or_default();
                journal.report(
                    "dashboard",
                    format!("{} #{id}", ev.delivery_info.key),
                    format!(
                        "saw {} #{id} on stream {} (transient consumer)",
                        ev.delivery_info.key, ev.delivery_info.source
                    ),
                );
            }
            Ok::<(), HandlerError>(())
        }
    };
    service("dashboard", url)
        .transient_event_consumer("Order.#", handler)
        .start()
        .await
}

/// `billing`: answers `Billing.Charge` with a receipt; refuses amounts of zero.
async fn billing(url: &str, journal: Journal) -> Result<Connection, Error> {
    let receipts = Arc::new(AtomicU32::new(0));
    let handler = move |ev: ConsumableEvent<Charge>| {
        let journal = journal.clone();
        let receipts = Arc::clone(&receipts);
        async move {
            let charge = ev.payload;
            let topic = format!("Billing.Charge #{}", charge.order_id);
            if charge.amount_cents == 0 {
                let why = "amount must be positive";
                journal.report(
                    "billing",
                    topic,
                    format!("refused order {}: {why}", charge.order_id),
                );
                // A permanent failure: the caller gets `{"error": "…"}` back.
                return Err(HandlerError::reject(why));
            }
            let n = receipts.fetch_add(1, Ordering::Relaxed) + 1;
            journal.report(
                "billing",
                topic,
                format!(
                    "charged {} for order {}",
                    money(charge.amount_cents),
                    charge.order_id
                ),
            );
            Ok(Receipt {
                receipt: format!("R-{n:04}"),
                order_id: charge.order_id,
                amount_cents: charge.amount_cents,
            })
        }
    };
    service("billing", url)
        .request_handler("Billing.Charge", handler)
        .start()
        .await
}

/// `orders`: publishes events and calls billing.
async fn orders(url: &str) -> Result<Connection, Error> {
    service("orders", url)
        .event_publisher()
        .service_publisher("billing")
        .start()
        .await
}

/// Settings every demo service shares.
fn service(name: &str, url: &str) -> ConnectionBuilder {
    let mut b = Connection::builder(name)
        .url(url)
        .request_timeout(WAIT)
        .shutdown_timeout(Duration::from_secs(5));
    if std::env::var_os("NATS_URL").is_none() {
        // Our own throwaway server: give the stream a limit (and skip the "no retention
        // limits" warning). On a shared server we leave its `events` settings alone.
        b = b.stream_defaults(StreamConfig::new().max_age(Duration::from_secs(3600)));
    }
    b
}

async fn run(url: &str) -> Result<(), BoxError> {
    let run_id: Arc<str> = format!(
        "{}-{}",
        std::process::id(),
        SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos()
    )
    .into();
    let (tx, rx) = mpsc::unbounded_channel();
    let journal = Journal {
        run: Arc::clone(&run_id),
        tx,
    };
    let mut printer = Printer {
        rx,
        early: VecDeque::new(),
    };

    // Consumers first, so nothing the publisher sends is missed.
    let billing = billing(url, journal.clone()).await?;
    let notifications = notifications(url, journal.clone()).await?;
    let dashboard = dashboard(url, journal.clone()).await?;
    let orders = orders(url).await?;
    drop(journal);
    println!("[demo] billing, notifications, dashboard and orders are up\n");

    let events = orders.event_publisher()?;
    let billing_api = orders.service_publisher("billing")?;
    let new_orders = [
        (1, "alice", 1250),
        (2, "bob", 899),
        (3, "carol", 4200),
        (4, "dave", 0),
    ];
    let mut paid = 0;
    let mut refused = 0;
    for (id, customer, total_cents) in new_orders {
        let created = OrderCreated {
            id,
            customer: customer.to_owned(),
            total_cents,
        };
        let receipt = events
            .publish("Order.Created", &created)
            .header(RUN_HEADER, &*run_id)
            .await?;
        println!(
            "[orders] published Order.Created #{id} for {customer}, {} (stream {})",
            money(total_cents),
            receipt.stream.as_deref().unwrap_or("?")
        );
        let created = format!("Order.Created #{id}");
        printer
            .expect(&[("notifications", &created), ("dashboard", &created)])
            .await?;

        let charge = Charge {
            order_id: id,
            amount_cents: total_cents,
        };
        let reply: Result<Receipt, Error> = billing_api
            .request("Billing.Charge", &charge)
            .header(RUN_HEADER, &*run_id)
            .await;
        printer
            .expect(&[("billing", &format!("Billing.Charge #{id}"))])
            .await?;
        match reply {
            Ok(r) => {
                paid += 1;
                println!(
                    "[orders] billing answered: receipt {} for order {}, {}",
                    r.receipt,
                    r.order_id,
                    money(r.amount_cents)
                );
                let paid_event = OrderPaid {
                    id,
                    receipt: r.receipt,
                };
                events
                    .publish("Order.Paid", &paid_event)
                    .header(RUN_HEADER, &*run_id)
                    .await?;
                println!("[orders] published Order.Paid #{id}");
                printer
                    .expect(&[("dashboard", &format!("Order.Paid #{id}"))])
                    .await?;
            }
            Err(Error::Core(messaging_nats::messaging_core::Error::Remote {
                service,
                message,
            })) => {
                refused += 1;
                println!(
                    "[orders] billing refused order {id}: Error::Remote from {service}: {message:?}"
                );
            }
            Err(other) => return Err(other.into()),
        }
        println!();
    }
    println!("[demo] {paid} orders paid, {refused} refused\n");

    let topologies = [
        orders.topology().clone(),
        billing.topology().clone(),
        notifications.topology().clone(),
        dashboard.topology().clone(),
    ];
    // Publish endpoints carry no routing key, so use the rules for exported topologies.
    match messaging_spec::validate_topologies_for_export(&topologies) {
        Ok(()) => println!("[demo] cross-service topology validation: ok\n"),
        Err(errors) => println!("[demo] cross-service topology validation failed:\n{errors}\n"),
    }
    println!("[demo] topology (Mermaid):\n");
    print!("{}", messaging_spec::mermaid(&topologies));
    // Both quirks come from the shared topology format, rendered exactly as Go does.
    println!(
        "\n[demo] note: on NATS a request's \"exchange\" is the target service, so billing \
         also appears as its own exchange node; publish edges carry no routing key."
    );

    for conn in [orders, billing, notifications, dashboard] {
        let name = conn.service_name().as_str().to_owned();
        match timeout(WAIT, conn.close()).await {
            Ok(result) => result?,
            Err(_) => return Err(format!("{name} did not close within {WAIT:?}").into()),
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let filter = EnvFilter::try_from_default_env()
        // The refused charge is deliberate; keep its handler-error log line out of the way.
        .unwrap_or_else(|_| EnvFilter::new("warn,messaging_nats::request=off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    // A server we start is stopped when `_server` drops, after the runtime is done.
    let (url, _server) = match std::env::var("NATS_URL") {
        Ok(url) if !url.is_empty() => {
            println!("[demo] using NATS at {url}");
            (url, None)
        }
        _ => match NatsServer::start() {
            Ok(server) => {
                let url = server.client_url();
                println!("[demo] started a throwaway nats-server at {url}");
                (url, Some(server))
            }
            Err(e) => {
                eprintln!(
                    "demo: could not start nats-server: {e}\n\
                     Set NATS_URL, or install it (`bash scripts/demo.sh` does)."
                );
                return ExitCode::FAILURE;
            }
        },
    };

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("demo: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Bounded as a whole too, in case some wait above is missing a bound.
    let outcome = runtime.block_on(async { timeout(Duration::from_secs(60), run(&url)).await });
    match outcome {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("demo failed: {e}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("demo failed: did not finish within 60 s");
            ExitCode::FAILURE
        }
    }
}
