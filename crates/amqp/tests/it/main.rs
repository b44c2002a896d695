//! Integration tests of messaging-amqp against a real RabbitMQ broker (one per test
//! binary, shared; tests isolate themselves with unique names).

mod dedup;
mod failures;
mod lifecycle;
#[cfg(all(feature = "metrics", feature = "otel"))]
mod observability;
mod patterns;
mod requests;
mod support;
mod topology_fixture;
mod wire;
