//! Mermaid rendering against the Go reference's test vectors (HEAD: one style line per node).

use messaging_spec::{
    Endpoint, EndpointDirection, ExchangeKind, Pattern, Topology, Transport, mermaid,
};

fn publish(pattern: Pattern, exchange: &str, kind: ExchangeKind, rk: &str) -> Endpoint {
    Endpoint::new(EndpointDirection::Publish, pattern, exchange, kind).with_routing_key(rk)
}

fn consume(
    pattern: Pattern,
    exchange: &str,
    kind: ExchangeKind,
    queue: &str,
    rk: &str,
) -> Endpoint {
    Endpoint::new(EndpointDirection::Consume, pattern, exchange, kind)
        .with_queue_name(queue)
        .with_routing_key(rk)
}

fn event_publisher(transport: Transport, svc: &str, exchange: &str, rk: &str) -> Topology {
    Topology::new(Some(transport), svc).with_endpoint(publish(
        Pattern::EventStream,
        exchange,
        ExchangeKind::Topic,
        rk,
    ))
}

fn lines(ls: &[&str]) -> String {
    ls.iter().map(|l| format!("{l}\n")).collect()
}

#[test]
fn single_publisher() {
    let t = Topology::new(None, "orders").with_endpoint(publish(
        Pattern::EventStream,
        "events.topic.exchange",
        ExchangeKind::Topic,
        "Order.Created",
    ));
    assert_eq!(
        mermaid(&[t]),
        lines(&[
            "graph LR",
            r#"    orders["orders"]"#,
            r#"    events_topic_exchange{{"events.topic.exchange"}}"#,
            r#"    orders -->|"Order.Created"| events_topic_exchange"#,
            "    style orders fill:#f9f,stroke:#333",
            "    style events_topic_exchange fill:#bbf,stroke:#333",
        ])
    );
}

#[test]
fn request_response_uses_dotted_response_edges() {
    let email = Topology::new(None, "email-svc")
        .with_endpoint(consume(
            Pattern::ServiceRequest,
            "email-svc.direct.exchange.request",
            ExchangeKind::Direct,
            "email-svc.direct.exchange.request.queue",
            "email.send",
        ))
        .with_endpoint(Endpoint::new(
            EndpointDirection::Publish,
            Pattern::ServiceResponse,
            "email-svc.headers.exchange.response",
            ExchangeKind::Headers,
        ));
    let web = Topology::new(None, "web-app")
        .with_endpoint(publish(
            Pattern::ServiceRequest,
            "email-svc.direct.exchange.request",
            ExchangeKind::Direct,
            "email.send",
        ))
        .with_endpoint(
            Endpoint::new(
                EndpointDirection::Consume,
                Pattern::ServiceResponse,
                "email-svc.headers.exchange.response",
                ExchangeKind::Headers,
            )
            .with_queue_name("email-svc.headers.exchange.response.queue.web-app"),
        );
    assert_eq!(
        mermaid(&[email, web]),
        lines(&[
            "graph LR",
            r#"    email_svc["email-svc"]"#,
            r#"    web_app["web-app"]"#,
            r#"    email_svc_direct_exchange_request["email-svc.direct.exchange.request"]"#,
            r#"    email_svc_headers_exchange_response(("email-svc.headers.exchange.response"))"#,
            "    email_svc -.-> email_svc_headers_exchange_response",
            r#"    email_svc_direct_exchange_request -->|"email.send"| email_svc"#,
            "    email_svc_headers_exchange_response -.-> web_app",
            r#"    web_app -->|"email.send"| email_svc_direct_exchange_request"#,
            "    style email_svc fill:#f9f,stroke:#333",
            "    style web_app fill:#f9f,stroke:#333",
            "    style email_svc_direct_exchange_request fill:#bbf,stroke:#333",
            "    style email_svc_headers_exchange_response fill:#bbf,stroke:#333",
        ])
    );
}

#[test]
fn multi_transport_uses_subgraphs_and_prefixed_ids() {
    let amqp = event_publisher(
        Transport::Amqp,
        "orders",
        "events.topic.exchange",
        "Order.Created",
    );
    let nats = event_publisher(Transport::Nats, "orders", "events", "Order.Created");
    assert_eq!(
        mermaid(&[amqp, nats]),
        lines(&[
            "graph LR",
            r#"    orders["orders"]"#,
            "    subgraph AMQP",
            r#"        amqp_events_topic_exchange{{"events.topic.exchange"}}"#,
            "    end",
            "    subgraph NATS",
            r#"        nats_events{{"events"}}"#,
            "    end",
            r#"    orders -->|"Order.Created"| nats_events"#,
            r#"    orders -->|"Order.Created"| amqp_events_topic_exchange"#,
            "    style orders fill:#f9f,stroke:#333",
            "    style nats_events fill:#bbf,stroke:#333",
            "    style amqp_events_topic_exchange fill:#bbf,stroke:#333",
        ])
    );
}

