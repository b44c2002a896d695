//! Runs the shop on each broker in turn, each started by the demo itself:
//! `shop-demo [nats|amqp|all]` (default `all`). With `NATS_URL` or `RABBITMQ_URL` set,
//! that broker is used instead of a private one.
//!
//! `shop-demo nats --hold [--topologies DIR]` keeps the NATS fleet running after the
//! orders, until Ctrl-C or SIGTERM, so the `messaging` CLI and `nats` can look at it
//! (`scripts/fleet.sh`, `docs/fleet.md`); `--topologies` writes each service's declared
//! topology to `DIR/<service>.json` first.
//!
//! The services' code is the same on both brokers (`messaging_example_shop`); only the
//! few lines that build a connection differ.

use std::process::ExitCode;
use std::time::Duration;

use messaging_core::{EventPublisher, Requester};
use messaging_example_shop::orders::OrderError;
use messaging_example_shop::{BILLING, NOTIFICATIONS, ORDERS, billing, notifications, orders};
use messaging_testkit::{NatsServer, RabbitServer};
use tokio::sync::mpsc;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Every wait in the demo gives up after this long.
const WAIT: Duration = Duration::from_secs(15);

/// The orders placed, in order: id, customer, cents.
const ORDERS_TO_PLACE: [(u32, &str, u64); 3] = [(1, "ada", 1250), (2, "bob", 0), (3, "cy", 990)];

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .init();
    let result = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => run(args).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shop-demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The command line.
#[derive(Debug, Default)]
struct Args {
    broker: Option<String>,
    /// Keep the fleet running after the orders.
    hold: bool,
    /// Where to write the declared topologies.
    topologies: Option<std::path::PathBuf>,
}

impl Args {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Self, BoxError> {
        let mut parsed = Self::default();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--hold" => parsed.hold = true,
                "--topologies" => match args.next() {
                    Some(dir) => parsed.topologies = Some(dir.into()),
                    None => return Err("--topologies needs a directory".into()),
                },
                flag if flag.starts_with('-') => {
                    return Err(
                        format!("unknown flag {flag:?}: use --hold or --topologies DIR").into(),
                    );
                }
                _ if parsed.broker.is_some() => {
                    return Err(format!("unexpected argument {arg:?}").into());
                }
                _ => parsed.broker = Some(arg),
            }
        }
        Ok(parsed)
    }
}

async fn run(args: Args) -> Result<(), BoxError> {
    let which = args.broker.as_deref().unwrap_or("all");
    if (args.hold || args.topologies.is_some()) && which != "nats" {
        return Err("--hold and --topologies work with `nats` only".into());
    }
    match which {
        "nats" => on_nats(&args).await,
        "amqp" => on_amqp().await,
        "all" => match on_nats(&args).await {
            Ok(()) => on_amqp().await,
            Err(e) => Err(e),
        },
        other => Err(format!("unknown broker {other:?}: use nats, amqp or all").into()),
    }
}

/// The business flow, the same on every broker.
async fn shop<P: EventPublisher, R: Requester>(
    events: &P,
    billing: &R,
    journal: &mut mpsc::UnboundedReceiver<String>,
) -> Result<(), BoxError> {
    for (id, customer, cents) in ORDERS_TO_PLACE {
        let (result, expected) = match orders::place(events, billing, id, customer, cents).await {
            Ok(receipt) => (
                format!("[orders] order {id} placed, receipt {}", receipt.receipt),
                2,
            ),
            Err(OrderError::Refused { reason, .. }) => (
                format!("[orders] order {id} refused by billing: {reason}"),
                1,
            ),
            Err(e) => return Err(e.into()),
        };
        // Handlers run concurrently: collect this step's lines, then print them sorted.
        let mut lines = vec![result];
        for _ in 0..expected {
            match tokio::time::timeout(WAIT, journal.recv()).await {
                Ok(Some(line)) => lines.push(line),
                _ => {
                    return Err(
                        format!("order {id}: a service did not report within {WAIT:?}").into(),
                    );
                }
            }
        }
        lines.sort();
        for line in lines {
            println!("  {line}");
        }
    }
    Ok(())
}

async fn on_nats(args: &Args) -> Result<(), BoxError> {
    use messaging_nats::Connection;
    let server = match std::env::var("NATS_URL") {
        Ok(url) if !url.is_empty() => (None, url),
        _ => {
            let s = NatsServer::start()?;
            let url = s.client_url();
            (Some(s), url)
        }
    };
    println!("== the shop on NATS ({})", server.1);
    let (tx, mut journal) = mpsc::unbounded_channel();
    let start = |name: &str, setups| {
        Connection::builder(name)
            .url(server.1.as_str())
            .setups(setups)
            .start()
    };
    let billing_svc = start(BILLING, billing::setups(tx.clone())).await?;
    let notify = start(NOTIFICATIONS, notifications::setups(tx.clone())).await?;
    let orders_svc = start(ORDERS, orders::setups()).await?;
    let fleet = [orders_svc, notify, billing_svc];
    if let Some(dir) = &args.topologies {
        std::fs::create_dir_all(dir)?;
        for conn in &fleet {
            let path = dir.join(format!("{}.json", conn.service_name().as_str()));
            std::fs::write(&path, serde_json::to_string_pretty(conn.topology())? + "\n")?;
        }
    }
    let [orders_svc, ..] = &fleet;
    let mut outcome = shop(
        &orders_svc.event_publisher()?,
        &orders_svc.service_publisher(BILLING)?,
        &mut journal,
    )
    .await;
    if args.hold && outcome.is_ok() {
        // The line scripts wait for; nothing is printed after it until the fleet stops.
        println!("== holding the fleet on {} (Ctrl-C to stop)", server.1);
        outcome = stopped().await;
    }
    for conn in fleet {
        conn.close().await?;
    }
    outcome
}

/// Waits for Ctrl-C or SIGTERM.
async fn stopped() -> Result<(), BoxError> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}

async fn on_amqp() -> Result<(), BoxError> {
    use messaging_amqp::Connection;
    let broker = match std::env::var("RABBITMQ_URL") {
        Ok(url) if !url.is_empty() => (None, url),
        _ => {
            println!("(starting a private RabbitMQ; this takes a few seconds)");
            let s = RabbitServer::start()?;
            let url = s.amqp_url();
            (Some(s), url)
        }
    };
    println!("== the shop on RabbitMQ (port {})", port_of(&broker.1));
    let (tx, mut journal) = mpsc::unbounded_channel();
    let start = |name: &str, setups| {
        Connection::builder(name)
            .url(broker.1.as_str())
            .setups(setups)
            .start()
    };
    let billing_svc = start(BILLING, billing::setups(tx.clone())).await?;
    let notify = start(NOTIFICATIONS, notifications::setups(tx.clone())).await?;
    let orders_svc = start(ORDERS, orders::setups()).await?;
    let outcome = shop(
        &orders_svc.event_publisher()?,
        &orders_svc.service_publisher(BILLING)?,
        &mut journal,
    )
    .await;
    for conn in [orders_svc, notify, billing_svc] {
        conn.close().await?;
    }
    outcome
}

/// The port of a URL, so no credentials are printed.
fn port_of(url: &str) -> &str {
    url.rsplit(':')
        .next()
        .map_or("?", |rest| rest.split('/').next().unwrap_or("?"))
}
