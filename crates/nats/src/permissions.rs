//! Permission violations the server reported on this connection. The server drops a
//! denied message or subscription and says why only in an asynchronous `-ERR`
//! (`Permissions Violation for Publish to "events.Order.Created"`), so the caller's
//! operation merely times out. This log lets that timeout be reported as
//! [`Error::PermissionDenied`], naming the subject.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::Error;

/// What the server did not permit: the kind of [`Error::PermissionDenied`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Permission {
    /// Publishing to the subject (a message, a request, or a JetStream API call).
    Publish,
    /// Subscribing to the subject (a request handler, or a reply inbox).
    Subscribe,
}

impl Permission {
    /// The key of the server's `permissions` block that grants it.
    #[must_use]
    pub fn config_key(self) -> &'static str {
        match self {
            Self::Publish => "publish",
            Self::Subscribe => "subscribe",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Publish => "publish to",
            Self::Subscribe => "subscribe to",
        })
    }
}

/// One violation, as the server reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Violation {
    pub(crate) permission: Permission,
    pub(crate) subject: String,
    at: Instant,
}

/// How many violations are kept: enough for one start-up or one window of publishes.
const KEEP: usize = 64;

/// The most recent violations, oldest first. Touched only when the server reports one,
/// or when an operation already failed: nothing on the success path.
#[derive(Debug, Default)]
pub(crate) struct Violations {
    recent: Mutex<VecDeque<Violation>>,
    /// Wakes `start()` waiting to see whether a subscription was refused.
    reported: tokio::sync::Notify,
}

impl Violations {
    /// Records `text` if it is a permission violation; returns what was recorded.
    pub(crate) fn record(&self, text: &str) -> Option<Violation> {
        let (permission, subject) = parse(text)?;
        let v = Violation {
            permission,
            subject,
            at: Instant::now(),
        };
        let mut recent = lock(&self.recent);
        if recent.len() == KEEP {
            recent.pop_front();
        }
        recent.push_back(v.clone());
        drop(recent);
        self.reported.notify_waiters();
        Some(v)
    }

    /// The first violation since `since` that `concerns` accepts.
    pub(crate) fn find(
        &self,
        since: Instant,
        concerns: impl Fn(&Violation) -> bool,
    ) -> Option<Violation> {
        lock(&self.recent)
            .iter()
            .find(|v| v.at >= since && concerns(v))
            .cloned()
    }

    /// A violation since `since` of publishing to `subject`, or of subscribing to a reply
    /// inbox (without which no ack or reply can arrive): why an operation on `subject`
    /// that started at `since` timed out.
    pub(crate) fn explain(&self, since: Instant, subject: &str) -> Option<Violation> {
        self.find(since, |v| match v.permission {
            Permission::Publish => v.subject == subject,
            Permission::Subscribe => v.subject.starts_with("_INBOX."),
        })
    }

    /// Waits at most `bound` for a violation since `since` that `concerns` accepts.
    pub(crate) async fn wait_for(
        &self,
        since: Instant,
        bound: Duration,
        concerns: impl Fn(&Violation) -> bool,
    ) -> Option<Violation> {
        let wait = async {
            loop {
                let reported = self.reported.notified();
                if let Some(v) = self.find(since, &concerns) {
                    return v;
                }
                reported.await;
            }
        };
        tokio::time::timeout(bound, wait).await.ok()
    }
}

impl Violation {
    /// The typed error, naming the server.
    pub(crate) fn into_error(self, url: String) -> Error {
        Error::PermissionDenied {
            url,
            permission: self.permission,
            subject: self.subject,
        }
    }
}

/// `Permissions Violation for Publish to "x"`, `… for Subscription to "x" using queue
/// "q"`, `… for Publish with Reply of "x"` (a reply subject the user may not publish to).
fn parse(text: &str) -> Option<(Permission, String)> {
    let text = text.trim().trim_matches('\'');
    let prefix = "permissions violation for ";
    let head = text.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = &text[prefix.len()..];
    let permission = if starts_with_ignore_case(rest, "publish") {
        Permission::Publish
    } else if starts_with_ignore_case(rest, "subscription") {
        Permission::Subscribe
    } else {
        return None;
    };
    let open = rest.find('"')? + 1;
    let len = rest[open..].find('"')?;
    Some((permission, rest[open..open + len].to_owned()))
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|h| h.eq_ignore_ascii_case(prefix))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_texts_parse() {
        let cases = [
            (
                r#"Permissions Violation for Publish to "events.Order.Created""#,
                Some((Permission::Publish, "events.Order.Created")),
            ),
            (
                r#"'Permissions Violation for Subscription to "orders.request.>"'"#,
                Some((Permission::Subscribe, "orders.request.>")),
            ),
            (
                r#"Permissions Violation for Subscription to "a.b" using queue "orders""#,
                Some((Permission::Subscribe, "a.b")),
            ),
            (
                r#"permissions violation for publish with reply of "_INBOX.x""#,
                Some((Permission::Publish, "_INBOX.x")),
            ),
            ("Authorization Violation", None),
            ("Permissions Violation for Publish to", None),
            (r#"Permissions Violation for Something to "x""#, None),
            ("", None),
            ("permissions violation for é", None),
        ];
        for (text, expected) in cases {
            let got = parse(text);
            let expected = expected.map(|(p, s)| (p, s.to_owned()));
            assert_eq!(got, expected, "{text}");
        }
    }

    #[test]
    fn only_violations_since_the_operation_explain_it() {
        let log = Violations::default();
        let before = Instant::now();
        assert!(
            log.record(r#"Permissions Violation for Publish to "a""#)
                .is_some()
        );
        let after = Instant::now() + Duration::from_millis(1);
        assert_eq!(
            log.explain(before, "a").map(|v| v.permission),
            Some(Permission::Publish)
        );
        assert_eq!(log.explain(before, "b"), None);
        assert_eq!(log.explain(after, "a"), None);
        log.record(r#"Permissions Violation for Subscription to "_INBOX.abc.*""#);
        assert_eq!(
            log.explain(before, "b").map(|v| v.subject),
            Some("_INBOX.abc.*".to_owned())
        );
    }

    #[test]
    fn the_log_keeps_the_most_recent() {
        let log = Violations::default();
        let start = Instant::now();
        for i in 0..(KEEP + 10) {
            log.record(&format!(r#"Permissions Violation for Publish to "s{i}""#));
        }
        assert_eq!(log.explain(start, "s0"), None);
        assert!(log.explain(start, &format!("s{}", KEEP + 9)).is_some());
    }
}
