//! messaging-testkit (being written).
