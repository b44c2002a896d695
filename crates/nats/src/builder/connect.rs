//! Connecting: the URLs, the mapping of connect failures to [`Error::ConnectFailed`], and
//! the checks of the server made by `start()` ([`Error::ServerTooOld`],
//! [`Error::JetStreamNotEnabled`]).

use std::error::Error as StdError;

use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::context::{
    CreateStreamError, CreateStreamErrorKind, GetStreamError, GetStreamErrorKind, RequestError,
    RequestErrorKind,
};

use crate::error::{ConnectFailure, Error, Result};

/// Where `start()` connects when no URL was given.
pub(super) const DEFAULT_URL: &str = "nats://127.0.0.1:4222";

/// The oldest nats-server supported: consumers with several filters
/// (`filter_subjects`) need 2.10.
pub(crate) const NEEDED_SERVER_VERSION: &str = "2.10.0";
const NEEDED: (u64, u64, u64) = (2, 10, 0);

/// The URLs to try: the configured ones, or the default.
pub(super) fn urls_or_default(urls: &[String]) -> Vec<String> {
    if urls.is_empty() {
        vec![DEFAULT_URL.to_owned()]
    } else {
        urls.to_vec()
    }
}

/// `url` without its user info (`nats://user:pass@host` is `nats://***@host`). A
/// comma-separated list is redacted entry by entry. What every error and log line of this
/// crate shows of a URL; tools that print URLs can use it too.
///
/// ```
/// assert_eq!(messaging_nats::redact_url("nats://a:pw@h:4222"), "nats://***@h:4222");
/// ```
#[must_use]
pub fn redact_url(url: &str) -> String {
    url.split(',')
        .map(|one| {
            let one = one.trim();
            let (scheme, rest) = match one.split_once("://") {
                Some((scheme, rest)) => (Some(scheme), rest),
                None => (None, one),
            };
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let rest = match rest[..authority_end].rfind('@') {
                Some(at) => format!("***{}", &rest[at..]),
                None => rest.to_owned(),
            };
            match scheme {
                Some(scheme) => format!("{scheme}://{rest}"),
                None => rest,
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The URLs (or the default) for messages: redacted, comma-separated.
pub(crate) fn display_urls(urls: &[String]) -> String {
    urls_or_default(urls)
        .iter()
        .map(|u| redact_url(u))
        .collect::<Vec<_>>()
        .join(",")
}

/// Connects to `urls`; a failure is an [`Error::ConnectFailed`] naming them.
pub(super) async fn connect(
    options: async_nats::ConnectOptions,
    urls: Vec<String>,
) -> Result<async_nats::Client> {
    let url = display_urls(&urls);
    options
        .connect(urls)
        .await
        .map_err(|e| Error::ConnectFailed {
            url,
            kind: classify(&e),
            source: Box::new(e),
        })
}

/// The kind of a connect failure, from async-nats's kind and, for I/O errors, the cause.
pub(super) fn classify(e: &async_nats::ConnectError) -> ConnectFailure {
    use async_nats::ConnectErrorKind as K;
    match e.kind() {
        K::Dns => ConnectFailure::Dns,
        K::Authentication | K::AuthorizationViolation => ConnectFailure::Auth,
        K::TimedOut => ConnectFailure::TimedOut,
        K::Tls => ConnectFailure::Tls,
        _ => classify_cause(e.source()),
    }
}

fn classify_cause(mut next: Option<&(dyn StdError + 'static)>) -> ConnectFailure {
    while let Some(cause) = next {
        if cause.downcast_ref::<async_nats::rustls::Error>().is_some() {
            return ConnectFailure::Tls;
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<async_nats::rustls::Error>().is_some())
            {
                return ConnectFailure::Tls;
            }
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return ConnectFailure::Refused,
                std::io::ErrorKind::TimedOut => return ConnectFailure::TimedOut,
                _ => {}
            }
        }
        next = cause.source();
    }
    ConnectFailure::Other
}

/// `major.minor.patch` of a server version such as `2.10.22` or `2.11.0-RC.1`; `None`
/// when it does not start like that.
pub(crate) fn parse_version(version: &str) -> Option<(u64, u64, u64)> {
    let core = version
        .trim()
        .trim_start_matches('v')
        .split(['-', '+'])
        .next()?;
    let mut parts = core.split('.').map(str::parse::<u64>);
    let major = parts.next()?.ok()?;
    let minor = parts.next()?.ok()?;
    let patch = parts.next().map_or(Some(0), Result::ok)?;
    Some((major, minor, patch))
}

/// Whether a server of `version` is older than [`NEEDED_SERVER_VERSION`]; an unknown
/// version is given the benefit of the doubt.
pub(crate) fn is_too_old(version: &str) -> bool {
    parse_version(version).is_some_and(|v| v < NEEDED)
}

/// Refuses a connected server older than [`NEEDED_SERVER_VERSION`].
pub(super) fn check_server(client: &async_nats::Client, urls: &[String]) -> Result<()> {
    let version = client.server_info().version;
    if is_too_old(&version) {
        return Err(Error::ServerTooOld {
            url: display_urls(urls),
            version,
            needed: NEEDED_SERVER_VERSION,
        });
    }
    Ok(())
}

/// Turns a stream error that means "no JetStream here" into
/// [`Error::JetStreamNotEnabled`]; anything else is returned as it is.
pub(super) fn explain_stream_error(e: Error, urls: &[String]) -> Error {
    let missing = match &e {
        Error::Stream { source, .. } => jetstream_missing(source.as_ref()),
        _ => false,
    };
    if missing {
        Error::JetStreamNotEnabled {
            url: display_urls(urls),
        }
    } else {
        e
    }
}

/// No responders on the JetStream API, or the server's "JetStream not enabled" codes.
fn jetstream_missing(e: &(dyn StdError + 'static)) -> bool {
    let not_enabled = |code: ErrorCode| {
        code == ErrorCode::JETSTREAM_NOT_ENABLED
            || code == ErrorCode::JETSTREAM_NOT_ENABLED_FOR_ACCOUNT
    };
    let mut next = Some(e);
    while let Some(cause) = next {
        if let Some(r) = cause.downcast_ref::<RequestError>()
            && r.kind() == RequestErrorKind::NoResponders
        {
            return true;
        }
        if let Some(g) = cause.downcast_ref::<GetStreamError>()
            && let GetStreamErrorKind::JetStream(js) = g.kind()
            && not_enabled(js.error_code())
        {
            return true;
        }
        if let Some(c) = cause.downcast_ref::<CreateStreamError>()
            && let CreateStreamErrorKind::JetStream(js) = c.kind()
            && not_enabled(js.error_code())
        {
            return true;
        }
        next = cause.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_before_2_10_are_too_old() {
        for old in ["2.9.25", "2.2.0", "1.4.1", "2.9.99-beta", "v2.9.0"] {
            assert!(is_too_old(old), "{old}");
        }
        for new in [
            "2.10.0",
            "2.10.22",
            "2.11.0-RC.1",
            "2.15.1",
            "3.0.0",
            "v2.12.3",
        ] {
            assert!(!is_too_old(new), "{new}");
        }
        // Unknown versions are not refused.
        for unknown in ["", "dev", "x.y.z"] {
            assert!(!is_too_old(unknown), "{unknown}");
        }
        assert_eq!(parse_version("2.10"), Some((2, 10, 0)));
        assert_eq!(parse_version("2.11.0-RC.1"), Some((2, 11, 0)));
    }

    #[test]
    fn urls_are_shown_without_user_info() {
        assert_eq!(
            redact_url("nats://alice:s3cret@127.0.0.1:4222"),
            "nats://***@127.0.0.1:4222"
        );
        assert_eq!(redact_url("tls://tok3n@host"), "tls://***@host");
        assert_eq!(redact_url("nats://host:4222"), "nats://host:4222");
        assert_eq!(redact_url("u:p@host:4222"), "***@host:4222");
        assert_eq!(
            redact_url("nats://a:b@h1:1, nats://h2:2"),
            "nats://***@h1:1,nats://h2:2"
        );
        assert_eq!(display_urls(&[]), DEFAULT_URL);
        assert_eq!(
            display_urls(&["nats://x:y@h:1".to_owned(), "nats://h:2".to_owned()]),
            "nats://***@h:1,nats://h:2"
        );
    }

    #[test]
    fn debug_is_the_message_with_the_url_and_cause() {
        let old = Error::ServerTooOld {
            url: display_urls(&["nats://alice:pw-hidden-1234@10.0.0.1:4222".to_owned()]),
            version: "2.9.25".to_owned(),
            needed: NEEDED_SERVER_VERSION,
        };
        let debug = format!("{old:?}");
        assert_eq!(debug, old.to_string());
        assert!(debug.contains("nats://***@10.0.0.1:4222"), "{debug}");
        assert!(
            debug.contains("2.9.25") && debug.contains("too old"),
            "{debug}"
        );
        assert!(!debug.contains("pw-hidden-1234"), "{debug}");

        // A cause the message does not include is listed after it.
        let failed = Error::ConnectFailed {
            url: "nats://h:1".to_owned(),
            kind: ConnectFailure::Other,
            source: Box::new(Error::Connect("inner cause".into())),
        };
        let debug = format!("{failed:?}");
        assert!(
            debug.starts_with("cannot connect to NATS at nats://h:1: "),
            "{debug}"
        );
        assert!(
            !debug.contains("Caused by"),
            "already in the message: {debug}"
        );
        // An error whose Display leaves out its source.
        #[derive(Debug)]
        struct Terse(std::io::Error);
        impl std::fmt::Display for Terse {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("request error")
            }
        }
        impl StdError for Terse {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&self.0)
            }
        }
        let chained = Error::Stream {
            stream: "events".to_owned(),
            source: Box::new(Terse(std::io::Error::other("deep cause"))),
        };
        assert_eq!(
            format!("{chained:?}"),
            "failed to ensure stream events: request error\n\nCaused by:\n    0: deep cause"
        );
    }

    #[test]
    fn io_causes_are_classified() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(classify_cause(Some(&refused)), ConnectFailure::Refused);
        let timed_out = std::io::Error::from(std::io::ErrorKind::TimedOut);
        assert_eq!(classify_cause(Some(&timed_out)), ConnectFailure::TimedOut);
        let tls = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            async_nats::rustls::Error::General("bad".to_owned()),
        );
        assert_eq!(classify_cause(Some(&tls)), ConnectFailure::Tls);
        let other = std::io::Error::other("broken pipe");
        assert_eq!(classify_cause(Some(&other)), ConnectFailure::Other);
        assert_eq!(classify_cause(None), ConnectFailure::Other);
    }
}
