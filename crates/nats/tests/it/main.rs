//! Integration tests of messaging-nats against a real nats-server.

mod axum_example;
mod consumer_runtime;
mod failures;
mod lifecycle;
mod observability;
mod patterns;
mod publishing;
mod support;
mod topology_fixture;
mod wire;
