//! A service that consumes events and exposes `/metrics` (Prometheus text format) and
//! `/ready` (200 when connected and every consumer is bound and fetching, 503 with the
//! reason otherwise) over HTTP with axum.
//!
//! ```text
//! NATS_URL=nats://127.0.0.1:4222 LISTEN_ADDR=127.0.0.1:8080 \
//!     cargo run -p messaging-nats --example axum_service
//! curl -s localhost:8080/ready; curl -s localhost:8080/metrics | grep nats_
//! ```

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use messaging_nats::Connection;
use messaging_nats::prometheus::{Registry, TEXT_FORMAT, TextEncoder};
use messaging_spec::{ConsumableEvent, HandlerError};

/// What the HTTP handlers look at.
pub(crate) struct App {
    pub(crate) conn: Connection,
    pub(crate) registry: Registry,
}

/// `/metrics` and `/ready` over `app`.
pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/ready", get(ready))
        .with_state(app)
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    match TextEncoder::new().encode_to_string(&app.registry.gather()) {
        Ok(body) => (StatusCode::OK, [(header::CONTENT_TYPE, TEXT_FORMAT)], body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn ready(State(app): State<Arc<App>>) -> (StatusCode, String) {
    let health = app.conn.health();
    let status = if health.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, format!("{health}\n"))
}

async fn on_order(ev: ConsumableEvent<serde_json::Value>) -> Result<(), HandlerError> {
    tracing::info!(id = %ev.metadata.id, payload = %ev.payload, "order received");
    Ok(())
}

/// Starts the `axum-demo` service on `url`, reporting metrics to `registry`.
pub(crate) async fn connect(
    url: &str,
    registry: &Registry,
) -> Result<Connection, messaging_nats::Error> {
    Connection::builder("axum-demo")
        .url(url)
        .metrics(registry)
        .event_consumer("Order.#", on_order)
        .start()
        .await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt::init();
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    let addr = std::env::var("LISTEN_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let registry = Registry::new();
    let conn = connect(&url, &registry).await?;
    let app = Arc::new(App { conn, registry });
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!(%addr, "serving /metrics and /ready");
    axum::serve(listener, router(Arc::clone(&app)))
        .with_graceful_shutdown(async {
            // An error here means no signal handler; then run until killed.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
        .await?;
    if let Ok(app) = Arc::try_unwrap(app) {
        app.conn.close().await?;
    }
    Ok(())
}
