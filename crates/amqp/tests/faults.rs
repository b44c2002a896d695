//! The fault suite on RabbitMQ: the broker is SIGKILLed and started again (same ports,
//! same data) while a publisher sends with confirms and a consumer handles. Every
//! confirmed event must reach the handler; prints `acked / delivered / duplicates / lost`.

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
#[ignore = "lapin 4.12.3 after auto-recovery from a broker SIGKILL moves frames only on heartbeats \
            (one confirm per 5 s, the consumer stalls): see docs/reliability.md"]
async fn a_broker_kill_loses_no_confirmed_event() -> TestResult {
    const N: usize = 3_000;
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
        .setup(Setup::event_consumer("Order.Created", counting))
        .start()
        .await?;
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
    tokio::task::block_in_place(|| -> Result<(), messaging_testkit::TestkitError> {
        broker.kill()?;
        broker.start_again()
    })?;
    tokio::time::timeout(Duration::from_secs(120), publishing).await??;
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
    figures!(
        "AMQP broker kill during windowed publish: acked {acked} / delivered {} / duplicates {duplicates} / lost {lost} (failed publishes {failed})",
        acked - lost
    );
    assert_eq!(lost, 0);
    assert_eq!(acked + failed, N);
    assert!(acked > N / 5);
    ledger.close().await?;
    shop.close().await?;
    Ok(())
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
