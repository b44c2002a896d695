//! Request-reply on Core NATS: typed replies, remote errors, no responders, queue groups
//! and service response consumers.

use messaging_nats::{Error, RequestFailure};
use messaging_spec::{ConsumableEvent, HandlerError};
use tokio::sync::mpsc;

use crate::support::{Charge, Receipt, TestResult, builder, forward, recv, recv_n, server, start};

/// A billing service whose handler reports what it saw and answers with its instance name.
fn billing(
    server: &messaging_testkit::NatsServer,
    instance: &str,
    seen: mpsc::UnboundedSender<(String, ConsumableEvent<Charge>)>,
) -> messaging_nats::ConnectionBuilder {
    let instance = instance.to_owned();
    builder(server, "billing").request_handler(
        "Billing.Charge",
        move |ev: ConsumableEvent<Charge>| {
            let seen = seen.clone();
            let instance = instance.clone();
            async move {
                let reply = Receipt {
                    cents: ev.payload.cents,
                    by: instance.clone(),
                };
                let _ = seen.send((instance, ev));
                Ok::<_, HandlerError>(reply)
            }
        },
    )
}

#[tokio::test]
async fn request_reply_returns_the_typed_reply() -> TestResult {
    let server = server();
    let (tx, mut seen) = mpsc::unbounded_channel();
    let _billing = start(billing(&server, "b1", tx)).await;
    let orders = start(builder(&server, "orders").service_publisher("billing")).await;

    let reply: Receipt = orders
        .service_publisher("billing")?
        .request("Billing.Charge", &Charge { cents: 500 })
        .header("x-request-id", "r-1")
        .await?;
    assert_eq!(
        reply,
        Receipt {
            cents: 500,
            by: "b1".to_owned()
        }
    );
    let (_, ev) = recv(&mut seen).await;
    assert_eq!(ev.payload, Charge { cents: 500 });
    assert_eq!(ev.delivery_info.destination, "billing");
    assert_eq!(ev.delivery_info.source, "billing.request.Billing.Charge");
    assert_eq!(ev.delivery_info.key, "Billing.Charge");
    assert_eq!(
        ev.delivery_info.headers.get_str("x-request-id"),
        Some("r-1")
    );
    assert_eq!(ev.metadata.source, "orders");
    assert_eq!(ev.metadata.type_, "Billing.Charge");
    assert_eq!(ev.metadata.spec_version, "1.0");
    assert!(!ev.metadata.id.is_empty());
    Ok(())
}

#[tokio::test]
async fn request_handler_error_reaches_the_caller_as_remote() -> TestResult {
    let server = server();
    let _billing = start(builder(&server, "billing").request_handler(
        "Billing.Charge",
        |_: ConsumableEvent<Charge>| async {
            Err::<Receipt, _>(HandlerError::reject("card declined"))
        },
    ))
    .await;
    let orders = start(builder(&server, "orders").service_publisher("billing")).await;
    let got = orders
        .service_publisher("billing")?
        .request::<Receipt, _>("Billing.Charge", &Charge { cents: 1 })
        .await;
    match got {
        Err(Error::Core(messaging_nats::messaging_core::Error::Remote { service, message })) => {
            assert_eq!(service, "billing");
            assert_eq!(message, "card declined");
        }
        other => panic!("expected Error::Remote, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn request_without_a_server_fails_with_no_responders() -> TestResult {
    let server = server();
    let orders = start(builder(&server, "orders").service_publisher("inventory")).await;
    let got = orders
        .service_publisher("inventory")?
        .request::<Receipt, _>("Stock.Reserve", &Charge { cents: 1 })
        .await;
    match got {
        Err(Error::Request { subject, kind, .. }) => {
            assert_eq!(subject, "inventory.request.Stock.Reserve");
            assert_eq!(kind, RequestFailure::NoResponders);
        }
        other => panic!("expected Error::Request, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn request_handlers_share_a_queue_group_so_each_request_runs_once() -> TestResult {
    let server = server();
    let (tx, mut seen) = mpsc::unbounded_channel();
    let _b1 = start(billing(&server, "b1", tx.clone())).await;
    let _b2 = start(billing(&server, "b2", tx)).await;
    let orders = start(builder(&server, "orders").service_publisher("billing")).await;
    let publisher = orders.service_publisher("billing")?;

    let subsz = server.monitor_json("/subsz?subs=1")?;
    let subs: Vec<&serde_json::Value> = subsz["subscriptions_list"]
        .as_array()
        .ok_or("no subscriptions_list")?
        .iter()
        .filter(|s| s["subject"] == "billing.request.Billing.Charge")
        .collect();
    assert_eq!(subs.len(), 2);
    for s in &subs {
        assert_eq!(s["qgroup"], "billing");
    }

    const N: u64 = 10;
    for cents in 0..N {
        let r: Receipt = publisher
            .request("Billing.Charge", &Charge { cents })
            .await?;
        assert_eq!(r.cents, cents);
    }
    let handled: Vec<u64> = recv_n(&mut seen, 10)
        .await
        .into_iter()
        .map(|(_, ev)| ev.payload.cents)
        .collect();
    assert_eq!(handled, (0..N).collect::<Vec<_>>());
    // The server counts deliveries per subscription: a queue group delivers each request
    // to exactly one member, so the two subscriptions together got exactly N.
    let subsz = server.monitor_json("/subsz?subs=1")?;
    let delivered: u64 = subsz["subscriptions_list"]
        .as_array()
        .ok_or("no subscriptions_list")?
        .iter()
        .filter(|s| s["subject"] == "billing.request.Billing.Charge")
        .map(|s| s["msgs"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(delivered, N);
    Ok(())
}

#[tokio::test]
async fn service_response_consumer_receives_the_reply() -> TestResult {
    let server = server();
    let (tx, _seen) = mpsc::unbounded_channel();
    let _billing = start(billing(&server, "b1", tx)).await;
    let (handler, mut replies) = forward::<Receipt>();
    let orders = start(
        builder(&server, "orders")
            .service_publisher("billing")
            .service_response_consumer("billing", "Billing.Charge", handler),
    )
    .await;

    let reply: Receipt = orders
        .service_publisher("billing")?
        .request("Billing.Charge", &Charge { cents: 250 })
        .await?;
    let ev = recv(&mut replies).await;
    assert_eq!(ev.payload, reply);
    assert_eq!(
        ev.payload,
        Receipt {
            cents: 250,
            by: "b1".to_owned()
        }
    );
    assert_eq!(ev.delivery_info.destination, "orders");
    assert_eq!(ev.delivery_info.source, "billing");
    assert_eq!(ev.delivery_info.key, "Billing.Charge");
    assert_eq!(ev.metadata.source, "billing");
    Ok(())
}
