//! Integration tests of messaging-nats against a real nats-server.

mod patterns;
mod support;
mod wire;
