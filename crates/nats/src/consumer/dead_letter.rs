//! Publishing a message the consumer gives up on to its dead-letter stream.

use async_nats::jetstream;
use messaging_core::{DeadLetterRecord, DeadLetterTarget};

use crate::connection::Shared;

/// How long a failed dead-letter publish waits before the message is delivered again
/// (and dead-lettered again): long enough for a stream leader election.
pub(super) const RETRY_AFTER_FAILED_PUBLISH: std::time::Duration =
    std::time::Duration::from_secs(5);

/// Publishes `msg` with `record`'s headers beside its own, and waits for the stream's
/// ack. The de-duplication id makes a retry after a lost ack store it once.
///
/// # Errors
/// Why the publish failed, as text for the log.
pub(super) async fn publish(
    shared: &Shared,
    target: &DeadLetterTarget,
    msg: &jetstream::Message,
    record: &DeadLetterRecord,
) -> Result<String, String> {
    let mut headers = msg.headers.clone().unwrap_or_default();
    for (name, value) in record.headers() {
        headers.insert(name, value.as_str());
    }
    headers.insert(
        async_nats::header::NATS_MESSAGE_ID,
        record.message_id().as_str(),
    );
    let subject = target.subject(msg.subject.as_str());
    let sent = async {
        shared
            .js
            .publish_with_headers(subject.clone(), headers, msg.payload.clone())
            .await
            .map_err(|e| e.to_string())?
            .await
            .map_err(|e| e.to_string())
    };
    match tokio::time::timeout(shared.timing.publish_timeout, sent).await {
        Ok(Ok(_ack)) => Ok(subject),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!(
            "no ack from the dead-letter stream within {:?}",
            shared.timing.publish_timeout
        )),
    }
}
