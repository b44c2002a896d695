//! Request-reply: typed replies, remote errors, timeouts, no responders, queue-group
//! distribution, response consumers.

use std::time::Duration;

use messaging_core::TransportError;
use messaging_memory::{Broker, Connection, Error, RequestFailure};
use messaging_spec::{ConsumableEvent, HandlerError};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::support::{Res, Seen, WAIT, channels, ms_since};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Quote {
    sku: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Price {
    cents: u64,
    by: String,
}

fn billing(broker: &Broker, instance: &'static str) -> messaging_memory::ConnectionBuilder {
    broker.connection("billing").request_handler(
        "Price.*",
        move |ev: ConsumableEvent<Quote>| async move {
            match ev.payload.sku.as_str() {
                "slow" => {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok(Price {
                        cents: 0,
                        by: instance.into(),
                    })
                }
                "unknown" => Err(HandlerError::reject("unknown sku")),
                "boom" => panic!("pricing exploded"),
                _ => Ok(Price {
                    cents: 1250,
                    by: instance.into(),
                }),
            }
        },
    )
}

async fn orders(broker: &Broker) -> Result<Connection, Error> {
    broker
        .connection("orders")
        .request_timeout(Duration::from_secs(2))
        .service_publisher("billing")
        .event_publisher()
        .start()
        .await
}

fn quote(sku: &str) -> Quote {
    Quote { sku: sku.into() }
}

#[tokio::test(start_paused = true)]
async fn typed_reply_and_request_metadata() -> Res {
    let broker = Broker::new();
    let seen = Seen::<ConsumableEvent<Quote>>::new();
    let s = seen.clone();
    let b = broker
        .connection("billing")
        .request_handler("Price.Get", move |ev: ConsumableEvent<Quote>| {
            s.push(ev.clone());
            async move {
                Ok::<_, HandlerError>(Price {
                    cents: 1250,
                    by: ev.payload.sku,
                })
            }
        })
        .start()
        .await?;
    let o = orders(&broker).await?;
    let price: Price = o
        .service_publisher("billing")?
        .request("Price.Get", &quote("A1"))
        .header("x-tenant", "acme")
        .await?;
    assert_eq!(
        price,
        Price {
            cents: 1250,
            by: "A1".into()
        }
    );
    let ev = &seen.all()[0];
    assert_eq!(ev.delivery_info.destination, "billing");
    assert_eq!(ev.delivery_info.source, "billing.request.Price.Get");
    assert_eq!(ev.delivery_info.key, "Price.Get");
    assert_eq!(ev.metadata.source, "orders");
    assert_eq!(ev.metadata.type_, "Price.Get");
    assert_eq!(ev.delivery_info.headers.get_str("x-tenant"), Some("acme"));
    assert!(
        !ev.delivery_info.headers.contains_key("Nats-Msg-Id"),
        "requests carry no Nats-Msg-Id"
    );
    let sent = broker.published_with_key("Price.Get");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].subject, "billing.request.Price.Get");
    assert_eq!(sent[0].sequence, None);
    b.close().await?;
    o.close().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn handler_errors_and_panics_come_back_as_remote_errors() -> Res {
    let broker = Broker::new();
    let b = billing(&broker, "b1").start().await?;
    let o = orders(&broker).await?;
    let p = o.service_publisher("billing")?;
    let err = p
        .request::<Price, _>("Price.Get", &quote("unknown"))
        .await
        .err()
        .ok_or("expected an error")?;
    assert_eq!(err.remote_message(), Some("unknown sku"));
    assert!(
        matches!(&err, Error::Core(messaging_core::Error::Remote { service, message })
            if service == "billing" && message == "unknown sku"),
        "{err:?}"
    );
    let err = p
        .request::<Price, _>("Price.Get", &quote("boom"))
        .await
        .err()
        .ok_or("expected an error")?;
    assert_eq!(
        err.remote_message(),
        Some("handler for Price.Get panicked: pricing exploded")
    );
    // An undecodable request: the handler's type is Quote.
    let err = p
        .request::<Price, _>("Price.Get", &serde_json::json!({"nope": 1}))
        .await
        .err()
        .ok_or("expected an error")?;
    assert!(
        err.remote_message()
            .is_some_and(|m| m.starts_with("undecodable message on Price.Get")),
        "{err:?}"
    );
    // A reply that is not the type asked for.
    let err = p
        .request::<Vec<u8>, _>("Price.Get", &quote("A1"))
        .await
        .err()
        .ok_or("expected an error")?;
    assert!(
        matches!(&err, Error::DecodeReply { subject, .. } if subject == "billing.request.Price.Get"),
        "{err:?}"
    );
    // Still serving after all that.
    let ok: Price = p.request("Price.Get", &quote("A1")).await?;
    assert_eq!(ok.cents, 1250);
    b.close().await?;
    o.close().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn timeouts_and_missing_responders_are_typed() -> Res {
    let broker = Broker::new();
    let o = orders(&broker).await?;
    let p = o.service_publisher("billing")?;
    let t0 = Instant::now();
    let err = p
        .request::<Price, _>("Price.Get", &quote("A1"))
        .await
        .err()
        .ok_or("expected an error")?;
    assert!(
        matches!(&err, Error::Request { kind: RequestFailure::NoResponders, subject } if subject == "billing.request.Price.Get"),
        "{err:?}"
    );
    assert_eq!(
        ms_since(t0, Instant::now()),
        0,
        "no responders fails at once"
    );

    let b = billing(&broker, "b1").start().await?;
    // A key billing does not serve: also no responders.
    let err = p
        .request::<Price, _>("Stock.Get", &quote("A1"))
        .await
        .err()
        .ok_or("expected an error")?;
    assert!(
        matches!(
            &err,
            Error::Request {
                kind: RequestFailure::NoResponders,
                ..
            }
        ),
        "{err:?}"
    );

    let t0 = Instant::now();
    let err = p
        .request::<Price, _>("Price.Get", &quote("slow"))
        .await
        .err()
        .ok_or("expected an error")?;
    assert!(
        matches!(
            &err,
            Error::Request {
                kind: RequestFailure::TimedOut,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        ms_since(t0, Instant::now()),
        2_000,
        "the configured request timeout"
    );
    // A stream publisher cannot make requests.
    let err = o
        .event_publisher()?
        .request::<Price, _>("Price.Get", &quote("A1"))
        .await
        .err()
        .ok_or("expected an error")?;
    assert!(matches!(err, Error::NotAServicePublisher { .. }), "{err:?}");
    // The slow handler is still running (the caller gave up, the handler did not).
    let closed = b.close().await;
    assert!(
        matches!(closed, Err(Error::ShutdownTimeout(_))),
        "{closed:?}"
    );
    o.close().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn requests_go_to_one_instance_in_turn_and_crashed_ones_time_out() -> Res {
    let broker = Broker::new();
    let b1 = billing(&broker, "b1").start().await?;
    let b2 = billing(&broker, "b2").start().await?;
    assert_eq!(broker.responders("billing"), 2);
    let o = orders(&broker).await?;
    let p = o.service_publisher("billing")?;
    let mut by = Vec::new();
    for _ in 0..4 {
        let price: Price = p.request("Price.Get", &quote("A1")).await?;
        by.push(price.by);
    }
    assert_eq!(by, ["b1", "b2", "b1", "b2"]);
    // A closing instance unsubscribes; the other one serves everything.
    b1.close().await?;
    assert_eq!(broker.responders("billing"), 1);
    for _ in 0..2 {
        let price: Price = p.request("Price.Get", &quote("A1")).await?;
        assert_eq!(price.by, "b2");
    }
    // A request in the hands of an instance that crashes is never answered.
    let pending = tokio::spawn({
        let p = p.clone();
        async move { p.request::<Price, _>("Price.Get", &quote("slow")).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    b2.abort();
    let err = pending.await?.err().ok_or("expected an error")?;
    assert!(
        matches!(
            &err,
            Error::Request {
                kind: RequestFailure::TimedOut,
                ..
            }
        ),
        "{err:?}"
    );
    o.close().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn close_answers_requests_already_received() -> Res {
    let broker = Broker::new();
    let b = broker
        .connection("billing")
        .request_handler("Price.Get", |_ev: ConsumableEvent<Quote>| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, HandlerError>(Price {
                cents: 1,
                by: "closing".into(),
            })
        })
        .start()
        .await?;
    let o = orders(&broker).await?;
    let p = o.service_publisher("billing")?;
    let pending = tokio::spawn({
        let p = p.clone();
        async move { p.request::<Price, _>("Price.Get", &quote("A1")).await }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    b.close().await?;
    assert_eq!(pending.await??.by, "closing");
    o.close().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn response_consumers_receive_replies() -> Res {
    let broker = Broker::new();
    let b = billing(&broker, "b1").start().await?;
    let replies = Seen::<ConsumableEvent<serde_json::Value>>::new();
    let r = replies.clone();
    let (ok_tx, err_tx, mut notes) = channels();
    let o = broker
        .connection("orders")
        .notifications(ok_tx)
        .error_notifications(err_tx)
        .service_publisher("billing")
        .service_response_consumer(
            "billing",
            "Price.*",
            move |ev: ConsumableEvent<serde_json::Value>| {
                r.push(ev);
                async { Ok::<_, HandlerError>(()) }
            },
        )
        .start()
        .await?;
    let p = o.service_publisher("billing")?;
    // `publish` on a service target also waits for the reply (and ignores its content).
    let receipt = p.publish("Price.Get", &quote("A1")).await?;
    assert_eq!(receipt.subject, "billing.request.Price.Get");
    let _ = p.request::<Price, _>("Price.Get", &quote("unknown")).await;
    broker.wait_until(WAIT, |_| replies.len() == 2).await?;
    let got = replies.all();
    assert_eq!(
        got[0].payload,
        serde_json::json!({"cents": 1250, "by": "b1"})
    );
    assert_eq!(got[1].payload, serde_json::json!({"error": "unknown sku"}));
    let info = &got[1].delivery_info;
    assert_eq!(
        (
            info.destination.as_str(),
            info.source.as_str(),
            info.key.as_str()
        ),
        ("orders", "billing", "Price.Get")
    );
    assert_eq!(
        info.headers.get_str("Nats-Service-Error"),
        Some("unknown sku")
    );
    assert_eq!(info.headers.get_str("Nats-Service-Error-Code"), Some("400"));
    assert_eq!(
        got[0].metadata.source, "billing",
        "replies carry the answering service's CloudEvents"
    );
    assert_eq!(notes.successes().len(), 2);
    assert!(notes.errors().is_empty());
    b.close().await?;
    o.close().await?;
    Ok(())
}
