//! Publishing with stream acks: raw async-nats sending the library's header set, against
//! the library. `window` acks in flight (1 = each publish awaits its ack).

use std::collections::VecDeque;

use async_nats::jetstream::{self, stream};
use messaging_nats::Connection;

use crate::measure::{Meter, Sample, side_by_side};
use crate::{BoxErr, event};

/// The CloudEvents headers of the spec, set by hand.
pub(crate) fn ce_headers(key: &str, source: &str, id: &str) -> async_nats::HeaderMap {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("ce-type", key);
    headers.insert("ce-specversion", "1.0");
    headers.insert("ce-source", source);
    headers.insert("ce-datacontenttype", "application/json");
    headers.insert("ce-time", "2026-11-26T10:00:00Z");
    headers.insert("ce-id", id);
    headers
}

/// The headers the library sends with every event.
fn library_headers(id: &str) -> async_nats::HeaderMap {
    let mut headers = ce_headers("Order.Created", "bench-pub", id);
    headers.insert("service", "bench-pub");
    headers.insert("Nats-Msg-Id", id);
    headers
}

/// Creates the raw side's stream; returns the subject its events go to.
async fn create_raw_stream(js: &jetstream::Context, name: &str) -> Result<String, BoxErr> {
    js.create_stream(stream::Config {
        name: name.to_owned(),
        subjects: vec![format!("{name}.>")],
        ..Default::default()
    })
    .await?;
    Ok(format!("{name}.Order.Created"))
}

/// Sends event `i` with raw async-nats and the library's headers; returns its ack to come.
async fn raw_send(
    js: &jetstream::Context,
    subject: &str,
    i: usize,
) -> Result<jetstream::context::PublishAckFuture, BoxErr> {
    let body = serde_json::to_vec(&event(i))?;
    let id = uuid::Uuid::new_v4().to_string();
    Ok(js
        .publish_with_headers(subject.to_owned(), library_headers(&id), body.into())
        .await?)
}

pub(crate) async fn raw(
    url: &str,
    stream_name: &str,
    n: usize,
    window: usize,
    server_pid: Option<u32>,
) -> Result<Sample, BoxErr> {
    let client = async_nats::connect(url).await?;
    let js = jetstream::ContextBuilder::new()
        .max_ack_inflight(window.max(1))
        .backpressure_on_inflight(true)
        .build(client);
    let subject = create_raw_stream(&js, stream_name).await?;
    let meter = Meter::start(server_pid);
    let mut acks = VecDeque::with_capacity(window);
    for i in 0..n {
        if acks.len() == window
            && let Some(ack) = acks.pop_front()
        {
            let _: jetstream::publish::PublishAck = ack.await?;
        }
        acks.push_back(raw_send(&js, &subject, i).await?);
    }
    for ack in acks {
        ack.await?;
    }
    let sample = meter.stop(n);
    js.delete_stream(stream_name).await?;
    Ok(sample)
}

pub(crate) async fn ours(
    url: &str,
    stream_name: &str,
    n: usize,
    window: usize,
    server_pid: Option<u32>,
) -> Result<Sample, BoxErr> {
    let conn = Connection::builder("bench-pub")
        .url(url)
        .max_ack_inflight(window.max(1))
        .stream_publisher(stream_name)
        .start()
        .await?;
    let publisher = conn.stream_publisher(stream_name)?;
    let meter = Meter::start(server_pid);
    send_windowed(&publisher, n, window).await?;
    let sample = meter.stop(n);
    conn.close().await?;
    jetstream::new(async_nats::connect(url).await?)
        .delete_stream(stream_name)
        .await?;
    Ok(sample)
}

/// Fills `stream_name` with `n` events through the library (its headers on the wire), for
/// the consume runs.
pub(crate) async fn fill(url: &str, stream_name: &str, n: usize) -> Result<(), BoxErr> {
    let conn = Connection::builder("bench-fill")
        .url(url)
        .max_ack_inflight(512)
        .stream_publisher(stream_name)
        .start()
        .await?;
    let publisher = conn.stream_publisher(stream_name)?;
    send_windowed(&publisher, n, 512).await?;
    conn.close().await?;
    Ok(())
}

/// Publishes `n` events through the library, awaiting acks in a sliding window.
async fn send_windowed(
    publisher: &messaging_nats::Publisher,
    n: usize,
    window: usize,
) -> Result<(), BoxErr> {
    let mut acks = VecDeque::with_capacity(window);
    for i in 0..n {
        if acks.len() == window
            && let Some(ack) = acks.pop_front()
        {
            ack.await?;
        }
        acks.push_back(publisher.publish("Order.Created", &event(i)).send().await?);
    }
    for ack in acks {
        ack.await?;
    }
    Ok(())
}

/// Sync publishes (each awaits its ack), raw and the library side by side
/// (`measure::side_by_side`), each on its own stream. Returns raw's sample, then ours.
pub(crate) async fn sync_both(
    url: &str,
    sample: usize,
    n: usize,
    raw_first: bool,
) -> Result<(Sample, Sample), BoxErr> {
    let raw_stream = format!("syncraw{sample}");
    let ours_stream = format!("syncours{sample}");
    let js = jetstream::new(async_nats::connect(url).await?);
    let subject = create_raw_stream(&js, &raw_stream).await?;
    let raw = |i: usize| {
        let (js, subject) = (&js, &subject);
        async move {
            let _: jetstream::publish::PublishAck = raw_send(js, subject, i).await?.await?;
            Ok::<_, BoxErr>(())
        }
    };
    let conn = Connection::builder("bench-pub")
        .url(url)
        .max_ack_inflight(1)
        .stream_publisher(&ours_stream)
        .start()
        .await?;
    let publisher = conn.stream_publisher(&ours_stream)?;
    let ours = |i: usize| {
        let publisher = &publisher;
        async move {
            publisher.publish("Order.Created", &event(i)).await?;
            Ok::<_, BoxErr>(())
        }
    };
    let (raw_tally, ours_tally) = side_by_side(n, raw_first, raw, ours).await?;
    conn.close().await?;
    js.delete_stream(&raw_stream).await?;
    js.delete_stream(&ours_stream).await?;
    Ok((
        raw_tally.into_latencies().sample,
        ours_tally.into_latencies().sample,
    ))
}
