//! Calls to the RabbitMQ management HTTP API as `guest`.

use std::time::Duration;

use crate::error::TestkitError;
use crate::probe::{HttpReply, PROBE_TIMEOUT, Request, http_request};

/// `base64("guest:guest")`, for `Authorization: Basic`.
const GUEST_BASIC_AUTH: &str = "Z3Vlc3Q6Z3Vlc3Q=";
/// Bound on each read and write of a management call from a test; the API
/// can be slow on a loaded two-core machine.
const MANAGEMENT_TIMEOUT: Duration = Duration::from_secs(15);

/// One management request; `timeout` bounds the connect and each read.
fn call(
    port: u16,
    method: &'static str,
    path: &str,
    body: Option<&str>,
    timeout: Duration,
) -> Result<HttpReply, TestkitError> {
    let request = Request {
        method,
        path,
        basic_auth: Some(GUEST_BASIC_AUTH),
        body,
        timeout,
    };
    http_request(port, &request).map_err(|e| TestkitError::io(format!("{method} {path}"), e))
}

fn expect_success(
    method: &'static str,
    path: &str,
    reply: HttpReply,
) -> Result<HttpReply, TestkitError> {
    if (200..300).contains(&reply.status) {
        Ok(reply)
    } else {
        Err(TestkitError::ManagementHttp {
            method,
            path: path.to_owned(),
            status: reply.status,
            body: reply.body,
        })
    }
}

fn parse_json(path: &str, body: &str) -> Result<serde_json::Value, TestkitError> {
    serde_json::from_str(body).map_err(|e| TestkitError::Malformed {
        what: "management API JSON",
        detail: format!("GET {path}: {e}"),
    })
}

/// `GET path` and parse the JSON body; any non-2xx status is an error.
pub(crate) fn get_json(port: u16, path: &str) -> Result<serde_json::Value, TestkitError> {
    let reply = call(port, "GET", path, None, MANAGEMENT_TIMEOUT)?;
    let reply = expect_success("GET", path, reply)?;
    parse_json(path, &reply.body)
}

/// `PUT path` with a JSON body; any non-2xx status is an error.
pub(crate) fn put_json(
    port: u16,
    path: &str,
    body: &serde_json::Value,
) -> Result<(), TestkitError> {
    let text = body.to_string();
    let reply = call(port, "PUT", path, Some(&text), MANAGEMENT_TIMEOUT)?;
    expect_success("PUT", path, reply).map(drop)
}

/// `DELETE path`; any non-2xx status is an error.
pub(crate) fn delete(port: u16, path: &str) -> Result<(), TestkitError> {
    let reply = call(port, "DELETE", path, None, MANAGEMENT_TIMEOUT)?;
    expect_success("DELETE", path, reply).map(drop)
}

/// One readiness probe of `GET /api/overview`: `Ok(overview)` once it
/// answers 200 with JSON, `Err(reason)` while it does not.
pub(crate) fn probe_overview(port: u16) -> Result<serde_json::Value, String> {
    let path = "/api/overview";
    let reply = call(port, "GET", path, None, PROBE_TIMEOUT).map_err(|e| e.to_string())?;
    if reply.status != 200 {
        return Err(format!(
            "GET {path}: HTTP {} {}",
            reply.status,
            reply.body.trim()
        ));
    }
    parse_json(path, &reply.body).map_err(|e| e.to_string())
}

/// Whether an overview lists a running `protocol` listener of `node` on `port`.
pub(crate) fn has_listener(
    overview: &serde_json::Value,
    node: &str,
    protocol: &str,
    port: u16,
) -> bool {
    overview["listeners"].as_array().is_some_and(|listeners| {
        listeners
            .iter()
            .any(|l| l["node"] == node && l["protocol"] == protocol && l["port"] == u64::from(port))
    })
}
