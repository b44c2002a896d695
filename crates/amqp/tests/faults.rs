//! The fault suite on RabbitMQ: the broker is SIGKILLed and started again (same ports,
//! same data) while a publisher sends with confirms and a consumer handles. Every
//! confirmed event must reach the handler; prints `acked / delivered / duplicates / lost`.
//!
//! RabbitMQ 3.10 keeps a quorum queue's Ra registration in a `dets` file it saves every
//! 3 minutes, so a queue younger than that does not come back after a SIGKILL (the broker
//! logs "leader not known" for it forever). The test restarts the broker gracefully once
//! after declaring, which saves it, as a broker that has run for a while would have.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use messaging_amqp::{Connection, Setup};
use messaging_spec::{ConsumableEvent, HandlerError};
use messaging_testkit::RabbitServer;
use serde_json::{Value, json};

/// Prints past the test harness's capture, so the figures show in CI output.
macro_rules! figures {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

#[derive(Default)]
struct Inner {
    acked: HashSet<String>,
    failed: usize,
    seen: HashMap<String, usize>,
}

#[derive(Clone, Default)]
struct Tally(Arc<Mutex<Inner>>);

impl Tally {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
    fn lost(&self) -> usize {
        self.with(|t| {
            t.acked
                .iter()
                .filter(|id| !t.seen.contains_key(*id))
                .count()
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_kill_loses_no_confirmed_event() -> TestResult {
    let duplicates = broker_kill(None).await?;
    // At most the window's re-sent publishes (256) and the prefetched, unacked
    // deliveries (20) of the moment the broker died.
    assert!(duplicates <= 256 + 20, "{duplicates} duplicates");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_duplicate_filter_hides_the_redeliveries_of_a_broker_kill() -> TestResult {
    let duplicates = broker_kill(Some(Duration::from_secs(600))).await?;
    assert_eq!(duplicates, 0);
    Ok(())
}

/// One broker kill at a time: two brokers restarting at once on two cores would measure
/// the machine, not the library.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Kills the broker during a windowed publish; returns the duplicates handlers saw.
async fn broker_kill(
    dedup: Option<Duration>,
) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    const N: usize = 3_000;
    let _serial = SERIAL.lock().await;
    let mut broker = tokio::task::block_in_place(RabbitServer::start)?;
    let url = broker.amqp_url();
    let tally = Tally::default();
    let t = tally.clone();
    let counting = move |ev: ConsumableEvent<Value>| {
        t.with(|t| *t.seen.entry(ev.metadata.id.clone()).or_default() += 1);
        std::future::ready(Ok::<(), HandlerError>(()))
    };
    let ledger = Connection::builder("ledger")
        .url(&url)
        .setup(match dedup {
            Some(window) => Setup::event_consumer("Order.Created", counting).deduplicate(window),
            None => Setup::event_consumer("Order.Created", counting),
        })
        .start()
        .await?;
    tokio::task::block_in_place(|| broker.restart())?;
    ready_within(&ledger, Duration::from_secs(30)).await?;
    let shop = Connection::builder("shop")
        .url(&url)
        .event_publisher()
        .start()
        .await?;
    let events = shop.event_publisher()?;
    let publishing = {
        let tally = tally.clone();
        tokio::spawn(async move {
            let mut window = VecDeque::new();
            for n in 0..N {
                if window.len() == 256
                    && let Some(c) = window.pop_front()
                {
                    settle(c, &tally).await;
                }
                match events
                    .publish("Order.Created", &json!({"n": n}))
                    .send()
                    .await
                {
                    Ok(c) => window.push_back(c),
                    Err(_) => tally.with(|t| t.failed += 1),
                }
            }
            for c in window {
                settle(c, &tally).await;
            }
        })
    };
    tokio::time::timeout(Duration::from_secs(30), async {
        while tally.with(|t| t.acked.len()) < N / 5 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await?;
    let killed = std::time::Instant::now();
    tokio::task::block_in_place(|| -> Result<(), messaging_testkit::TestkitError> {
        broker.kill()?;
        broker.start_again()
    })?;
    let broker_back = killed.elapsed();
    ready_within(&ledger, Duration::from_secs(30)).await?;
    let consumer_back = killed.elapsed();
    tokio::time::timeout(Duration::from_secs(120), publishing).await??;
    let published = killed.elapsed();
    tokio::time::timeout(Duration::from_secs(60), async {
        while tally.lost() > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .ok();
    let (acked, failed, duplicates, lost) = tally.with(|t| {
        (
            t.acked.len(),
            t.failed,
            t.seen.values().map(|n| n - 1).sum::<usize>(),
            t.acked
                .iter()
                .filter(|id| !t.seen.contains_key(*id))
                .count(),
        )
    });
    let filter = if dedup.is_some() {
        " with deduplicate"
    } else {
        ""
    };
    figures!(
        "AMQP broker kill during windowed publish{filter}: acked {acked} / delivered {} / duplicates {duplicates} / lost {lost} (failed publishes {failed}; broker up again {:.1} s after the kill, consumer {:.1} s, publishing done {:.1} s)",
        acked - lost,
        broker_back.as_secs_f64(),
        consumer_back.as_secs_f64(),
        published.as_secs_f64()
    );
    assert_eq!(lost, 0);
    assert_eq!(acked + failed, N);
    assert!(acked > N / 5);
    ledger.close().await?;
    shop.close().await?;
    Ok(duplicates)
}

async fn settle(c: messaging_amqp::PendingConfirm, tally: &Tally) {
    match c.await {
        Ok(r) => tally.with(|t| t.acked.insert(r.id)),
        Err(_) => tally.with(|t| {
            t.failed += 1;
            true
        }),
    };
}

/// Waits until every queue of `conn` is consumed again.
async fn ready_within(conn: &Connection, limit: Duration) -> TestResult {
    tokio::time::timeout(limit, async {
        while !conn.is_ready() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await?;
    Ok(())
}
