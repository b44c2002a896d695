//! Shared helpers for the CLI tests: running the binary and locating the spec fixtures.
#![allow(dead_code, unreachable_pub)]

pub mod browser;

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

#[allow(unused_imports)] // each test binary uses a different subset
pub use messaging_testkit::{in_ci, load_fixture as load, testdata_dir};

/// The repository root (this crate lives in `crates/cli`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Prints the per-file case count so CI logs show how much ran.
pub fn report(file: &str, cases: usize) {
    println!("fixture {file}: {cases} cases passed");
}