#[test]
fn empty_input_is_just_the_header() {
    assert_eq!(mermaid(&[]), "graph LR\n");
    assert_eq!(mermaid(&[Topology::default()]), "graph LR\n");
}

#[test]
fn skips_nameless_services_and_exchanges() {
    let nameless = Topology::new(None, "").with_endpoint(publish(
        Pattern::EventStream,
        "ghost.topic.exchange",
        ExchangeKind::Topic,
        "Ghost",
    ));
    let svc = Topology::new(None, "audit")
        .with_endpoint(consume(
            Pattern::EventStream,
            "",
            ExchangeKind::Topic,
            "q",
            "X",
        ))
        .with_endpoint(consume(
            Pattern::EventStream,
            "events.topic.exchange",
            ExchangeKind::Topic,
            "events.topic.exchange.queue.audit",
            "Order.#",
        ));
    assert_eq!(
        mermaid(&[nameless, svc]),
        lines(&[
            "graph LR",
            r#"    audit["audit"]"#,
            r#"    events_topic_exchange{{"events.topic.exchange"}}"#,
            r#"    events_topic_exchange -->|"Order.#"| audit"#,
            "    style audit fill:#f9f,stroke:#333",
            "    style events_topic_exchange fill:#bbf,stroke:#333",
        ])
    );
}

#[test]
fn unknown_direction_keeps_the_node_without_an_edge_and_other_kinds_are_rectangles() {
    let t = Topology::new(Some(Transport::Amqp), "task-sender")
        .with_endpoint(
            Endpoint::new(
                EndpointDirection::Publish,
                Pattern::QueuePublish,
                "(default)",
                ExchangeKind::none(),
            )
            .with_queue_name("task-queue"),
        )
        .with_endpoint(Endpoint::new(
            EndpointDirection::from("sideways"),
            Pattern::EventStream,
            "events.topic.exchange",
            ExchangeKind::Topic,
        ));
    assert_eq!(
        mermaid(&[t]),
        lines(&[
            "graph LR",
            r#"    task_sender["task-sender"]"#,
            r#"    _default_["(default)"]"#,
            r#"    events_topic_exchange{{"events.topic.exchange"}}"#,
            "    task_sender --> _default_",
            "    style task_sender fill:#f9f,stroke:#333",
            "    style _default_ fill:#bbf,stroke:#333",
            "    style events_topic_exchange fill:#bbf,stroke:#333",
        ])
    );
}

#[test]
fn nats_request_exchange_collides_with_its_service_node_in_normal_mode() {
    let email = Topology::new(Some(Transport::Nats), "email-svc").with_endpoint(consume(
        Pattern::ServiceRequest,
        "email-svc",
        ExchangeKind::Direct,
        "email-svc",
        "email.send",
    ));
    assert_eq!(
        mermaid(&[email]),
        lines(&[
            "graph LR",
            r#"    email_svc["email-svc"]"#,
            r#"    email_svc["email-svc"]"#,
            r#"    email_svc -->|"email.send"| email_svc"#,
            "    style email_svc fill:#f9f,stroke:#333",
            "    style email_svc fill:#bbf,stroke:#333",
        ])
    );
}

#[test]
fn exchange_without_transport_in_subgraph_mode_is_outside_every_subgraph() {
    let a = event_publisher(Transport::Amqp, "a", "events.topic.exchange", "A");
    let n = event_publisher(Transport::Nats, "n", "events", "A");
    let bare = Topology::new(None, "x").with_endpoint(publish(
        Pattern::ServiceRequest,
        "svc",
        ExchangeKind::Direct,
        "",
    ));
    assert_eq!(
        mermaid(&[a, n, bare]),
        lines(&[
            "graph LR",
            r#"    a["a"]"#,
            r#"    n["n"]"#,
            r#"    x["x"]"#,
            "    subgraph AMQP",
            r#"        amqp_events_topic_exchange{{"events.topic.exchange"}}"#,
            "    end",
            "    subgraph NATS",
            r#"        nats_events{{"events"}}"#,
            "    end",
            r#"    a -->|"A"| amqp_events_topic_exchange"#,
            r#"    n -->|"A"| nats_events"#,
            "    x --> _svc",
            "    style a fill:#f9f,stroke:#333",
            "    style n fill:#f9f,stroke:#333",
            "    style x fill:#f9f,stroke:#333",
            "    style nats_events fill:#bbf,stroke:#333",
            "    style amqp_events_topic_exchange fill:#bbf,stroke:#333",
            "    style _svc fill:#bbf,stroke:#333",
        ])
    );
}
