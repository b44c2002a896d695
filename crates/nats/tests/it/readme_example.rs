//! The README's examples are `examples/taste.rs` and `examples/service.rs`, word for word,
//! and the first prints its event on a fresh server, and again on a second run.

#[allow(dead_code)] // `main` is the example's own entry point
#[path = "../../examples/taste.rs"]
mod taste;

use crate::support::{self, TestResult};

/// The first Rust block under `heading` in the README.
fn readme_block(heading: &str) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))?;
    let section = readme
        .split(heading)
        .nth(1)
        .ok_or_else(|| format!("README has no {heading:?} section"))?;
    let block = section
        .split("```rust\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .ok_or_else(|| format!("no rust block under {heading:?}"))?;
    Ok(block.to_owned())
}

#[test]
fn the_readme_shows_the_examples_as_they_are() -> TestResult {
    for (heading, file) in [
        ("## A taste", "taste.rs"),
        ("## Use it in your service", "service.rs"),
    ] {
        let path = format!("{}/examples/{file}", env!("CARGO_MANIFEST_DIR"));
        let example = std::fs::read_to_string(path)?;
        assert_eq!(
            readme_block(heading)?,
            example,
            "README's {heading:?} differs from examples/{file}"
        );
    }
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
