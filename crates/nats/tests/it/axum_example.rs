//! The axum example over real HTTP: `/ready` and `/metrics` as an orchestrator and
//! Prometheus see them, before and after a message and across a server outage.
#![cfg(feature = "metrics")]

use std::sync::Arc;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::{self, TestResult};

#[path = "../../examples/axum_service.rs"]
#[allow(dead_code)] // the example's main() is not run here
mod example;

/// A plain HTTP/1.1 GET; returns the status code and the body.
async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut stream = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => panic!("connecting to {addr}: {e}"),
    };
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if let Err(e) = stream.write_all(request.as_bytes()).await {
        panic!("sending request: {e}");
    }
    let mut raw = String::new();
    if let Err(e) = stream.read_to_string(&mut raw).await {
        panic!("reading response: {e}");
    }
    let Some((head, body)) = raw.split_once("\r\n\r\n") else {
        panic!("no header/body separator in {raw:?}");
    };
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    (status, body.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_readiness_over_http() -> TestResult {
    let mut server = support::server();
    let registry = messaging_nats::prometheus::Registry::new();
    let conn = example::connect(&server.client_url(), &registry).await?;
    let app = Arc::new(example::App { conn, registry });
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let http = tokio::spawn(axum::serve(listener, example::router(Arc::clone(&app))).into_future());

    let body = support::eventually("/ready answers 200", || async {
        let (status, body) = get(addr, "/ready").await;
        (status == 200).then_some(body)
    })
    .await;
    assert_eq!(body, "ready\n");

    let producer =
        support::start(support::builder(&server, "axum-producer").event_publisher()).await;
    producer
        .event_publisher()?
        .publish("Order.Created", &json!({ "id": 1 }))
        .await?;
    let received = "nats_events_received{consumer=\"axum-demo\",routing_key=\"Order.Created\"} 1\n";
    support::eventually("/metrics shows the received event", || async {
        let (status, body) = get(addr, "/metrics").await;
        assert_eq!(status, 200);
        body.contains(received).then_some(())
    })
    .await;
    let (_, metrics) = get(addr, "/metrics").await;
    assert!(
        metrics
            .contains("nats_events_ack{consumer=\"axum-demo\",routing_key=\"Order.Created\"} 1\n")
    );
    assert!(metrics.contains("# TYPE nats_events_processed_duration histogram\n"));
    producer.close().await?;

    if let Err(e) = tokio::task::block_in_place(|| server.kill()) {
        panic!("killing nats-server: {e}");
    }
    let body = support::eventually("/ready answers 503 once NATS is gone", || async {
        let (status, body) = get(addr, "/ready").await;
        (status == 503).then_some(body)
    })
    .await;
    assert!(
        body.starts_with("degraded: disconnected from NATS"),
        "unexpected body {body:?}"
    );
    http.abort();
    Ok(())
}
