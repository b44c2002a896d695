//! Integration tests of messaging-nats against a real nats-server.

mod axum_example;
mod observability;
mod patterns;
mod support;
mod wire;
