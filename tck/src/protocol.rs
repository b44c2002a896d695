//! The TCK's JSON-RPC methods: one request line in, one response out.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use messaging_spec::tck::{
    HelloParams, HelloResult, PROTOCOL_VERSION, PublishParams, ReceivedResult, RpcRequest,
    RpcResponse, ServiceParams, StartServiceParams,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::{RawValue, to_raw_value};

use crate::broker::Broker;
use crate::error::{Error, Result};
use crate::service::Service;

/// The methods of protocol version 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    /// Version handshake.
    Hello,
    /// Start a service from intents.
    StartService,
    /// Publish through a service's publisher.
    Publish,
    /// What a service has received so far.
    Received,
    /// Stop a service.
    CloseService,
    /// Stop everything and exit.
    Shutdown,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Self::Hello => "hello",
            Self::StartService => "start_service",
            Self::Publish => "publish",
            Self::Received => "received",
            Self::CloseService => "close_service",
            Self::Shutdown => "shutdown",
        }
    }
}

impl FromStr for Method {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "hello" => Self::Hello,
            "start_service" => Self::StartService,
            "publish" => Self::Publish,
            "received" => Self::Received,
            "close_service" => Self::CloseService,
            "shutdown" => Self::Shutdown,
            other => return Err(Error::UnknownMethod(other.to_owned())),
        })
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether to keep reading requests after this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Serve the next request.
    Continue,
    /// Write the response, close everything and exit.
    Exit,
}

/// The response to one request, and what to do next.
#[derive(Debug)]
pub(crate) struct Reply {
    /// The line to write to fd 3.
    pub(crate) response: RpcResponse,
    /// What to do after writing it.
    pub(crate) flow: Flow,
}

/// A request whose envelope and method are valid.
#[derive(Debug)]
struct Request {
    id: i64,
    method: Method,
    params: Option<Box<RawValue>>,
}

/// Parses a request line. On failure, returns the id to answer with: the request's own
/// when it can be read, else 0.
/// Boxed: the error type holds any transport's error, which is large.
fn parse(line: &[u8]) -> std::result::Result<Request, Box<(i64, Error)>> {
    let request: RpcRequest = serde_json::from_slice(line)
        .map_err(|e| Box::new((recover_id(line), Error::Malformed(e))))?;
    let method = request
        .method
        .parse()
        .map_err(|e| Box::new((request.id, e)))?;
    Ok(Request {
        id: request.id,
        method,
        params: request.params,
    })
}

fn recover_id(line: &[u8]) -> i64 {
    #[derive(Deserialize)]
    struct IdOnly {
        id: i64,
    }
    serde_json::from_slice::<IdOnly>(line).map_or(0, |r| r.id)
}

/// Decodes a method's params; absent or `null` params read as `{}`.
fn params<T: DeserializeOwned>(method: Method, raw: Option<&RawValue>) -> Result<T> {
    serde_json::from_str(raw.map_or("{}", RawValue::get))
        .map_err(|source| Error::InvalidParams { method, source })
}

fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Box<RawValue>> {
    to_raw_value(value).map_err(Error::Encode)
}

fn empty() -> Result<Box<RawValue>> {
    encode(&serde_json::Map::new())
}

/// The `hello` result for `broker`.
///
/// # Errors
/// [`Error::ProtocolVersion`] unless the runner asks for version 1.
pub(crate) fn hello(params: &HelloParams, broker: &Broker) -> Result<HelloResult> {
    if params.protocol_version != PROTOCOL_VERSION {
        return Err(Error::ProtocolVersion(params.protocol_version));
    }
    Ok(HelloResult::new(broker.transport_key(), broker.config()))
}

/// The adapter's state: the broker and the running services by name.
#[derive(Debug)]
pub(crate) struct Adapter {
    broker: Broker,
    services: BTreeMap<String, Service>,
}

impl Adapter {
    /// An adapter with no services, for `broker`.
    pub(crate) fn new(broker: Broker) -> Self {
        Self {
            broker,
            services: BTreeMap::new(),
        }
    }

    /// Serves one request line. Blank lines get no response (`None`).
    pub(crate) async fn handle_line(&mut self, line: &[u8]) -> Option<Reply> {
        if line.trim_ascii().is_empty() {
            return None;
        }
        let reply = match parse(line) {
            Ok(request) => {
                let flow = if request.method == Method::Shutdown {
                    Flow::Exit
                } else {
                    Flow::Continue
                };
                let result = self
                    .dispatch(request.method, request.params.as_deref())
                    .await;
                Reply {
                    response: respond(request.id, Some(request.method), result),
                    flow,
                }
            }
            Err(failed) => Reply {
                response: respond(failed.0, None, Err(failed.1)),
                flow: Flow::Continue,
            },
        };
        Some(reply)
    }

