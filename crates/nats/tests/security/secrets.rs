//! No secret (password, token, NKey seed, credentials file content) appears in the
//! builder's or the connection's `Debug`, in an error's `Display` or `Debug`, or in the
//! logs (captured at TRACE level), for a successful start and a refused one.

use messaging_nats::{Connection, ConnectionBuilder, Error};
use messaging_testkit::{NatsAuth, NatsServer};

use super::support::{LogBuffer, TestResult, bounded, builder, start_server};

/// Starts `good` (must succeed) and `bad` (must fail), and returns every text a user or
/// operator could see: the builders' `Debug`, the connection's `Debug`, the error's
/// `Display` and `Debug`, and everything logged meanwhile.
async fn everything_shown(good: ConnectionBuilder, bad: ConnectionBuilder) -> Vec<String> {
    let logs = LogBuffer::default();
    let guard = logs.install();
    let mut shown = vec![format!("{good:?}"), format!("{bad:?}")];
    let conn: Connection = match bounded(good.event_publisher().start()).await {
        Ok(c) => c,
        Err(e) => panic!("start with the right credentials: {e:?}"),
    };
    shown.push(format!("{conn:?}"));
    let events = match conn.event_publisher() {
        Ok(p) => p,
        Err(e) => panic!("event publisher: {e:?}"),
    };
    shown.push(format!("{events:?}"));
    if let Err(e) = bounded(conn.close()).await {
        panic!("close: {e:?}");
    }
    let e: Error = match bounded(bad.event_publisher().start()).await {
        Ok(_) => panic!("start with wrong credentials succeeded"),
        Err(e) => e,
    };
    shown.push(e.to_string());
    shown.push(format!("{e:?}"));
    drop(guard);
    let logged = logs.contents();
    assert!(
        logged.contains("connected to NATS"),
        "the log capture works: {logged}"
    );
    shown.push(logged);
    shown
}

fn assert_absent(shown: &[String], secrets: &[&str]) {
    for secret in secrets {
        assert!(
            secret.len() >= 8,
            "too short to be a meaningful check: {secret}"
        );
        for text in shown {
            assert!(
                !text.contains(secret),
                "secret {secret:?} shown in:\n{text}"
            );
        }
    }
}

#[tokio::test]
async fn a_password_is_never_shown() -> TestResult {
    let server = start_server(
        NatsServer::builder().auth(NatsAuth::user_password("orders", "pw-secret-a81c")),
    );
    let shown = everything_shown(
        builder(&server, "s-user").user_and_password("orders", "pw-secret-a81c"),
        builder(&server, "s-user").user_and_password("orders", "pw-wrong-secret-77d0"),
    )
    .await;
    assert_absent(&shown, &["pw-secret-a81c", "pw-wrong-secret-77d0"]);
    Ok(())
}

#[tokio::test]
async fn a_token_is_never_shown() -> TestResult {
    let server = start_server(NatsServer::builder().auth(NatsAuth::token("tok-secret-3b9e")));
    let shown = everything_shown(
        builder(&server, "s-token").token("tok-secret-3b9e"),
        builder(&server, "s-token").token("tok-wrong-secret-c4f1"),
    )
    .await;
    assert_absent(&shown, &["tok-secret-3b9e", "tok-wrong-secret-c4f1"]);
    Ok(())
}

#[tokio::test]
async fn an_nkey_seed_is_never_shown() -> TestResult {
    let auth = NatsAuth::nkey()?;
    let seed = auth.nkey_seed().ok_or("no seed")?.to_owned();
    let wrong = NatsAuth::unknown_nkey_seed()?;
    let server = start_server(NatsServer::builder().auth(auth));
    let shown = everything_shown(
        builder(&server, "s-nkey").nkey(seed.clone()),
        builder(&server, "s-nkey").nkey(wrong.clone()),
    )
    .await;
    assert_absent(&shown, &[&seed, &wrong]);
    Ok(())
}

#[tokio::test]
async fn credentials_file_content_is_never_shown() -> TestResult {
    let auth = NatsAuth::credentials()?;
    let seed = auth.nkey_seed().ok_or("no seed")?.to_owned();
    let jwt = auth.user_jwt().ok_or("no jwt")?.to_owned();
    let server = start_server(NatsServer::builder().auth(auth));
    let creds = server.credentials_file().ok_or("no creds file")?.to_owned();
    let other = NatsAuth::credentials()?;
    let other_path = std::env::temp_dir().join(format!("other-{}.creds", uuid::Uuid::new_v4()));
    std::fs::write(&other_path, other.credentials_text().ok_or("no creds")?)?;
    let shown = everything_shown(
        builder(&server, "s-creds").credentials_file(&creds),
        builder(&server, "s-creds").credentials_file(&other_path),
    )
    .await;
    std::fs::remove_file(&other_path)?;
    let other_seed = other.nkey_seed().ok_or("no seed")?;
    let other_jwt = other.user_jwt().ok_or("no jwt")?;
    assert_absent(&shown, &[&seed, &jwt, other_seed, other_jwt]);
    Ok(())
}
