//! Lifecycle: graceful close, long handlers, server restarts, stream settings shared by
//! several services, topology before and after start, and a three-node cluster.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use messaging_nats::{Connection, PublishReceipt, Setup, StreamConfig};
use messaging_spec::{ConsumableEvent, HandlerError};
use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::support::{self, TestResult};

/// How long a consumer may take to come back after a server restart.
const RESTART_TIMEOUT: Duration = Duration::from_secs(20);

async fn ignore(_ev: ConsumableEvent<Value>) -> Result<(), HandlerError> {
    Ok(())
}

async fn echo(ev: ConsumableEvent<Value>) -> Result<Value, HandlerError> {
    Ok(ev.payload)
}

/// The next event within [`RESTART_TIMEOUT`].
async fn recv_after_restart<T>(
    rx: &mut mpsc::UnboundedReceiver<ConsumableEvent<T>>,
) -> ConsumableEvent<T> {
    match tokio::time::timeout(RESTART_TIMEOUT, rx.recv()).await {
        Ok(Some(ev)) => ev,
        Ok(None) => panic!("handler channel closed"),
        Err(_) => panic!("nothing received within {RESTART_TIMEOUT:?} of the restart"),
    }
}

/// Publishes `Order.Created` `{"n": n}` from a short-lived `shop` service.
async fn publish_order(server: &messaging_testkit::NatsServer, n: u64) -> PublishReceipt {
    let shop = support::start(support::builder(server, "shop").event_publisher()).await;
    let receipt = match shop.event_publisher() {
        Ok(p) => p.publish("Order.Created", &json!({ "n": n })).await,
        Err(e) => Err(e),
    };
    if let Err(e) = shop.close().await {
        panic!("closing shop: {e:?}");
    }
    match receipt {
        Ok(r) => r,
        Err(e) => panic!("publishing n={n}: {e:?}"),
    }
}

/// `service` consuming `Order.Created` (transient or durable), once n=1 has reached it.
async fn consumer_with_one_order(
    server: &messaging_testkit::NatsServer,
    service: &str,
    transient: bool,
) -> (Connection, mpsc::UnboundedReceiver<ConsumableEvent<Value>>) {
    let (handler, mut handled) = support::forward::<Value>();
    let setup = if transient {
        Setup::transient_event_consumer("Order.Created", handler)
    } else {
        Setup::event_consumer("Order.Created", handler)
    };
    let conn = support::start(support::builder(server, service).setup(setup)).await;
    publish_order(server, 1).await;
    assert_eq!(support::recv(&mut handled).await.payload, json!({"n": 1}));
    (conn, handled)
}

