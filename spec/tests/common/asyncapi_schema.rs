//! The official AsyncAPI 3.0.0 JSON Schema (npm `@asyncapi/specs`, installed outside git by
//! `scripts/install-deps.sh`) and a validator built from it.
//!
//! Shared by the spec and CLI tests through `#[path]`, since it lives in neither crate's
//! API; it sits under `tests/common/` so cargo does not build it as a test of its own.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::sync::OnceLock;

/// Environment variable naming the schema file (`…/schemas/3.0.0.json`).
pub const SCHEMA_ENV: &str = "MESSAGING_ASYNCAPI_SCHEMA";

/// The `@asyncapi/specs` version `scripts/install-deps.sh` installs.
pub const SPECS_VERSION: &str = "6.11.1";

/// `$MESSAGING_ASYNCAPI_SCHEMA`, else where `install-deps.sh` puts it:
/// `${XDG_CACHE_HOME:-$HOME/.cache}/messaging/asyncapi-specs/<version>/…/3.0.0.json`.
pub fn schema_path() -> PathBuf {
    if let Some(path) = std::env::var_os(SCHEMA_ENV) {
        return PathBuf::from(path);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache
        .join("messaging/asyncapi-specs")
        .join(SPECS_VERSION)
        .join("node_modules/@asyncapi/specs/schemas/3.0.0.json")
}

/// The validator, compiled once per test binary (it takes seconds in debug builds).
/// Panics, never skips, when the schema is missing: a test that cannot check the documents
/// must fail.
pub fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(compile)
}

fn compile() -> jsonschema::Validator {
    let path = schema_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "AsyncAPI 3.0.0 JSON Schema not found at {} ({e}).\n\
             Run `bash scripts/install-deps.sh` (it installs @asyncapi/specs@{SPECS_VERSION} \
             with npm), or set {SCHEMA_ENV} to the file.",
            path.display()
        )
    });
    let schema: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    // Draft 7, as the schema's `$schema` says; every `$ref` resolves inside the bundle.
    jsonschema::draft7::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{} does not compile as a JSON Schema: {e}", path.display()))
}

/// Panics with every schema violation of `doc`, each with its location.
pub fn assert_valid(validator: &jsonschema::Validator, doc: &serde_json::Value, label: &str) {
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("  at {}: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{label}: not a valid AsyncAPI 3.0.0 document:\n{}\n{}",
        errors.join("\n"),
        serde_json::to_string_pretty(doc).unwrap_or_default()
    );
}
