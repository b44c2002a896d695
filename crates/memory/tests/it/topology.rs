//! The topology is the NATS transport's, for the same registrations; so are validation
//! errors.

use std::time::Duration;

use messaging_memory::{Broker, ConsumerOptions, Setup, StartAt};
use messaging_spec::{ConsumableEvent, HandlerError, Transport};

use crate::support::{Order, Res};

async fn on_event(_ev: ConsumableEvent<Order>) -> Result<(), HandlerError> {
    Ok(())
}

async fn on_value(_ev: ConsumableEvent<serde_json::Value>) -> Result<(), HandlerError> {
    Ok(())
}

async fn on_request(ev: ConsumableEvent<Order>) -> Result<u64, HandlerError> {
    Ok(ev.payload.id)
}

fn registrations() -> Vec<Setup> {
    vec![
        Setup::event_publisher(),
        Setup::stream_publisher("audit.topic.exchange"),
        Setup::service_publisher("billing"),
        Setup::event_consumer("Order.#", on_event),
        Setup::event_consumer("Payment.Done", on_value).suffix("payments"),
        Setup::transient_event_consumer("Order.Created", on_event).start_at(StartAt::New),
        Setup::stream_consumer("audit", "Audit.*", on_value).max_deliver(3),
        Setup::transient_stream_consumer("audit", "Audit.#", on_value),
        Setup::request_handler("Price.*", on_request),
        Setup::service_response_consumer("billing", "Price.Get", on_value),
    ]
}

#[tokio::test(start_paused = true)]
async fn topology_equals_the_nats_transports() -> Res {
    let nats = messaging_nats::Connection::builder("orders")
        .consumer_defaults(ConsumerOptions::new().concurrency(2))
        .setups(registrations())
        .topology()?;
    let broker = Broker::new();
    let builder = broker
        .connection("orders")
        .consumer_defaults(ConsumerOptions::new().concurrency(2))
        .setups(registrations());
    let memory = builder.topology()?;
    assert_eq!(memory, nats);
    assert_eq!(serde_json::to_value(&memory)?, serde_json::to_value(&nats)?);
    assert_eq!(memory.transport, Some(Transport::Nats));
    assert_eq!(
        memory.endpoints.len(),
        10,
        "three publishers, seven consumers"
    );
    let conn = builder.start().await?;
    assert_eq!(
        conn.topology(),
        &nats,
        "the running connection reports the same"
    );
    assert_eq!(
        broker
            .consumer_names("events")
            .iter()
            .filter(|n| !n.contains("transient"))
            .collect::<Vec<_>>(),
        ["orders", "orders-payments"],
        "durable names as on NATS"
    );
    conn.close().await?;
    Ok(())
}

#[test]
fn validation_errors_read_as_on_nats() {
    let cases: Vec<Vec<Setup>> = vec![
        vec![
            Setup::event_consumer("Order.*", on_event),
            Setup::event_consumer("Order.Created", on_event),
        ],
        vec![Setup::event_publisher(), Setup::stream_publisher("events")],
        vec![
            Setup::request_handler("Price.*", on_request),
            Setup::request_handler("Price.Get", on_request),
        ],
        vec![Setup::event_consumer("Order.Created", on_event).backoff([Duration::ZERO])],
        vec![Setup::event_consumer("#.Created", on_event)],
    ];
    for setups in cases {
        let nats = messaging_nats::Connection::builder("svc")
            .setups(setups.clone())
            .topology()
            .err()
            .map(|e| e.to_string());
        let memory = Broker::new()
            .connection("svc")
            .setups(setups)
            .topology()
            .err()
            .map(|e| e.to_string());
        assert!(memory.is_some(), "rejected");
        assert_eq!(memory, nats);
    }
}

#[test]
fn queue_publish_is_the_one_registration_nats_refuses() -> Res {
    let setups = vec![Setup::queue_publisher("billing")];
    let nats = messaging_nats::Connection::builder("svc")
        .setups(setups.clone())
        .topology();
    assert!(nats.is_err());
    let memory = Broker::new().connection("svc").setups(setups).topology()?;
    let ep = &memory.endpoints[0];
    assert_eq!(
        (ep.exchange_name.as_str(), ep.queue_name.as_str()),
        ("billing", "billing")
    );
    Ok(())
}
