//! The broker's state and its rules, with no async and no I/O: JetStream-like streams and
//! consumers (cursor, ack-pending set, redelivery), and Core-NATS-like request routing.
//! Every operation takes the current (tokio) time, so timing follows a paused clock.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use messaging_core::{PublishTarget, Settlement, StartAt};
use messaging_spec::{Headers, RoutingPattern};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;

/// nats-server's default duplicate window for `Nats-Msg-Id`.
pub(crate) const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// One message as the broker keeps it.
#[derive(Debug)]
pub(crate) struct StoredMessage {
    /// Unique across the broker, in publish order (orders redeliveries).
    pub(crate) uid: u64,
    /// Its stream sequence, 0 for messages not stored in a stream.
    pub(crate) sequence: u64,
    pub(crate) subject: String,
    pub(crate) routing_key: String,
    pub(crate) headers: Headers,
    pub(crate) body: Bytes,
}

/// What a publish recorded, for [`crate::Broker::published`].
#[derive(Debug)]
pub(crate) struct Published {
    pub(crate) publisher: String,
    pub(crate) target: PublishTarget,
    pub(crate) msg: Arc<StoredMessage>,
    pub(crate) duplicate: bool,
    pub(crate) at: Instant,
}

/// The part of a consumer's configuration an instance sets when it starts.
#[derive(Debug, Clone)]
pub(crate) struct ConsumerConfig {
    pub(crate) filters: Vec<RoutingPattern>,
    pub(crate) max_deliver: Option<i64>,
    pub(crate) ack_wait: Duration,
    pub(crate) start_at: StartAt,
}

#[derive(Debug, Clone, Copy)]
enum PendingState {
    /// Delivered under `lease`; redelivered once `deadline` passes without an ack.
    InFlight { lease: u64, deadline: Instant },
    /// Nak'ed: redelivered from `until`.
    Waiting { until: Instant },
}

#[derive(Debug)]
struct Pending {
    msg: Arc<StoredMessage>,
    delivered: i64,
    state: PendingState,
}

/// Counters of one consumer.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counters {
    pub(crate) delivered: u64,
    pub(crate) redelivered: u64,
    pub(crate) acked: u64,
    pub(crate) naked: u64,
    pub(crate) termed: u64,
    pub(crate) exhausted: u64,
    pub(crate) progress: u64,
}

/// A JetStream-like consumer: a cursor on its stream, the messages delivered but not yet
/// acked, and messages queued straight to it (queue publishes).
#[derive(Debug)]
pub(crate) struct Consumer {
    pub(crate) durable: bool,
    pub(crate) config: ConsumerConfig,
    /// The stream sequence of the next message to look at.
    pub(crate) next_seq: u64,
    /// Stored messages from `next_seq` on that match the filters (kept, not counted).
    unread: u64,
    direct: VecDeque<Arc<StoredMessage>>,
    pending: BTreeMap<u64, Pending>,
    pub(crate) counters: Counters,
    pub(crate) notify: Arc<Notify>,
    pub(crate) instances: usize,
}

impl Consumer {
    fn matches(&self, key: &str) -> bool {
        self.config.filters.iter().any(|f| f.matches(key))
    }

    /// Counts the stored messages from the cursor on that match the filters.
    fn count_unread(&self, log: &[Arc<StoredMessage>]) -> u64 {
        let from = usize::try_from(self.next_seq.saturating_sub(1)).unwrap_or(usize::MAX);
        let n = log
            .get(from..)
            .unwrap_or_default()
            .iter()
            .filter(|m| self.matches(&m.routing_key))
            .count();
        u64::try_from(n).unwrap_or(u64::MAX)
    }

    /// Messages not delivered yet: after the cursor and matching, plus queued ones.
    pub(crate) fn num_pending(&self) -> u64 {
        self.unread + u64::try_from(self.direct.len()).unwrap_or(u64::MAX)
    }

    /// Delivered and not settled: in flight, or waiting for a redelivery.
    pub(crate) fn num_ack_pending(&self) -> u64 {
        u64::try_from(self.pending.len()).unwrap_or(u64::MAX)
    }
}

