//! The spec's canonical fixtures (`shared/spec/testdata` beside the repository), shared by
//! every crate's golden tests so they agree on where fixtures live and when a missing one
//! is a failure.

use std::path::PathBuf;

/// Environment variable that overrides the fixture directory.
pub const TESTDATA_ENV: &str = "MESSAGING_SPEC_TESTDATA";

/// True under `CI=true`, where nothing skippable may be skipped.
#[must_use]
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// `$MESSAGING_SPEC_TESTDATA`, else `../shared/spec/testdata` beside the repository.
#[must_use]
pub fn testdata_dir() -> PathBuf {
    match std::env::var(TESTDATA_ENV) {
        Ok(dir) => PathBuf::from(dir),
        Err(_) => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/spec/testdata"),
    }
}

/// Reads and parses one fixture file. Returns `None` (after printing `SKIPPED`) when it is
/// missing outside CI.
///
/// # Panics
/// Under `CI=true` when the file is missing, and whenever it is not valid JSON: a test
/// helper must fail loudly.
#[must_use]
pub fn load_fixture(name: &str) -> Option<serde_json::Value> {
    let path = testdata_dir().join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => match serde_json::from_str(&text) {
            Ok(v) => Some(v),
            Err(e) => panic!("fixture {} is not valid JSON: {e}", path.display()),
        },
        Err(e) => {
            assert!(
                !in_ci(),
                "fixture {} is missing under CI=true: {e}",
                path.display()
            );
            eprintln!("SKIPPED: fixture {} not found ({e})", path.display());
            None
        }
    }
}
