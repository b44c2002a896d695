//! The shop's business code unit-tested on the in-memory transport: no broker, and the
//! paused clock makes a 31-second retry schedule take no wall time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use messaging_example_shop::notifications::{self, Mailer};
use messaging_example_shop::orders::{self, OrderError};
use messaging_example_shop::{BILLING, NOTIFICATIONS, ORDERS, billing};
use messaging_memory::{Broker, Connection};
use tokio::sync::mpsc;
use tokio::time::Instant;

async fn start(broker: &Broker, name: &str, setups: Vec<messaging_core::Setup>) -> Connection {
    Connection::builder(name)
        .broker(broker)
        .setups(setups)
        .start()
        .await
        .expect("start")
}

#[tokio::test(start_paused = true)]
async fn an_order_is_charged_and_announced_and_a_refusal_is_typed() {
    let broker = Broker::new();
    let (tx, mut journal) = mpsc::unbounded_channel();
    let _billing = start(&broker, BILLING, billing::setups(tx.clone())).await;
    let _notify = start(&broker, NOTIFICATIONS, notifications::setups(tx)).await;
    let shop = start(&broker, ORDERS, orders::setups()).await;
    let events = shop.event_publisher().unwrap();
    let calls = shop.service_publisher(BILLING).unwrap();

    let receipt = orders::place(&events, &calls, 7, "ada", 1250)
        .await
        .unwrap();
    assert_eq!(receipt.receipt, "R-0007");
    let mut lines = [journal.recv().await.unwrap(), journal.recv().await.unwrap()];
    lines.sort();
    assert_eq!(
        lines,
        [
            "[billing] charged order 7: 1250 cents for shop-orders",
            "[notifications] order 7 for ada placed (receipt R-0007, from shop-orders)",
        ]
    );
    match orders::place(&events, &calls, 8, "bob", 0).await {
        Err(OrderError::Refused { id: 8, reason }) => assert_eq!(reason, "nothing to charge"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        broker.published_with_key(orders::PLACED).len(),
        1,
        "a refused order is not announced"
    );
}

/// Fails its first `down` sends, recording when each attempt came (virtual time).
struct FlakyMailer {
    down: usize,
    attempts: Mutex<Vec<Duration>>,
    origin: Instant,
}

impl Mailer for FlakyMailer {
    fn send(&self, _customer: &str, _text: &str) -> Result<(), String> {
        let mut attempts = self
            .attempts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        attempts.push(self.origin.elapsed());
        if attempts.len() <= self.down {
            Err("mail service unavailable".to_owned())
        } else {
            Ok(())
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_mailer_outage_is_retried_after_1s_then_30s() {
    let broker = Broker::new();
    let (tx, mut journal) = mpsc::unbounded_channel();
    let mailer = Arc::new(FlakyMailer {
        down: 2,
        attempts: Mutex::new(Vec::new()),
        origin: Instant::now(),
    });
    let _billing = start(&broker, BILLING, billing::setups(tx.clone())).await;
    let _notify = start(
        &broker,
        NOTIFICATIONS,
        notifications::setups_with(tx, Arc::clone(&mailer) as Arc<dyn Mailer>),
    )
    .await;
    let shop = start(&broker, ORDERS, orders::setups()).await;
    let events = shop.event_publisher().unwrap();
    let calls = shop.service_publisher(BILLING).unwrap();
    let wall = std::time::Instant::now();

    orders::place(&events, &calls, 9, "cy", 990).await.unwrap();
    let mut lines = [journal.recv().await.unwrap(), journal.recv().await.unwrap()];
    lines.sort();
    assert_eq!(
        lines[1],
        "[notifications] order 9 for cy placed (receipt R-0009, from shop-orders)"
    );

    let attempts = mailer.attempts.lock().unwrap().clone();
    let secs: Vec<u64> = attempts.iter().map(Duration::as_secs).collect();
    assert_eq!(
        secs,
        [0, 1, 31],
        "attempts at 0 s, +1 s, +30 s (virtual time)"
    );
    assert!(
        wall.elapsed() < Duration::from_secs(5),
        "the paused clock skipped the waits"
    );
}
