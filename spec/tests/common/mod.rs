//! Fixture access for the golden tests (shared with the other crates via the testkit).
#![allow(dead_code, unreachable_pub, unused_imports)]

pub use messaging_testkit::{load_fixture as load, testdata_dir};

/// Prints the per-file case count so CI logs show how much ran.
pub fn report(file: &str, cases: usize) {
    println!("fixture {file}: {cases} cases passed");
}
