//! Bounded polling: every wait in the harness ends at a deadline.

use std::time::{Duration, Instant};

/// The outcome of one readiness probe.
#[derive(Debug)]
pub(crate) enum Probe<T> {
    /// The condition holds.
    Ready(T),
    /// Not yet; the text says why, for the timeout error.
    NotYet(String),
}

/// A point in time after which waiting stops.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    start: Instant,
    end: Instant,
}

impl Deadline {
    /// A deadline `timeout` from now.
    pub(crate) fn after(timeout: Duration) -> Self {
        let start = Instant::now();
        Self {
            start,
            end: start + timeout,
        }
    }

    /// How long has been spent waiting so far.
    pub(crate) fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// The time left, zero once passed.
    pub(crate) fn remaining(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }

    /// Calls `probe` until it is ready, fails, or the deadline passes.
    ///
    /// Returns `Ok(Err(reason))` on timeout, with the last `NotYet` reason.
    /// The pause between probes grows from 5 ms to 100 ms: fast when the
    /// server is quick, gentle on a loaded machine when it is not.
    pub(crate) fn poll<T, E>(
        &self,
        mut probe: impl FnMut() -> Result<Probe<T>, E>,
    ) -> Result<Result<T, String>, E> {
        let mut pause = Duration::from_millis(5);
        loop {
            let reason = match probe()? {
                Probe::Ready(value) => return Ok(Ok(value)),
                Probe::NotYet(reason) => reason,
            };
            let left = self.remaining();
            if left.is_zero() {
                return Ok(Err(reason));
            }
            std::thread::sleep(pause.min(left));
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Deadline, Probe};
    use std::time::Duration;

    #[test]
    fn poll_returns_when_ready() {
        let mut calls = 0;
        let got: Result<Result<u32, String>, ()> =
            Deadline::after(Duration::from_secs(5)).poll(|| {
                calls += 1;
                Ok(if calls == 3 {
                    Probe::Ready(7)
                } else {
                    Probe::NotYet(format!("call {calls}"))
                })
            });
        assert_eq!(got, Ok(Ok(7)));
        assert_eq!(calls, 3);
    }

    #[test]
    fn poll_times_out_with_last_reason() {
        let deadline = Deadline::after(Duration::from_millis(30));
        let got: Result<Result<(), String>, ()> =
            deadline.poll(|| Ok(Probe::NotYet("nope".to_owned())));
        assert_eq!(got, Ok(Err("nope".to_owned())));
        assert!(deadline.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn poll_stops_on_error() {
        let got: Result<Result<(), String>, &str> =
            Deadline::after(Duration::from_secs(5)).poll(|| Err("fatal"));
        assert_eq!(got, Err("fatal"));
    }
}
