//! `Config`: TOML and environment layering, typed errors naming key and source, the
//! mapping onto the builder's types, secret redaction, and one round trip against a real
//! nats-server. Environment tests run in `figment::Jail`, which serialises them and
//! restores the environment.

use std::path::Path;
use std::time::Duration;

use figment::Jail;
use messaging_nats::{
    Config, Connection, ConsumerOptions, Error, Result, StartAt, Storage, StreamConfig,
};

const SECOND: Duration = Duration::from_secs(1);

/// `Err(Error::Config)`'s key and source, or a panic naming what came instead.
fn config_error<T: std::fmt::Debug>(r: Result<T>) -> (Option<String>, String, String) {
    match r {
        Err(e @ Error::Config { .. }) => {
            let shown = e.to_string();
            let Error::Config {
                key, source_name, ..
            } = e
            else {
                unreachable!()
            };
            (key, source_name, shown)
        }
        other => panic!("expected Error::Config, got {other:?}"),
    }
}

/// Runs `f` in a jail (one at a time; the environment is restored afterwards), without
/// any `MESSAGING_NATS_*`, `NATS_URL` or `NATS_CREDS` from the outside. The environment is
/// cleared only when there are such variables: clearing it also removes `PATH`, which
/// the round trip test needs at the same time to find nats-server.
#[allow(clippy::result_large_err)] // the closure type is figment's
fn jailed(f: impl FnOnce(&mut Jail) -> Result<(), Box<dyn std::error::Error>>) {
    Jail::expect_with(|jail| {
        let ours =
            |k: &str| k.starts_with("MESSAGING_NATS_") || k == "NATS_URL" || k == "NATS_CREDS";
        if std::env::vars_os().any(|(k, _)| k.to_str().is_some_and(ours)) {
            // The environment is the process's: keep PATH for the tests that start a
            // nats-server meanwhile.
            let path = std::env::var("PATH").unwrap_or_default();
            jail.clear_env();
            jail.set_env("PATH", path);
        }
        f(jail).map_err(|e| figment::Error::from(e.to_string()))
    });
}

#[test]
fn every_key_is_read_from_toml() -> Result<()> {
    let cfg = Config::from_toml_str(
        r#"
        urls = ["nats://n1:4222", "nats://n2:4222"]
        connection_name = "orders-1"
        user = "orders"
        password = "pw"
        token = "tok"
        nkey_seed = "SUSEED"
        creds_file = "/etc/orders.creds"
        tls_root_ca = "ca.pem"
        tls_client_cert = "cert.pem"
        tls_client_key = "key.pem"
        require_tls = true
        retry_initial_connect = true
        max_reconnects = 7
        connection_timeout = "2s"
        request_timeout = "250ms"
        ack_wait = "1m"
        publish_timeout = "3s"
        publish_attempts = 4
        publish_retry_delay = "50ms"
        shutdown_timeout = "1h 30m"
        max_ack_inflight = 64
        health_check_interval = "2s"
        micro_service = false
        service_version = "1.4.2"
        jetstream_domain = "hub"
        jetstream_api_prefix = "$JS.x.API"
        "#,
    )?;
    assert_eq!(cfg.urls, ["nats://n1:4222", "nats://n2:4222"]);
    assert_eq!(cfg.connection_name.as_deref(), Some("orders-1"));
    assert_eq!(cfg.password.as_deref(), Some("pw"));
    assert_eq!(
        cfg.creds_file.as_deref(),
        Some(Path::new("/etc/orders.creds"))
    );
    assert_eq!(cfg.tls_client_key.as_deref(), Some(Path::new("key.pem")));
    assert_eq!(cfg.require_tls, Some(true));
    assert_eq!(cfg.max_reconnects, Some(7));
    assert_eq!(cfg.request_timeout, Some(Duration::from_millis(250)));
    assert_eq!(cfg.ack_wait, Some(60 * SECOND));
    assert_eq!(cfg.shutdown_timeout, Some(90 * 60 * SECOND));
    assert_eq!(cfg.publish_attempts, Some(4));
    assert_eq!(cfg.jetstream_api_prefix.as_deref(), Some("$JS.x.API"));
    assert_eq!(cfg.micro_service, Some(false));
    assert_eq!(cfg.service_version.as_deref(), Some("1.4.2"));
    // The builder takes all of it.
    Connection::builder("orders")
        .config(&cfg)
        .event_publisher()
        .topology()?;
    Ok(())
}

