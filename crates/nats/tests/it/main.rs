//! Integration tests of messaging-nats against a real nats-server.

mod observability;
mod patterns;
mod support;
mod wire;
