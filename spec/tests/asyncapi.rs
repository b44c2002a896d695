//! AsyncAPI export: every `topology.json` scenario (both transports) and the example fleet
//! give documents that the official AsyncAPI 3.0.0 JSON Schema accepts, with the exact
//! channel addresses, actions and bindings the naming rules imply.

#[path = "common/asyncapi_schema.rs"]
mod asyncapi_schema;
mod common;

use std::path::PathBuf;

use messaging_spec::{
    AsyncApi, Endpoint, EndpointDirection, Error, ExchangeKind, Pattern, Topology, Transport,
    asyncapi,
};
use serde_json::{Value, json};

/// `(scenario name, transport, topology)` for every scenario and transport of
/// `topology.json`, built from its expected endpoints.
fn fixture_topologies() -> Vec<(String, Transport, Topology)> {
    let Some(fixture) = common::load("topology.json") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for s in fixture["scenarios"].as_array().expect("scenarios array") {
        let name = s["name"].as_str().expect("name");
        for (transport, key) in [(Transport::Amqp, "amqp"), (Transport::Nats, "nats")] {
            let endpoints: Vec<Endpoint> =
                serde_json::from_value(s["expectedEndpoints"][key].clone()).expect("endpoints");
            let mut t = Topology::new(
                Some(transport.clone()),
                s["serviceName"].as_str().expect("serviceName"),
            );
            t.endpoints = endpoints;
            out.push((name.to_owned(), transport, t));
        }
    }
    out
}

fn scenario(all: &[(String, Transport, Topology)], name: &str, transport: &Transport) -> Topology {
    all.iter()
        .find(|(n, tr, _)| n == name && tr == transport)
        .map(|(_, _, t)| t.clone())
        .unwrap_or_else(|| panic!("scenario {name:?} ({transport}) missing"))
}

