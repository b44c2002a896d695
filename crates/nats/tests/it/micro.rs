//! Request handlers as NATS services: `$SRV.PING`, `$SRV.INFO` and `$SRV.STATS` asked
//! with a plain client, next to the spec's request subjects and replies.

use std::time::Duration;

use futures::StreamExt;
use messaging_nats::async_nats;
use messaging_nats::{Connection, Error};
use messaging_spec::{ConsumableEvent, HandlerError};
use serde_json::{Value, json};

use crate::support::{Charge, Receipt, TIMEOUT, TestResult, builder, raw_client, server, start};

/// A billing service: charging 0 cents is declined, refunds always succeed.
fn billing(server: &messaging_testkit::NatsServer) -> messaging_nats::ConnectionBuilder {
    builder(server, "billing")
        .request_handler("Billing.Charge", |ev: ConsumableEvent<Charge>| async move {
            match ev.payload.cents {
                0 => Err(HandlerError::reject("card declined")),
                cents => Ok(Receipt {
                    cents,
                    by: "billing".to_owned(),
                }),
            }
        })
        .request_handler("Billing.Refund", |ev: ConsumableEvent<Charge>| async move {
            Ok::<_, HandlerError>(ev.payload.cents)
        })
}

/// One request on `subject`, its reply as JSON.
async fn ask(
    client: &async_nats::Client,
    subject: &str,
) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
    let reply =
        tokio::time::timeout(TIMEOUT, client.request(subject.to_owned(), "".into())).await??;
    Ok(serde_json::from_slice(&reply.payload)?)
}

/// Every reply to one request on `subject` that arrives within `window`.
async fn ask_all(
    client: &async_nats::Client,
    subject: &str,
    window: Duration,
) -> Result<Vec<Value>, Box<dyn std::error::Error + Send + Sync>> {
    let inbox = client.new_inbox();
    let mut replies = client.subscribe(inbox.clone()).await?;
    client
        .publish_with_reply(subject.to_owned(), inbox, "".into())
        .await?;
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + window;
    while let Ok(Some(m)) = tokio::time::timeout_at(deadline, replies.next()).await {
        got.push(serde_json::from_slice(&m.payload)?);
    }
    Ok(got)
}