fn restart(server: &mut messaging_testkit::NatsServer) {
    // The testkit blocks while the server comes back; keep the runtime's other worker free.
    if let Err(e) = tokio::task::block_in_place(|| server.restart()) {
        panic!("restarting nats-server: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_waits_for_the_handler_in_flight() -> TestResult {
    let server = support::server();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let release = Arc::new(Mutex::new(Some(release_rx)));
    let finished = Arc::new(AtomicBool::new(false));
    let done = Arc::clone(&finished);
    let blocking = move |_ev: ConsumableEvent<Value>| {
        let started_tx = started_tx.clone();
        let release = Arc::clone(&release);
        let done = Arc::clone(&done);
        async move {
            let _ = started_tx.send(());
            let gate = release.lock().await.take();
            if let Some(gate) = gate {
                // An error means the test gave up; finish anyway.
                let _ = gate.await;
            }
            done.store(true, Ordering::SeqCst);
            Ok::<(), HandlerError>(())
        }
    };
    let worker =
        support::start(support::builder(&server, "worker").event_consumer("Task.Run", blocking))
            .await;
    let shop = support::start(support::builder(&server, "shop").event_publisher()).await;
    let events = shop.event_publisher()?;
    events.publish("Task.Run", &json!({"n": 1})).await?;
    support::recv(&mut started).await;

    let mut close = Box::pin(worker.close());
    // One poll starts the shutdown; it must then wait for the blocked handler.
    assert!(futures::poll!(&mut close).is_pending());
    assert!(!finished.load(Ordering::SeqCst));
    let _ = release_tx.send(());
    support::bounded(close).await?;
    assert!(
        finished.load(Ordering::SeqCst),
        "close returned before the handler finished"
    );

    // The message was acked: a second instance only gets what is published afterwards.
    let js = support::raw_js(&server).await;
    let info = support::settled(&js, "events", "worker").await;
    assert_eq!(info.delivered.consumer_sequence, 1);
    let (handler, mut second) = support::forward::<Value>();
    let _again =
        support::start(support::builder(&server, "worker").event_consumer("Task.Run", handler))
            .await;
    events.publish("Task.Run", &json!({"n": 2})).await?;
    assert_eq!(support::recv(&mut second).await.payload, json!({"n": 2}));
    let info = support::settled(&js, "events", "worker").await;
    assert_eq!(info.delivered.consumer_sequence, 2);
    assert_eq!(info.num_redelivered, 0);
    Ok(())
}

#[tokio::test]
async fn long_handler_keeps_its_message_with_progress_acks() -> TestResult {
    let server = support::server();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let slow = move |_ev: ConsumableEvent<Value>| {
        counted.fetch_add(1, Ordering::SeqCst);
        async move {
            // The work itself: longer than two ack waits.
            tokio::time::sleep(Duration::from_millis(2500)).await;
            Ok::<(), HandlerError>(())
        }
    };
    let (notes_tx, mut notes) = mpsc::channel(16);
    let _worker = support::start(
        support::builder(&server, "worker")
            .ack_wait(Duration::from_secs(1))
            .notifications(notes_tx)
            .event_consumer("Task.Run", slow),
    )
    .await;
    let shop = support::start(support::builder(&server, "shop").event_publisher()).await;
    shop.event_publisher()?
        .publish("Task.Run", &json!({"n": 1}))
        .await?;

    let note = support::recv(&mut notes).await;
    assert!(
        note.duration >= Duration::from_millis(2500),
        "handled in {:?}",
        note.duration
    );
    let js = support::raw_js(&server).await;
    let info = support::settled(&js, "events", "worker").await;
    assert_eq!(info.config.ack_wait, Duration::from_secs(1));
    assert_eq!(info.num_redelivered, 0);
    assert_eq!(info.delivered.consumer_sequence, 1);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_consumer_is_recreated_after_a_server_restart() -> TestResult {
    let mut server = support::server();
    let (_dashboard, mut handled) = consumer_with_one_order(&server, "dashboard", true).await;

    restart(&mut server);

    publish_order(&server, 2).await;
    // A recreated ephemeral consumer starts from the stream's first message again, so
    // n=1 may come back first; n=2 must arrive.
    loop {
        let ev = recv_after_restart(&mut handled).await;
        if ev.payload == json!({"n": 2}) {
            break;
        }
        assert_eq!(ev.payload, json!({"n": 1}));
    }
    Ok(())
}

/// A restart that loses the JetStream store (a server without persistent storage): the
/// stream and the ephemeral consumer are gone and must be recreated by the transport.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_consumer_is_recreated_after_a_restart_that_lost_the_store() -> TestResult {
    let mut server = support::server();
    let (_dashboard, mut handled) = consumer_with_one_order(&server, "dashboard", true).await;

    tokio::task::block_in_place(|| -> TestResult {
        server.stop()?;
        std::fs::remove_dir_all(server.store_dir().join("jetstream"))?;
        server.start_again()?;
        Ok(())
    })?;

    let receipt = publish_order(&server, 2).await;
    // A new stream: n=1 is gone, and n=2 is its first message.
    assert_eq!(receipt.sequence, Some(1));
    assert_eq!(
        recv_after_restart(&mut handled).await.payload,
        json!({"n": 2})
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_consumer_resumes_after_a_server_restart() -> TestResult {
    let mut server = support::server();
    let (_billing, mut handled) = consumer_with_one_order(&server, "billing", false).await;
    // The ack must be on the server before it goes down, or n=1 would rightly come back.
    let js = support::raw_js(&server).await;
    support::settled(&js, "events", "billing").await;

    restart(&mut server);

    publish_order(&server, 2).await;
    assert_eq!(
        recv_after_restart(&mut handled).await.payload,
        json!({"n": 2})
    );
    let js = support::raw_js(&server).await;
    let info = support::settled(&js, "events", "billing").await;
    assert_eq!(info.delivered.stream_sequence, 2);
    assert_eq!(info.num_redelivered, 0);
    Ok(())
}

#[tokio::test]
async fn stream_settings_of_other_services_are_kept() -> TestResult {
    let server = support::server();
    let hour = Duration::from_secs(3600);
    let js = support::raw_js(&server).await;

    let a = support::start(
        support::builder(&server, "svc-a")
            .stream_config("events", StreamConfig::new().max_age(hour))
            .event_publisher(),
    )
    .await;
    let info = support::stream_info(&js, "events").await;
    assert_eq!(info.config.max_age, hour);
    assert_eq!(info.config.max_bytes, -1);

    let b = support::start(support::builder(&server, "svc-b").event_publisher()).await;
    let info = support::stream_info(&js, "events").await;
    assert_eq!(info.config.max_age, hour);
    assert_eq!(info.config.max_bytes, -1);

    let c = support::start(
        support::builder(&server, "svc-c")
            .stream_defaults(StreamConfig::new().max_bytes(1 << 20))
            .event_consumer("Order.Created", ignore),
    )
    .await;
    let info = support::stream_info(&js, "events").await;
    assert_eq!(info.config.max_age, hour);
    assert_eq!(info.config.max_bytes, 1 << 20);
    assert_eq!(info.config.subjects, ["events.>"]);
    for conn in [a, b, c] {
        conn.close().await?;
    }
    Ok(())
}

#[tokio::test]
async fn builder_topology_equals_connection_topology() -> TestResult {
    let server = support::server();
    let builder = support::builder(&server, "mixed")
        .event_publisher()
        .stream_publisher("audit")
        .service_publisher("billing")
        .event_consumer("Order.#", ignore)
        .transient_event_consumer("Order.Created", ignore)
        .setup(Setup::stream_consumer("audit", "Audit.*", ignore).suffix("trail"))
        .request_handler("Mixed.Ask", echo)
        .service_response_consumer("billing", "Billing.Charged", ignore);
    let planned = builder.topology()?;
    assert_eq!(planned.endpoints.len(), 8);
    let conn = support::start(builder).await;
    assert_eq!(conn.topology(), &planned);
    conn.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicated_stream_works_through_every_cluster_url() -> TestResult {
    let cluster = tokio::task::block_in_place(|| messaging_testkit::NatsCluster::start(3))?;
    let nodes = cluster.nodes();
    let mut conns = Vec::new();
    let mut inboxes = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let (handler, rx) = support::forward::<Value>();
        let conn = support::start(
            support::builder(node, &format!("node-{i}"))
                .stream_config("repl", StreamConfig::new().replicas(3))
                .stream_publisher("repl")
                .stream_consumer("repl", "Repl.*", handler),
        )
        .await;
        conns.push(conn);
        inboxes.push(rx);
    }
    for (i, conn) in conns.iter().enumerate() {
        conn.stream_publisher("repl")?
            .publish(&format!("Repl.From{i}"), &json!({"from": i}))
            .await?;
    }
    // Every consumer, each on its own node, sees every node's publish.
    for (i, rx) in inboxes.iter_mut().enumerate() {
        let mut keys: Vec<String> = support::recv_n(rx, nodes.len())
            .await
            .into_iter()
            .map(|ev| ev.delivery_info.key)
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            ["Repl.From0", "Repl.From1", "Repl.From2"],
            "consumer on node {i}"
        );
    }
    let js = support::raw_js(&nodes[0]).await;
    let info = support::stream_info(&js, "repl").await;
    assert_eq!(info.config.num_replicas, 3);
    let replicas = info.cluster.map(|c| c.replicas.len());
    assert_eq!(replicas, Some(2), "followers besides the leader");
    for conn in conns {
        conn.close().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_answers_the_requests_already_delivered() -> TestResult {
    const N: u64 = 5;
    let server = support::server();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let slow_echo = move |ev: ConsumableEvent<Value>| {
        let started_tx = started_tx.clone();
        async move {
            let _ = started_tx.send(());
            // The work itself: long enough for every request to queue up behind it.
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok::<_, HandlerError>(ev.payload)
        }
    };
    let billing = support::start(
        support::builder(&server, "billing").request_handler("Billing.Charge", slow_echo),
    )
    .await;
    let orders =
        support::start(support::builder(&server, "orders").service_publisher("billing")).await;
    let publisher = orders.service_publisher("billing")?;
    let calls: Vec<_> = (0..N)
        .map(|n| {
            let publisher = publisher.clone();
            tokio::spawn(async move {
                publisher
                    .request::<Value, _>("Billing.Charge", &json!({ "n": n }))
                    .await
            })
        })
        .collect();
    // One request is being handled and the server has delivered all of them to billing's
    // (only) subscription: the rest wait in this instance's buffer.
    support::recv(&mut started).await;
    support::eventually("every request delivered to billing", || async {
        let subsz = server.monitor_json("/subsz?subs=1").ok()?;
        let delivered: u64 = subsz["subscriptions_list"]
            .as_array()?
            .iter()
            .filter(|s| s["subject"] == "billing.request.Billing.Charge")
            .filter_map(|s| s["msgs"].as_u64())
            .sum();
        (delivered == N).then_some(())
    })
    .await;

    support::bounded(billing.close()).await?;
    for (n, call) in (0..N).zip(calls) {
        assert_eq!(support::bounded(call).await??, json!({ "n": n }));
    }
    // Each request was handled once: N starts, and nothing more.
    support::recv_n(&mut started, 4).await;
    assert!(started.try_recv().is_err());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_initial_connect_waits_for_the_server() -> TestResult {
    let mut server = support::server();
    tokio::task::block_in_place(|| server.stop())?;
    let builder = support::builder(&server, "late")
        .retry_initial_connect(true)
        .connection_timeout(support::TIMEOUT)
        // Without the wait, ensuring the stream would time out after this.
        .publish_timeout(Duration::from_millis(200))
        .event_publisher();
    let starting = tokio::spawn(builder.start());
    // An outage that outlasts the stream-ensure timeout.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !starting.is_finished(),
        "start() returned while the server was down"
    );
    tokio::task::block_in_place(|| server.start_again())?;
    let conn = support::bounded(starting).await??;
    conn.event_publisher()?
        .publish("Late.Arrived", &json!({"n": 1}))
        .await?;
    let js = support::raw_js(&server).await;
    assert_eq!(support::stream_info(&js, "events").await.state.messages, 1);
    conn.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_initial_connect_gives_up_after_the_connection_timeout() -> TestResult {
    let mut server = support::server();
    tokio::task::block_in_place(|| server.stop())?;
    let started = std::time::Instant::now();
    let result = support::bounded(
        support::builder(&server, "late")
            .retry_initial_connect(true)
            .connection_timeout(Duration::from_millis(500))
            .event_publisher()
            .start(),
    )
    .await;
    match result {
        Err(messaging_nats::Error::ConnectFailed {
            kind: messaging_nats::ConnectFailure::TimedOut,
            url,
            ..
        }) => assert_eq!(url, server.client_url()),
        other => panic!("expected Error::ConnectFailed(TimedOut), got {other:?}"),
    }
    assert!(started.elapsed() >= Duration::from_millis(500));
    Ok(())
}
