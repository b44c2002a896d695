//! `messaging doctor`: what an operator checks first on a NATS server the library runs on.
//! Each check is `ok`, `warn` or `fail`; any `fail` exits 1.

use std::time::{Duration, SystemTime};

use messaging_nats::async_nats::{self, jetstream};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::nats_state::{self, NatsState, ReadOptions};
use super::progress::Progress;
use super::table::table;
use super::{DEFAULT_SRV_WAIT, block_on, connect, request_error};
use crate::error::CliError;
use crate::output::Outcome;

/// The oldest server the library supports: consumers with several filter subjects.
const NEEDED: (u64, u64, u64) = (2, 10, 0);
/// Account usage above this share of a limit is a warning, above [`USAGE_FAIL`] a failure.
const USAGE_WARN: f64 = 0.8;
const USAGE_FAIL: f64 = 0.95;
/// Clock skew above this is a warning: `ce-time` and dead-letter times disagree with the
/// server's message times.
const SKEW_WARN: Duration = Duration::from_secs(1);
/// Above this a failure: beyond the default ack wait, timings across hosts stop making sense.
const SKEW_FAIL: Duration = Duration::from_secs(30);

/// The server and the thresholds of `doctor`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Doctor {
    /// The NATS server URL (several comma-separated for a cluster).
    #[arg(long = "nats", value_name = "URL", env = "NATS_URL", default_value = crate::cmd::live::DEFAULT_URL)]
    pub(crate) nats: String,
    /// Warn about a consumer with more messages pending than this.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub(crate) max_lag: u64,
    /// Warn about a consumer with more redelivered messages than this.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub(crate) max_redelivered: usize,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Ok,
    Warn,
    Fail,
}

/// One check's finding (a check may have several, e.g. one per lagging consumer).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Check {
    pub(crate) check: &'static str,
    pub(crate) status: Status,
    pub(crate) detail: String,
}

fn check(check: &'static str, status: Status, detail: impl Into<String>) -> Check {
    Check {
        check,
        status,
        detail: detail.into(),
    }
}

/// Runs `doctor`.
pub(crate) fn run(doctor: &Doctor, verbose: bool) -> Outcome {
    let progress = Progress::new(verbose);
    block_on(async {
        let client = connect(&doctor.nats).await?;
        let checks = checks(&client, doctor, &progress).await?;
        drop(client);
        Ok(outcome(&checks))
    })
}