/// Whether anyone answers `subject` (`false`: the server reports no responders).
async fn answered(
    client: &async_nats::Client,
    subject: &str,
) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    let got = tokio::time::timeout(TIMEOUT, client.request(subject.to_owned(), "".into())).await?;
    match got {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == async_nats::RequestErrorKind::NoResponders => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[tokio::test]
async fn info_lists_the_request_subjects_and_queue_group() -> TestResult {
    let server = server();
    let _billing = start(billing(&server).service_version("1.4.2")).await;
    let client = raw_client(&server).await;

    let info = ask(&client, "$SRV.INFO.billing").await?;
    assert_eq!(info["type"], "io.nats.micro.v1.info_response");
    assert_eq!(info["name"], "billing");
    assert_eq!(info["version"], "1.4.2");
    assert_eq!(info["description"], "");
    assert_eq!(info["metadata"], json!({}));
    let id = info["id"].as_str().ok_or("no id")?.to_owned();
    assert!(!id.is_empty());
    assert_eq!(
        info["endpoints"],
        json!([
            {
                "name": "Billing-Charge",
                "subject": "billing.request.Billing.Charge",
                "queue_group": "billing",
                "metadata": { "routing_key": "Billing.Charge" },
            },
            {
                "name": "Billing-Refund",
                "subject": "billing.request.Billing.Refund",
                "queue_group": "billing",
                "metadata": { "routing_key": "Billing.Refund" },
            },
        ])
    );

    // The same instance answers on every form of the subject.
    for subject in ["$SRV.INFO".to_owned(), format!("$SRV.INFO.billing.{id}")] {
        let again = ask(&client, &subject).await?;
        assert_eq!(again["id"], id.as_str(), "{subject}");
    }
    let ping = ask(&client, "$SRV.PING").await?;
    assert_eq!(ping["type"], "io.nats.micro.v1.ping_response");
    assert_eq!(ping["name"], "billing");
    assert_eq!(ping["id"], id.as_str());
    assert_eq!(ping["version"], "1.4.2");
    assert!(!answered(&client, "$SRV.INFO.billing.someone-else").await?);
    Ok(())
}

#[tokio::test]
async fn stats_count_requests_and_error_replies_without_changing_them() -> TestResult {
    let server = server();
    let _billing = start(billing(&server)).await;
    let client = raw_client(&server).await;

    const N: u64 = 3;
    const M: u64 = 2;
    for cents in 1..=N {
        let reply = client
            .request(
                "billing.request.Billing.Charge",
                serde_json::to_vec(&Charge { cents })?.into(),
            )
            .await?;
        let receipt: Receipt = serde_json::from_slice(&reply.payload)?;
        assert_eq!(receipt.cents, cents);
    }
    for _ in 0..M {
        let reply = client
            .request(
                "billing.request.Billing.Charge",
                serde_json::to_vec(&Charge { cents: 0 })?.into(),
            )
            .await?;
        // The spec's error reply, byte for byte.
        assert_eq!(&reply.payload[..], br#"{"error":"card declined"}"#);
    }

    let stats = ask(&client, "$SRV.STATS.billing").await?;
    assert_eq!(stats["type"], "io.nats.micro.v1.stats_response");
    assert_eq!(stats["name"], "billing");
    assert_eq!(stats["version"], "0.0.0");
    let started = stats["started"].as_str().ok_or("no started")?;
    time::OffsetDateTime::parse(started, &time::format_description::well_known::Rfc3339)?;
    let endpoints = stats["endpoints"].as_array().ok_or("no endpoints")?;
    assert_eq!(endpoints.len(), 2);
    let charge = &endpoints[0];
    assert_eq!(charge["name"], "Billing-Charge");
    assert_eq!(charge["subject"], "billing.request.Billing.Charge");
    assert_eq!(charge["queue_group"], "billing");
    assert_eq!(charge["num_requests"], N + M);
    assert_eq!(charge["num_errors"], M);
    assert_eq!(charge["last_error"], "400:card declined");
    let total = charge["processing_time"]
        .as_u64()
        .ok_or("no processing_time")?;
    assert!(total > 0);
    assert_eq!(charge["average_processing_time"], total / (N + M));
    let refund = &endpoints[1];
    assert_eq!(refund["subject"], "billing.request.Billing.Refund");
    assert_eq!(refund["num_requests"], 0);
    assert_eq!(refund["num_errors"], 0);
    assert_eq!(refund["last_error"], "");
    assert_eq!(refund["processing_time"], 0);
    assert_eq!(refund["average_processing_time"], 0);
    Ok(())
}

#[tokio::test]
async fn undecodable_requests_count_as_errors() -> TestResult {
    let server = server();
    let _billing = start(billing(&server)).await;
    let client = raw_client(&server).await;
    let reply = client
        .request("billing.request.Billing.Refund", "not json".into())
        .await?;
    let body: Value = serde_json::from_slice(&reply.payload)?;
    assert!(body["error"].is_string());

    let stats = ask(&client, "$SRV.STATS.billing").await?;
    let refund = &stats["endpoints"][1];
    assert_eq!(refund["num_requests"], 1);
    assert_eq!(refund["num_errors"], 1);
    assert!(
        refund["last_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("400:"))
    );
    Ok(())
}

#[tokio::test]
async fn every_instance_answers_ping_with_its_own_id() -> TestResult {
    let server = server();
    let _b1 = start(billing(&server)).await;
    let _b2 = start(billing(&server)).await;
    // A service without request handlers registers nothing.
    let _orders = start(builder(&server, "orders").service_publisher("billing")).await;
    let client = raw_client(&server).await;

    let pongs = ask_all(&client, "$SRV.PING.billing", Duration::from_millis(500)).await?;
    assert_eq!(pongs.len(), 2, "{pongs:?}");
    assert!(pongs.iter().all(|p| p["name"] == "billing"));
    assert_ne!(pongs[0]["id"], pongs[1]["id"]);

    let everyone = ask_all(&client, "$SRV.PING", Duration::from_millis(500)).await?;
    assert_eq!(everyone.len(), 2, "{everyone:?}");
    assert!(!answered(&client, "$SRV.PING.orders").await?);
    Ok(())
}

#[tokio::test]
async fn opting_out_or_an_unfit_name_registers_nothing() -> TestResult {
    let server = server();
    let _off = start(billing(&server).micro_service(false)).await;
    // A valid service name that is not a micro name (':' is outside A-Z a-z 0-9 - _).
    let _eu = start(
        builder(&server, "billing:eu")
            .request_handler("Billing.Charge", |_: ConsumableEvent<Charge>| async {
                Ok::<_, HandlerError>(())
            }),
    )
    .await;
    let client = raw_client(&server).await;
    assert!(!answered(&client, "$SRV.PING").await?);
    // The request handlers still work.
    let reply = client
        .request(
            "billing.request.Billing.Refund",
            serde_json::to_vec(&Charge { cents: 7 })?.into(),
        )
        .await?;
    assert_eq!(&reply.payload[..], b"7");
    Ok(())
}

#[tokio::test]
async fn close_unregisters_the_service() -> TestResult {
    let server = server();
    let billing = start(billing(&server)).await;
    let client = raw_client(&server).await;
    assert!(answered(&client, "$SRV.PING.billing").await?);
    billing.close().await?;
    assert!(!answered(&client, "$SRV.PING.billing").await?);
    Ok(())
}

#[tokio::test]
async fn an_invalid_service_version_fails_start() {
    let got = Connection::builder("billing")
        .url("nats://127.0.0.1:1")
        .service_version("1.0")
        .start()
        .await;
    match got {
        Err(Error::Core(messaging_nats::messaging_core::Error::InvalidConfig(reason))) => {
            assert!(reason.contains("1.0"), "{reason}");
        }
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}
