//! The fault suite: real nats-servers killed and restarted under load. Every test tracks
//! each acknowledged event by its `ce-id` and asserts that none is missing from what the
//! handlers saw; it prints `acked / delivered / duplicates / lost` so the figures can be
//! read in CI output (`cargo test -p messaging-nats --test faults -- --nocapture`).

/// Prints a figures line where CI shows it: straight to stdout, past the test harness's
/// capture of `println!`, so passing tests show their figures too.
macro_rules! figures {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

#[path = "../it/support.rs"]
mod support;

/// The fault tests measure recovery times, so they run one at a time: a test holds this
/// for its whole run.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Waits for the other fault tests to finish.
async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    SERIAL.lock().await
}

mod cluster;
mod restarts;
mod slow;
