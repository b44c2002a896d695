//! Observability against a real server: Prometheus metrics after a scripted run (scraped
//! through the text encoder and parsed), notification drops, and readiness across a
//! server outage.
#![cfg(feature = "metrics")]

use std::collections::BTreeMap;
use std::time::Duration;

use messaging_nats::prometheus::{Registry, TextEncoder};
use messaging_nats::{HealthProblem, HealthStatus, Metrics};
use messaging_spec::{ConsumableEvent, HandlerError};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::support::{self, TestResult};

/// One sample: metric name and its labels, sorted.
type Series = (String, BTreeMap<String, String>);

/// Scrapes `registry` through the text encoder and parses every sample line.
fn scrape(registry: &Registry) -> BTreeMap<Series, f64> {
    let text = match TextEncoder::new().encode_to_string(&registry.gather()) {
        Ok(t) => t,
        Err(e) => panic!("encoding metrics: {e}"),
    };
    parse(&text)
}

fn parse(text: &str) -> BTreeMap<Series, f64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let Some((series, value)) = line.rsplit_once(' ') else {
            panic!("unparsable sample line {line:?}");
        };
        let value: f64 = match value.parse() {
            Ok(v) => v,
            Err(e) => panic!("value in {line:?}: {e}"),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series.to_owned(), BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').unwrap_or(rest);
                let labels = body
                    .split("\",")
                    .filter(|kv| !kv.is_empty())
                    .map(|kv| {
                        let (k, v) = kv.split_once("=\"").unwrap_or((kv, ""));
                        (k.to_owned(), v.trim_end_matches('"').to_owned())
                    })
                    .collect();
                (name.to_owned(), labels)
            }
        };
        out.insert((name, labels), value);
    }
    out
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Every sample of `name`, as (labels → value).
fn family(samples: &BTreeMap<Series, f64>, name: &str) -> BTreeMap<BTreeMap<String, String>, f64> {
    samples
        .iter()
        .filter(|((n, _), _)| n == name)
        .map(|((_, l), v)| (l.clone(), *v))
        .collect()
}

fn consumer_key(consumer: &str, key: &str) -> BTreeMap<String, String> {
    labels(&[("consumer", consumer), ("routing_key", key)])
}

#[derive(serde::Deserialize)]
struct Typed {
    #[allow(dead_code)] // only decoding matters
    n: u64,
}

async fn typed(_ev: ConsumableEvent<Typed>) -> Result<(), HandlerError> {
    Ok(())
}

async fn ok(_ev: ConsumableEvent<Value>) -> Result<(), HandlerError> {
    Ok(())
}

async fn fail(_ev: ConsumableEvent<Value>) -> Result<(), HandlerError> {
    Err(HandlerError::retry("scripted failure"))
}

