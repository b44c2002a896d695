//! Request-response: typed requests over direct reply-to (replies, remote errors,
//! concurrent correlation, no responders, timeouts) and the reference's asynchronous
//! headers-exchange pattern, both ways, with a raw Go-style peer.

use std::time::Duration;

use messaging_amqp::lapin::BasicProperties;
use messaging_amqp::lapin::options::BasicPublishOptions;
use messaging_amqp::lapin::types::{AMQPValue, FieldTable, LongString};
use messaging_amqp::{Error, RequestFailure};
use messaging_spec::{ConsumableEvent, HandlerError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::support::*;

#[derive(Debug, Serialize, Deserialize)]
struct Charge {
    cents: u64,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Receipt {
    cents: u64,
    by: String,
}

/// A `charge` of 777 cents has begun.
static ENTERED: tokio::sync::Notify = tokio::sync::Notify::const_new();
/// Lets a `charge` of 777 cents finish.
static RELEASE: tokio::sync::Notify = tokio::sync::Notify::const_new();

async fn charge(ev: ConsumableEvent<Charge>) -> Result<Receipt, HandlerError> {
    if ev.payload.cents == 0 {
        return Err(HandlerError::reject("amount must be positive"));
    }
    if ev.payload.cents == 999 {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    if ev.payload.cents == 777 {
        // Until the test lets go: the caller must give up first.
        ENTERED.notify_one();
        let _ = tokio::time::timeout(Duration::from_secs(60), RELEASE.notified()).await;
    }
    Ok(Receipt {
        cents: ev.payload.cents,
        by: ev.metadata.source,
    })
}

#[tokio::test]
async fn typed_requests_get_their_reply_or_the_remote_error() -> TestResult {
    let billing = unique("billing");
    let caller = unique("shop");
    let callee = start(builder(&billing).request_handler("Billing.Charge", charge)).await;
    let shop = start(builder(&caller).service_publisher(&billing)).await;
    let p = shop.service_publisher(&billing)?;
    let r: Receipt = p.request("Billing.Charge", &Charge { cents: 500 }).await?;
    assert_eq!(
        r,
        Receipt {
            cents: 500,
            by: caller.clone()
        }
    );
    match p
        .request::<Receipt, _>("Billing.Charge", &Charge { cents: 0 })
        .await
    {
        Err(Error::Core(messaging_core::Error::Remote { service, message })) => {
            assert_eq!(service, billing);
            assert_eq!(message, "amount must be positive");
        }
        other => panic!("expected a remote error, got {other:?}"),
    }
    // A body that does not decode is answered with an error too, not retried.
    match p
        .request::<Receipt, _>("Billing.Charge", &json!({"cents": "x"}))
        .await
    {
        Err(e) => assert!(e.to_string().contains("returned an error"), "{e}"),
        Ok(r) => panic!("undecodable request answered {r:?}"),
    }
    // Typed requests declare nothing: no reply queue appears.
    let names: Vec<String> = mgmt("/api/queues/%2f")
        .as_array()
        .map(|q| {
            q.iter()
                .filter_map(|q| q["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    assert!(!names.iter().any(|n| n.contains(&caller)), "{names:?}");
    shop.close().await?;
    callee.close().await?;
    Ok(())
}

#[tokio::test]
async fn concurrent_requests_each_get_their_own_reply() -> TestResult {
    let billing = unique("billing");
    let callee = start(
        builder(&billing)
            .setup(messaging_amqp::Setup::request_handler("Billing.Charge", charge).concurrency(8)),
    )
    .await;
    let shop = start(builder(&unique("shop")).service_publisher(&billing)).await;
    let p = shop.service_publisher(&billing)?;
    let calls = (1..=40u64).map(|cents| {
        let p = p.clone();
        async move {
            p.request::<Receipt, _>("Billing.Charge", &Charge { cents })
                .await
                .map(|r| (cents, r.cents))
        }
    });
    let results = futures::future::join_all(calls).await;
    for r in results {
        let (asked, got) = r?;
        assert_eq!(asked, got);
    }
    shop.close().await?;
    callee.close().await?;
    Ok(())
}

#[tokio::test]
async fn nobody_serving_and_slow_callees_are_typed_failures() -> TestResult {
    let billing = unique("billing");
    let callee = start(
        builder(&billing)
            .setup(messaging_amqp::Setup::request_handler("Billing.Charge", charge).concurrency(2)),
    )
    .await;
    let shop = start(
        builder(&unique("shop"))
            .service_publisher(&billing)
            .request_timeout(Duration::from_millis(500)),
    )
    .await;
    let p = shop.service_publisher(&billing)?;
    match p
        .request::<Receipt, _>("Billing.Unknown", &Charge { cents: 1 })
        .await
    {
        Err(Error::Request {
            kind: RequestFailure::NoResponders,
            ..
        }) => {}
        other => panic!("expected NoResponders, got {other:?}"),
    }
    let started = std::time::Instant::now();
    match p
        .request::<Receipt, _>("Billing.Charge", &Charge { cents: 999 })
        .await
    {
        Err(Error::Request {
            kind: RequestFailure::TimedOut,
            ..
        }) => {}
        other => panic!("expected TimedOut, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_millis(1500));
    // The connection keeps working after a timed-out call (its late reply is dropped).
    let r: Receipt = p.request("Billing.Charge", &Charge { cents: 3 }).await?;
    assert_eq!(r.cents, 3);
    match p.publish("Billing.Charge", &Charge { cents: 1 }).await {
        Ok(receipt) => assert_eq!(
            receipt.exchange,
            format!("{billing}.direct.exchange.request")
        ),
        Err(e) => panic!("{e}"),
    }
    let events = start(builder(&unique("ev")).event_publisher()).await;
    assert!(matches!(
        events
            .event_publisher()?
            .request::<Value, _>("X.Y", &json!({}))
            .await,
        Err(Error::NotAServicePublisher { .. })
    ));
    for c in [shop, callee, events] {
        c.close().await?;
    }
    Ok(())
}

#[tokio::test]
async fn the_reference_async_pattern_works_between_rust_services() -> TestResult {
    let task_svc = unique("task-svc");
    let scheduler = unique("scheduler");
    let (responses, mut responses_rx) = forward::<Value>();
    let callee = start(builder(&task_svc).request_handler(
        "task.execute",
        |ev: ConsumableEvent<Value>| async move {
            Ok::<_, HandlerError>(json!({"status": "completed", "task": ev.payload["taskId"]}))
        },
    ))
    .await;
    let caller = start(
        builder(&scheduler)
            .service_publisher(&task_svc)
            .service_response_consumer(&task_svc, "task.execute", responses),
    )
    .await;
    caller
        .service_publisher(&task_svc)?
        .publish("task.execute", &json!({"taskId": "rt-1"}))
        .await?;
    let ev = recv(&mut responses_rx).await;
    assert_eq!(ev.payload, json!({"status": "completed", "task": "rt-1"}));
    assert_eq!(ev.metadata.type_, "task.execute");
    assert_eq!(ev.metadata.source, task_svc);
    assert_eq!(
        ev.delivery_info.source,
        format!("{task_svc}.headers.exchange.response")
    );
    assert_eq!(
        ev.delivery_info.destination,
        format!("{task_svc}.headers.exchange.response.queue.{scheduler}")
    );
    assert_eq!(
        ev.delivery_info.headers.get_str("service"),
        Some(scheduler.as_str())
    );
    // PublishServiceResponse, as the TCK's scenario 10 sends it.
    callee
        .publish_service_response(&scheduler, "task.execute", &json!({"status": "manual"}))
        .await?;
    assert_eq!(
        recv(&mut responses_rx).await.payload,
        json!({"status": "manual"})
    );
    // Typed replies reach the response consumer too (as on NATS).
    let _: Value = caller
        .service_publisher(&task_svc)?
        .request("task.execute", &json!({"taskId": "t2"}))
        .await?;
    assert_eq!(recv(&mut responses_rx).await.payload["task"], "t2");
    caller.close().await?;
    callee.close().await?;
    Ok(())
}

#[tokio::test]
async fn a_go_style_caller_gets_its_response_on_the_headers_exchange() -> TestResult {
    let callee_name = unique("email-svc");
    let go_caller = unique("web-app");
    let callee = start(builder(&callee_name).request_handler(
        "email.send",
        |ev: ConsumableEvent<Value>| async move {
            Ok::<_, HandlerError>(json!({"sent_to": ev.payload["to"]}))
        },
    ))
    .await;
    let mut args = FieldTable::default();
    args.insert(
        "service".into(),
        AMQPValue::LongString(go_caller.as_str().into()),
    );
    let mut probe = Probe::bind(
        &format!("{callee_name}.headers.exchange.response"),
        "email.send",
        args,
    )
    .await;
    let mut headers = FieldTable::default();
    for (k, v) in [
        ("service", go_caller.as_str()),
        ("cloudEvents:specversion", "1.0"),
        ("cloudEvents:type", "email.send"),
        ("cloudEvents:source", go_caller.as_str()),
        ("cloudEvents:id", "req-1"),
        ("cloudEvents:time", "2026-03-05T10:00:00Z"),
    ] {
        headers.insert(k.into(), AMQPValue::LongString(LongString::from(v)));
    }
    let raw = raw().await;
    let ch = raw.create_channel().await?;
    ch.basic_publish(
        format!("{callee_name}.direct.exchange.request")
            .as_str()
            .into(),
        "email.send".into(),
        BasicPublishOptions::default(),
        br#"{"to":"a@b.c"}"#,
        BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_headers(headers),
    )
    .await?
    .await?;
    let d = probe.next().await;
    assert_eq!(
        d.exchange.as_str(),
        format!("{callee_name}.headers.exchange.response")
    );
    assert_eq!(d.routing_key.as_str(), "email.send");
    assert_eq!(
        serde_json::from_slice::<Value>(&d.data)?,
        json!({"sent_to": "a@b.c"})
    );
    assert_eq!(
        long_string(&d, "service"),
        Some(go_caller.clone()),
        "service names the recipient"
    );
    assert_eq!(
        long_string(&d, "cloudEvents:source"),
        Some(callee_name.clone())
    );
    assert_eq!(
        long_string(&d, "cloudEvents:type").as_deref(),
        Some("email.send")
    );
    assert!(d.properties.correlation_id().is_none() && d.properties.reply_to().is_none());
    callee.close().await?;
    Ok(())
}

#[tokio::test]
async fn a_call_whose_reply_channel_is_lost_fails_at_once_and_the_next_succeeds() -> TestResult {
    let billing = unique("billing");
    let callee = start(
        builder(&billing)
            .setup(messaging_amqp::Setup::request_handler("Billing.Charge", charge).concurrency(2)),
    )
    .await;
    let name = unique("caller-conn");
    let shop = start(
        builder(&unique("shop"))
            .connection_name(&name)
            .service_publisher(&billing)
            .request_timeout(Duration::from_secs(30)),
    )
    .await;
    let p = shop.service_publisher(&billing)?;
    // The requests channel exists once a call has been made.
    let r: Receipt = p.request("Billing.Charge", &Charge { cents: 5 }).await?;
    assert_eq!(r.cents, 5);
    let waiting = {
        let p = p.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let result = p
                .request::<Receipt, _>("Billing.Charge", &Charge { cents: 777 })
                .await;
            (result, started.elapsed())
        })
    };
    tokio::time::timeout(TIMEOUT, ENTERED.notified()).await?;
    close_connection(&name).await?;
    let (result, took) = tokio::time::timeout(TIMEOUT, waiting).await??;
    match result {
        Err(Error::Request {
            kind: RequestFailure::ReplyLost,
            ..
        }) => {}
        other => panic!("expected ReplyLost, got {other:?}"),
    }
    assert!(
        took < Duration::from_secs(10),
        "failed after {took:?}, not at once"
    );
    RELEASE.notify_one();
    // A new connection and channel serve the next call.
    let r: Receipt = p.request("Billing.Charge", &Charge { cents: 6 }).await?;
    assert_eq!(r.cents, 6);
    shop.close().await?;
    callee.close().await?;
    Ok(())
}
