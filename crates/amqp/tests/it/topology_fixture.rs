//! `topology.json` against the transport: every scenario's setups become builder
//! registrations, whose topology must equal the fixture's AMQP endpoints, and whose start
//! must leave exactly the fixture's exchanges, queues and bindings on a broker of its own
//! (the state the TCK's broker phase compares, read the same way: the management API).

use messaging_amqp::Setup;
use messaging_spec::{ConsumableEvent, EndpointDirection, HandlerError, Pattern, SetupIntent};
use messaging_testkit::{RabbitServer, load_fixture};
use serde_json::{Value, json};

async fn ignore(_ev: ConsumableEvent<Value>) -> Result<(), HandlerError> {
    Ok(())
}

async fn echo(ev: ConsumableEvent<Value>) -> Result<Value, HandlerError> {
    Ok(ev.payload)
}

fn setup_for(intent: &SetupIntent) -> Setup {
    use EndpointDirection::{Consume, Publish};
    let key = intent.routing_key.clone();
    let setup = match (&intent.pattern, &intent.direction) {
        (Pattern::EventStream, Publish) => Setup::event_publisher(),
        (Pattern::CustomStream, Publish) => Setup::stream_publisher(intent.exchange.clone()),
        (Pattern::ServiceRequest, Publish) => {
            Setup::service_publisher(intent.target_service.clone())
        }
        (Pattern::QueuePublish, Publish) => {
            Setup::queue_publisher(intent.destination_queue.clone())
        }
        (Pattern::EventStream, Consume) if intent.ephemeral => {
            Setup::transient_event_consumer(key, ignore)
        }
        (Pattern::EventStream, Consume) => Setup::event_consumer(key, ignore),
        (Pattern::CustomStream, Consume) if intent.ephemeral => {
            Setup::transient_stream_consumer(intent.exchange.clone(), key, ignore)
        }
        (Pattern::CustomStream, Consume) => {
            Setup::stream_consumer(intent.exchange.clone(), key, ignore)
        }
        (Pattern::ServiceRequest, Consume) => Setup::request_handler(key, echo),
        (Pattern::ServiceResponse, Consume) => {
            Setup::service_response_consumer(intent.target_service.clone(), key, ignore)
        }
        other => panic!("the fixture has an intent this test does not know: {other:?}"),
    };
    if intent.queue_suffix.is_empty() {
        setup
    } else {
        setup.suffix(intent.queue_suffix.clone())
    }
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn get(broker: &RabbitServer, path: &str) -> Vec<Value> {
    match broker.management_get(path) {
        Ok(Value::Array(items)) => items,
        Ok(other) => panic!("GET {path}: not a list: {other}"),
        Err(e) => panic!("GET {path}: {e}"),
    }
}

/// Deletes every queue and every exchange but the default and `amq.*` ones, as the TCK
/// does before each scenario.
fn clean(broker: &RabbitServer) {
    for q in get(broker, "/api/queues/%2f") {
        let _ = broker.management_delete(&format!("/api/queues/%2f/{}", text(&q, "name")));
    }
    for x in get(broker, "/api/exchanges/%2f") {
        let name = text(&x, "name");
        if !name.is_empty() && !name.starts_with("amq.") {
            let _ = broker.management_delete(&format!("/api/exchanges/%2f/{name}"));
        }
    }
}

fn matches_name(actual: &str, expected: &Value, field: &str) -> bool {
    match (expected.get(field), expected.get(format!("{field}Prefix"))) {
        (Some(Value::String(n)), _) => actual == n,
        (_, Some(Value::String(p))) => actual.starts_with(p.as_str()),
        _ => false,
    }
}

fn check_broker(broker: &RabbitServer, expected: &Value, scenario: &str) {
    let exchanges: Vec<Value> = get(broker, "/api/exchanges/%2f")
        .into_iter()
        .filter(|x| !text(x, "name").is_empty() && !text(x, "name").starts_with("amq."))
        .collect();
    let want = expected["exchanges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        exchanges.len(),
        want.len(),
        "{scenario}: exchanges {exchanges:?}"
    );
    for w in &want {
        let x = exchanges.iter().find(|x| x["name"] == w["name"]);
        let Some(x) = x else {
            panic!("{scenario}: exchange {} missing", w["name"])
        };
        assert_eq!(x["type"], w["type"], "{scenario}");
        assert_eq!(x["durable"], w["durable"], "{scenario}");
        assert_eq!(x["auto_delete"], w["autoDelete"], "{scenario}");
    }
    let queues = get(broker, "/api/queues/%2f");
    let want = expected["queues"].as_array().cloned().unwrap_or_default();
    assert_eq!(queues.len(), want.len(), "{scenario}: queues {queues:?}");
    for w in &want {
        let q = queues
            .iter()
            .find(|q| matches_name(text(q, "name"), w, "name"));
        let Some(q) = q else {
            panic!("{scenario}: queue {w} missing")
        };
        assert_eq!(q["durable"], w["durable"], "{scenario}");
        assert_eq!(q["auto_delete"], w["autoDelete"], "{scenario}");
        assert_eq!(
            q["arguments"]["x-queue-type"], w["arguments"]["x-queue-type"],
            "{scenario}"
        );
        assert_eq!(
            q["arguments"]["x-expires"], w["arguments"]["x-expires"],
            "{scenario}"
        );
        assert_eq!(
            q["arguments"]["x-single-active-consumer"],
            json!(true),
            "{scenario}: as the reference"
        );
    }
    let bindings: Vec<Value> = get(broker, "/api/bindings/%2f")
        .into_iter()
        .filter(|b| !text(b, "source").is_empty())
        .collect();
    let want = expected["bindings"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        bindings.len(),
        want.len(),
        "{scenario}: bindings {bindings:?}"
    );
    for w in &want {
        let found = bindings.iter().any(|b| {
            b["source"] == w["source"]
                && b["routing_key"] == w["routingKey"]
                && matches_name(text(b, "destination"), w, "destination")
        });
        assert!(found, "{scenario}: binding {w} missing in {bindings:?}");
    }
}

#[tokio::test]
async fn topology_fixture_endpoints_and_broker_state() -> crate::support::TestResult {
    let Some(fixture) = load_fixture("topology.json") else {
        return Ok(());
    };
    // A broker of its own: the scenarios use fixed names and count everything.
    let broker = RabbitServer::start()?;
    let scenarios = fixture["scenarios"].as_array().cloned().unwrap_or_default();
    assert!(scenarios.len() >= 9);
    for scenario in &scenarios {
        let name = text(scenario, "name");
        clean(&broker);
        let intents: Vec<SetupIntent> = serde_json::from_value(scenario["setups"].clone())?;
        let builder = messaging_amqp::Connection::builder(text(scenario, "serviceName"))
            .url(broker.amqp_url())
            .setups(intents.iter().map(setup_for));
        let topology = builder.topology()?;
        let expected = scenario["expectedEndpoints"]["amqp"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(topology.endpoints.len(), expected.len(), "{name}");
        for (actual, want) in topology.endpoints.iter().zip(&expected) {
            let got = serde_json::to_value(actual)?;
            for field in [
                "direction",
                "pattern",
                "exchangeName",
                "exchangeKind",
                "routingKey",
            ] {
                assert_eq!(text(&got, field), text(want, field), "{name}: {field}");
            }
            assert!(
                matches_name(text(&got, "queueName"), want, "queueName")
                    || (want.get("queueName").is_none()
                        && want.get("queueNamePrefix").is_none()
                        && text(&got, "queueName").is_empty()),
                "{name}: queueName {got}"
            );
            assert_eq!(
                got["ephemeral"].as_bool().unwrap_or(false),
                want["ephemeral"].as_bool().unwrap_or(false),
                "{name}"
            );
        }
        let conn = builder.start().await?;
        assert_eq!(
            conn.topology(),
            &topology,
            "{name}: start declares what topology() said"
        );
        check_broker(&broker, &scenario["broker"]["amqp"], name);
        conn.close().await?;
    }
    Ok(())
}
