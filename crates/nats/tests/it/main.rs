//! Integration tests of messaging-nats against a real nats-server.

mod axum_example;
mod failures;
mod lifecycle;
mod observability;
mod patterns;
mod support;
mod topology_fixture;
mod wire;
