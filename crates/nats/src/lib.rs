//! messaging-nats (being written).
