//! Shared helpers for the CLI tests: running the binary and locating the spec fixtures.
#![allow(dead_code, unreachable_pub)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What one run of `messaging` produced.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the built `messaging` binary with `args`, feeding `stdin` when given.
pub fn messaging(args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_messaging"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn messaging");
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait for messaging");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// True when running under CI, where anything skippable must not be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The repository root (this crate lives in `crates/cli`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The fixture directory: `$MESSAGING_SPEC_TESTDATA`, else `shared/spec/testdata` beside
/// the repository.
pub fn testdata_dir() -> PathBuf {
    match std::env::var("MESSAGING_SPEC_TESTDATA") {
        Ok(dir) => PathBuf::from(dir),
        Err(_) => repo_root().join("../shared/spec/testdata"),
    }
}

/// Reads and parses one fixture. `None` (after printing SKIPPED) when it is missing outside
/// CI; under `CI=true` a missing fixture fails the test.
pub fn load(name: &str) -> Option<serde_json::Value> {
    let path = testdata_dir().join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(serde_json::from_str(&text).expect("fixture is valid JSON")),
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

/// Prints the per-file case count so CI logs show how much ran.
pub fn report(file: &str, cases: usize) {
    println!("fixture {file}: {cases} cases passed");
}