/// A stream: every message it was given, by sequence, and its consumers.
#[derive(Debug, Default)]
pub(crate) struct Stream {
    pub(crate) log: Vec<Arc<StoredMessage>>,
    dedup: HashMap<String, u64>,
    dedup_order: VecDeque<(Instant, String, u64)>,
    pub(crate) consumers: BTreeMap<String, Consumer>,
}

/// A request on its way to one instance.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub(crate) subject: String,
    pub(crate) key: String,
    pub(crate) headers: Headers,
    pub(crate) body: Bytes,
    pub(crate) reply: oneshot::Sender<Reply>,
}

/// A reply to a request.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) headers: Headers,
    pub(crate) body: Bytes,
}

/// One request subscription of one instance (a queue-group member).
#[derive(Debug)]
struct Responder {
    id: u64,
    pattern: RoutingPattern,
    tx: mpsc::UnboundedSender<Incoming>,
}

/// A message handed to an instance.
#[derive(Debug)]
pub(crate) struct Delivery {
    pub(crate) msg: Arc<StoredMessage>,
    pub(crate) delivered: i64,
    pub(crate) lease: u64,
}

/// The result of asking a consumer for its next message.
#[derive(Debug)]
pub(crate) enum Fetch {
    Message(Delivery),
    /// Nothing now; something may become due at `wake` (a nak delay or an AckWait).
    /// `changed`: messages were given up on the way (their last delivery expired).
    Wait {
        wake: Option<Instant>,
        changed: bool,
    },
    /// The consumer (or its stream) no longer exists.
    Gone,
}

/// What a settlement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settled {
    Done,
    /// A retry was refused: the message had its last delivery.
    Exhausted,
    /// The delivery was no longer current (redelivered meanwhile, or consumer gone).
    Stale,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) streams: BTreeMap<String, Stream>,
    services: BTreeMap<String, Vec<Responder>>,
    round_robin: BTreeMap<String, usize>,
    pub(crate) published: Vec<Published>,
    next_uid: u64,
    next_lease: u64,
    next_ephemeral: u64,
    next_responder: u64,
    /// `deduplicate_shared` filters by (service, consumer): the broker is what every
    /// instance of a service shares, as the key-value bucket is on NATS.
    shared_filters: BTreeMap<(String, String), std::sync::Arc<messaging_core::DedupFilter>>,
}

fn bump(counter: &mut u64) -> u64 {
    *counter += 1;
    *counter
}

/// True when delivery number `delivered` was the last `max_deliver` allows.
fn exhausted(delivered: i64, max_deliver: Option<i64>) -> bool {
    messaging_core::exhausted(delivered, max_deliver)
}

impl State {
    /// The shared duplicate filter of `service`'s `consumer`, created with `window` by
    /// the first instance that asks.
    pub(crate) fn shared_filter(
        &mut self,
        service: &str,
        consumer: &str,
        window: std::time::Duration,
    ) -> std::sync::Arc<messaging_core::DedupFilter> {
        std::sync::Arc::clone(
            self.shared_filters
                .entry((service.to_owned(), consumer.to_owned()))
                .or_insert_with(|| std::sync::Arc::new(messaging_core::DedupFilter::new(window))),
        )
    }

    pub(crate) fn ensure_stream(&mut self, name: &str) {
        if !self.streams.contains_key(name) {
            self.streams.insert(name.to_owned(), Stream::default());
        }
    }

    fn new_message(
        &mut self,
        sequence: u64,
        subject: String,
        routing_key: String,
        headers: Headers,
        body: Bytes,
    ) -> Arc<StoredMessage> {
        Arc::new(StoredMessage {
            uid: bump(&mut self.next_uid),
            sequence,
            subject,
            routing_key,
            headers,
            body,
        })
    }

