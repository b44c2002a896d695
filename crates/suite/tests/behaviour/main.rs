//! The behavioural suite against every transport: the same scenarios, the same
//! assertions. Each transport module starts its broker once per binary.

/// One `#[tokio::test]` per scenario for a harness expression.
macro_rules! scenarios {
    ($harness:expr) => {
        scenarios!(@each $harness;
            publish_then_consume, fan_out, wildcards, grouped_keys, transient, request_reply,
            remote_error, decode_failure, handler_retry, panics, close_with_work_in_flight,
            queue_publish, wildcard_requests, dead_letter_exhausted);
    };
    (@each $harness:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                messaging_suite::scenarios::$name(&$harness).await;
            }
        )*
    };
}

mod amqp;
mod memory;
mod nats;
