//! Permission violations: the server drops what a user may not publish or subscribe to
//! and says so only in an asynchronous `-ERR`. Each operation that needed the permission
//! fails with `Error::PermissionDenied` naming the subject, at once rather than after its
//! retries, and the violation is logged at ERROR.

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use messaging_nats::{ConnectionBuilder, Error, Permission};
use messaging_spec::{ConsumableEvent, HandlerError};
use messaging_testkit::NatsServer;
use serde_json::{Value, json};

use super::support::{LogBuffer, TestResult, bounded, builder, start_server};

const USER: &str = "limited";
const PASSWORD: &str = "limited-pw-8e1b";

/// A server with one user, `limited`, whose `permissions` block is `permissions`, and an
/// `admin` user who may do anything.
fn server_with(permissions: &str) -> NatsServer {
    start_server(NatsServer::builder().config(format!(
        r#"authorization {{
  users = [
    {{ user: "{USER}", password: "{PASSWORD}", permissions: {permissions} }}
    {{ user: "admin", password: "admin-pw-77c3" }}
  ]
}}"#
    )))
}

/// The permission and subject of an `Error::PermissionDenied` (and that it names the
/// server); panics on any other error.
fn denied(e: &Error, server: &NatsServer) -> (Permission, String) {
    match e {
        Error::PermissionDenied {
            url,
            permission,
            subject,
        } => {
            assert_eq!(url, &server.client_url());
            (*permission, subject.clone())
        }
        other => panic!("expected Error::PermissionDenied, got {other:?}"),
    }
}

/// The error `start()` must fail with.
async fn start_failure(builder: ConnectionBuilder) -> Error {
    let Err(e) = bounded(builder.start()).await else {
        panic!("start() succeeded without the permission it needs")
    };
    e
}

#[tokio::test(flavor = "current_thread")]
async fn a_denied_publish_fails_at_once_naming_the_subject() -> TestResult {
    let server = server_with(r#"{ publish: { deny: ["events.>"] } }"#);
    let logs = LogBuffer::default();
    let guard = logs.install();
    let conn = bounded(
        builder(&server, "limited")
            .user_and_password(USER, PASSWORD)
            .publish_timeout(Duration::from_millis(500))
            .event_publisher()
            .start(),
    )
    .await?;
    let events = conn.event_publisher()?;
    let started = Instant::now();
    let result = bounded(
        events
            .publish("Order.Created", &json!({"id": 1}))
            .into_future(),
    )
    .await;
    let elapsed = started.elapsed();
    let e = match result {
        Err(e) => e,
        Ok(receipt) => panic!("a denied publish was acked: {receipt:?}"),
    };
    assert_eq!(
        denied(&e, &server),
        (Permission::Publish, "events.Order.Created".to_owned())
    );
    // One attempt's timeout, not the ten attempts' (about 5 s plus their waits): retrying
    // a denied publish cannot help.
    assert!(elapsed < Duration::from_millis(1500), "took {elapsed:?}");
    let text = e.to_string();
    assert!(
        text.contains(r#"publish to "events.Order.Created""#),
        "{text}"
    );
    assert!(
        text.contains(r#"publish: { allow: ["events.Order.Created"] }"#),
        "{text}"
    );
    println!("Error: {e:?}");
    bounded(conn.close()).await?;
    drop(guard);
    let logged = logs.contents();
    let line = logged
        .lines()
        .find(|l| l.contains("denied this connection permission"))
        .ok_or_else(|| format!("no violation logged:\n{logged}"))?;
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("events.Order.Created"), "{line}");
    println!("{line}");
    Ok(())
}

#[tokio::test]
async fn a_denied_jetstream_api_fails_start_naming_the_subject() -> TestResult {
    let server = server_with(r#"{ publish: { deny: ["$JS.API.STREAM.>"] } }"#);
    let e = start_failure(
        builder(&server, "limited")
            .user_and_password(USER, PASSWORD)
            .event_publisher(),
    )
    .await;
    assert_eq!(
        denied(&e, &server),
        (Permission::Publish, "$JS.API.STREAM.INFO.events".to_owned())
    );
    println!("Error: {e:?}");
    Ok(())
}

#[tokio::test]
async fn a_denied_request_subscription_fails_start_naming_the_subject() -> TestResult {
    let server = server_with(r#"{ subscribe: { deny: ["billing.request.>"] } }"#);
    let e = start_failure(
        builder(&server, "billing")
            .user_and_password(USER, PASSWORD)
            .request_handler("invoice.create", |_ev: ConsumableEvent<Value>| {
                std::future::ready(Ok::<Value, HandlerError>(json!({"ok": true})))
            }),
    )
    .await;
    assert_eq!(
        denied(&e, &server),
        (
            Permission::Subscribe,
            "billing.request.invoice.create".to_owned()
        )
    );
    println!("Error: {e:?}");
    Ok(())
}

#[tokio::test]
async fn a_denied_request_names_the_subject() -> TestResult {
    let server = server_with(r#"{ publish: { deny: ["billing.request.>"] } }"#);
    // The handler runs as a user who may subscribe; the caller may not publish to it.
    let handler = bounded(
        builder(&server, "billing")
            .user_and_password("admin", "admin-pw-77c3")
            .request_handler("invoice.create", |_ev: ConsumableEvent<Value>| {
                std::future::ready(Ok::<Value, HandlerError>(json!({"ok": true})))
            })
            .start(),
    )
    .await?;
    let caller = bounded(
        builder(&server, "shop")
            .user_and_password(USER, PASSWORD)
            .request_timeout(Duration::from_millis(500))
            .service_publisher("billing")
            .start(),
    )
    .await?;
    let billing = caller.service_publisher("billing")?;
    let result = bounded(
        billing
            .request::<Value, _>("invoice.create", &json!({"n": 1}))
            .into_future(),
    )
    .await;
    let e = match result {
        Err(e) => e,
        Ok(reply) => panic!("a denied request was answered: {reply:?}"),
    };
    assert_eq!(
        denied(&e, &server),
        (
            Permission::Publish,
            "billing.request.invoice.create".to_owned()
        )
    );
    bounded(caller.close()).await?;
    bounded(handler.close()).await?;
    Ok(())
}

#[tokio::test]
async fn a_permitted_user_publishes_and_requests() -> TestResult {
    let server = server_with(r#"{ publish: { allow: [">"] }, subscribe: { allow: [">"] } }"#);
    let conn = bounded(
        builder(&server, "billing")
            .user_and_password(USER, PASSWORD)
            .request_handler("invoice.create", |_ev: ConsumableEvent<Value>| {
                std::future::ready(Ok::<Value, HandlerError>(json!({"ok": true})))
            })
            .service_publisher("billing")
            .start(),
    )
    .await?;
    let reply: Value = bounded(
        conn.service_publisher("billing")?
            .request::<Value, _>("invoice.create", &json!({"n": 1}))
            .into_future(),
    )
    .await?;
    assert_eq!(reply, json!({"ok": true}));
    bounded(conn.close()).await?;
    Ok(())
}
