//! One test per spec pattern, against a real nats-server.
