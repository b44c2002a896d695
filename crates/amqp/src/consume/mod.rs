//! Consumers: one channel per queue with `basic.qos(prefetch)`, `basic.consume` with
//! manual acks, bounded concurrency (acks by delivery tag), and recovery: when the
//! connection is lost, the broker closes the channel or cancels the consumer (a deleted
//! queue), the loop re-declares and re-consumes by itself, on the new connection once
//! `link` has one.

mod dispatch;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{Channel, Consumer};
use tokio::sync::Semaphore;

use crate::connection::Shared;
use crate::declare::short;
use crate::error::{Error, Result};
use crate::health::QueueHealth;
use crate::plan::QueuePlan;

/// The longest wait between two attempts to re-consume a lost queue.
const MAX_RECOVERY_DELAY: Duration = Duration::from_millis(6_400);

/// Declares a queue's exchanges, the queue and its bindings on `channel`.
pub(crate) async fn declare(channel: &Channel, plan: &QueuePlan) -> Result<()> {
    for x in &plan.exchanges {
        x.declare(channel).await?;
    }
    plan.queue.declare(channel).await?;
    for b in &plan.bindings {
        b.declare(channel).await?;
    }
    Ok(())
}

/// Opens the queue's channel, sets its prefetch and starts consuming (manual acks,
/// server-named consumer tag).
pub(crate) async fn open(
    connection: &lapin::Connection,
    plan: &QueuePlan,
) -> Result<(Channel, Consumer)> {
    let q = &plan.queue.name;
    let channel = connection
        .create_channel()
        .await
        .map_err(|e| Error::channel(format!("open a channel for queue {q}"), e))?;
    channel
        .basic_qos(plan.prefetch, BasicQosOptions { global: false })
        .await
        .map_err(|e| Error::channel(format!("set prefetch {} on queue {q}", plan.prefetch), e))?;
    let consumer = channel
        .basic_consume(
            short("queue", q)?,
            ShortString::default(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| Error::channel(format!("start a consumer on queue {q}"), e))?;
    Ok((channel, consumer))
}

/// A consumed queue.
pub(crate) struct QueueRuntime {
    pub(crate) shared: Arc<Shared>,
    pub(crate) plan: Arc<QueuePlan>,
    pub(crate) health: QueueHealth,
    /// The consumer's channel (replaced when the loop re-consumes), closed by close().
    channel: std::sync::Mutex<Channel>,
    /// The in-process duplicate filter by `ce-id`, when the queue asked for one.
    pub(crate) dedup: Option<messaging_core::DedupFilter>,
}

impl QueueRuntime {
    pub(crate) fn new(
        shared: Arc<Shared>,
        plan: Arc<QueuePlan>,
        health: QueueHealth,
        channel: Channel,
    ) -> Self {
        let dedup = plan
            .options
            .get_deduplicate()
            .map(|d| messaging_core::DedupFilter::new(d.window));
        Self {
            shared,
            plan,
            health,
            channel: std::sync::Mutex::new(channel),
            dedup,
        }
    }

    /// The current consumer channel.
    pub(crate) fn channel(&self) -> Channel {
        match self.channel.lock() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn replace_channel(&self, channel: Channel) {
        match self.channel.lock() {
            Ok(mut c) => *c = channel,
            Err(poisoned) => *poisoned.into_inner() = channel,
        }
    }

    /// Consumes until shutdown, then cancels the consumer: deliveries already started
    /// finish and settle; prefetched ones go back to the queue when the channel closes.
    pub(crate) async fn run(self: Arc<Self>, mut consumer: Consumer) {
        let this = self;
        let mut channel = this.channel();
        let shutdown = this.shared.shutdown.clone();
        let concurrency = this.plan.options.effective_concurrency();
        let semaphore = Arc::new(Semaphore::new(concurrency));
        let inline = concurrency == 1;
        this.health.set(true);
        tracing::info!(queue = %this.plan.queue.name, prefetch = this.plan.prefetch, concurrency, "started consumer");
        loop {
            let next = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                n = consumer.next() => n,
            };
            match next {
                Some(Ok(delivery)) => {
                    if inline {
                        dispatch::handle(&this, delivery).await;
                        continue;
                    }
                    let permit = tokio::select! {
                        biased;
                        () = shutdown.cancelled() => break,
                        p = Arc::clone(&semaphore).acquire_owned() => p,
                    };
                    let Ok(permit) = permit else { break };
                    let rt = Arc::clone(&this);
                    this.shared.tracker.spawn(async move {
                        dispatch::handle(&rt, delivery).await;
                        drop(permit);
                    });
                }
                Some(Err(e)) => {
                    this.health.set(false);
                    tracing::warn!(queue = %this.plan.queue.name, error = %e, "consumer error; consuming again");
                    match this.recover().await {
                        Some((ch, c)) => {
                            this.replace_channel(ch.clone());
                            (channel, consumer) = (ch, c);
                        }
                        None => break,
                    }
                }
                None if shutdown.is_cancelled() => break,
                None => {
                    this.health.set(false);
                    tracing::warn!(queue = %this.plan.queue.name, "consumer cancelled by the broker; consuming again");
                    match this.recover().await {
                        Some((ch, c)) => {
                            this.replace_channel(ch.clone());
                            (channel, consumer) = (ch, c);
                        }
                        None => break,
                    }
                }
            }
        }
        this.health.set(false);
        if channel.status().connected() {
            // Bounded: a channel whose connection just died may never answer.
            let cancel = channel.basic_cancel(consumer.tag(), BasicCancelOptions::default());
            match tokio::time::timeout(this.shared.timing.publish_timeout, cancel).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::debug!(queue = %this.plan.queue.name, error = %e, "basic.cancel failed");
                }
                Err(_) => {
                    tracing::debug!(queue = %this.plan.queue.name, "basic.cancel got no answer");
                }
            }
        }
    }

    /// Re-declares and re-consumes on a new channel, with backoff, until it works or the
    /// connection closes. The queue may have been deleted: it is declared again with
    /// its bindings.
    async fn recover(&self) -> Option<(Channel, Consumer)> {
        let shutdown = &self.shared.shutdown;
        let mut delay = Duration::from_millis(100);
        loop {
            // A lost connection: wait for the new one (no backoff for that wait) rather
            // than fail against the old one.
            let connection = tokio::select! {
                () = shutdown.cancelled() => return None,
                c = self.shared.link.connected(MAX_RECOVERY_DELAY) => c,
            };
            let Some(connection) = connection else {
                continue;
            };
            let reopened = async {
                let setup = connection
                    .create_channel()
                    .await
                    .map_err(|e| Error::channel("open a setup channel", e))?;
                declare(&setup, &self.plan).await?;
                let _ = setup.close(200, "OK".into()).await;
                open(&connection, &self.plan).await
            }
            .await;
            match reopened {
                Ok(pair) => {
                    tracing::info!(queue = %self.plan.queue.name, "consuming again");
                    self.health.set(true);
                    return Some(pair);
                }
                Err(e) => {
                    tracing::warn!(queue = %self.plan.queue.name, error = %e, ?delay, "re-consuming failed; retrying");
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return None,
                () = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(MAX_RECOVERY_DELAY);
        }
    }
}
