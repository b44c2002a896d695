//! `messaging dlq list|show|replay`: the dead-letter stream consumers write to with
//! `dead_letter(..)`.

use messaging_nats::DeadLetterMessage;
use serde_json::{Value, json};

use super::{Server, block_on};
use crate::output::Outcome;

fn summary(l: &DeadLetterMessage) -> Value {
    json!({
        "sequence": l.sequence,
        "subject": l.subject,
        "reason": l.record.reason.as_str(),
        "error": l.record.error,
        "original_subject": l.record.subject,
        "original_stream": l.record.stream,
        "original_sequence": l.record.sequence,
        "consumer": l.record.consumer,
        "service": l.record.service,
        "deliveries": l.record.deliveries,
        "time": l.record.time.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
    })
}

fn detail(l: &DeadLetterMessage) -> Value {
    let mut v = summary(l);
    let body: Value = serde_json::from_slice(&l.payload)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&l.payload).into_owned()));
    v["headers"] = l
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect::<serde_json::Map<_, _>>()
        .into();
    v["body"] = body;
    v
}

/// A table: one row per letter, columns padded to the widest cell.
fn table(letters: &[DeadLetterMessage]) -> String {
    let mut rows = vec![[
        "SEQ".to_owned(),
        "REASON".to_owned(),
        "FROM".to_owned(),
        "CONSUMER".to_owned(),
        "TRIES".to_owned(),
        "ERROR".to_owned(),
    ]];
    for l in letters {
        rows.push([
            l.sequence.to_string(),
            l.record.reason.as_str().to_owned(),
            format!("{}#{}", l.record.subject, l.record.sequence),
            l.record.consumer.clone(),
            l.record.deliveries.to_string(),
            l.record.error.chars().take(60).collect(),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            r.iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `dlq list`.
pub(crate) fn list(server: &Server, stream: &str, from: u64, limit: usize) -> Outcome {
    block_on(async {
        let conn = server.builder().start().await?;
        let letters = conn.dead_letters(stream, from, limit).await;
        conn.close().await?;
        let letters = letters?;
        Ok(Outcome::Report {
            text: if letters.is_empty() {
                format!("no dead letters in {stream}")
            } else {
                table(&letters)
            },
            json: json!({"ok": true, "dead_letters": letters.iter().map(summary).collect::<Vec<_>>()}),
        })
    })
}

/// `dlq show SEQ`.
pub(crate) fn show(server: &Server, stream: &str, sequence: u64) -> Outcome {
    block_on(async {
        let conn = server.builder().start().await?;
        let letter = conn.dead_letter(stream, sequence).await;
        conn.close().await?;
        let letter = detail(&letter?);
        Ok(Outcome::Report {
            text: serde_json::to_string_pretty(&letter).unwrap_or_default(),
            json: json!({"ok": true, "dead_letter": letter}),
        })
    })
}

/// `dlq replay SEQ…`.
pub(crate) fn replay(server: &Server, stream: &str, sequences: &[u64]) -> Outcome {
    block_on(async {
        let conn = server.builder().start().await?;
        let mut done = Vec::new();
        let mut result = Ok(());
        for &seq in sequences {
            match conn.replay_dead_letter(stream, seq).await {
                Ok(r) => done.push((seq, r)),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        conn.close().await?;
        result?;
        Ok(Outcome::Report {
            text: done
                .iter()
                .map(|(seq, r)| {
                    format!("replayed {seq} to {} (sequence {})", r.subject, r.sequence)
                })
                .collect::<Vec<_>>()
                .join("\n"),
            json: json!({"ok": true, "replayed": done.iter().map(|(seq, r)| json!({"dead_letter": seq, "subject": r.subject, "sequence": r.sequence})).collect::<Vec<_>>()}),
        })
    })
}