#[test]
fn an_empty_config_is_the_default_and_changes_nothing() -> Result<()> {
    assert_eq!(Config::from_toml_str("")?, Config::default());
    let plain = Connection::builder("svc").event_publisher().topology()?;
    let configured = Connection::builder("svc")
        .config(&Config::default())
        .event_publisher()
        .topology()?;
    assert_eq!(plain, configured);
    Ok(())
}

#[test]
fn stream_tables_are_stream_configs() -> Result<()> {
    let cfg = Config::from_toml_str(
        r#"
        [stream_defaults]
        max_age = "7d"
        replicas = 3

        [streams.events]
        max_age = "24h"
        max_bytes = 1073741824
        max_messages = 1000
        storage = "memory"
        duplicate_window = "2m"

        [streams."audit.topic.exchange"]
        storage = "file"
        "#,
    )?;
    assert_eq!(
        cfg.stream_defaults,
        StreamConfig::new().max_age(7 * 86_400 * SECOND).replicas(3)
    );
    assert_eq!(
        cfg.streams["events"],
        StreamConfig::new()
            .max_age(86_400 * SECOND)
            .max_bytes(1 << 30)
            .max_messages(1000)
            .storage(Storage::Memory)
            .duplicate_window(120 * SECOND)
    );
    assert_eq!(
        cfg.streams["audit.topic.exchange"],
        StreamConfig::new().storage(Storage::File)
    );
    Ok(())
}

#[test]
fn consumer_defaults_are_consumer_options() -> Result<()> {
    let cfg = Config::from_toml_str(
        r#"
        [consumer_defaults]
        max_deliver = 5
        backoff = ["1s", "5s", "30s"]
        concurrency = 8
        prefetch = 32
        start_at = "new"
        dead_letter = "DEAD_LETTERS"
        dead_letter_routing_key = "failed"
        "#,
    )?;
    let expected = ConsumerOptions::new()
        .max_deliver(5)
        .backoff([SECOND, 5 * SECOND, 30 * SECOND])
        .concurrency(8)
        .prefetch(32)
        .start_at(StartAt::New)
        .dead_letter("DEAD_LETTERS")
        .dead_letter_routing_key("failed");
    assert_eq!(cfg.consumer_defaults, expected);
    Ok(())
}

#[test]
fn env_beats_file_beats_defaults() {
    jailed(|jail| {
        jail.create_file(
            "svc.toml",
            r#"
            request_timeout = "20s"
            publish_timeout = "3s"
            urls = "nats://file:4222"

            [streams.events]
            max_age = "1h"
            max_bytes = 100
            "#,
        )?;
        jail.set_env("MESSAGING_NATS_REQUEST_TIMEOUT", "10s");
        jail.set_env("MESSAGING_NATS_STREAMS__EVENTS__MAX_AGE", "24h");
        jail.set_env("MESSAGING_NATS_CONSUMER_DEFAULTS__BACKOFF", "1s, 2s");
        let cfg = Config::load(Some(Path::new("svc.toml")))?;
        assert_eq!(cfg.request_timeout, Some(10 * SECOND), "env wins");
        assert_eq!(cfg.publish_timeout, Some(3 * SECOND), "file over default");
        assert_eq!(cfg.shutdown_timeout, None, "default");
        assert_eq!(cfg.urls, ["nats://file:4222"]);
        // Tables merge key by key.
        assert_eq!(
            cfg.streams["events"],
            StreamConfig::new().max_age(86_400 * SECOND).max_bytes(100)
        );
        assert_eq!(cfg.consumer_defaults.get_backoff(), [SECOND, 2 * SECOND]);
        // Without a file, the environment alone.
        let env_only = Config::from_env()?;
        assert_eq!(env_only.publish_timeout, None);
        assert_eq!(env_only.request_timeout, Some(10 * SECOND));
        // from_file ignores the environment.
        let file_only = Config::from_file("svc.toml")?;
        assert_eq!(file_only.request_timeout, Some(20 * SECOND));
        Ok(())
    });
}

