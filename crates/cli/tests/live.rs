//! `tail`, `publish`, `request` and `dlq` against a real nats-server started by the test.

mod common;

use messaging_nats::{Connection, DEFAULT_DEAD_LETTER_STREAM, Setup};
use messaging_spec::{ConsumableEvent, HandlerError};
use messaging_testkit::NatsServer;
use serde_json::{Value, json};

use common::Run;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

async fn messaging(args: Vec<String>) -> Run {
    match tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        common::messaging(&args, None)
    })
    .await
    {
        Ok(run) => run,
        Err(e) => panic!("running messaging: {e}"),
    }
}

fn args(url: &str, rest: &[&str]) -> Vec<String> {
    let (command, tail) = rest.split_at(1);
    let mut out: Vec<String> = command.iter().map(|s| (*s).to_owned()).collect();
    out.extend(["--nats".to_owned(), url.to_owned()]);
    out.extend(tail.iter().map(|s| (*s).to_owned()));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_then_tail_shows_the_event_and_leaves_nothing_behind() -> TestResult {
    let server = NatsServer::start()?;
    let url = server.client_url();
    let published = messaging(args(
        &url,
        &[
            "publish",
            "--service",
            "shop",
            "--id",
            "order-7",
            "Order.Created",
            r#"{"id":7}"#,
        ],
    ))
    .await;
    assert_eq!(published.code, Some(0), "{published:?}");
    assert_eq!(
        published.stdout,
        "published Order.Created to events.Order.Created as order-7 (sequence 1)\n"
    );
    let tailed = messaging(args(
        &url,
        &[
            "tail",
            "--from-start",
            "--count",
            "1",
            "--format",
            "json",
            "Order.*",
        ],
    ))
    .await;
    assert_eq!(tailed.code, Some(0), "{tailed:?}");
    let first: Value = serde_json::from_str(tailed.stdout.lines().next().ok_or("no event line")?)?;
    assert_eq!(first["routing_key"], "Order.Created");
    assert_eq!(first["source"], "shop");
    assert_eq!(first["id"], "order-7");
    assert_eq!(first["body"], json!({"id": 7}));
    // The transient consumer went with the command.
    let js = messaging_nats::async_nats::jetstream::new(
        messaging_nats::async_nats::connect(&url).await?,
    );
    let info = js.get_stream("events").await?.info().await?.clone();
    assert_eq!(info.state.consumer_count, 0);
    // Bad input is refused before connecting.
    let bad = messaging(args(&url, &["publish", "Order.Created", "{not json"])).await;
    assert_eq!(bad.code, Some(1));
    assert!(
        bad.stdout.starts_with("ERROR: the event body is not JSON"),
        "{bad:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_prints_the_reply() -> TestResult {
    let server = NatsServer::start()?;
    let url = server.client_url();
    let double = |ev: ConsumableEvent<Value>| async move {
        Ok::<Value, HandlerError>(json!({"cents": ev.payload["cents"].as_u64().unwrap_or(0) * 2}))
    };
    let billing = Connection::builder("billing")
        .url(&url)
        .setup(Setup::request_handler("Billing.Charge", double))
        .start()
        .await?;
    let run = messaging(args(
        &url,
        &[
            "request",
            "--format",
            "json",
            "billing",
            "Billing.Charge",
            r#"{"cents":21}"#,
        ],
    ))
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let out: Value = serde_json::from_str(&run.stdout)?;
    assert_eq!(out, json!({"ok": true, "reply": {"cents": 42}}));
    billing.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_lists_shows_and_replays() -> TestResult {
    let server = NatsServer::start()?;
    let url = server.client_url();
    let (tx, mut handled) = tokio::sync::mpsc::unbounded_channel();
    let jobs = Connection::builder("jobs")
        .url(&url)
        .setup(
            Setup::event_consumer("Job.Bad", move |_ev: ConsumableEvent<Value>| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(json!("rejected"));
                    Err(HandlerError::reject("never valid"))
                }
            })
            .dead_letter(DEFAULT_DEAD_LETTER_STREAM),
        )
        .start()
        .await?;
    let published = messaging(args(
        &url,
        &["publish", "--service", "shop", "Job.Bad", r#"{"n":1}"#],
    ))
    .await;
    assert_eq!(published.code, Some(0), "{published:?}");
    assert_eq!(handled.recv().await, Some(json!("rejected")));
    let list = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            let run = messaging(args(&url, &["dlq", "list"])).await;
            if run.stdout.lines().count() == 2 {
                break run;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await?;
    let lines: Vec<&str> = list.stdout.lines().collect();
    assert!(
        lines[0].starts_with("SEQ  REASON    FROM"),
        "{}",
        list.stdout
    );
    assert!(
        lines[1].starts_with("1    rejected  events.Job.Bad#1  jobs"),
        "{}",
        list.stdout
    );
    let shown = messaging(args(&url, &["dlq", "show", "1", "--format", "json"])).await;
    let shown: Value = serde_json::from_str(&shown.stdout)?;
    assert_eq!(shown["dead_letter"]["reason"], "rejected");
    assert_eq!(shown["dead_letter"]["body"], json!({"n": 1}));
    assert_eq!(shown["dead_letter"]["headers"]["ce-source"], "shop");
    let replayed = messaging(args(&url, &["dlq", "replay", "1"])).await;
    assert_eq!(replayed.code, Some(0), "{replayed:?}");
    assert!(
        replayed
            .stdout
            .starts_with("replayed 1 to events.Job.Bad (sequence 2)"),
        "{replayed:?}"
    );
    // Rejected again (the handler has not changed), so it is dead-lettered again.
    assert_eq!(handled.recv().await, Some(json!("rejected")));
    let missing = messaging(args(&url, &["dlq", "show", "1"])).await;
    assert_eq!(
        missing.code,
        Some(1),
        "the replayed letter is gone: {missing:?}"
    );
    jobs.close().await?;
    Ok(())
}
