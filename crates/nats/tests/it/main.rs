//! Integration tests of messaging-nats against a real nats-server.

mod axum_example;
mod consumer_runtime;
mod dead_letters;
mod dedup;
mod delivery_options;
mod failures;
mod lifecycle;
mod micro;
mod observability;
mod optional_broker;
mod patterns;
mod publishing;
mod readme_example;
mod support;
mod topology_fixture;
mod wire;