async fn charge(ev: ConsumableEvent<Value>) -> Result<Value, HandlerError> {
    if ev.payload["cents"].as_u64().unwrap_or(0) == 0 {
        return Err(HandlerError::reject("amount must be positive"));
    }
    Ok(json!({ "ok": true }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_run_yields_exact_counts_and_label_sets() -> TestResult {
    const OK: usize = 5;
    const FAILING: usize = 2;
    const MAX_DELIVER: usize = 2;
    let server = support::server();
    let raw_js = support::raw_js(&server).await;
    let registry = Registry::new();
    let metrics = Metrics::register(&registry)?;

    let (ok_tx, mut successes) = mpsc::channel(64);
    let (err_tx, mut failures) = mpsc::channel(64);
    let consumer = support::start(
        support::builder(&server, "obs-consumer")
            .shared_metrics(&metrics)
            .health_check_interval(Duration::from_millis(100))
            .notifications(ok_tx)
            .error_notifications(err_tx)
            .consumer_defaults(messaging_nats::ConsumerOptions::new().max_deliver(2))
            .event_consumer("Obs.Ok", ok)
            .event_consumer("Obs.Fail", fail)
            .event_consumer("Obs.Typed", typed)
            .transient_event_consumer("Obs.Live", ok),
    )
    .await;
    let (served_tx, mut served) = mpsc::channel(4);
    let (refused_tx, mut refused) = mpsc::channel(4);
    let billing = support::start(
        support::builder(&server, "obs-billing")
            .shared_metrics(&metrics)
            .notifications(served_tx)
            .error_notifications(refused_tx)
            .request_handler("Billing.Charge", charge),
    )
    .await;
    let producer = support::start(
        support::builder(&server, "obs-producer")
            .shared_metrics(&metrics)
            .publish_retries(1, Duration::from_millis(10))
            .event_publisher()
            .stream_publisher("doomed")
            .service_publisher("obs-billing"),
    )
    .await;

    let events = producer.event_publisher()?;
    for i in 0..OK {
        events.publish("Obs.Ok", &json!({ "i": i })).await?;
    }
    for i in 0..FAILING {
        events.publish("Obs.Fail", &json!({ "i": i })).await?;
    }
    events.publish_raw("Obs.Typed", "not json {").await?;
    events.publish("Obs.Live", &json!({})).await?;
    // A publish that fails: its stream is gone.
    raw_js.delete_stream("doomed").await?;
    let doomed = producer.stream_publisher("doomed")?;
    assert!(matches!(
        doomed.publish("Doomed.Gone", &json!({})).await,
        Err(messaging_nats::Error::Publish { .. })
    ));
    let billing_pub = producer.service_publisher("obs-billing")?;
    let reply: Value = billing_pub
        .request("Billing.Charge", &json!({ "cents": 500 }))
        .await?;
    assert_eq!(reply, json!({ "ok": true }));
    assert!(matches!(
        billing_pub
            .request::<Value, _>("Billing.Charge", &json!({ "cents": 0 }))
            .await,
        Err(messaging_nats::Error::Core(
            messaging_nats::messaging_core::Error::Remote { .. }
        ))
    ));

    // Notifications fire after recording: once all arrived, the counts are final.
    support::recv_n(&mut successes, OK + 1).await;
    support::recv_n(&mut failures, FAILING * MAX_DELIVER + 1).await;
    // Request handlers notify too, with the request's delivery info.
    let request_info = |info: &messaging_spec::DeliveryInfo| {
        (
            info.destination.clone(),
            info.source.clone(),
            info.key.clone(),
        )
    };
    let expected_info = (
        "obs-billing".to_owned(),
        "obs-billing.request.Billing.Charge".to_owned(),
        "Billing.Charge".to_owned(),
    );
    assert_eq!(
        request_info(&support::recv(&mut served).await.delivery_info),
        expected_info
    );
    let refusal = support::recv(&mut refused).await;
    assert_eq!(request_info(&refusal.delivery_info), expected_info);
    assert!(matches!(
        refusal
            .error
            .downcast_ref::<messaging_nats::messaging_core::Error>(),
        Some(messaging_nats::messaging_core::Error::Handler { retry: false, .. })
    ));

    let s = scrape(&registry);
    let c = |k| consumer_key("obs-consumer", k);
    // Transient consumers get a stable, readable label.
    let live = consumer_key("obs-consumer-transient", "Obs.Live");
    assert_eq!(
        family(&s, "nats_events_received"),
        BTreeMap::from([
            (c("Obs.Ok"), 5.0),
            (c("Obs.Fail"), 4.0),
            (c("Obs.Typed"), 1.0),
            (live.clone(), 1.0),
        ])
    );
    assert_eq!(
        family(&s, "nats_events_ack"),
        BTreeMap::from([(c("Obs.Ok"), 5.0), (live, 1.0)])
    );
    assert_eq!(
        family(&s, "nats_events_nak"),
        BTreeMap::from([(c("Obs.Fail"), 4.0)])
    );
    assert_eq!(
        family(&s, "nats_events_redelivered"),
        BTreeMap::from([(c("Obs.Fail"), 2.0)])
    );
    assert_eq!(
        family(&s, "nats_events_not_parsable"),
        BTreeMap::from([(c("Obs.Typed"), 1.0)])
    );
    assert_eq!(
        family(&s, "nats_events_term"),
        BTreeMap::from([(c("Obs.Typed"), 1.0)])
    );
    assert_eq!(family(&s, "nats_events_without_handler"), BTreeMap::new());
    let processed = |k: &str, r: &str| {
        labels(&[
            ("consumer", "obs-consumer"),
            ("routing_key", k),
            ("result", r),
        ])
    };
    assert_eq!(
        family(&s, "nats_events_processed_duration_count"),
        BTreeMap::from([
            (processed("Obs.Ok", "ACK"), 5.0),
            (processed("Obs.Fail", "NAK"), 4.0),
            (
                labels(&[
                    ("consumer", "obs-consumer-transient"),
                    ("routing_key", "Obs.Live"),
                    ("result", "ACK"),
                ]),
                1.0,
            ),
        ])
    );
    let mut le = processed("Obs.Ok", "ACK");
    le.insert("le".to_owned(), "+Inf".to_owned());
    assert_eq!(
        family(&s, "nats_events_processed_duration_bucket").get(&le),
        Some(&5.0)
    );
    let buckets: Vec<String> = family(&s, "nats_events_processed_duration_bucket")
        .keys()
        .filter(|l| l.get("routing_key").map(String::as_str) == Some("Obs.Ok"))
        .filter_map(|l| l.get("le").cloned())
        .collect();
    let mut expected: Vec<String> = ["100", "200", "500", "1000", "3000", "5000", "10000", "+Inf"]
        .iter()
        .map(|b| (*b).to_owned())
        .collect();
    expected.sort();
    let mut got = buckets;
    got.sort();
    assert_eq!(got, expected);

    let st = |stream: &str, k: &str| labels(&[("routing_key", k), ("stream", stream)]);
    assert_eq!(
        family(&s, "nats_events_publish_succeed"),
        BTreeMap::from([
            (st("events", "Obs.Ok"), 5.0),
            (st("events", "Obs.Fail"), 2.0),
            (st("events", "Obs.Typed"), 1.0),
            (st("events", "Obs.Live"), 1.0),
            (st("obs-billing", "Billing.Charge"), 2.0),
        ])
    );
    assert_eq!(
        family(&s, "nats_events_publish_failed"),
        BTreeMap::from([(st("doomed", "Doomed.Gone"), 1.0)])
    );
    let pd = |stream: &str, k: &str, r: &str| {
        labels(&[("result", r), ("routing_key", k), ("stream", stream)])
    };
    assert_eq!(
        family(&s, "nats_events_publish_duration_count"),
        BTreeMap::from([
            (pd("events", "Obs.Ok", "OK"), 5.0),
            (pd("events", "Obs.Fail", "OK"), 2.0),
            (pd("events", "Obs.Typed", "OK"), 1.0),
            (pd("events", "Obs.Live", "OK"), 1.0),
            (pd("doomed", "Doomed.Gone", "ERROR"), 1.0),
            (pd("obs-billing", "Billing.Charge", "OK"), 2.0),
        ])
    );
    let rq = |r: &str| {
        labels(&[
            ("result", r),
            ("routing_key", "Billing.Charge"),
            ("service", "obs-billing"),
        ])
    };
    assert_eq!(
        family(&s, "nats_request_duration_count"),
        BTreeMap::from([(rq("OK"), 1.0), (rq("REMOTE_ERROR"), 1.0)])
    );
    let handled = |r: &str| {
        labels(&[
            ("consumer", "obs-billing"),
            ("result", r),
            ("routing_key", "Billing.Charge"),
        ])
    };
    assert_eq!(
        family(&s, "nats_request_handled"),
        BTreeMap::from([(handled("OK"), 1.0), (handled("ERROR"), 1.0)])
    );
    // Present from the start (at zero) for every connection with metrics.
    let svc = |name: &str| labels(&[("service", name)]);
    assert_eq!(
        family(&s, "nats_notifications_dropped"),
        BTreeMap::from([
            (svc("obs-billing"), 0.0),
            (svc("obs-consumer"), 0.0),
            (svc("obs-producer"), 0.0),
        ])
    );

    // Gauges and connection events arrive in the background.
    let lag = labels(&[("consumer", "obs-consumer"), ("stream", "events")]);
    support::eventually("lag gauges refreshed after the run", || {
        let s = scrape(&registry);
        let pending = family(&s, "nats_consumer_num_pending");
        let ack_pending = family(&s, "nats_consumer_num_ack_pending");
        let done = pending.get(&lag) == Some(&0.0) && ack_pending.get(&lag) == Some(&0.0);
        std::future::ready(done.then_some(()))
    })
    .await;
    let connected = |svc: &str| labels(&[("event", "connected"), ("service", svc)]);
    support::eventually("one connected event per connection", || {
        let events = family(&scrape(&registry), "nats_connection_events");
        let want = BTreeMap::from([
            (connected("obs-consumer"), 1.0),
            (connected("obs-billing"), 1.0),
            (connected("obs-producer"), 1.0),
        ]);
        std::future::ready((events == want).then_some(()))
    })
    .await;

    producer.close().await?;
    billing.close().await?;
    consumer.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_notification_channel_drops_and_counts_without_blocking() -> TestResult {
    let server = support::server();
    let registry = Registry::new();
    // Capacity one and never read: the first success fills it, the rest are dropped.
    let (ok_tx, _successes) = mpsc::channel(1);
    let (err_tx, mut failures) = mpsc::channel(8);
    let (handled, mut handled_rx) = support::forward::<Value>();
    let conn = support::start(
        support::builder(&server, "obs-drops")
            .metrics(&registry)
            .notifications(ok_tx)
            .error_notifications(err_tx)
            .event_publisher()
            .event_consumer("Drop.Ok", handled)
            .event_consumer("Drop.Bad", |_ev: ConsumableEvent<Value>| async {
                Err::<(), _>(HandlerError::reject("sentinel"))
            }),
    )
    .await;
    let events = conn.event_publisher()?;
    for i in 0..3 {
        events.publish("Drop.Ok", &json!({ "i": i })).await?;
    }
    events.publish("Drop.Bad", &json!({})).await?;
    // One consumer with concurrency 1 handles in order: the sentinel's error comes last.
    support::recv_n(&mut handled_rx, 3).await;
    support::recv(&mut failures).await;
    assert_eq!(conn.dropped_notifications(), 2);
    assert_eq!(
        family(&scrape(&registry), "nats_notifications_dropped"),
        BTreeMap::from([(labels(&[("service", "obs-drops")]), 2.0)])
    );
    conn.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_a_server_outage() -> TestResult {
    let mut server = support::server();
    let registry = Registry::new();
    let conn = support::start(
        support::builder(&server, "obs-health")
            .metrics(&registry)
            .health_check_interval(Duration::from_millis(100))
            .event_consumer("Health.Checked", ok),
    )
    .await;
    support::eventually("ready after start", || {
        std::future::ready(conn.is_ready().then_some(()))
    })
    .await;
    let health = conn.health();
    assert_eq!(health.status, HealthStatus::Ready);
    assert_eq!(health.problems, Vec::new());
    assert_eq!(health.consumers.len(), 1);
    assert!(
        health
            .consumers
            .first()
            .is_some_and(|c| c.consumer == "obs-health" && c.stream == "events" && c.bound)
    );

    if let Err(e) = tokio::task::block_in_place(|| server.kill()) {
        panic!("killing nats-server: {e}");
    }
    let down = support::eventually("not ready once the server is gone", || {
        let h = conn.health();
        std::future::ready((!h.is_ready()).then_some(h))
    })
    .await;
    assert_eq!(down.status, HealthStatus::Degraded);
    assert!(down.problems.contains(&HealthProblem::Disconnected));

    if let Err(e) = tokio::task::block_in_place(|| server.start_again()) {
        panic!("restarting nats-server: {e}");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !conn.is_ready() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not ready again within 30 s of the restart: {}",
            conn.health()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let events = family(&scrape(&registry), "nats_connection_events");
    let ev = |e: &str| labels(&[("event", e), ("service", "obs-health")]);
    assert_eq!(events.get(&ev("connected")), Some(&1.0));
    assert_eq!(events.get(&ev("disconnected")), Some(&1.0));
    assert_eq!(events.get(&ev("reconnected")), Some(&1.0));
    conn.close().await?;
    Ok(())
}

#[test]
fn the_parser_reads_the_text_format() {
    let text = "# HELP x y\n# TYPE x counter\nx{a=\"1\",b=\"two words\"} 3\ny 4.5\n";
    let s = parse(text);
    assert_eq!(
        s.get(&("x".to_owned(), labels(&[("a", "1"), ("b", "two words")]))),
        Some(&3.0)
    );
    assert_eq!(s.get(&("y".to_owned(), BTreeMap::new())), Some(&4.5));
    assert_eq!(s.len(), 2);
}

#[cfg(feature = "otel")]
mod traces;