    async fn dispatch(&mut self, method: Method, raw: Option<&RawValue>) -> Result<Box<RawValue>> {
        match method {
            Method::Hello => encode(&hello(&params(method, raw)?, &self.broker)?),
            Method::StartService => self.start_service(params(method, raw)?).await,
            Method::Publish => {
                let p: PublishParams = params(method, raw)?;
                self.service(&p.service_name)?.publish(p).await?;
                empty()
            }
            Method::Received => {
                let p: ServiceParams = params(method, raw)?;
                encode(&ReceivedResult::new(
                    self.service(&p.service_name)?.received(),
                ))
            }
            Method::CloseService => {
                // Always succeeds: the runner calls this from cleanup, where an error is fatal.
                match params::<ServiceParams>(method, raw) {
                    Ok(p) => self.close_service(&p.service_name).await,
                    Err(e) => tracing::warn!(error = %e, "close_service ignored"),
                }
                empty()
            }
            Method::Shutdown => empty(),
        }
    }

    async fn start_service(&mut self, p: StartServiceParams) -> Result<Box<RawValue>> {
        if self.services.contains_key(&p.service_name) {
            return Err(Error::ServiceRunning(p.service_name));
        }
        let service = Service::start(&p.service_name, &p.intents, &self.broker).await?;
        let result = encode(&service.started());
        tracing::info!(service = %p.service_name, intents = p.intents.len(), "service started");
        self.services.insert(p.service_name, service);
        result
    }

    fn service(&self, name: &str) -> Result<&Service> {
        self.services
            .get(name)
            .ok_or_else(|| Error::UnknownService(name.to_owned()))
    }

    async fn close_service(&mut self, name: &str) {
        match self.services.remove(name) {
            Some(service) => service.close(name).await,
            None => tracing::warn!(service = name, "close_service for a service not running"),
        }
    }

    /// Closes every service at once (shutdown, or stdin EOF): the runner kills the
    /// process 5 s after `shutdown`.
    pub(crate) async fn close_all(&mut self) {
        let mut closing = tokio::task::JoinSet::new();
        for (name, service) in std::mem::take(&mut self.services) {
            closing.spawn(async move { service.close(&name).await });
        }
        while let Some(done) = closing.join_next().await {
            if let Err(e) = done {
                tracing::warn!(error = %e, "closing a service failed");
            }
        }
    }
}

