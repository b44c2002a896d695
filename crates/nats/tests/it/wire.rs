//! The wire format, checked with a raw async-nats client.
