//! Messages fetched but not yet handed to a handler. They are ours until dispatched, so we
//! keep them alive (`+WPI`) while they wait: a slow handler never makes the server redeliver
//! a queued message behind our back.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_nats::Subject;
use async_nats::jetstream;
use tokio::sync::Notify;

struct Queued {
    msg: jetstream::Message,
    /// When the server last heard about this delivery (fetch or progress ack).
    touched: Instant,
}

#[derive(Default)]
pub(crate) struct Backlog {
    items: Mutex<VecDeque<Queued>>,
    /// Signalled when a message is pushed.
    pub(crate) ready: Notify,
    /// Signalled when a take leaves fewer than `wake_below` messages (room for a pull).
    pub(crate) space: Notify,
    /// Set by the fetch loop before it waits; 0: no one waits. A signal per take would wake
    /// the fetch loop for every message.
    wake_below: AtomicUsize,
}

impl Backlog {
    pub(crate) fn len(&self) -> usize {
        self.items.lock().map_or(0, |q| q.len())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn push(&self, msg: jetstream::Message) {
        if let Ok(mut q) = self.items.lock() {
            q.push_back(Queued {
                msg,
                touched: Instant::now(),
            });
        }
        self.ready.notify_one();
    }

    pub(crate) fn pop(&self) -> Option<jetstream::Message> {
        let (msg, left) = {
            let mut q = self.items.lock().ok()?;
            let msg = q.pop_front().map(|q| q.msg);
            (msg, q.len())
        };
        if msg.is_some() && left < self.wake_below.load(Ordering::Acquire) {
            self.wake_below.store(0, Ordering::Release);
            self.space.notify_one();
        }
        msg
    }

    /// Asks for a `space` signal once fewer than `n` messages are left (0: none). True when
    /// that is already so, and the caller need not wait.
    pub(crate) fn wake_below(&self, n: usize) -> bool {
        self.wake_below.store(n, Ordering::Release);
        n > 0 && self.len() < n
    }

    /// Reply subjects of messages untouched for `older_than`, marking them touched. The
    /// caller sends `+WPI` to each (outside the lock).
    pub(crate) fn stale(&self, older_than: Duration) -> Vec<Subject> {
        let now = Instant::now();
        let Ok(mut q) = self.items.lock() else {
            return Vec::new();
        };
        q.iter_mut()
            .filter(|item| now.duration_since(item.touched) >= older_than)
            .filter_map(|item| {
                item.touched = now;
                item.msg.reply.clone()
            })
            .collect()
    }

    /// Takes everything (used on shutdown, to hand the messages back).
    pub(crate) fn drain(&self) -> Vec<jetstream::Message> {
        self.items
            .lock()
            .map(|mut q| q.drain(..).map(|item| item.msg).collect())
            .unwrap_or_default()
    }
}
