//! TLS: a custom CA, mutual TLS, an untrusted certificate, and `require_tls` against a
//! plain server.

use messaging_nats::ConnectFailure;
use messaging_testkit::NatsServer;

use super::support::{
    TestResult, assert_names_url, builder, connect_failure, round_trip, start_error, start_server,
};

#[tokio::test]
async fn tls_with_a_custom_ca_round_trips() -> TestResult {
    let server = start_server(NatsServer::builder().tls());
    let tls = server.tls().ok_or("no TLS files")?;
    round_trip(builder(&server, "tls-ca").tls_root_certificate(tls.ca_cert())).await
}

#[tokio::test]
async fn mutual_tls_round_trips() -> TestResult {
    let server = start_server(NatsServer::builder().mutual_tls());
    let tls = server.tls().ok_or("no TLS files")?;
    round_trip(
        builder(&server, "tls-mutual")
            .tls_root_certificate(tls.ca_cert())
            .tls_client_certificate(tls.client_cert(), tls.client_key())
            .require_tls(true),
    )
    .await
}

#[tokio::test]
async fn mutual_tls_without_a_client_certificate_is_refused() -> TestResult {
    let server = start_server(NatsServer::builder().mutual_tls());
    let tls = server.tls().ok_or("no TLS files")?;
    let e = start_error(builder(&server, "tls-no-cert").tls_root_certificate(tls.ca_cert())).await;
    let kind = connect_failure(&e, &server.client_url());
    // TLS 1.3: the server checks the client certificate after the client's handshake is
    // done, so the refusal arrives as an alert on the next read.
    assert!(
        matches!(kind, ConnectFailure::Tls | ConnectFailure::Other),
        "{kind:?}: {e:?}"
    );
    assert_names_url(&e, &server.client_url());
    println!("Error: {e:?}");
    Ok(())
}

#[tokio::test]
async fn an_untrusted_server_certificate_is_a_tls_error() -> TestResult {
    let server = start_server(NatsServer::builder().tls());
    let tls = server.tls().ok_or("no TLS files")?;
    let e = start_error(
        builder(&server, "tls-untrusted").tls_root_certificate(tls.untrusted_ca_cert()),
    )
    .await;
    assert_eq!(
        connect_failure(&e, &server.client_url()),
        ConnectFailure::Tls
    );
    assert_names_url(&e, &server.client_url());
    println!("Error: {e:?}");
    Ok(())
}

#[tokio::test]
async fn require_tls_refuses_a_plain_server() -> TestResult {
    let server = start_server(NatsServer::builder());
    let e = start_error(builder(&server, "tls-required").require_tls(true)).await;
    assert_eq!(
        connect_failure(&e, &server.client_url()),
        ConnectFailure::Tls
    );
    assert_names_url(&e, &server.client_url());
    println!("Error: {e:?}");
    Ok(())
}
