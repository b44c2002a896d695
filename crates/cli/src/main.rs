//! The `messaging` CLI (being written).
fn main() {}
