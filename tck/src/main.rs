//! `messaging-tck-adapter`: serves the gomessaging TCK's subprocess protocol (version 1)
//! over `messaging-nats` or `messaging-amqp`.
//!
//! Requests arrive on stdin, one JSON object per line; each gets one compact JSON line on
//! fd 3. Logs go to stderr (`RUST_LOG`, default `info`). The broker: with
//! `TCK_TRANSPORT=amqp`, RabbitMQ at `RABBITMQ_URL` (or `AMQP_URL`) with its management API
//! at `RABBITMQ_MANAGEMENT_URL` (default `http://guest:guest@localhost:15672`); otherwise
//! NATS at `NATS_URL` (default `nats://127.0.0.1:4222`). The process exits after
//! `shutdown` or on stdin EOF.

mod broker;
mod capture;
mod error;
mod intent;
mod protocol;
mod service;

use std::io::BufRead;
use std::process::ExitCode;

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tracing_subscriber::EnvFilter;

use crate::broker::Broker;
use crate::error::{Error, Result};
use crate::protocol::{Adapter, Flow};

/// Where responses go: the runner's pipe, inherited as fd 3. Opening the path instead of
/// adopting the raw descriptor keeps the crate free of `unsafe`.
const RESPONSE_PATH: &str = "/dev/fd/3";
/// The runner reads response lines with Go's default scanner limit.
const RUNNER_LINE_LIMIT: usize = 64 * 1024;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "messaging-tck-adapter stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    let mut responses = tokio::fs::OpenOptions::new()
        .write(true)
        .open(RESPONSE_PATH)
        .await
        .map_err(|source| Error::ResponseChannel {
            path: RESPONSE_PATH,
            source,
        })?;
    let broker = Broker::from_env();
    tracing::info!(?broker, "serving the TCK protocol");
    let mut adapter = Adapter::new(broker);
    let mut requests = read_stdin()?;
    let outcome = serve(&mut adapter, &mut requests, &mut responses).await;
    adapter.close_all().await;
    outcome
}

async fn serve(
    adapter: &mut Adapter,
    requests: &mut mpsc::Receiver<std::io::Result<Vec<u8>>>,
    responses: &mut tokio::fs::File,
) -> Result<()> {
    while let Some(line) = requests.recv().await {
        let Some(reply) = adapter.handle_line(&line?).await else {
            continue;
        };
        let mut out = serde_json::to_vec(&reply.response).map_err(Error::Encode)?;
        if out.len() >= RUNNER_LINE_LIMIT {
            tracing::warn!(
                id = reply.response.id,
                bytes = out.len(),
                "response exceeds the runner's 64 KiB line limit"
            );
        }
        out.push(b'\n');
        responses.write_all(&out).await?;
        responses.flush().await?;
        if reply.flow == Flow::Exit {
            tracing::info!("shutdown requested");
            return Ok(());
        }
    }
    tracing::info!("stdin closed");
    Ok(())
}

/// Reads stdin lines (any length) on a plain thread: a blocked read there cannot hold up
/// the runtime's shutdown, as a read on tokio's blocking pool would.
fn read_stdin() -> Result<mpsc::Receiver<std::io::Result<Vec<u8>>>> {
    let (tx, rx) = mpsc::channel(1);
    std::thread::Builder::new()
        .name("stdin".to_owned())
        .spawn(move || {
            let mut stdin = std::io::stdin().lock();
            loop {
                let mut line = Vec::new();
                let item = match stdin.read_until(b'\n', &mut line) {
                    Ok(0) => return,
                    Ok(_) => Ok(line),
                    Err(e) => Err(e),
                };
                let failed = item.is_err();
                if tx.blocking_send(item).is_err() || failed {
                    return;
                }
            }
        })?;
    Ok(rx)
}
