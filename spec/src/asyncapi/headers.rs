//! The CloudEvents headers as an AsyncAPI message trait, per transport.

use serde_json::{Map, Value, json};

use super::mapping::Wire;
use crate::cloudevents::{
    CE_CORRELATIONID, CE_DATACONTENTTYPE, CE_DATASCHEMA, CE_ID, CE_PREFIX, CE_SOURCE,
    CE_SPECVERSION, CE_SUBJECT, CE_TIME, CE_TYPE, CONTENT_TYPE_JSON, REQUIRED_HEADERS,
    SPEC_VERSION, amqp_ce_header_key,
};

pub(super) fn trait_id(wire: Wire) -> &'static str {
    match wire {
        Wire::Nats => "cloudEventsNats",
        Wire::Amqp => "cloudEventsAmqp",
    }
}

/// The CloudEvents attributes as the transport's headers: `ce-*` on NATS,
/// `cloudEvents:*` on AMQP.
pub(super) fn cloud_events_trait(wire: Wire) -> Value {
    let key = |ce: &str| match wire {
        Wire::Nats => ce.to_owned(),
        Wire::Amqp => amqp_ce_header_key(ce.strip_prefix(CE_PREFIX).unwrap_or(ce)),
    };
    let string = |description: &str| json!({"type": "string", "description": description});
    let attributes = [
        (
            CE_SPECVERSION,
            json!({"type": "string", "const": SPEC_VERSION, "description": "CloudEvents version"}),
        ),
        (CE_TYPE, string("The event type: the routing key")),
        (CE_SOURCE, string("The publishing service's name")),
        (
            CE_ID,
            json!({"type": "string", "format": "uuid", "description": "A UUID v4; with ce-source, the deduplication key"}),
        ),
        (
            CE_TIME,
            json!({"type": "string", "format": "date-time", "description": "When the event was published (RFC 3339, UTC)"}),
        ),
        (
            CE_DATACONTENTTYPE,
            json!({"type": "string", "default": CONTENT_TYPE_JSON, "description": "The body's media type"}),
        ),
        (CE_SUBJECT, string("The subject of the event")),
        (
            CE_DATASCHEMA,
            json!({"type": "string", "format": "uri", "description": "The schema the body adheres to"}),
        ),
        (
            CE_CORRELATIONID,
            string("Correlates related messages (extension)"),
        ),
    ];
    let properties: Map<String, Value> = attributes
        .into_iter()
        .map(|(ce, schema)| (key(ce), schema))
        .collect();
    let required: Vec<String> = REQUIRED_HEADERS.iter().map(|ce| key(ce)).collect();
    json!({
        "description": "CloudEvents 1.0 in binary content mode: the attributes travel as headers, the body is the event data.",
        "contentType": CONTENT_TYPE_JSON,
        "headers": {
            "type": "object",
            "required": required,
            "properties": properties,
            "additionalProperties": true,
        },
        "correlationId": {
            "description": "The correlation id extension",
            "location": format!("$message.header#/{}", key(CE_CORRELATIONID)),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amqp_trait_uses_the_amqp_header_keys() {
        let t = cloud_events_trait(Wire::Amqp);
        assert_eq!(t["headers"]["required"][0], "cloudEvents:specversion");
        assert_eq!(
            t["correlationId"]["location"],
            "$message.header#/cloudEvents:correlationid"
        );
    }
}
