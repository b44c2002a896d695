//! An axum service exposing `/metrics` and `/ready` beside its consumers (work in progress).

fn main() {}
