//! Authentication: user and password, token, NKey and a credentials file (operator
//! mode), each accepted with the right credentials and refused, typed, with wrong ones.

use messaging_nats::ConnectFailure;
use messaging_testkit::{NatsAuth, NatsServer};

use super::support::{
    TestResult, assert_names_url, builder, connect_failure, round_trip, start_error, start_server,
};

#[tokio::test]
async fn user_and_password_round_trip() -> TestResult {
    let server = start_server(
        NatsServer::builder().auth(NatsAuth::user_password("orders", "pw-right-7f3a")),
    );
    round_trip(builder(&server, "auth-user").user_and_password("orders", "pw-right-7f3a")).await
}

#[tokio::test]
async fn a_wrong_password_is_an_auth_error() -> TestResult {
    let server = start_server(
        NatsServer::builder().auth(NatsAuth::user_password("orders", "pw-right-7f3a")),
    );
    let e = start_error(builder(&server, "auth-user").user_and_password("orders", "pw-wrong-9c1d"))
        .await;
    assert_eq!(
        connect_failure(&e, &server.client_url()),
        ConnectFailure::Auth
    );
    assert_names_url(&e, &server.client_url());
    println!("Error: {e:?}");
    Ok(())
}

#[tokio::test]
async fn token_round_trip() -> TestResult {
    let server = start_server(NatsServer::builder().auth(NatsAuth::token("tok-right-51e2")));
    round_trip(builder(&server, "auth-token").token("tok-right-51e2")).await
}

#[tokio::test]
async fn a_wrong_token_is_an_auth_error() -> TestResult {
    let server = start_server(NatsServer::builder().auth(NatsAuth::token("tok-right-51e2")));
    let e = start_error(builder(&server, "auth-token").token("tok-wrong-0b7c")).await;
    assert_eq!(
        connect_failure(&e, &server.client_url()),
        ConnectFailure::Auth
    );
    assert_names_url(&e, &server.client_url());
    Ok(())
}

#[tokio::test]
async fn missing_credentials_are_an_auth_error() -> TestResult {
    let server = start_server(NatsServer::builder().auth(NatsAuth::token("tok-right-51e2")));
    let e = start_error(builder(&server, "auth-none")).await;
    assert_eq!(
        connect_failure(&e, &server.client_url()),
        ConnectFailure::Auth
    );
    Ok(())
}

#[tokio::test]
async fn nkey_round_trip() -> TestResult {
    let auth = NatsAuth::nkey()?;
    let seed = auth.nkey_seed().ok_or("no seed")?.to_owned();
    let server = start_server(NatsServer::builder().auth(auth));
    round_trip(builder(&server, "auth-nkey").nkey(seed)).await
}

#[tokio::test]
async fn an_unknown_nkey_is_an_auth_error() -> TestResult {
    let server = start_server(NatsServer::builder().auth(NatsAuth::nkey()?));
    let e = start_error(builder(&server, "auth-nkey").nkey(NatsAuth::unknown_nkey_seed()?)).await;
    assert_eq!(
        connect_failure(&e, &server.client_url()),
        ConnectFailure::Auth
    );
    assert_names_url(&e, &server.client_url());
    Ok(())
}

#[tokio::test]
async fn an_invalid_nkey_seed_is_an_auth_error() -> TestResult {
    let server = start_server(NatsServer::builder().auth(NatsAuth::nkey()?));
    let e = start_error(builder(&server, "auth-nkey").nkey("SUNOTASEED")).await;
    assert_eq!(
        connect_failure(&e, &server.client_url()),
        ConnectFailure::Auth
    );
    Ok(())
}

#[tokio::test]
async fn credentials_file_round_trip() -> TestResult {
    let server = start_server(NatsServer::builder().auth(NatsAuth::credentials()?));
    let creds = server.credentials_file().ok_or("no creds file")?;
    round_trip(builder(&server, "auth-creds").credentials_file(creds)).await
}

#[tokio::test]
async fn credentials_of_another_operator_are_an_auth_error() -> TestResult {
    let server = start_server(NatsServer::builder().auth(NatsAuth::credentials()?));
    let other = NatsAuth::credentials()?;
    let path = std::env::temp_dir().join(format!("other-{}.creds", uuid::Uuid::new_v4()));
    std::fs::write(&path, other.credentials_text().ok_or("no creds")?)?;
    let e = start_error(builder(&server, "auth-creds").credentials_file(&path)).await;
    std::fs::remove_file(&path)?;
    assert_eq!(
        connect_failure(&e, &server.client_url()),
        ConnectFailure::Auth
    );
    assert_names_url(&e, &server.client_url());
    Ok(())
}
