//! Progress of long operations, on stderr: one line redrawn in place on a terminal, plain
//! lines with `--verbose` otherwise, nothing at all when stderr is piped without it. Stdout
//! (and so `--format json`) never sees it.

use std::cell::Cell;
use std::fmt::Display;
use std::io::{IsTerminal, Write};

/// Where progress goes, decided once per command.
#[derive(Debug)]
pub(crate) struct Progress {
    enabled: bool,
    terminal: bool,
    /// A line is drawn on the terminal that `done` must clear.
    drawn: Cell<bool>,
}

impl Progress {
    /// Progress on a terminal stderr, or anywhere with `verbose`.
    pub(crate) fn new(verbose: bool) -> Self {
        let terminal = std::io::stderr().is_terminal();
        Self {
            enabled: verbose || terminal,
            terminal,
            drawn: Cell::new(false),
        }
    }

    /// Reports the step now being done.
    pub(crate) fn step(&self, what: impl Display) {
        if !self.enabled {
            return;
        }
        let mut err = std::io::stderr().lock();
        // Progress is advisory: a closed stderr must not fail the command.
        let _ = if self.terminal {
            self.drawn.set(true);
            write!(err, "\r\x1b[2K{what}…").and_then(|()| err.flush())
        } else {
            writeln!(err, "messaging: {what}")
        };
    }

    /// Clears the terminal line, so what follows starts clean.
    pub(crate) fn done(&self) {
        if self.drawn.replace(false) {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K").and_then(|()| err.flush());
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.done();
    }
}
