//! A group's duplicate filter: the in-process one from the core, and with
//! `deduplicate_shared` a JetStream key-value bucket that every instance consults.

use async_nats::jetstream::kv;
use messaging_core::{Check, DedupFilter};

use crate::connection::Shared;
use crate::error::{Error, Result};
use crate::plan::GroupPlan;

/// A group's filter.
pub(crate) struct Dedup {
    local: DedupFilter,
    shared: Option<kv::Store>,
    /// Keys are `<consumer>.<id>`, so consumers of one service filter separately.
    prefix: String,
}

/// The shared bucket of `service`: KV bucket names allow only `[A-Za-z0-9_-]`.
pub(crate) fn bucket_name(service: &str) -> String {
    let safe: String = service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("messaging-dedup-{safe}")
}

/// A KV key token for any text: kept when it is made of key-safe characters, else hex.
fn key_token(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '=')
    {
        s.to_owned()
    } else {
        let hex: String = s.bytes().map(|b| format!("{b:02x}")).collect();
        format!("x{hex}")
    }
}

impl Dedup {
    /// The filter `group` asked for, creating the shared bucket when it is missing.
    pub(crate) async fn prepare(
        shared: &Shared,
        group: &GroupPlan,
        label: &str,
    ) -> Result<Option<Self>> {
        let Some(options) = group.options.get_deduplicate() else {
            return Ok(None);
        };
        let store = if options.shared {
            let bucket = bucket_name(shared.service.as_str());
            let store = match shared.js.get_key_value(&bucket).await {
                Ok(s) => s,
                Err(_) => shared
                    .js
                    .create_key_value(kv::Config {
                        bucket: bucket.clone(),
                        description: "ce-ids handled by this service's consumers".to_owned(),
                        history: 1,
                        max_age: options.window,
                        ..kv::Config::default()
                    })
                    .await
                    .map_err(|e| Error::Stream {
                        stream: format!("KV_{bucket}"),
                        source: Box::new(e),
                    })?,
            };
            Some(store)
        } else {
            None
        };
        Ok(Some(Self {
            local: DedupFilter::new(options.window),
            shared: store,
            prefix: key_token(label),
        }))
    }

    fn key(&self, id: &str) -> String {
        format!("{}.{}", self.prefix, key_token(id))
    }

    /// Checks `id` here, then (shared) with every instance. A store that cannot be read
    /// counts as "not seen": at-least-once wins over losing a message.
    pub(crate) async fn begin(&self, id: &str) -> Check {
        match self.local.begin(id) {
            Check::Fresh => {}
            other => return other,
        }
        let Some(store) = &self.shared else {
            return Check::Fresh;
        };
        match store.get(self.key(id)).await {
            Ok(Some(_)) => {
                self.local.finish(id, true);
                Check::Handled
            }
            Ok(None) => Check::Fresh,
            Err(e) => {
                tracing::debug!(error = %e, "duplicate filter unavailable; handling the message");
                Check::Fresh
            }
        }
    }

    /// Ends a fresh delivery. A handled id is remembered locally at once, so a
    /// redelivery after a lost ack is filtered even while the server is away, then in
    /// the shared store.
    pub(crate) async fn finish(&self, id: &str, handled: bool) {
        self.local.finish(id, handled);
        if handled
            && let Some(store) = &self.shared
            && let Err(e) = store.put(self.key(id), bytes::Bytes::new()).await
        {
            tracing::debug!(error = %e, "duplicate filter not updated");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_keys_are_safe() {
        assert_eq!(bucket_name("orders"), "messaging-dedup-orders");
        assert_eq!(bucket_name("a.b c"), "messaging-dedup-a_b_c");
        assert_eq!(
            key_token("0b1c-2d_3e"),
            "0b1c-2d_3e",
            "UUIDs and similar stay readable"
        );
        assert_eq!(key_token("a.b"), "x612e62");
        assert_eq!(key_token(""), "x");
    }
}
