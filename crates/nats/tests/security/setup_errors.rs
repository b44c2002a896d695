//! Set-up errors that say what to do: connection refused, DNS failure, a connect
//! timeout, and a server without JetStream (permission violations: `permissions.rs`). Each test prints the
//! error as `main() -> Result<(), Error>` would (`Error: {e:?}`); run with
//! `--nocapture` to see them.

use std::time::Duration;

use messaging_nats::{ConnectFailure, Connection, Error};
use messaging_spec::{ConsumableEvent, HandlerError};
use messaging_testkit::NatsServer;
use serde_json::{Value, json};

use super::support::{
    TestResult, assert_names_url, bounded, builder, connect_failure, start_error, start_server,
};

/// What Rust prints for an error returned from `main`.
fn as_main_prints(e: &Error) -> String {
    format!("Error: {e:?}")
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[tokio::test]
async fn connection_refused_names_the_url() -> TestResult {
    let url = format!("nats://127.0.0.1:{}", free_port()?);
    let e = start_error(Connection::builder("orders").url(&url)).await;
    assert_eq!(connect_failure(&e, &url), ConnectFailure::Refused);
    assert_names_url(&e, &url);
    let debug = format!("{e:?}");
    assert!(debug.contains("refused"), "{debug}");
    assert!(
        !debug.contains("ConnectFailed {"),
        "Debug is the message: {debug}"
    );
    println!("{}", as_main_prints(&e));
    Ok(())
}

#[tokio::test]
async fn several_urls_are_all_named() -> TestResult {
    let a = format!("nats://127.0.0.1:{}", free_port()?);
    let b = format!("nats://127.0.0.1:{}", free_port()?);
    let e = start_error(Connection::builder("orders").urls([&a, &b])).await;
    assert_eq!(
        connect_failure(&e, &format!("{a},{b}")),
        ConnectFailure::Refused
    );
    Ok(())
}

#[tokio::test]
async fn an_unknown_host_is_a_dns_error() -> TestResult {
    let url = "nats://no-such-host.invalid:4222";
    let e = start_error(
        Connection::builder("orders")
            .url(url)
            .connection_timeout(Duration::from_secs(3)),
    )
    .await;
    assert_eq!(connect_failure(&e, url), ConnectFailure::Dns);
    assert_names_url(&e, url);
    println!("{}", as_main_prints(&e));
    Ok(())
}

#[tokio::test]
async fn a_silent_server_is_a_timeout() -> TestResult {
    // Accepts TCP connections (the kernel does) but never sends INFO.
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = format!("nats://127.0.0.1:{}", listener.local_addr()?.port());
    let e = start_error(
        Connection::builder("orders")
            .url(&url)
            .connection_timeout(Duration::from_millis(300)),
    )
    .await;
    assert_eq!(connect_failure(&e, &url), ConnectFailure::TimedOut);
    assert_names_url(&e, &url);
    println!("{}", as_main_prints(&e));
    drop(listener);
    Ok(())
}

#[tokio::test]
async fn user_info_in_a_url_is_not_shown() -> TestResult {
    let port = free_port()?;
    let url = format!("nats://alice:url-secret-4d2f@127.0.0.1:{port}");
    let e = start_error(Connection::builder("orders").url(&url)).await;
    let shown = format!("nats://***@127.0.0.1:{port}");
    assert_eq!(connect_failure(&e, &shown), ConnectFailure::Refused);
    for text in [e.to_string(), format!("{e:?}")] {
        assert!(!text.contains("url-secret-4d2f"), "{text}");
    }
    Ok(())
}

#[tokio::test]
async fn a_server_without_jetstream_says_how_to_enable_it() -> TestResult {
    let server = start_server(NatsServer::builder().jetstream(false));
    let e = start_error(builder(&server, "orders")).await;
    match &e {
        Error::JetStreamNotEnabled { url } => assert_eq!(url, &server.client_url()),
        other => panic!("expected Error::JetStreamNotEnabled, got {other:?}"),
    }
    assert_names_url(&e, &server.client_url());
    let debug = format!("{e:?}");
    assert!(debug.contains("-js"), "{debug}");
    println!("{}", as_main_prints(&e));
    Ok(())
}

#[tokio::test]
async fn a_request_only_service_needs_no_jetstream() -> TestResult {
    let server = start_server(NatsServer::builder().jetstream(false));
    let conn = bounded(
        builder(&server, "pinger")
            .request_handler("ping", |_ev: ConsumableEvent<Value>| {
                std::future::ready(Ok::<Value, HandlerError>(json!("pong")))
            })
            .start(),
    )
    .await?;
    bounded(conn.close()).await?;
    Ok(())
}