    /// Creates or updates a consumer. A durable keeps its position; its start cannot
    /// change. Transient consumers get a fresh name. Returns the name and its wake-up.
    pub(crate) fn attach(
        &mut self,
        stream: &str,
        durable: Option<&str>,
        ephemeral_prefix: &str,
        config: ConsumerConfig,
    ) -> Result<(String, Arc<Notify>), String> {
        let name = match durable {
            Some(d) => d.to_owned(),
            None => format!("{ephemeral_prefix}-{}", bump(&mut self.next_ephemeral)),
        };
        let Some(s) = self.streams.get_mut(stream) else {
            return Err(format!("stream {stream} not found"));
        };
        if let Some(existing) = s.consumers.get_mut(&name) {
            if existing.config.start_at != config.start_at {
                return Err(format!(
                    "deliver policy can not be updated (existing {:?}, requested {:?})",
                    existing.config.start_at, config.start_at
                ));
            }
            existing.config = config;
            existing.unread = existing.count_unread(&s.log);
            existing.instances += 1;
            // Filters may have changed: waiting instances look again.
            existing.notify.notify_waiters();
            return Ok((name, Arc::clone(&existing.notify)));
        }
        let next_seq = start_sequence(&s.log, &config);
        let notify = Arc::new(Notify::new());
        let mut consumer = Consumer {
            durable: durable.is_some(),
            config,
            next_seq,
            unread: 0,
            direct: VecDeque::new(),
            pending: BTreeMap::new(),
            counters: Counters::default(),
            notify: Arc::clone(&notify),
            instances: 1,
        };
        consumer.unread = consumer.count_unread(&s.log);
        s.consumers.insert(name.clone(), consumer);
        Ok((name, notify))
    }

    /// An instance stops using a consumer; a transient consumer is deleted with it.
    pub(crate) fn detach(&mut self, stream: &str, name: &str) {
        let Some(s) = self.streams.get_mut(stream) else {
            return;
        };
        let Some(c) = s.consumers.get_mut(name) else {
            return;
        };
        c.instances = c.instances.saturating_sub(1);
        if !c.durable {
            c.notify.notify_waiters();
            s.consumers.remove(name);
        }
    }

