//! Sequential request-reply: raw Core NATS request to a raw responder, against the
//! library's requester and request handler. Both decode the request and the reply, and
//! both send the CloudEvents headers the spec puts on requests and replies.

use std::time::{Duration, Instant};

use futures::StreamExt;
use messaging_nats::Connection;
use messaging_spec::{ConsumableEvent, HandlerError};

use crate::measure::{Meter, Sample};
use crate::{BoxErr, Event, event};

/// One run: its sample and the latencies, sorted.
pub(crate) struct Latencies {
    pub(crate) sample: Sample,
    pub(crate) sorted: Vec<Duration>,
}

pub(crate) async fn raw(url: &str, n: usize, server_pid: Option<u32>) -> Result<Latencies, BoxErr> {
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
    let meter = Meter::start(server_pid);
    let mut sorted = Vec::with_capacity(n);
    for i in 0..n {
        let body = serde_json::to_vec(&event(i))?;
        let sent = Instant::now();
        let id = uuid::Uuid::new_v4().to_string();
        let mut headers = crate::publish::ce_headers("Bench.Ping", "bench-caller", &id);
        headers.insert("service", "bench-caller");
        let reply = caller
            .request_with_headers("rawrr.ping", headers, body.into())
            .await?;
        let _: Event = serde_json::from_slice(&reply.payload)?;
        sorted.push(sent.elapsed());
    }
    let sample = meter.stop(n);
    serving.abort();
    sorted.sort();
    Ok(Latencies { sample, sorted })
}

async fn echo(ev: ConsumableEvent<Event>) -> Result<Event, HandlerError> {
    Ok(ev.payload)
}

pub(crate) async fn ours(
    url: &str,
    n: usize,
    server_pid: Option<u32>,
) -> Result<Latencies, BoxErr> {
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
    let meter = Meter::start(server_pid);
    let mut sorted = Vec::with_capacity(n);
    for i in 0..n {
        let sent = Instant::now();
        let _: Event = publisher.request("Bench.Ping", &event(i)).await?;
        sorted.push(sent.elapsed());
    }
    let sample = meter.stop(n);
    caller.close().await?;
    service.close().await?;
    sorted.sort();
    Ok(Latencies { sample, sorted })
}
