//! Ensure a stream exists without clobbering settings others made.

use async_nats::jetstream::{self, ErrorCode, stream};
use messaging_spec::StreamName;

use crate::error::{Error, Result};
use crate::options::{Storage, StreamConfig};

fn storage_type(s: Storage) -> stream::StorageType {
    match s {
        Storage::File => stream::StorageType::File,
        Storage::Memory => stream::StorageType::Memory,
    }
}

fn err(stream: &StreamName, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Stream {
        stream: stream.as_str().to_owned(),
        source: Box::new(e),
    }
}

fn msg(stream: &StreamName, text: String) -> Error {
    Error::Stream {
        stream: stream.as_str().to_owned(),
        source: text.into(),
    }
}

/// The config used when the stream does not exist yet: subjects `<stream>.>`, file storage,
/// and only the limits this service set.
pub(crate) fn create_config(name: &StreamName, cfg: &StreamConfig) -> stream::Config {
    stream::Config {
        name: name.as_str().to_owned(),
        subjects: vec![messaging_spec::naming::nats_stream_subjects(name.as_str())],
        storage: storage_type(cfg.storage.unwrap_or_default()),
        max_age: cfg.max_age.unwrap_or_default(),
        max_bytes: cfg.max_bytes.unwrap_or(-1),
        max_messages: cfg.max_messages.unwrap_or(-1),
        num_replicas: cfg.replicas.unwrap_or(1),
        duplicate_window: cfg.duplicate_window.unwrap_or_default(),
        ..stream::Config::default()
    }
}

/// Applies the settings this service configured to an existing stream's config. Returns
/// `None` when nothing differs, so no update is sent.
pub(crate) fn updated_config(
    existing: &stream::Config,
    cfg: &StreamConfig,
) -> std::result::Result<Option<stream::Config>, String> {
    if let Some(s) = cfg.storage
        && existing.storage != storage_type(s)
    {
        return Err(format!(
            "stream exists with {:?} storage but {s:?} was configured; storage cannot be changed",
            existing.storage
        ));
    }
    let mut next = existing.clone();
    if let Some(v) = cfg.max_age {
        next.max_age = v;
    }
    if let Some(v) = cfg.max_bytes {
        next.max_bytes = v;
    }
    if let Some(v) = cfg.max_messages {
        next.max_messages = v;
    }
    if let Some(v) = cfg.replicas {
        next.num_replicas = v;
    }
    if let Some(v) = cfg.duplicate_window {
        next.duplicate_window = v;
    }
    let changed = next.max_age != existing.max_age
        || next.max_bytes != existing.max_bytes
        || next.max_messages != existing.max_messages
        || next.num_replicas != existing.num_replicas
        || next.duplicate_window != existing.duplicate_window;
    Ok(changed.then_some(next))
}

/// Creates the stream if missing; otherwise updates only configured fields.
pub(crate) async fn ensure(
    js: &jetstream::Context,
    name: &StreamName,
    cfg: &StreamConfig,
) -> Result<()> {
    // Two services may race to create the same stream: retry the lookup once.
    for _ in 0..2 {
        match js.get_stream(name.as_str()).await {
            Ok(mut existing) => {
                let info = existing.info().await.map_err(|e| err(name, e))?;
                let subject = messaging_spec::naming::nats_stream_subjects(name.as_str());
                if !info.config.subjects.contains(&subject) {
                    tracing::warn!(
                        stream = name.as_str(),
                        subjects = ?info.config.subjects,
                        "stream exists without the subject {subject}; publishes may not be captured"
                    );
                }
                if let Some(next) = updated_config(&info.config, cfg).map_err(|t| msg(name, t))? {
                    js.update_stream(&next).await.map_err(|e| err(name, e))?;
                    tracing::info!(stream = name.as_str(), "updated stream settings");
                }
                return Ok(());
            }
            Err(e) if is_code(&e, ErrorCode::STREAM_NOT_FOUND) => {
                if !cfg.has_retention_limit() {
                    tracing::warn!(
                        stream = name.as_str(),
                        "stream has no retention limits configured, storage may grow unbounded"
                    );
                }
                match js.create_stream(create_config(name, cfg)).await {
                    Ok(_) => {
                        tracing::info!(stream = name.as_str(), "created stream");
                        return Ok(());
                    }
                    Err(e) if create_raced(&e) => continue,
                    Err(e) => return Err(err(name, e)),
                }
            }
            Err(e) => return Err(err(name, e)),
        }
    }
    Err(msg(
        name,
        "stream kept changing while it was being ensured".to_owned(),
    ))
}

fn is_code(e: &jetstream::context::GetStreamError, code: ErrorCode) -> bool {
    matches!(e.kind(), jetstream::context::GetStreamErrorKind::JetStream(js) if js.error_code() == code)
}

fn create_raced(e: &jetstream::context::CreateStreamError) -> bool {
    matches!(e.kind(), jetstream::context::CreateStreamErrorKind::JetStream(js)
        if js.error_code() == ErrorCode::STREAM_NAME_EXIST)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn name() -> StreamName {
        match StreamName::new("events") {
            Ok(n) => n,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn create_uses_the_spec_shape() {
        let c = create_config(&name(), &StreamConfig::new());
        assert_eq!(c.subjects, vec!["events.>".to_owned()]);
        assert_eq!(c.storage, stream::StorageType::File);
        assert_eq!(c.max_bytes, -1);
        assert_eq!(c.num_replicas, 1);
    }

    #[test]
    fn update_touches_only_configured_fields() -> std::result::Result<(), String> {
        let mut existing = create_config(&name(), &StreamConfig::new());
        existing.max_age = Duration::from_secs(3600);
        existing.num_replicas = 3;
        assert_eq!(updated_config(&existing, &StreamConfig::new())?, None);
        let next = updated_config(&existing, &StreamConfig::new().max_bytes(1024))?;
        let next = next.ok_or("expected an update")?;
        assert_eq!(next.max_bytes, 1024);
        assert_eq!(next.max_age, Duration::from_secs(3600));
        assert_eq!(next.num_replicas, 3);
        assert!(updated_config(&existing, &StreamConfig::new().storage(Storage::Memory)).is_err());
        Ok(())
    }
}