    /// Appends to a stream unless `msg_id` was stored within the duplicate window.
    /// Returns the message and whether it was a duplicate, or `None` without the stream.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn publish_stream(
        &mut self,
        stream: &str,
        subject: String,
        routing_key: String,
        headers: Headers,
        body: Bytes,
        msg_id: Option<&str>,
        now: Instant,
    ) -> Option<(Arc<StoredMessage>, bool)> {
        let s = self.streams.get_mut(stream)?;
        while let Some((at, _, _)) = s.dedup_order.front() {
            if now.duration_since(*at) < DUPLICATE_WINDOW {
                break;
            }
            if let Some((_, id, seq)) = s.dedup_order.pop_front()
                && s.dedup.get(&id) == Some(&seq)
            {
                s.dedup.remove(&id);
            }
        }
        let next = u64::try_from(s.log.len()).unwrap_or(u64::MAX) + 1;
        let original = msg_id.and_then(|id| s.dedup.get(id).copied());
        if let (Some(id), None) = (msg_id, original) {
            s.dedup.insert(id.to_owned(), next);
            s.dedup_order.push_back((now, id.to_owned(), next));
        }
        // A duplicate is recorded as published (with the original's sequence) but not
        // stored again.
        let sequence = original.unwrap_or(next);
        let fresh = self.new_message(sequence, subject, routing_key, headers, body);
        if original.is_some() {
            return Some((fresh, true));
        }
        let s = self.streams.get_mut(stream)?;
        s.log.push(Arc::clone(&fresh));
        for c in s.consumers.values_mut() {
            if c.matches(&fresh.routing_key) {
                c.unread += 1;
                c.notify.notify_waiters();
            }
        }
        Some((fresh, false))
    }

    /// Queues a message straight to a durable consumer (sender-selected distribution).
    /// Returns the stream of the consumer that got it, or `None` when there is none.
    pub(crate) fn publish_queue(
        &mut self,
        stream: &str,
        consumer: &str,
        subject: String,
        routing_key: String,
        headers: Headers,
        body: Bytes,
    ) -> (Arc<StoredMessage>, bool) {
        let msg = self.new_message(0, subject, routing_key, headers, body);
        let target = self
            .streams
            .get_mut(stream)
            .and_then(|s| s.consumers.get_mut(consumer))
            .filter(|c| c.durable);
        match target {
            Some(c) => {
                c.direct.push_back(Arc::clone(&msg));
                c.notify.notify_waiters();
                (msg, true)
            }
            None => (msg, false),
        }
    }

    /// A message that is not stored anywhere (a request), for the publish record.
    pub(crate) fn unstored(
        &mut self,
        subject: String,
        routing_key: String,
        headers: Headers,
        body: Bytes,
    ) -> Arc<StoredMessage> {
        self.new_message(0, subject, routing_key, headers, body)
    }

    /// The consumer's next message: a due redelivery first (lowest first), then queued
    /// messages, then the next matching message of the stream.
    pub(crate) fn fetch(&mut self, stream: &str, name: &str, now: Instant) -> Fetch {
        let lease = bump(&mut self.next_lease);
        let Some(s) = self.streams.get_mut(stream) else {
            return Fetch::Gone;
        };
        let Some(c) = s.consumers.get_mut(name) else {
            return Fetch::Gone;
        };
        let max_deliver = c.config.max_deliver;
        let ack_wait = c.config.ack_wait;
        let mut wake: Option<Instant> = None;
        let mut given_up = Vec::new();
        let mut due = None;
        for (uid, p) in &c.pending {
            let (at, in_flight) = match p.state {
                PendingState::InFlight { deadline, .. } => (deadline, true),
                PendingState::Waiting { until } => (until, false),
            };
            if at > now {
                wake = Some(wake.map_or(at, |w| w.min(at)));
                continue;
            }
            // AckWait passed on the last delivery allowed: the server stops there.
            if in_flight && exhausted(p.delivered, max_deliver) {
                given_up.push(*uid);
                continue;
            }
            due = Some(*uid);
            break;
        }
        let changed = !given_up.is_empty();
        for uid in given_up {
            c.pending.remove(&uid);
            c.counters.exhausted += 1;
        }
        let deadline = now + ack_wait;
        if let Some(uid) = due
            && let Some(p) = c.pending.get_mut(&uid)
        {
            p.delivered += 1;
            p.state = PendingState::InFlight { lease, deadline };
            c.counters.delivered += 1;
            c.counters.redelivered += 1;
            return Fetch::Message(Delivery {
                msg: Arc::clone(&p.msg),
                delivered: p.delivered,
                lease,
            });
        }
        // Skip what the filters do not match; the cursor rests on the next candidate.
        let mut candidate = None;
        while let Some(m) = usize::try_from(c.next_seq - 1)
            .ok()
            .and_then(|i| s.log.get(i))
        {
            if c.matches(&m.routing_key) {
                candidate = Some(m);
                break;
            }
            c.next_seq += 1;
        }
        // Queued and stored messages in the order they were published.
        let next = match (c.direct.front(), candidate) {
            (Some(q), Some(m)) if m.uid < q.uid => None,
            (Some(_), _) => c.direct.pop_front(),
            (None, _) => None,
        }
        .or_else(|| {
            let m = candidate?;
            c.next_seq += 1;
            c.unread = c.unread.saturating_sub(1);
            Some(Arc::clone(m))
        });
        let Some(msg) = next else {
            return Fetch::Wait { wake, changed };
        };
        c.pending.insert(
            msg.uid,
            Pending {
                msg: Arc::clone(&msg),
                delivered: 1,
                state: PendingState::InFlight { lease, deadline },
            },
        );
        c.counters.delivered += 1;
        Fetch::Message(Delivery {
            msg,
            delivered: 1,
            lease,
        })
    }

    fn in_flight(
        &mut self,
        stream: &str,
        name: &str,
        uid: u64,
        lease: u64,
    ) -> Option<&mut Consumer> {
        let c = self.streams.get_mut(stream)?.consumers.get_mut(name)?;
        match c.pending.get(&uid)?.state {
            PendingState::InFlight { lease: l, .. } if l == lease => Some(c),
            _ => None,
        }
    }

    /// Settles a delivery: ack, nak (redelivered after the delay, unless it was the last
    /// delivery allowed) or term.
    pub(crate) fn settle(
        &mut self,
        stream: &str,
        name: &str,
        uid: u64,
        lease: u64,
        settlement: Settlement,
        now: Instant,
    ) -> Settled {
        let Some(c) = self.in_flight(stream, name, uid, lease) else {
            return Settled::Stale;
        };
        match settlement {
            Settlement::Ack => {
                c.pending.remove(&uid);
                c.counters.acked += 1;
            }
            Settlement::Reject => {
                c.pending.remove(&uid);
                c.counters.termed += 1;
            }
            Settlement::Retry(delay) => {
                c.counters.naked += 1;
                let max_deliver = c.config.max_deliver;
                let Some(p) = c.pending.get_mut(&uid) else {
                    return Settled::Stale;
                };
                if exhausted(p.delivered, max_deliver) {
                    c.pending.remove(&uid);
                    c.counters.exhausted += 1;
                    return Settled::Exhausted;
                }
                p.state = PendingState::Waiting {
                    until: now + delay.unwrap_or_default(),
                };
                c.notify.notify_waiters();
            }
        }
        Settled::Done
    }

    /// An in-progress ack: the delivery's AckWait starts again.
    pub(crate) fn progress(
        &mut self,
        stream: &str,
        name: &str,
        uid: u64,
        lease: u64,
        now: Instant,
    ) {
        let Some(c) = self.in_flight(stream, name, uid, lease) else {
            return;
        };
        let deadline = now + c.config.ack_wait;
        c.counters.progress += 1;
        if let Some(p) = c.pending.get_mut(&uid) {
            p.state = PendingState::InFlight { lease, deadline };
        }
    }

    pub(crate) fn register_responder(
        &mut self,
        service: &str,
        pattern: RoutingPattern,
    ) -> (u64, mpsc::UnboundedReceiver<Incoming>) {
        let id = bump(&mut self.next_responder);
        let (tx, rx) = mpsc::unbounded_channel();
        self.services
            .entry(service.to_owned())
            .or_default()
            .push(Responder { id, pattern, tx });
        (id, rx)
    }

    /// Removes a request subscription: requests already handed to it are still answered.
    pub(crate) fn unregister_responder(&mut self, service: &str, id: u64) {
        if let Some(list) = self.services.get_mut(service) {
            list.retain(|r| r.id != id);
        }
    }

    pub(crate) fn responders(&self, service: &str) -> usize {
        self.services.get(service).map_or(0, Vec::len)
    }

    /// Hands a request to one instance of `target` that handles `key`, in turn (a queue
    /// group). `None`: no responders.
    pub(crate) fn route_request(&mut self, target: &str, incoming: Incoming) -> Option<()> {
        let list = self.services.get(target)?;
        let matching: Vec<&Responder> = list
            .iter()
            .filter(|r| r.pattern.matches(&incoming.key) && !r.tx.is_closed())
            .collect();
        if matching.is_empty() {
            return None;
        }
        let turn = self.round_robin.entry(target.to_owned()).or_default();
        let chosen = matching[*turn % matching.len()];
        *turn = turn.wrapping_add(1);
        chosen.tx.send(incoming).ok()
    }
}

/// Where a new consumer starts (JetStream's deliver policy).
fn start_sequence(log: &[Arc<StoredMessage>], config: &ConsumerConfig) -> u64 {
    let end = u64::try_from(log.len()).unwrap_or(u64::MAX) + 1;
    match config.start_at {
        StartAt::New => end,
        StartAt::Last => log
            .iter()
            .rev()
            .find(|m| config.filters.iter().any(|f| f.matches(&m.routing_key)))
            .map_or(end, |m| m.sequence),
        // All, and anything newer (rejected by the plan).
        _ => 1,
    }
}
