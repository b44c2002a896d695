//! Bounded waits on signals: every scenario waits on channels, never on sleeps.

use std::time::Duration;

use tokio::sync::mpsc;

/// The longest any single wait in the suite may take.
pub const WAIT: Duration = Duration::from_secs(15);

/// What handlers report, received with a bound.
#[derive(Debug)]
pub struct Inbox<T> {
    rx: mpsc::UnboundedReceiver<T>,
    /// Hand clones of this to handlers.
    pub tx: mpsc::UnboundedSender<T>,
}

impl<T> Default for Inbox<T> {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self { rx, tx }
    }
}

impl<T: std::fmt::Debug> Inbox<T> {
    /// The next report, or a panic naming `what` after [`WAIT`].
    ///
    /// # Panics
    /// When nothing arrives in time (the scenario fails).
    pub async fn next(&mut self, what: &str) -> T {
        match tokio::time::timeout(WAIT, self.rx.recv()).await {
            Ok(Some(v)) => v,
            Ok(None) => panic!("{what}: every sender is gone"),
            Err(_) => panic!("{what}: nothing arrived within {WAIT:?}"),
        }
    }

    /// Everything reported so far, without waiting.
    pub fn drain(&mut self) -> Vec<T> {
        let mut out = Vec::new();
        while let Ok(v) = self.rx.try_recv() {
            out.push(v);
        }
        out
    }
}