fn respond(id: i64, method: Option<Method>, result: Result<Box<RawValue>>) -> RpcResponse {
    match result {
        Ok(raw) => RpcResponse::ok(id, raw),
        Err(e) => {
            tracing::warn!(id, method = ?method, error = %e, "request failed");
            RpcResponse::err(id, e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nothing listens here, so anything that reaches the broker fails fast.
    const NO_BROKER: &str = "nats://127.0.0.1:1";

    async fn serve(adapter: &mut Adapter, line: &str) -> (String, Flow) {
        let reply = adapter.handle_line(line.as_bytes()).await.unwrap();
        (serde_json::to_string(&reply.response).unwrap(), reply.flow)
    }

    async fn error_of(adapter: &mut Adapter, line: &str) -> (i64, Error) {
        let reply = adapter.handle_line(line.as_bytes()).await.unwrap();
        assert!(reply.response.result.is_none(), "{line}");
        let rpc = reply.response.error.unwrap();
        assert_eq!(rpc.code, -1);
        assert!(!rpc.message.is_empty());
        let err = match parse(line.as_bytes()) {
            Err(failed) => failed.1,
            Ok(r) => adapter
                .dispatch(r.method, r.params.as_deref())
                .await
                .unwrap_err(),
        };
        assert_eq!(rpc.message, err.to_string());
        (reply.response.id, err)
    }

    #[tokio::test]
    async fn hello_reports_nats_and_the_url_in_go_casing() {
        let mut a = Adapter::new(Broker::Nats {
            url: "nats://10.0.0.1:4222".into(),
        });
        let (line, flow) = serve(
            &mut a,
            r#"{"id":1,"method":"hello","params":{"protocolVersion":1}}"#,
        )
        .await;
        assert_eq!(
            line,
            r#"{"id":1,"result":{"protocolVersion":1,"transportKey":"nats","brokerConfig":{"AMQPURL":"","ManagementURL":"","NATSURL":"nats://10.0.0.1:4222"}}}"#
        );
        assert_eq!(flow, Flow::Continue);
    }

    #[tokio::test]
    async fn hello_rejects_other_versions_and_missing_params() {
        let mut a = Adapter::new(Broker::Nats {
            url: NO_BROKER.into(),
        });
        let (id, e) = error_of(
            &mut a,
            r#"{"id":1,"method":"hello","params":{"protocolVersion":2}}"#,
        )
        .await;
        assert_eq!(id, 1);
        assert!(matches!(e, Error::ProtocolVersion(2)));
        let (_, e) = error_of(&mut a, r#"{"id":2,"method":"hello"}"#).await;
        assert!(matches!(
            e,
            Error::InvalidParams {
                method: Method::Hello,
                ..
            }
        ));
    }

    #[tokio::test]
    async fn malformed_lines_answer_with_the_id_when_recoverable() {
        let mut a = Adapter::new(Broker::Nats {
            url: NO_BROKER.into(),
        });
        for (line, want_id) in [
            ("not json", 0),
            (r#"{"id":7,"method":"#, 0),
            (r#"{"id":"x","method":"hello","params":{}}"#, 0),
            (r#"{"id":9}"#, 9),
            (r#"{"id":10,"method":42}"#, 10),
            ("[1,2,3]", 0),
        ] {
            let (id, e) = error_of(&mut a, line).await;
            assert_eq!(id, want_id, "{line}");
            assert!(matches!(e, Error::Malformed(_)), "{line}");
        }
        // Still serving.
        let (line, _) = serve(
            &mut a,
            r#"{"id":11,"method":"hello","params":{"protocolVersion":1}}"#,
        )
        .await;
        assert!(line.starts_with(r#"{"id":11,"result":"#));
    }

    #[tokio::test]
    async fn blank_lines_get_no_response() {
        let mut a = Adapter::new(Broker::Nats {
            url: NO_BROKER.into(),
        });
        assert!(a.handle_line(b"").await.is_none());
        assert!(a.handle_line(b"  \r\n").await.is_none());
    }

    #[tokio::test]
    async fn unknown_methods_are_errors() {
        let mut a = Adapter::new(Broker::Nats {
            url: NO_BROKER.into(),
        });
        let (id, e) = error_of(&mut a, r#"{"id":3,"method":"explode","params":{}}"#).await;
        assert_eq!(id, 3);
        assert!(matches!(e, Error::UnknownMethod(m) if m == "explode"));
    }

    #[tokio::test]
    async fn requests_for_unknown_services_are_errors() {
        let mut a = Adapter::new(Broker::Nats {
            url: NO_BROKER.into(),
        });
        let (_, e) = error_of(
            &mut a,
            r#"{"id":4,"method":"publish","params":{"serviceName":"ghost","publisherKey":"event-stream","routingKey":"A.B","payload":{}}}"#,
        )
        .await;
        assert!(matches!(e, Error::UnknownService(s) if s == "ghost"));
        let (_, e) = error_of(
            &mut a,
            r#"{"id":5,"method":"received","params":{"serviceName":"ghost"}}"#,
        )
        .await;
        assert!(matches!(e, Error::UnknownService(_)));
        let (_, e) = error_of(&mut a, r#"{"id":6,"method":"publish","params":{}}"#).await;
        assert!(matches!(
            e,
            Error::InvalidParams {
                method: Method::Publish,
                ..
            }
        ));
    }

    #[tokio::test]
    async fn close_service_always_succeeds() {
        let mut a = Adapter::new(Broker::Nats {
            url: NO_BROKER.into(),
        });
        for line in [
            r#"{"id":7,"method":"close_service","params":{"serviceName":"ghost"}}"#,
            r#"{"id":7,"method":"close_service","params":{"bogus":true}}"#,
        ] {
            let (out, flow) = serve(&mut a, line).await;
            assert_eq!(out, r#"{"id":7,"result":{}}"#);
            assert_eq!(flow, Flow::Continue);
        }
    }

    #[tokio::test]
    async fn shutdown_answers_then_exits() {
        let mut a = Adapter::new(Broker::Nats {
            url: NO_BROKER.into(),
        });
        let (out, flow) = serve(&mut a, r#"{"id":8,"method":"shutdown","params":{}}"#).await;
        assert_eq!(out, r#"{"id":8,"result":{}}"#);
        assert_eq!(flow, Flow::Exit);
    }

    #[tokio::test]
    async fn start_service_rejects_queue_publish_before_connecting() {
        let mut a = Adapter::new(Broker::Nats {
            url: NO_BROKER.into(),
        });
        let line = r#"{"id":2,"method":"start_service","params":{"serviceName":"sender-1a2b3c4d","intents":[{"pattern":"queue-publish","direction":"publish","destinationQueue":"task-queue"}]}}"#;
        let reply = a.handle_line(line.as_bytes()).await.unwrap();
        assert_eq!(
            serde_json::to_string(&reply.response).unwrap(),
            r#"{"id":2,"error":{"code":-1,"message":"unsupported intent on NATS: queue-publish"}}"#
        );
        assert!(a.services.is_empty());
    }

    #[tokio::test]
    async fn start_service_reports_connect_failures() {
        let mut a = Adapter::new(Broker::Nats {
            url: NO_BROKER.into(),
        });
        let (_, e) = error_of(
            &mut a,
            r#"{"id":2,"method":"start_service","params":{"serviceName":"orders-1a2b3c4d","intents":[{"pattern":"event-stream","direction":"publish"}]}}"#,
        )
        .await;
        assert!(matches!(
            e,
            Error::Nats(messaging_nats::Error::ConnectFailed { .. })
        ));
        assert!(a.services.is_empty());
    }

    #[test]
    fn method_names_round_trip() {
        for m in [
            Method::Hello,
            Method::StartService,
            Method::Publish,
            Method::Received,
            Method::CloseService,
            Method::Shutdown,
        ] {
            assert_eq!(m.to_string().parse::<Method>().unwrap(), m);
        }
    }
}
