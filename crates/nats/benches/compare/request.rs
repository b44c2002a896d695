//! Sequential request-reply: raw Core NATS request to a raw responder, against the
//! library's requester and request handler. Both decode the request and the reply, and
//! both send the CloudEvents headers the spec puts on requests and replies.
//!
//! Both sides are connected at once and take turns (`measure::side_by_side`), so a machine
//! that speeds up or slows down during a sample weighs on both alike: latencies this
//! short drift more between runs than they differ.

use futures::StreamExt;
use messaging_nats::{Connection, Publisher};
use messaging_spec::{ConsumableEvent, HandlerError};
use tokio::task::JoinHandle;

use crate::measure::{Latencies, percentile, side_by_side};
use crate::{BoxErr, Event, event};

/// Raw async-nats: a responder task and a caller.
struct Raw {
    caller: async_nats::Client,
    serving: JoinHandle<()>,
}

impl Raw {
    async fn start(url: &str) -> Result<Self, BoxErr> {
        let responder = async_nats::connect(url).await?;
        let mut requests = responder.subscribe("rawrr.ping").await?;
        let replier = responder.clone();
        let serving = tokio::spawn(async move {
            while let Some(msg) = requests.next().await {
                let Some(reply) = msg.reply else { continue };
                let Ok(ev) = serde_json::from_slice::<Event>(&msg.payload) else {
                    continue;
                };
                let Ok(body) = serde_json::to_vec(&ev) else {
                    continue;
                };
                let id = uuid::Uuid::new_v4().to_string();
                let headers = crate::publish::ce_headers("Bench.Ping", "bench-rr", &id);
                if replier
                    .publish_with_headers(reply, headers, body.into())
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
        responder.flush().await?;
        let caller = async_nats::connect(url).await?;
        Ok(Self { caller, serving })
    }

    async fn one(&self, i: usize) -> Result<(), BoxErr> {
        let body = serde_json::to_vec(&event(i))?;
        let id = uuid::Uuid::new_v4().to_string();
        let mut headers = crate::publish::ce_headers("Bench.Ping", "bench-caller", &id);
        headers.insert("service", "bench-caller");
        let reply = self
            .caller
            .request_with_headers("rawrr.ping", headers, body.into())
            .await?;
        let _: Event = serde_json::from_slice(&reply.payload)?;
        Ok(())
    }
}

async fn echo(ev: ConsumableEvent<Event>) -> Result<Event, HandlerError> {
    Ok(ev.payload)
}

/// The library: a service with a request handler and a caller's service publisher.
struct Ours {
    service: Connection,
    caller: Connection,
    publisher: Publisher,
}

impl Ours {
    async fn start(url: &str) -> Result<Self, BoxErr> {
        let service = Connection::builder("bench-rr")
            .url(url)
            .request_handler("Bench.Ping", echo)
            .start()
            .await?;
        let caller = Connection::builder("bench-caller")
            .url(url)
            .service_publisher("bench-rr")
            .start()
            .await?;
        let publisher = caller.service_publisher("bench-rr")?;
        Ok(Self {
            service,
            caller,
            publisher,
        })
    }

    async fn one(&self, i: usize) -> Result<(), BoxErr> {
        let _: Event = self.publisher.request("Bench.Ping", &event(i)).await?;
        Ok(())
    }
}

/// One sample: `n` requests on each side, taking turns; `raw_first` picks who opens.
/// Returns the raw side's run, then the library's.
pub(crate) async fn both(
    url: &str,
    n: usize,
    raw_first: bool,
) -> Result<(Latencies, Latencies), BoxErr> {
    let raw = Raw::start(url).await?;
    let ours = Ours::start(url).await?;
    let (raw_tally, ours_tally) =
        side_by_side(n, raw_first, |i| raw.one(i), |i| ours.one(i)).await?;
    raw.serving.abort();
    ours.caller.close().await?;
    ours.service.close().await?;
    Ok((raw_tally.into_latencies(), ours_tally.into_latencies()))
}

/// One side alone, `n` requests, for a profiler (`BENCH_ONLY=request-raw` or
/// `request-ours`): prints the p50 and the client CPU per request.
pub(crate) async fn alone(url: &str, n: usize, ours: bool) -> Result<(), BoxErr> {
    let tally = if ours {
        let side = Ours::start(url).await?;
        let (_, tally) = side_by_side(n, true, |_| async { Ok(()) }, |i| side.one(i)).await?;
        side.caller.close().await?;
        side.service.close().await?;
        tally
    } else {
        let side = Raw::start(url).await?;
        let (tally, _) = side_by_side(n, true, |i| side.one(i), |_| async { Ok(()) }).await?;
        side.serving.abort();
        tally
    };
    let l = tally.into_latencies();
    let p50 = percentile(&l.sorted, 50);
    let cpu = l.sample.cpu_us_per_message();
    let who = if ours {
        "messaging-nats"
    } else {
        "raw async-nats"
    };
    println!("{who}: p50 {} µs, client {cpu:.1} µs/req", p50.as_micros());
    Ok(())
}