#[test]
fn nats_url_is_a_comma_separated_list_and_messaging_urls_wins() {
    jailed(|jail| {
        jail.set_env("NATS_URL", "nats://a:4222, nats://b:4222");
        jail.set_env("NATS_CREDS", "/run/secrets/svc.creds");
        let cfg = Config::from_env()?;
        assert_eq!(cfg.urls, ["nats://a:4222", "nats://b:4222"]);
        assert_eq!(
            cfg.creds_file.as_deref(),
            Some(Path::new("/run/secrets/svc.creds"))
        );
        jail.set_env("MESSAGING_NATS_URLS", "nats://c:4222");
        assert_eq!(Config::from_env()?.urls, ["nats://c:4222"]);
        // A file's URLs lose to NATS_URL.
        jail.create_file("svc.toml", r#"urls = ["nats://file:4222"]"#)?;
        jail.set_env("MESSAGING_NATS_URLS", "");
        let cfg = Config::load(Some(Path::new("svc.toml")))?;
        assert!(
            cfg.urls.is_empty(),
            "MESSAGING_NATS_URLS set empty: {cfg:?}"
        );
        Ok(())
    });
}

#[test]
fn numeric_secrets_from_env_stay_strings() {
    jailed(|jail| {
        jail.set_env("MESSAGING_NATS_USER", "42");
        jail.set_env("MESSAGING_NATS_PASSWORD", "123456");
        jail.set_env("MESSAGING_NATS_REQUIRE_TLS", "true");
        jail.set_env("MESSAGING_NATS_MAX_ACK_INFLIGHT", "16");
        jail.set_env("MESSAGING_NATS_TOKEN", "\"[quoted\"");
        let cfg = Config::from_env()?;
        assert_eq!(cfg.user.as_deref(), Some("42"));
        assert_eq!(cfg.password.as_deref(), Some("123456"));
        assert_eq!(cfg.require_tls, Some(true));
        assert_eq!(cfg.max_ack_inflight, Some(16));
        assert_eq!(cfg.token.as_deref(), Some("[quoted"));
        Ok(())
    });
}

#[test]
fn a_bad_env_value_names_the_variable() {
    jailed(|jail| {
        jail.create_file("svc.toml", r#"request_timeout = "20s""#)?;
        jail.set_env("MESSAGING_NATS_REQUEST_TIMEOUT", "ten");
        let (key, source, shown) = config_error(Config::load(Some(Path::new("svc.toml"))));
        assert_eq!(key.as_deref(), Some("request_timeout"));
        assert_eq!(
            source,
            "environment variable MESSAGING_NATS_REQUEST_TIMEOUT"
        );
        assert!(shown.contains("\"ten\""), "{shown}");
        println!("{shown}");

        jail.set_env("MESSAGING_NATS_REQUEST_TIMEOUT", "10s");
        jail.set_env("MESSAGING_NATS_STREAMS__EVENTS__MAX_AGE", "forever");
        let (key, source, _) = config_error(Config::from_env());
        assert_eq!(key.as_deref(), Some("streams.events.max_age"));
        assert_eq!(
            source,
            "environment variable MESSAGING_NATS_STREAMS__EVENTS__MAX_AGE"
        );
        Ok(())
    });
}

#[test]
fn a_bad_file_value_names_the_file() {
    jailed(|jail| {
        jail.create_file("svc.toml", "[consumer_defaults]\nconcurrency = \"many\"\n")?;
        let (key, source, shown) = config_error(Config::load(Some(Path::new("svc.toml"))));
        assert_eq!(key.as_deref(), Some("consumer_defaults.concurrency"));
        assert_eq!(source, "file svc.toml");
        println!("{shown}");
        Ok(())
    });
}

#[test]
fn unknown_keys_are_rejected_by_name() {
    jailed(|jail| {
        jail.create_file("svc.toml", "request_timout = \"1s\"\n")?;
        let (key, source, _) = config_error(Config::load(Some(Path::new("svc.toml"))));
        assert_eq!(key.as_deref(), Some("request_timout"));
        assert_eq!(source, "file svc.toml");

        jail.create_file("svc.toml", "[streams.events]\nmax_agee = \"1s\"\n")?;
        let (key, _, _) = config_error(Config::from_file("svc.toml"));
        assert_eq!(key.as_deref(), Some("streams.events.max_agee"));

        jail.create_file("svc.toml", "[consumer_defaults]\nsuffix = \"x\"\n")?;
        let (key, _, _) = config_error(Config::from_file("svc.toml"));
        assert_eq!(key.as_deref(), Some("consumer_defaults.suffix"));

        // From the environment, with a valid file under it.
        jail.create_file("svc.toml", "[streams.events]\nmax_age = \"1s\"\n")?;
        jail.set_env("MESSAGING_NATS_STREAMS__EVENTS__REPLICAZ", "3");
        let (key, source, _) = config_error(Config::load(Some(Path::new("svc.toml"))));
        assert_eq!(key.as_deref(), Some("streams.events.replicaz"));
        assert_eq!(
            source,
            "environment variable MESSAGING_NATS_STREAMS__EVENTS__REPLICAZ"
        );
        Ok(())
    });
}

#[test]
fn values_the_builder_refuses_are_refused_with_their_key() {
    let cases = [
        ("request_timeout = \"0s\"", "request_timeout"),
        ("ack_wait = \"10ms\"", "ack_wait"),
        ("publish_attempts = 0", "publish_attempts"),
        ("max_ack_inflight = 0", "max_ack_inflight"),
        ("shutdown_timeout = \"0s\"", "shutdown_timeout"),
        ("health_check_interval = \"1ms\"", "health_check_interval"),
        ("service_version = \"v1\"", "service_version"),
        (
            "[consumer_defaults]\nmax_deliver = 0",
            "consumer_defaults.max_deliver",
        ),
        (
            "[consumer_defaults]\nconcurrency = 0",
            "consumer_defaults.concurrency",
        ),
        (
            "[consumer_defaults]\nmax_deliver = 1\nbackoff = [\"1s\", \"2s\"]",
            "consumer_defaults.backoff",
        ),
        (
            "[consumer_defaults]\nbackoff = [\"0s\"]",
            "consumer_defaults.backoff",
        ),
        (
            "[consumer_defaults]\ndead_letter = \"a b\"",
            "consumer_defaults.dead_letter",
        ),
        ("[streams.\"bad name\"]\nreplicas = 1", "streams.bad name"),
        ("user = \"u\"", "user"),
        ("password = \"p\"", "password"),
        ("tls_client_key = \"k.pem\"", "tls_client_key"),
        ("urls = \"nats://h:notaport\"", "urls"),
    ];
    for (toml, expected) in cases {
        let (key, source, shown) = config_error(Config::from_toml_str(toml));
        assert_eq!(key.as_deref(), Some(expected), "{toml}: {shown}");
        assert_eq!(source, "TOML string", "{toml}");
        assert!(shown.contains(expected), "{shown}");
    }
}

#[test]
fn a_refused_env_value_names_the_variable() {
    jailed(|jail| {
        jail.set_env("MESSAGING_NATS_PUBLISH_ATTEMPTS", "0");
        let (key, source, shown) = config_error(Config::from_env());
        assert_eq!(key.as_deref(), Some("publish_attempts"));
        assert_eq!(
            source,
            "environment variable MESSAGING_NATS_PUBLISH_ATTEMPTS"
        );
        println!("{shown}");
        Ok(())
    });
}

#[test]
fn a_missing_or_broken_file_names_the_file() {
    jailed(|jail| {
        let (key, source, shown) = config_error(Config::load(Some(Path::new("nope.toml"))));
        assert_eq!(key, None);
        assert_eq!(source, "file nope.toml");
        println!("{shown}");
        jail.create_file("broken.toml", "request_timeout = \n")?;
        let (key, source, shown) = config_error(Config::from_file("broken.toml"));
        assert_eq!(key, None);
        assert_eq!(source, "file broken.toml");
        println!("{shown}");
        Ok(())
    });
}

#[test]
fn a_config_built_in_code_is_validated_too() -> Result<()> {
    let mut cfg = Config::default();
    cfg.request_timeout = Some(Duration::ZERO);
    let (key, source, _) = config_error(cfg.validate());
    assert_eq!(key.as_deref(), Some("request_timeout"));
    assert_eq!(source, "Config value");
    // And the builder refuses it the same way at start (here: topology()).
    let refused = Connection::builder("svc").config(&cfg).topology();
    assert!(matches!(refused, Err(Error::Core(_))), "{refused:?}");
    cfg.request_timeout = Some(SECOND);
    cfg.validate()
}

#[test]
fn debug_redacts_secrets() -> Result<()> {
    let cfg = Config::from_toml_str(
        r#"
        urls = ["nats://alice:url-pass-1@h1:4222", "nats://url-token-2@h2:4222", "nats://h3:4222"]
        user = "alice"
        password = "password-3"
        token = "token-4"
        nkey_seed = "SUAseed5"
        "#,
    )?;
    let debug = format!("{cfg:?}");
    for secret in [
        "url-pass-1",
        "url-token-2",
        "password-3",
        "token-4",
        "SUAseed5",
    ] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
    assert!(debug.contains("alice"), "{debug}");
    assert!(debug.contains("nats://***@h1:4222"), "{debug}");
    assert!(debug.contains("nats://h3:4222"), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");
    Ok(())
}

#[test]
fn durations_are_humantime() -> Result<()> {
    let cfg = Config::from_toml_str(
        "request_timeout = \"1m 30s\"\nack_wait = \"250ms\"\npublish_timeout = \"2h\"\n",
    )?;
    assert_eq!(cfg.request_timeout, Some(90 * SECOND));
    assert_eq!(cfg.ack_wait, Some(Duration::from_millis(250)));
    assert_eq!(cfg.publish_timeout, Some(7200 * SECOND));
    // A bare number is not a duration.
    let (key, _, _) = config_error(Config::from_toml_str("request_timeout = 30"));
    assert_eq!(key.as_deref(), Some("request_timeout"));
    Ok(())
}

#[tokio::test]
async fn a_config_file_connects_to_a_real_server() -> Result<(), Box<dyn std::error::Error>> {
    let server = messaging_testkit::NatsServer::start()?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("svc.toml");
    std::fs::write(
        &path,
        format!(
            r#"
            urls = "{url}"
            connection_name = "config-round-trip"
            request_timeout = "5s"

            [streams.events]
            max_age = "1h"
            max_messages = 500
            "#,
            url = server.client_url()
        ),
    )?;
    let cfg = Config::from_file(&path)?;
    let conn = Connection::builder("config-svc")
        .config(&cfg)
        .event_publisher()
        .start()
        .await?;
    conn.event_publisher()?
        .publish("Config.Checked", &serde_json::json!({"ok": true}))
        .await?;
    let client = messaging_nats::async_nats::connect(server.client_url()).await?;
    let js = messaging_nats::async_nats::jetstream::new(client);
    let mut stream = js.get_stream("events").await?;
    let info = stream.info().await?;
    assert_eq!(info.config.max_age, Duration::from_secs(3600));
    assert_eq!(info.config.max_messages, 500);
    assert_eq!(info.state.messages, 1);
    conn.close().await?;
    Ok(())
}
