//! Per-message cost of metrics recording and non-recording spans (work in progress).

fn main() {}
