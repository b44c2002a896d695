//! The README's first example is `examples/taste.rs`, word for word, and it prints its
//! event on a fresh server, and again on a second run against the same server.

#[allow(dead_code)] // `main` is the example's own entry point
#[path = "../../examples/taste.rs"]
mod taste;

use crate::support::{self, TestResult};

#[test]
fn the_readme_shows_the_example_as_it_is() -> TestResult {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))?;
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/taste.rs"))?;
    let section = readme
        .split("## A taste")
        .nth(1)
        .ok_or("README has no \"A taste\" section")?;
    let block = section
        .split("```rust\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .ok_or("no rust block under \"A taste\"")?;
    assert_eq!(
        block, example,
        "README's example differs from examples/taste.rs"
    );
    Ok(())
}

#[tokio::test]
async fn the_example_prints_its_event_every_run() -> TestResult {
    let server = support::server();
    for _ in 0..2 {
        assert_eq!(
            taste::run(&server.client_url()).await?,
            "order 1 from orders"
        );
    }
    Ok(())
}
