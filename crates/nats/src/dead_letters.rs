//! Reading and replaying what consumers dead-lettered: the library side of `dlq list`,
//! `show` and `replay`.

use async_nats::HeaderMap;
use async_nats::jetstream::{self, stream::RawMessageErrorKind};
use bytes::Bytes;
use messaging_core::{DeadLetterRecord, is_dead_letter_header};

use crate::connection::Connection;
use crate::error::{Error, Result};

/// One message in a dead-letter stream.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeadLetterMessage {
    /// Its sequence in the dead-letter stream (what [`Connection::replay_dead_letter`]
    /// takes).
    pub sequence: u64,
    /// The subject it was dead-lettered to.
    pub subject: String,
    /// Why, from where, when.
    pub record: DeadLetterRecord,
    /// Its original headers (CloudEvents attributes and the rest), without the
    /// dead-letter ones.
    pub headers: Vec<(String, String)>,
    /// The body, unchanged.
    pub payload: Bytes,
}

/// What [`Connection::replay_dead_letter`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Replayed {
    /// The subject it was published to again (the one it was consumed from).
    pub subject: String,
    /// Its new sequence in that subject's stream.
    pub sequence: u64,
}

fn dl_error(stream: &str, sequence: u64, reason: impl Into<String>) -> Error {
    Error::DeadLetter {
        stream: stream.to_owned(),
        sequence,
        reason: reason.into(),
    }
}

fn original_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| {
            let name: &str = name.as_ref();
            !is_dead_letter_header(name)
                && !name.eq_ignore_ascii_case(async_nats::header::NATS_MESSAGE_ID.as_ref())
        })
        .flat_map(|(name, values)| {
            values
                .iter()
                .map(move |v| (name.to_string(), v.as_str().to_owned()))
        })
        .collect();
    out.sort();
    out
}

fn parse(stream: &str, raw: jetstream::message::StreamMessage) -> Result<DeadLetterMessage> {
    let headers = &raw.headers;
    let record = DeadLetterRecord::from_headers(|name| headers.get(name).map(|v| v.as_str()))
        .map_err(|reason| dl_error(stream, raw.sequence, reason))?;
    Ok(DeadLetterMessage {
        sequence: raw.sequence,
        subject: raw.subject.to_string(),
        record,
        headers: original_headers(headers),
        payload: raw.payload,
    })
}

impl Connection {
    /// Up to `limit` dead letters from `stream` (such as
    /// [`DEFAULT_DEAD_LETTER_STREAM`](crate::DEFAULT_DEAD_LETTER_STREAM)), oldest first,
    /// starting at sequence `from` (1 for the start).
    ///
    /// # Errors
    /// [`Error::Stream`] when the stream cannot be read, [`Error::DeadLetter`] for a
    /// message this library did not write.
    pub async fn dead_letters(
        &self,
        stream: &str,
        from: u64,
        limit: usize,
    ) -> Result<Vec<DeadLetterMessage>> {
        let handle = self.dead_letter_stream(stream).await?;
        let mut out = Vec::new();
        let mut next = from.max(1);
        while out.len() < limit {
            let got = handle
                .raw_message_builder()
                .sequence(next)
                .next_by_subject(">")
                .send()
                .await;
            let raw = match got {
                Ok(raw) => raw,
                Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => break,
                Err(e) => return Err(stream_error(stream, e)),
            };
            next = raw.sequence.saturating_add(1);
            out.push(parse(stream, raw)?);
        }
        Ok(out)
    }

    /// The dead letter at `sequence` in `stream`.
    ///
    /// # Errors
    /// [`Error::DeadLetter`] when there is none at that sequence, or it is not a dead
    /// letter; [`Error::Stream`] when the stream cannot be read.
    pub async fn dead_letter(&self, stream: &str, sequence: u64) -> Result<DeadLetterMessage> {
        let handle = self.dead_letter_stream(stream).await?;
        match handle.get_raw_message(sequence).await {
            Ok(raw) => parse(stream, raw),
            Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => {
                Err(dl_error(stream, sequence, "no message at this sequence"))
            }
            Err(e) => Err(stream_error(stream, e)),
        }
    }

    /// Publishes the dead letter at `sequence` back to the subject it was consumed from,
    /// with its original headers and body, waits for the stream's ack, then deletes it
    /// from the dead-letter stream. Consumers see it as a new message (a new sequence,
    /// delivery count 1).
    ///
    /// # Errors
    /// As [`dead_letter`](Self::dead_letter), and [`Error::Publish`] when the original
    /// stream does not take it (the dead letter is kept then).
    pub async fn replay_dead_letter(&self, stream: &str, sequence: u64) -> Result<Replayed> {
        let letter = self.dead_letter(stream, sequence).await?;
        let mut headers = HeaderMap::new();
        for (name, value) in &letter.headers {
            headers.append(name.as_str(), value.as_str());
        }
        let subject = letter.record.subject.clone();
        let js = &self.shared.js;
        let ack = async {
            js.publish_with_headers(subject.clone(), headers, letter.payload.clone())
                .await?
                .await
        }
        .await
        .map_err(|e| Error::Publish {
            subject: subject.clone(),
            attempts: 1,
            kind: crate::error::PublishFailure::Other,
            source: Box::new(e),
        })?;
        let handle = self.dead_letter_stream(stream).await?;
        if let Err(e) = handle.delete_message(sequence).await {
            // Replayed but still listed: a second replay would publish it twice.
            tracing::warn!(stream, sequence, error = %e, "replayed dead letter could not be deleted");
        }
        Ok(Replayed {
            subject,
            sequence: ack.sequence,
        })
    }

    async fn dead_letter_stream(&self, stream: &str) -> Result<jetstream::stream::Stream> {
        self.shared
            .js
            .get_stream(stream)
            .await
            .map_err(|e| stream_error(stream, e))
    }
}

fn stream_error(stream: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Stream {
        stream: stream.to_owned(),
        source: Box::new(e),
    }
}
