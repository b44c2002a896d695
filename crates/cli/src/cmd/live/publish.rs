//! `messaging publish` and `messaging request`: one event or one call, with the
//! CloudEvents headers every publisher of the library sends.

use messaging_nats::PublishTarget;
use serde_json::{Value, json};

use super::{Server, block_on, json_arg};
use crate::output::Outcome;

/// `messaging publish [--stream S] KEY JSON`: publishes to `events` (or S) and waits for
/// the stream's ack.
pub(crate) fn publish(
    server: &Server,
    stream: Option<&str>,
    key: &str,
    body: &str,
    id: Option<&str>,
) -> Outcome {
    let body = match json_arg("the event body", body) {
        Ok(v) => v,
        Err(o) => return o,
    };
    block_on(async {
        let builder = match stream {
            Some(s) => server.builder().stream_publisher(s),
            None => server.builder().event_publisher(),
        };
        let conn = builder.start().await?;
        let publisher = match stream {
            Some(s) => conn.stream_publisher(s)?,
            None => conn.event_publisher()?,
        };
        let mut publish = publisher.publish(key, &body);
        if let Some(id) = id {
            publish = publish.id(id);
        }
        let receipt = publish.await?;
        conn.close().await?;
        let sequence = receipt.sequence.unwrap_or_default();
        Ok(Outcome::Report {
            text: format!(
                "published {key} to {} as {} (sequence {sequence}{})",
                receipt.subject,
                receipt.id,
                if receipt.duplicate { ", duplicate" } else { "" }
            ),
            json: json!({
                "ok": true,
                "subject": receipt.subject,
                "id": receipt.id,
                "stream": receipt.stream,
                "sequence": receipt.sequence,
                "duplicate": receipt.duplicate,
            }),
        })
    })
}

/// `messaging request SERVICE KEY JSON`: calls a request handler and prints its reply (a
/// `{"error": …}` reply is a failed outcome).
pub(crate) fn request(server: &Server, target: &str, key: &str, body: &str) -> Outcome {
    let body = match json_arg("the request body", body) {
        Ok(v) => v,
        Err(o) => return o,
    };
    block_on(async {
        let conn = server.builder().service_publisher(target).start().await?;
        let publisher = conn.publisher(&PublishTarget::Service(
            messaging_spec::ServiceName::new(target)?,
        ))?;
        let reply: Result<Value, _> = publisher.request(key, &body).await;
        conn.close().await?;
        match reply {
            Ok(reply) => Ok(Outcome::Report {
                text: serde_json::to_string_pretty(&reply).unwrap_or_default(),
                json: json!({"ok": true, "reply": reply}),
            }),
            Err(e) => Ok(Outcome::invalid(&e)),
        }
    })
}
