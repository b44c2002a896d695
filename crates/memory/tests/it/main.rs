//! Integration tests of messaging-memory: every emulated semantic, under tokio's paused
//! clock where timing matters.

mod dead_letters;
mod dedup;
mod delivery;
mod lifecycle;
mod publishing;
mod requests;
mod settle;
mod support;
mod topology;