fn parse_version(v: &str) -> Option<(u64, u64, u64)> {
    let core = v.trim_start_matches('v').split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

async fn checks(
    client: &async_nats::Client,
    doctor: &Doctor,
    progress: &Progress,
) -> Result<Vec<Check>, CliError> {
    let info = client.server_info();
    let mut out = Vec::new();
    out.push(match parse_version(&info.version) {
        Some(v) if v >= NEEDED => check(
            "server",
            Status::Ok,
            format!("nats-server {}: 2.10 or newer (consumers with several filter subjects)", info.version),
        ),
        Some(_) => check(
            "server",
            Status::Fail,
            format!("nats-server {} is older than 2.10: consumers with several routing keys cannot be created; upgrade the server", info.version),
        ),
        None => check("server", Status::Warn, format!("unknown server version {:?}", info.version)),
    });
    if !info.jetstream {
        out.push(check(
            "jetstream",
            Status::Fail,
            "JetStream is not enabled: start nats-server with -js (or a jetstream block)",
        ));
    } else {
        progress.step("asking $JS.API.INFO");
        let js = jetstream::new(client.clone());
        match js.query_account().await {
            Ok(account) => {
                out.push(check(
                    "jetstream",
                    Status::Ok,
                    format!(
                        "enabled; the account has {} stream(s), {} consumer(s), {} in memory, {} on disk",
                        account.streams,
                        account.consumers,
                        bytes(account.memory),
                        bytes(account.storage)
                    ),
                ));
                out.extend(limits(&account));
            }
            Err(e) => out.push(check(
                "jetstream",
                Status::Fail,
                format!("$JS.API.INFO failed: {e}; is JetStream enabled for this account?"),
            )),
        }
        let options = ReadOptions {
            gather_wait: DEFAULT_SRV_WAIT,
            publishers: false,
            services: false,
        };
        let state = nats_state::read(client, options, progress).await?;
        out.extend(retention(&state));
        out.extend(consumers(&state, doctor));
    }
    progress.step("asking $SYS.REQ.ACCOUNT.PING.STATZ");
    out.extend(statz(client).await?);
    progress.done();
    Ok(out)
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

fn limits(account: &jetstream::account::Account) -> Vec<Check> {
    let l = &account.limits;
    let used = [
        ("memory", account.memory as f64, l.max_memory, true),
        ("storage", account.storage as f64, l.max_storage, true),
        ("streams", account.streams as f64, l.max_streams, false),
        (
            "consumers",
            account.consumers as f64,
            l.max_consumers,
            false,
        ),
    ];
    let mut found = Vec::new();
    let mut shown = Vec::new();
    for (what, used, limit, is_bytes) in used {
        let Some(limit) = limit.filter(|l| *l > 0) else {
            shown.push(format!("{what} unlimited"));
            continue;
        };
        let share = used / limit as f64;
        let show = |v: f64| {
            if is_bytes {
                bytes(v as u64)
            } else {
                format!("{v}")
            }
        };
        let text = format!(
            "{what} {} of {} ({:.0}%)",
            show(used),
            show(limit as f64),
            share * 100.0
        );
        if share >= USAGE_FAIL {
            found.push(check(
                "account limits",
                Status::Fail,
                format!("{text}: raise the limit or free space"),
            ));
        } else if share >= USAGE_WARN {
            found.push(check("account limits", Status::Warn, text.clone()));
        }
        shown.push(text);
    }
    if found.is_empty() {
        found.push(check("account limits", Status::Ok, shown.join(", ")));
    }
    found
}

fn retention(state: &NatsState) -> Vec<Check> {
    let mut found: Vec<Check> = state
        .streams
        .iter()
        .filter(|s| {
            let c = &s.info.config;
            c.max_age.is_zero() && c.max_bytes <= 0 && c.max_messages <= 0
        })
        .map(|s| {
            check(
                "stream retention",
                Status::Warn,
                format!(
                    "{}: no max_age, max_bytes or max_msgs, so it grows until the server's storage is full ({} message(s), {})",
                    s.name(),
                    s.info.state.messages,
                    bytes(s.info.state.bytes)
                ),
            )
        })
        .collect();
    if found.is_empty() {
        found.push(check(
            "stream retention",
            Status::Ok,
            format!(
                "all {} stream(s) have a retention limit",
                state.streams.len()
            ),
        ));
    }
    found
}

fn consumers(state: &NatsState, doctor: &Doctor) -> Vec<Check> {
    let mut lag = Vec::new();
    let mut redelivered = Vec::new();
    let mut stalled = Vec::new();
    let mut total = 0;
    for s in &state.streams {
        for c in &s.consumers {
            total += 1;
            let name = format!("{}/{}", s.name(), c.name);
            if c.num_pending > doctor.max_lag {
                lag.push(check(
                    "consumer lag",
                    Status::Warn,
                    format!(
                        "{name}: {} message(s) pending (more than {})",
                        c.num_pending, doctor.max_lag
                    ),
                ));
            }
            if c.num_redelivered > doctor.max_redelivered {
                redelivered.push(check(
                    "redeliveries",
                    Status::Warn,
                    format!(
                        "{name}: {} message(s) redelivered (more than {}); handlers fail or exceed the ack wait",
                        c.num_redelivered, doctor.max_redelivered
                    ),
                ));
            }
            let max = c.config.max_ack_pending;
            if max > 0 && c.num_ack_pending as i64 >= max {
                stalled.push(check(
                    "slow consumers",
                    Status::Warn,
                    format!("{name}: {} unacknowledged, its max_ack_pending: the server waits for its handlers", c.num_ack_pending),
                ));
            }
        }
    }
    if lag.is_empty() {
        lag.push(check(
            "consumer lag",
            Status::Ok,
            format!(
                "no consumer of {total} has more than {} pending",
                doctor.max_lag
            ),
        ));
    }
    if redelivered.is_empty() {
        redelivered.push(check(
            "redeliveries",
            Status::Ok,
            format!(
                "no consumer of {total} has more than {} redelivered",
                doctor.max_redelivered
            ),
        ));
    }
    lag.extend(redelivered);
    lag.extend(stalled);
    lag
}

#[derive(Debug, Deserialize)]
struct Statz {
    server: StatzServer,
    data: StatzData,
}

#[derive(Debug, Deserialize)]
struct StatzServer {
    /// RFC 3339 with nanoseconds.
    time: String,
}

#[derive(Debug, Deserialize)]
struct StatzData {
    #[serde(default)]
    account_statz: Vec<AccountStatz>,
}

#[derive(Debug, Deserialize)]
struct AccountStatz {
    #[serde(default)]
    slow_consumers: u64,
}

/// Slow consumers of the account and the server's clock, from the account-scoped STATZ
/// every account may ask for.
async fn statz(client: &async_nats::Client) -> Result<Vec<Check>, CliError> {
    let before = SystemTime::now();
    let reply = tokio::time::timeout(
        Duration::from_secs(5),
        client.request("$SYS.REQ.ACCOUNT.PING.STATZ", "{}".into()),
    )
    .await;
    let after = SystemTime::now();
    let answer = match reply {
        Ok(Ok(m)) => serde_json::from_slice::<Statz>(&m.payload)
            .map_err(|e| request_error("reading $SYS.REQ.ACCOUNT.PING.STATZ", e))?,
        Ok(Err(e)) => {
            let why =
                format!("$SYS.REQ.ACCOUNT.PING.STATZ: {e} (the server has no system account?)");
            return Ok(vec![
                check(
                    "slow consumers",
                    Status::Warn,
                    format!("not measured: {why}"),
                ),
                check("clock skew", Status::Warn, format!("not measured: {why}")),
            ]);
        }
        Err(_) => {
            let why = "$SYS.REQ.ACCOUNT.PING.STATZ did not answer within 5 s";
            return Ok(vec![
                check(
                    "slow consumers",
                    Status::Warn,
                    format!("not measured: {why}"),
                ),
                check("clock skew", Status::Warn, format!("not measured: {why}")),
            ]);
        }
    };
    let mut out = Vec::new();
    let slow: u64 = answer
        .data
        .account_statz
        .iter()
        .map(|a| a.slow_consumers)
        .sum();
    out.push(if slow == 0 {
        check("slow consumers", Status::Ok, "the server dropped nothing for a slow client of this account")
    } else {
        check(
            "slow consumers",
            Status::Warn,
            format!("{slow} slow-consumer event(s) on the account: the server dropped messages for clients that did not read fast enough"),
        )
    });
    // The server stamped its time somewhere between our send and receive: compare with
    // the midpoint, and say how large that window was.
    let Ok(server_time) = OffsetDateTime::parse(&answer.server.time, &Rfc3339) else {
        out.push(check(
            "clock skew",
            Status::Warn,
            format!(
                "not measured: the server's time {:?} is not RFC 3339",
                answer.server.time
            ),
        ));
        return Ok(out);
    };
    let rtt = after.duration_since(before).unwrap_or_default();
    let local = OffsetDateTime::from(before + rtt / 2);
    let skew = server_time - local;
    let abs = skew.unsigned_abs();
    let sign = if skew.is_negative() { "-" } else { "+" };
    let text = format!(
        "server clock {sign}{}ms from this host's (round trip {}ms; server time {})",
        abs.as_millis(),
        rtt.as_millis(),
        answer.server.time
    );
    out.push(if abs > SKEW_FAIL {
        check(
            "clock skew",
            Status::Fail,
            format!("{text}: fix NTP on the server or this host"),
        )
    } else if abs > SKEW_WARN {
        check("clock skew", Status::Warn, text)
    } else {
        check("clock skew", Status::Ok, text)
    });
    Ok(out)
}

fn outcome(checks: &[Check]) -> Outcome {
    let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
    let (ok, warn, fail) = (count(Status::Ok), count(Status::Warn), count(Status::Fail));
    let rows: Vec<Vec<String>> = checks
        .iter()
        .map(|c| {
            let status = match c.status {
                Status::Ok => "ok",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
            };
            vec![c.check.to_owned(), status.to_owned(), c.detail.clone()]
        })
        .collect();
    let text = format!(
        "{}\n\n{ok} ok, {warn} warning(s), {fail} failure(s)",
        table(&["CHECK", "STATUS", "DETAIL"], &rows)
    );
    let json = json!({
        "ok": fail == 0,
        "checks": checks,
        "summary": {"ok": ok, "warn": warn, "fail": fail},
    });
    if fail == 0 {
        Outcome::Report { text, json }
    } else {
        Outcome::Flagged { text, json }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_as_numbers() {
        assert_eq!(parse_version("2.15.1"), Some((2, 15, 1)));
        assert_eq!(parse_version("v2.9.25-beta.1"), Some((2, 9, 25)));
        assert!(parse_version("2.9.25").is_some_and(|v| v < NEEDED));
        assert_eq!(parse_version("nope"), None);
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
    }
}
