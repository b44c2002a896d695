//! TCK adapter (being written).
fn main() {}
