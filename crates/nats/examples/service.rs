//! A whole service: it consumes `Order.Created`, answers `Billing.Charge` requests, publishes
//! `Invoice.Sent`, reports readiness, and shuts down cleanly on Ctrl-C.

use messaging_nats::{Connection, Setup};
use messaging_spec::{ConsumableEvent, HandlerError};

#[derive(serde::Deserialize)]
struct OrderCreated {
    id: u64,
}

#[derive(serde::Deserialize)]
struct Charge {
    cents: u64,
}

#[derive(serde::Serialize)]
struct Receipt {
    charged: u64,
}

async fn on_order(ev: ConsumableEvent<OrderCreated>) -> Result<(), HandlerError> {
    println!("billing order {}", ev.payload.id);
    Ok(())
}

async fn charge(req: ConsumableEvent<Charge>) -> Result<Receipt, HandlerError> {
    if req.payload.cents == 0 {
        // A rejection: the caller gets `{"error": "nothing to charge"}`.
        return Err(HandlerError::reject("nothing to charge"));
    }
    Ok(Receipt {
        charged: req.payload.cents,
    })
}

#[tokio::main]
async fn main() -> Result<(), messaging_nats::Error> {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    let billing = Connection::builder("billing")
        .url(url)
        .event_publisher()
        // A durable consumer: it resumes where it stopped after a restart.
        .setup(Setup::event_consumer("Order.Created", on_order).max_deliver(5))
        .request_handler("Billing.Charge", charge)
        .start()
        .await?;
    billing
        .event_publisher()?
        .publish("Invoice.Sent", &serde_json::json!({"service": "billing"}))
        .await?;
    println!(
        "billing is up (ready: {}); Ctrl-C stops it",
        billing.is_ready()
    );
    if tokio::signal::ctrl_c().await.is_err() {
        eprintln!("no Ctrl-C handler; stopping now");
    }
    // Stops fetching, lets running handlers finish and ack, then disconnects.
    billing.close().await
}
