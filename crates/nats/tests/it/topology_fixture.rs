//! `topology.json` against the transport: every scenario's setups become builder
//! registrations, whose topology must equal the fixture's NATS endpoints, and whose start
//! must leave exactly the fixture's streams and consumers on a fresh server.

use futures::TryStreamExt;
use messaging_nats::async_nats::jetstream;
use messaging_nats::{ConnectionBuilder, Setup};
use messaging_spec::{
    ConsumableEvent, Endpoint, EndpointDirection, HandlerError, Pattern, SetupIntent, Transport,
    endpoints_for_intent,
};
use serde_json::Value;

use messaging_testkit::load_fixture as load;

use crate::support;

async fn ignore(_ev: ConsumableEvent<Value>) -> Result<(), HandlerError> {
    Ok(())
}

async fn echo(ev: ConsumableEvent<Value>) -> Result<Value, HandlerError> {
    Ok(ev.payload)
}

/// The registration for `intent`, or `None` when the NATS transport has no way to express
/// it (queue-publish: NATS has no sender-selected queues).
fn setup_for(intent: &SetupIntent) -> Option<Setup> {
    use EndpointDirection::{Consume, Publish};
    let key = intent.routing_key.clone();
    let setup = match (&intent.pattern, &intent.direction) {
        (Pattern::EventStream, Publish) => Setup::event_publisher(),
        (Pattern::CustomStream, Publish) => Setup::stream_publisher(intent.exchange.clone()),
        (Pattern::ServiceRequest, Publish) => {
            Setup::service_publisher(intent.target_service.clone())
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
        (Pattern::QueuePublish, _) => return None,
        other => panic!("the fixture has an intent this test does not know: {other:?}"),
    };
    Some(if intent.queue_suffix.is_empty() {
        setup
    } else {
        setup.suffix(intent.queue_suffix.clone())
    })
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Fails on fields this test would otherwise ignore, so a fixture change cannot slip by.
fn only_keys(v: &Value, known: &[&str], what: &str) {
    let Some(obj) = v.as_object() else {
        panic!("{what}: not an object: {v}");
    };
    for k in obj.keys() {
        assert!(known.contains(&k.as_str()), "{what}: unknown field {k:?}");
    }
}

fn check_endpoint(actual: &Endpoint, expected: &Value, what: &str) {
    only_keys(
        expected,
        &[
            "direction",
            "pattern",
            "exchangeName",
            "exchangeKind",
            "queueName",
            "routingKey",
            "ephemeral",
        ],
        what,
    );
    assert_eq!(
        actual.direction.as_str(),
        text(expected, "direction"),
        "{what}: direction"
    );
    assert_eq!(
        actual.pattern.as_str(),
        text(expected, "pattern"),
        "{what}: pattern"
    );
    assert_eq!(
        actual.exchange_name,
        text(expected, "exchangeName"),
        "{what}: exchangeName"
    );
    assert_eq!(
        actual.exchange_kind.as_str(),
        text(expected, "exchangeKind"),
        "{what}: exchangeKind"
    );
    assert_eq!(
        actual.queue_name,
        text(expected, "queueName"),
        "{what}: queueName"
    );
    assert_eq!(
        actual.routing_key,
        text(expected, "routingKey"),
        "{what}: routingKey"
    );
    let ephemeral = expected
        .get("ephemeral")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    assert_eq!(actual.ephemeral, ephemeral, "{what}: ephemeral");
}

/// One consumer as the fixture describes it: (stream, durable, filter subject, ack policy).
type ConsumerView = (String, Option<String>, String, String);

async fn broker_state(
    js: &jetstream::Context,
) -> (Vec<jetstream::stream::Info>, Vec<ConsumerView>) {
    let mut streams: Vec<jetstream::stream::Info> = match js.streams().try_collect().await {
        Ok(s) => s,
        Err(e) => panic!("listing streams: {e}"),
    };
    streams.sort_by(|a, b| a.config.name.cmp(&b.config.name));
    let mut consumers = Vec::new();
    for s in &streams {
        let stream = match js.get_stream(&s.config.name).await {
            Ok(st) => st,
            Err(e) => panic!("get stream {}: {e}", s.config.name),
        };
        let infos: Vec<jetstream::consumer::Info> = match stream.consumers().try_collect().await {
            Ok(i) => i,
            Err(e) => panic!("listing consumers of {}: {e}", s.config.name),
        };
        for info in infos {
            // The fixture names only the singular filter: several would be a grouping bug.
            assert!(
                info.config.filter_subjects.is_empty(),
                "consumer {} has filter_subjects {:?}",
                info.name,
                info.config.filter_subjects
            );
            let ack = serde_json::to_value(info.config.ack_policy).unwrap_or_default();
            consumers.push((
                info.stream_name.clone(),
                info.config.durable_name.clone(),
                info.config.filter_subject.clone(),
                ack.as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    consumers.sort();
    (streams, consumers)
}

async fn check_broker(server: &messaging_testkit::NatsServer, expected: &Value, what: &str) {
    only_keys(expected, &["streams", "consumers"], what);
    let js = support::raw_js(server).await;
    let (streams, consumers) = broker_state(&js).await;

    let want_streams = expected["streams"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = streams.iter().map(|s| s.config.name.as_str()).collect();
    let mut want_names: Vec<&str> = want_streams.iter().map(|s| text(s, "name")).collect();
    want_names.sort_unstable();
    assert_eq!(names, want_names, "{what}: stream names");
    for want in &want_streams {
        only_keys(want, &["name", "subjects", "storage"], what);
        let name = text(want, "name");
        let Some(info) = streams.iter().find(|s| s.config.name == name) else {
            panic!("{what}: stream {name} missing");
        };
        let subjects: Vec<String> = serde_json::from_value(want["subjects"].clone())
            .unwrap_or_else(|e| panic!("{what}: subjects of {name}: {e}"));
        assert_eq!(info.config.subjects, subjects, "{what}: subjects of {name}");
        let storage = serde_json::to_value(info.config.storage).unwrap_or_default();
        assert_eq!(
            storage.as_str(),
            Some(text(want, "storage")),
            "{what}: storage of {name}"
        );
    }

    let want_consumers = expected["consumers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut want: Vec<ConsumerView> = want_consumers
        .iter()
        .map(|c| {
            only_keys(
                c,
                &["stream", "durable", "filterSubject", "ackPolicy"],
                what,
            );
            (
                text(c, "stream").to_owned(),
                c.get("durable").and_then(Value::as_str).map(str::to_owned),
                text(c, "filterSubject").to_owned(),
                text(c, "ackPolicy").to_owned(),
            )
        })
        .collect();
    want.sort();
    assert_eq!(consumers, want, "{what}: consumers");
}

/// The endpoints of `intents` as the transport reports them; intents it cannot express are
/// mapped by the spec's own table instead, in their place.
fn endpoints_of(
    builder: &ConnectionBuilder,
    service: &str,
    intents: &[SetupIntent],
) -> Vec<Endpoint> {
    let topology = match builder.topology() {
        Ok(t) => t,
        Err(e) => panic!("{service}: topology: {e:?}"),
    };
    assert_eq!(
        topology.transport,
        Some(Transport::Nats),
        "{service}: transport"
    );
    assert_eq!(topology.service_name, service, "{service}: serviceName");
    let mut from_builder = topology.endpoints.into_iter();
    let mut out = Vec::new();
    for intent in intents {
        let spec = endpoints_for_intent(&Transport::Nats, service, intent);
        if setup_for(intent).is_some() {
            // The builder emits one endpoint per registration the spec maps to one.
            out.extend(from_builder.by_ref().take(spec.len()));
        } else {
            // Queue-publish has no NATS registration: check the spec mapping stands in.
            out.extend(spec);
        }
    }
    assert_eq!(
        from_builder.next(),
        None,
        "{service}: extra builder endpoints"
    );
    out
}

#[tokio::test]
async fn topology_fixture_scenarios() {
    let Some(fixture) = load("topology.json") else {
        return;
    };
    let scenarios = fixture["scenarios"].as_array().cloned().unwrap_or_default();
    assert!(!scenarios.is_empty(), "topology.json has no scenarios");
    for scenario in &scenarios {
        let name = text(scenario, "name");
        let service = text(scenario, "serviceName");
        let intents: Vec<SetupIntent> = serde_json::from_value(scenario["setups"].clone())
            .unwrap_or_else(|e| panic!("{name}: setups: {e}"));

        let server = support::server();
        let builder =
            support::builder(&server, service).setups(intents.iter().filter_map(setup_for));

        let expected = scenario["expectedEndpoints"]["nats"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let actual = endpoints_of(&builder, service, &intents);
        assert_eq!(
            actual.len(),
            expected.len(),
            "{name}: endpoint count: {actual:?}"
        );
        for (i, (a, e)) in actual.iter().zip(&expected).enumerate() {
            check_endpoint(a, e, &format!("{name}: endpoint {i}"));
        }

        let conn = support::start(builder).await;
        check_broker(&server, &scenario["broker"]["nats"], name).await;
        if let Err(e) = conn.close().await {
            panic!("{name}: close: {e:?}");
        }
    }
    println!(
        "fixture topology.json: {} scenarios passed",
        scenarios.len()
    );
}