fn examples() -> Vec<Topology> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/topologies");
    ["billing", "notifications", "orders", "web-app"]
        .iter()
        .map(|n| {
            let path = dir.join(format!("{n}.json"));
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect()
}

fn doc(topologies: &[Topology]) -> Value {
    asyncapi(topologies).expect("export")
}

#[test]
fn every_fixture_scenario_validates_alone_and_as_fleets() {
    let validator = asyncapi_schema::validator();
    let all = fixture_topologies();
    if all.is_empty() {
        return;
    }
    for (name, transport, t) in &all {
        asyncapi_schema::assert_valid(
            validator,
            &doc(std::slice::from_ref(t)),
            &format!("{name} ({transport})"),
        );
    }
    for transport in [Transport::Amqp, Transport::Nats] {
        let fleet: Vec<Topology> = all
            .iter()
            .filter(|(_, tr, _)| *tr == transport)
            .map(|(_, _, t)| t.clone())
            .collect();
        asyncapi_schema::assert_valid(validator, &doc(&fleet), &format!("{transport} fleet"));
    }
    let mixed: Vec<Topology> = all.iter().map(|(_, _, t)| t.clone()).collect();
    let mixed_doc = doc(&mixed);
    asyncapi_schema::assert_valid(validator, &mixed_doc, "mixed fleet");
    // Two transports: ids carry the transport, so `events` on NATS and AMQP stay apart.
    assert_eq!(
        mixed_doc["channels"]["nats.events.Order.Created"]["address"],
        "events.Order.Created"
    );
    assert_eq!(
        mixed_doc["channels"]["amqp.events.topic.exchange.Order.Created"]["address"],
        "Order.Created"
    );
    common::report("topology.json (asyncapi)", all.len());
}

#[test]
fn the_validator_rejects_a_broken_document() {
    let validator = asyncapi_schema::validator();
    let t = Topology::new(Some(Transport::Nats), "orders").with_endpoint(
        Endpoint::new(
            EndpointDirection::Publish,
            Pattern::EventStream,
            "events",
            ExchangeKind::Topic,
        )
        .with_routing_key("Order.Created"),
    );
    let mut d = doc(&[t]);
    assert!(validator.is_valid(&d));
    d["operations"]["orders.send.events.Order.Created"]["action"] = json!("publish");
    assert!(!validator.is_valid(&d), "action must be send or receive");
    let mut d2 = doc(&[]);
    d2["asyncapi"] = json!("2.6.0");
    assert!(!validator.is_valid(&d2), "asyncapi must be 3.0.0");

    // The bindings are checked too, through the bundle's internal `$ref`s.
    let amqp = Topology::new(Some(Transport::Amqp), "orders").with_endpoint(
        Endpoint::new(
            EndpointDirection::Publish,
            Pattern::EventStream,
            "events.topic.exchange",
            ExchangeKind::Topic,
        )
        .with_routing_key("Order.Created"),
    );
    let mut d3 = doc(&[amqp]);
    assert!(validator.is_valid(&d3));
    d3["channels"]["events.topic.exchange.Order.Created"]["bindings"]["amqp"]["is"] =
        json!("exchange");
    assert!(
        !validator.is_valid(&d3),
        "amqp `is` must be routingKey or queue"
    );
}

#[test]
fn nats_durable_consumer_maps_to_its_filter_subject_and_queue() {
    let all = fixture_topologies();
    if all.is_empty() {
        return;
    }
    let d = doc(&[scenario(
        &all,
        "event stream consumer durable",
        &Transport::Nats,
    )]);
    assert_eq!(d["asyncapi"], "3.0.0");
    assert_eq!(d["info"]["title"], "orders");
    let channel = &d["channels"]["events.Order.Created"];
    assert_eq!(channel["address"], "events.Order.Created");
    assert_eq!(
        channel["messages"]["Order.Created"]["$ref"],
        "#/components/messages/Order.Created"
    );
    let op = &d["operations"]["orders.receive.events.Order.Created"];
    assert_eq!(op["action"], "receive");
    assert_eq!(op["channel"]["$ref"], "#/channels/events.Order.Created");
    assert_eq!(
        op["messages"][0]["$ref"],
        "#/channels/events.Order.Created/messages/Order.Created"
    );
    assert_eq!(
        op["bindings"],
        json!({"nats": {"queue": "orders", "bindingVersion": "0.1.0"}})
    );
    assert_eq!(op["x-messaging-endpoint"]["queueName"], "orders");
    let message = &d["components"]["messages"]["Order.Created"];
    assert_eq!(
        message["traits"][0]["$ref"],
        "#/components/messageTraits/cloudEventsNats"
    );
    let headers = &d["components"]["messageTraits"]["cloudEventsNats"]["headers"];
    assert_eq!(
        headers["required"],
        json!(["ce-specversion", "ce-type", "ce-source", "ce-id", "ce-time"])
    );
    assert_eq!(headers["properties"]["ce-specversion"]["const"], "1.0");
    assert!(headers["properties"]["ce-datacontenttype"].is_object());
}

#[test]
fn nats_transient_consumer_has_no_queue_binding() {
    let all = fixture_topologies();
    if all.is_empty() {
        return;
    }
    let d = doc(&[scenario(
        &all,
        "event stream consumer transient",
        &Transport::Nats,
    )]);
    let op = &d["operations"]["dashboard.receive.events.Order.Created"];
    assert_eq!(op["action"], "receive");
    assert!(op.get("bindings").is_none(), "{op}");
}

#[test]
fn amqp_consumer_maps_to_a_routing_key_on_the_topic_exchange() {
    let all = fixture_topologies();
    if all.is_empty() {
        return;
    }
    let d = doc(&[scenario(
        &all,
        "event stream consumer durable",
        &Transport::Amqp,
    )]);
    let channel = &d["channels"]["events.topic.exchange.Order.Created"];
    assert_eq!(channel["address"], "Order.Created");
    assert_eq!(
        channel["bindings"]["amqp"],
        json!({"is": "routingKey", "bindingVersion": "0.3.0",
               "exchange": {"name": "events.topic.exchange", "type": "topic", "durable": true,
                            "autoDelete": false, "vhost": "/"}})
    );
    let op = &d["operations"]["orders.receive.events.topic.exchange.Order.Created"];
    assert_eq!(op["action"], "receive");
    assert_eq!(
        op["x-messaging-endpoint"]["queueName"],
        "events.topic.exchange.queue.orders"
    );
    let headers = &d["components"]["messageTraits"]["cloudEventsAmqp"]["headers"];
    assert_eq!(headers["required"][0], "cloudEvents:specversion");
    assert!(
        d["components"]["messageTraits"]
            .get("cloudEventsNats")
            .is_none()
    );
}

#[test]
fn amqp_queue_publish_is_a_queue_channel() {
    let all = fixture_topologies();
    if all.is_empty() {
        return;
    }
    let d = doc(&[scenario(&all, "queue publish", &Transport::Amqp)]);
    let channel = &d["channels"]["task-queue"];
    assert_eq!(channel["address"], "task-queue");
    assert_eq!(channel["bindings"]["amqp"]["is"], "queue");
    assert_eq!(channel["bindings"]["amqp"]["queue"]["name"], "task-queue");
    assert!(channel["bindings"]["amqp"].get("exchange").is_none());
    assert_eq!(
        d["operations"]["task-sender.send.task-queue"]["action"],
        "send"
    );
}

#[test]
fn request_handler_receives_on_its_request_subject_and_replies() {
    let all = fixture_topologies();
    if all.is_empty() {
        return;
    }
    let d = doc(&[scenario(&all, "service request consumer", &Transport::Nats)]);
    assert_eq!(
        d["channels"]["email-svc.request.email.send"]["address"],
        "email-svc.request.email.send"
    );
    let op = &d["operations"]["email-svc.receive.email-svc.request.email.send"];
    assert_eq!(op["action"], "receive");
    assert_eq!(op["bindings"]["nats"]["queue"], "email-svc");
    assert_eq!(
        op["reply"]["channel"]["$ref"],
        "#/channels/email-svc.reply.email.send"
    );
    let reply = &d["channels"]["email-svc.reply.email.send"];
    assert_eq!(
        reply["address"],
        Value::Null,
        "a reply inbox is chosen per request"
    );
    assert_eq!(
        reply["messages"]["email.send.reply"]["$ref"],
        "#/components/messages/email.send.reply"
    );
    // Core NATS replies carry no CloudEvents headers.
    assert!(
        d["components"]["messages"]["email.send.reply"]
            .get("traits")
            .is_none()
    );

    let d = doc(&[scenario(&all, "service request consumer", &Transport::Amqp)]);
    let op = &d["operations"]["email-svc.receive.email-svc.direct.exchange.request.email.send"];
    assert_eq!(
        op["reply"]["channel"]["$ref"],
        "#/channels/email-svc.headers.exchange.response.email.send"
    );
    assert_eq!(
        d["channels"]["email-svc.headers.exchange.response.email.send"]["bindings"]["amqp"]["exchange"]
            ["type"],
        "headers"
    );
}

#[test]
fn requester_without_a_routing_key_sends_to_every_request_subject() {
    let all = fixture_topologies();
    if all.is_empty() {
        return;
    }
    let d = doc(&[scenario(
        &all,
        "service publisher and response consumer",
        &Transport::Nats,
    )]);
    assert_eq!(
        d["channels"]["email-svc.request.all"]["address"],
        "email-svc.request.>"
    );
    let send = &d["operations"]["web-app.send.email-svc.request.all"];
    assert_eq!(send["action"], "send");
    assert_eq!(
        send["reply"]["channel"]["$ref"],
        "#/channels/email-svc.reply"
    );
    assert_eq!(
        d["operations"]["web-app.receive.email-svc.reply.email.send"]["action"],
        "receive"
    );

    let d = doc(&[scenario(
        &all,
        "service publisher and response consumer",
        &Transport::Amqp,
    )]);
    assert_eq!(
        d["channels"]["email-svc.direct.exchange.request"]["address"],
        Value::Null
    );
}

#[test]
fn example_fleet_shares_channels_between_services() {
    let validator = asyncapi_schema::validator();
    let fleet = examples();
    let d = AsyncApi::new()
        .title("Example fleet")
        .version("1.0.0")
        .schema(
            "OrderCreated",
            json!({"type": "object", "required": ["orderId"]}),
        )
        .document(&fleet)
        .expect("export");
    asyncapi_schema::assert_valid(validator, &d, "example fleet");
    assert_eq!(d["info"]["title"], "Example fleet");
    assert_eq!(d["info"]["version"], "1.0.0");

    let channels = d["channels"].as_object().expect("channels");
    let ids: Vec<&str> = channels.keys().map(String::as_str).collect();
    assert_eq!(
        ids,
        [
            "billing.reply.invoice.create",
            "billing.request.invoice.create",
            "events.Order.Created"
        ]
    );
    assert_eq!(
        d["channels"]["events.Order.Created"]["address"],
        "events.Order.Created"
    );

    let ops = d["operations"].as_object().expect("operations");
    let on = |channel: &str| -> Vec<(String, String)> {
        ops.iter()
            .filter(|(_, op)| op["channel"]["$ref"] == format!("#/channels/{channel}"))
            .map(|(id, op)| (id.clone(), op["action"].as_str().unwrap_or("").to_owned()))
            .collect()
    };
    assert_eq!(
        on("events.Order.Created"),
        [
            (
                "notifications.receive.events.Order.Created".to_owned(),
                "receive".to_owned()
            ),
            (
                "orders.send.events.Order.Created".to_owned(),
                "send".to_owned()
            ),
        ]
    );
    assert_eq!(
        on("billing.request.invoice.create"),
        [
            (
                "billing.receive.billing.request.invoice.create".to_owned(),
                "receive".to_owned()
            ),
            (
                "web-app.send.billing.request.invoice.create".to_owned(),
                "send".to_owned()
            ),
        ]
    );
    assert_eq!(
        ops["orders.send.events.Order.Created"]["tags"],
        json!([{"name": "orders"}])
    );
    // The caller's response endpoint names the reply message, so no generic one is added.
    assert_eq!(
        d["channels"]["billing.reply.invoice.create"]["messages"],
        json!({"InvoiceCreated": {"$ref": "#/components/messages/InvoiceCreated"}})
    );
    let messages = &d["components"]["messages"];
    assert_eq!(
        messages["OrderCreated"]["payload"]["required"],
        json!(["orderId"])
    );
    assert_eq!(messages["OrderCreated"]["title"], "OrderCreated");
    assert!(
        messages["CreateInvoice"]["payload"].get("type").is_none(),
        "open schema"
    );
}

#[test]
fn unexportable_input_is_a_typed_error() {
    let nameless = Topology::new(Some(Transport::Nats), "");
    assert!(matches!(
        asyncapi(&[nameless]),
        Err(Error::AsyncApiExport { .. })
    ));

    let mut t = Topology::new(Some(Transport::Nats), "svc");
    t.endpoints.push(Endpoint::new(
        EndpointDirection::from("sideways"),
        Pattern::EventStream,
        "events",
        ExchangeKind::Topic,
    ));
    match asyncapi(&[t]) {
        Err(Error::AsyncApiExport { subject, .. }) => {
            assert_eq!(subject, r#"service "svc", endpoint 0"#);
        }
        other => panic!("expected AsyncApiExport, got {other:?}"),
    }

    let kafka = Topology::new(Some(Transport::from("kafka")), "svc");
    assert!(matches!(
        asyncapi(&[kafka]),
        Err(Error::AsyncApiExport { .. })
    ));

    let bad_schema = AsyncApi::new()
        .schema("X", json!("not a schema"))
        .document(&[]);
    assert!(matches!(bad_schema, Err(Error::AsyncApiExport { .. })));
}
