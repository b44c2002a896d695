//! Messages fetched but not yet handed to a handler. They are ours until dispatched, so we
//! keep them alive (`+WPI`) while they wait: a slow handler never makes the server redeliver
//! a queued message behind our back.

use std::collections::VecDeque;
use std::sync::Mutex;
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
    /// Signalled when a message is taken (room for more).
    pub(crate) space: Notify,
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
        let msg = self.items.lock().ok()?.pop_front().map(|q| q.msg);
        if msg.is_some() {
            self.space.notify_one();
        }
        msg
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
