//! Locates the shared spec fixtures for the golden tests.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

/// The fixture directory: `$MESSAGING_SPEC_TESTDATA`, else `../shared/spec/testdata`
/// beside the repository.
pub fn testdata_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("MESSAGING_SPEC_TESTDATA") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/spec/testdata")
}

/// Reads and parses one fixture file. Returns `None` (after saying so) when the directory
/// is missing outside CI; under `CI=true` a missing fixture is a failure.
pub fn load(name: &str) -> Option<serde_json::Value> {
    let path = testdata_dir().join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => match serde_json::from_str(&text) {
            Ok(v) => Some(v),
            Err(e) => panic!("fixture {} is not valid JSON: {e}", path.display()),
        },
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("fixture {} is missing under CI=true: {e}", path.display());
            }
            eprintln!("SKIPPED: fixture {} not found ({e})", path.display());
            None
        }
    }
}

/// Prints the per-file case count so CI logs show how much ran.
pub fn report(file: &str, cases: usize) {
    println!("fixture {file}: {cases} cases passed");
}
