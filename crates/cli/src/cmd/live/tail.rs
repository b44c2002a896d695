//! `messaging tail [PATTERN]`: live events from a transient consumer, which the server
//! deletes when the command ends; nothing durable is left behind.

use std::io::Write;
use std::time::Duration;

use messaging_nats::{Setup, StartAt};
use messaging_spec::{ConsumableEvent, HandlerError};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{Server, block_on};
use crate::output::{Format, Outcome};

/// What `tail` reads and how long.
#[derive(Debug, Clone)]
pub(crate) struct Tail {
    pub(crate) stream: String,
    pub(crate) pattern: String,
    pub(crate) from_start: bool,
    /// Stop after this many events (else on Ctrl-C).
    pub(crate) count: Option<usize>,
    /// Stop after this long without an event.
    pub(crate) idle: Option<Duration>,
}

fn line(ev: &ConsumableEvent<Value>, format: Format) -> String {
    let time = ev.metadata.timestamp_rfc3339();
    match format {
        Format::Json => json!({
            "routing_key": ev.delivery_info.key,
            "source": ev.metadata.source,
            "id": ev.metadata.id,
            "time": time,
            "body": ev.payload,
        })
        .to_string(),
        Format::Text => format!(
            "{time}  {:<24} {:<16} {}\n{}",
            ev.delivery_info.key,
            ev.metadata.source,
            ev.metadata.id,
            serde_json::to_string_pretty(&ev.payload).unwrap_or_default()
        ),
    }
}

/// Prints events as they arrive (to `out`), then a summary outcome.
pub(crate) fn run(server: &Server, tail: &Tail, format: Format) -> Outcome {
    block_on(async {
        let (tx, mut rx) = mpsc::channel::<ConsumableEvent<Value>>(256);
        let forward = move |ev: ConsumableEvent<Value>| {
            let tx = tx.clone();
            async move {
                // A closed channel means tail is ending: settle, do not retry.
                let _ = tx.send(ev).await;
                Ok::<(), HandlerError>(())
            }
        };
        let start = if tail.from_start {
            StartAt::All
        } else {
            StartAt::New
        };
        let conn = server
            .builder()
            .setup(
                Setup::transient_stream_consumer(&tail.stream, &tail.pattern, forward)
                    .start_at(start),
            )
            .start()
            .await?;
        let mut seen = 0usize;
        let mut stdout = std::io::stdout();
        loop {
            if tail.count.is_some_and(|n| seen >= n) {
                break;
            }
            let next = tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                ev = recv(&mut rx, tail.idle) => ev,
            };
            let Some(ev) = next else { break };
            seen += 1;
            // A closed stdout (a pipe into `head`) ends the command.
            if writeln!(stdout, "{}", line(&ev, format)).is_err() {
                break;
            }
        }
        conn.close().await?;
        Ok(Outcome::Valid {
            details: Some(format!("{seen} event(s) from {}", tail.stream)),
        })
    })
}

async fn recv<T>(rx: &mut mpsc::Receiver<T>, idle: Option<Duration>) -> Option<T> {
    match idle {
        Some(d) => tokio::time::timeout(d, rx.recv()).await.ok().flatten(),
        None => rx.recv().await,
    }
}
