//! One service publishes an event, another consumes it and says what it saw.

use std::time::Duration;

use messaging_nats::{Connection, Setup, StartAt};
use messaging_spec::{ConsumableEvent, HandlerError};
use tokio::sync::mpsc;

#[derive(serde::Serialize, serde::Deserialize)]
struct OrderCreated {
    id: u64,
}

#[tokio::main]
async fn main() -> Result<(), messaging_nats::Error> {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    println!("{}", run(&url).await?);
    Ok(())
}

/// Publishes one event and returns the line its consumer wrote.
pub(crate) async fn run(url: &str) -> Result<String, messaging_nats::Error> {
    let (seen, mut lines) = mpsc::channel(1);
    let on_order = move |ev: ConsumableEvent<OrderCreated>| {
        let seen = seen.clone();
        async move {
            let line = format!("order {} from {}", ev.payload.id, ev.metadata.source);
            let _ = seen.send(line).await;
            Ok::<(), HandlerError>(())
        }
    };
    // A transient consumer that starts at new events: each run sees its own event only.
    let notifications = Connection::builder("notifications")
        .url(url)
        .setup(Setup::transient_event_consumer("Order.Created", on_order).start_at(StartAt::New))
        .start()
        .await?;
    let orders = Connection::builder("orders")
        .url(url)
        .event_publisher()
        .start()
        .await?;
    orders
        .event_publisher()?
        .publish("Order.Created", &OrderCreated { id: 1 })
        .await?;
    // Close only once the consumer has handled it.
    let line = tokio::time::timeout(Duration::from_secs(10), lines.recv()).await;
    notifications.close().await?;
    orders.close().await?;
    Ok(line
        .ok()
        .flatten()
        .unwrap_or_else(|| "no event within 10 s".to_owned()))
}
