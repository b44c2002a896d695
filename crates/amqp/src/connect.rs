//! Connecting: URL parsing and redaction, the connection name and the heartbeat
//! (reconnecting after a loss is `link`'s job, not lapin's).
//!
//! lapin's URL parser has two traps this module works around: its errors echo the whole
//! URL (password included), and it reads an IP-address host as `localhost`
//! (`Url::domain()` is `None` for IPs). We parse the authority ourselves for both.

use std::str::FromStr;
use std::time::Duration;

use lapin::uri::{AMQPScheme, AMQPUri};
use lapin::{Connection, ConnectionProperties};

use crate::error::{Error, Result};

/// The heartbeat the reference asks for.
pub(crate) const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(10);
/// The URL used when none is given.
pub(crate) const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// `url` with the password (and any userinfo beyond the user name) replaced by `***`.
///
/// ```text
/// amqp://app:s3cret@mq:5672/%2f  ->  amqp://app:***@mq:5672/%2f
/// ```
#[must_use]
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // Not a URL we understand; it might still hold a secret.
        return if url.contains('@') {
            "<unparseable URL>".to_owned()
        } else {
            url.to_owned()
        };
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

/// The host of an AMQP URL as written (IPv6 without brackets), or `None` when absent.
fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = hostport.strip_prefix('[') {
        v6.split_once(']')?.0
    } else {
        hostport.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_owned())
}

/// Parses and completes a URL: heartbeat 10 s unless the URL sets one, the real host.
pub(crate) fn parse(url: &str, tls_available: bool) -> Result<AMQPUri> {
    let redacted = redact(url);
    let mut uri = AMQPUri::from_str(url).map_err(|e| {
        Error::invalid_config(format!(
            "invalid AMQP URL {redacted}: {}; expected amqp://user:password@host:port/vhost",
            e.replace(url, &redacted)
        ))
    })?;
    if let Some(host) = host_of(url) {
        uri.authority.host = host;
    }
    if uri.query.heartbeat.is_none() {
        uri.query.heartbeat = u16::try_from(DEFAULT_HEARTBEAT.as_secs()).ok();
    }
    if uri.scheme == AMQPScheme::AMQPS && !tls_available {
        return Err(Error::invalid_config(format!(
            "{redacted} uses amqps://, but messaging-amqp was built without TLS; enable the \
             `rustls` feature or use amqp://"
        )));
    }
    Ok(uri)
}

/// The reference's connection name: `<service>#<version>#@<hostname>`, with `_unknown_`
/// for a missing part.
pub(crate) fn connection_name(service: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "_unknown_".to_owned());
    format!("{service}#{}#@{host}", env!("CARGO_PKG_VERSION"))
}

/// Connects with the connection name. lapin's automatic recovery stays off: `link`
/// replaces a lost connection instead.
pub(crate) async fn connect(
    uri: AMQPUri,
    name: &str,
    redacted_url: &str,
    timeout: Duration,
) -> Result<Connection> {
    let props = ConnectionProperties::default().with_connection_name(name.into());
    let connect = Connection::connect_uri(uri, props);
    match tokio::time::timeout(timeout, connect).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(Error::Connect {
            url: redacted_url.to_owned(),
            source: Box::new(e),
        }),
        Err(_) => Err(Error::Connect {
            url: redacted_url.to_owned(),
            source: format!("no connection within {timeout:?}").into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_survive_redaction() {
        assert_eq!(
            redact("amqp://app:s3cret@mq:5672/%2f"),
            "amqp://app:***@mq:5672/%2f"
        );
        assert_eq!(
            redact("amqps://app:p@ss@word@mq/vh?heartbeat=5"),
            "amqps://app:***@mq/vh?heartbeat=5"
        );
        assert_eq!(redact("amqp://onlyuser@mq"), "amqp://onlyuser:***@mq");
        assert_eq!(redact("amqp://mq:5672"), "amqp://mq:5672");
        assert_eq!(redact("user:pw@host"), "<unparseable URL>");
    }

    #[test]
    fn ip_hosts_are_kept_and_heartbeat_defaults_to_ten_seconds() -> Result<()> {
        let uri = parse("amqp://u:p@10.9.8.7:5673/%2f", false)?;
        assert_eq!(uri.authority.host, "10.9.8.7");
        assert_eq!(uri.authority.port, 5673);
        assert_eq!(uri.vhost, "/");
        assert_eq!(uri.query.heartbeat, Some(10));
        assert_eq!(uri.authority.userinfo.password, "p");
        let v6 = parse("amqp://[::1]:5672?heartbeat=30", false)?;
        assert_eq!(v6.authority.host, "::1");
        assert_eq!(v6.query.heartbeat, Some(30));
        assert_eq!(parse("amqp://mq.local", false)?.authority.host, "mq.local");
        Ok(())
    }

    #[test]
    fn bad_urls_do_not_leak_the_password() {
        let Err(err) = parse("http://u:topsecret@h", false) else {
            panic!("a bad scheme must be refused");
        };
        let text = format!("{err} {err:?}");
        assert!(!text.contains("topsecret"), "{text}");
        let Err(tls) = parse("amqps://u:topsecret@h", false) else {
            panic!("amqps without TLS must be refused");
        };
        let text = format!("{tls} {tls:?}");
        assert!(
            !text.contains("topsecret") && text.contains("rustls"),
            "{text}"
        );
    }

    #[test]
    fn connection_name_has_the_reference_shape() {
        let name = connection_name("orders");
        let parts: Vec<&str> = name.split('#').collect();
        assert_eq!(parts.len(), 3, "{name}");
        assert_eq!(parts[0], "orders");
        assert_eq!(parts[1], env!("CARGO_PKG_VERSION"));
        assert!(parts[2].starts_with('@') && parts[2].len() > 1, "{name}");
    }
}
