//! Handler contracts: what a consumer or request handler is, and how it says "retry" or
//! "give up".

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;

use crate::error::Error;
use crate::metadata::ConsumableEvent;

/// Any error that can cross threads.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// What the transport does with a message whose handler failed.
///
/// Success (ack) is the `Ok` case, so these two are all there is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Disposition {
    /// Transient failure: redeliver (NATS Nak, AMQP nack with requeue).
    Retry,
    /// Permanent failure: never redeliver (NATS Term, AMQP reject without requeue).
    Reject,
}

/// A handler's failure: the error plus whether the message may be retried.
///
/// `?` on any error (anything `Into<BoxError>`) gives [`Disposition::Retry`], except that a
/// [`Error::ParseJson`] anywhere in the error's source chain gives [`Disposition::Reject`]:
/// a body that cannot be decoded never gets better, and Go terminates it the same way.
/// Use [`HandlerError::reject`] for other permanent failures.
///
/// `HandlerError` deliberately does not implement [`std::error::Error`]: if it did, the
/// blanket `From<E: Into<BoxError>>` impl would overlap with `From<HandlerError> for
/// HandlerError`. Use [`HandlerError::as_error`] or [`HandlerError::into_source`] where an
/// `Error` is needed.
///
/// ```
/// use messaging_spec::{ConsumableEvent, Disposition, HandlerError};
///
/// async fn on_order(ev: ConsumableEvent<String>) -> Result<(), HandlerError> {
///     let qty: u32 = ev.payload.parse()?; // a ParseIntError becomes Retry
///     if qty == 0 {
///         return Err(HandlerError::reject("empty order"));
///     }
///     Ok(())
/// }
///
/// # let ev = |p: &str| ConsumableEvent::new(Default::default(), Default::default(), p.to_owned());
/// # let run = |p| futures::executor::block_on(on_order(ev(p)));
/// let err = run("many").unwrap_err();
/// assert_eq!(err.disposition(), Disposition::Retry);
/// assert_eq!(err.to_string(), "invalid digit found in string");
/// assert_eq!(run("0").unwrap_err().disposition(), Disposition::Reject);
/// assert!(run("3").is_ok());
/// ```
pub struct HandlerError {
    disposition: Disposition,
    source: BoxError,
}

impl HandlerError {
    /// A transient failure: the message will be redelivered.
    pub fn retry(e: impl Into<BoxError>) -> Self {
        Self {
            disposition: Disposition::Retry,
            source: e.into(),
        }
    }

    /// A permanent failure: the message will not be redelivered.
    pub fn reject(e: impl Into<BoxError>) -> Self {
        Self {
            disposition: Disposition::Reject,
            source: e.into(),
        }
    }

    /// A payload that did not decode: always [`Disposition::Reject`].
    ///
    /// Accepts a `serde_json::Error` (wrapped as [`Error::ParseJson`], text
    /// `failed to parse JSON payload: …`) or an [`Error`].
    ///
    /// ```
    /// use messaging_spec::{Disposition, HandlerError};
    /// let bad = serde_json::from_str::<u32>("{").unwrap_err();
    /// let e = HandlerError::from_decode(bad);
    /// assert_eq!(e.disposition(), Disposition::Reject);
    /// assert!(e.to_string().starts_with("failed to parse JSON payload"));
    /// ```
    pub fn from_decode(e: impl Into<Error>) -> Self {
        Self::reject(e.into())
    }

    /// Retry or reject.
    #[must_use]
    pub fn disposition(&self) -> Disposition {
        self.disposition
    }

    /// True for [`Disposition::Retry`].
    #[must_use]
    pub fn is_retry(&self) -> bool {
        self.disposition == Disposition::Retry
    }

    /// The underlying error, borrowed.
    #[must_use]
    pub fn as_error(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.source
    }

    /// The underlying error, for error notifications (`Arc::from` makes it shareable).
    #[must_use]
    pub fn into_source(self) -> BoxError {
        self.source
    }
}

/// True when `e` or any of its sources is the spec's parse-JSON error.
fn is_parse_json(e: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(cur) = next {
        if matches!(cur.downcast_ref::<Error>(), Some(Error::ParseJson(_))) {
            return true;
        }
        next = cur.source();
    }
    false
}

impl<E: Into<BoxError>> From<E> for HandlerError {
    fn from(e: E) -> Self {
        let source = e.into();
        if is_parse_json(&*source) {
            Self::reject(source)
        } else {
            Self::retry(source)
        }
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.source, f)
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerError")
            .field("disposition", &self.disposition)
            .field("source", &self.source)
            .finish()
    }
}

/// Handles one event. `Ok` acks the message; `Err` retries or rejects it.
///
/// Implemented for every `Fn(ConsumableEvent<T>) -> impl Future<Output = Result<(), E>>`
/// with `E: Into<HandlerError>`, so a plain `async fn` or an `async` closure is a handler.
/// Structs can implement it directly.
///
/// ```
/// use messaging_spec::{ConsumableEvent, EventHandler, HandlerError};
///
/// async fn on_created(ev: ConsumableEvent<u32>) -> Result<(), std::io::Error> {
///     Ok(())
/// }
///
/// fn register<T, H: EventHandler<T>>(_h: H) {}
/// register(on_created);
/// register(|_ev: ConsumableEvent<u32>| async { Ok::<_, HandlerError>(()) });
/// ```
///
/// A synchronous function is not a handler:
///
/// ```compile_fail,E0277
/// # use messaging_spec::{ConsumableEvent, EventHandler};
/// # fn register<T, H: EventHandler<T>>(_h: H) {}
/// fn not_async(_ev: ConsumableEvent<u32>) -> Result<(), std::io::Error> { Ok(()) }
/// register(not_async);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an event handler for `ConsumableEvent<{T}>`",
    label = "not an event handler",
    note = "an event handler is an `async fn(ConsumableEvent<{T}>) -> Result<(), E>` (or a \
            closure returning such a future) where `E: Into<HandlerError>`, \
            the function and its future being `Send`, or a type implementing `EventHandler<{T}>`"
)]
pub trait EventHandler<T>: Send + Sync + 'static {
    /// Handles `event`.
    fn handle(
        &self,
        event: ConsumableEvent<T>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

impl<T, F, Fut, E> EventHandler<T> for F
where
    F: Fn(ConsumableEvent<T>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send,
    E: Into<HandlerError>,
{
    fn handle(
        &self,
        event: ConsumableEvent<T>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let fut = self(event);
        async move { fut.await.map_err(Into::into) }
    }
}

/// Handles one request and produces its response. `Err` sends no response.
///
/// Implemented for every `Fn(ConsumableEvent<T>) -> impl Future<Output = Result<R, E>>`
/// with `E: Into<HandlerError>`; structs can implement it directly.
///
/// ```
/// use messaging_spec::{ConsumableEvent, RequestHandler};
///
/// async fn double(ev: ConsumableEvent<u32>) -> Result<u32, std::num::TryFromIntError> {
///     Ok(u32::try_from(u64::from(ev.payload) * 2)?)
/// }
///
/// fn register<T, R, H: RequestHandler<T, R>>(_h: H) {}
/// register(double);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a request handler for `ConsumableEvent<{T}>` -> `{R}`",
    label = "not a request handler",
    note = "a request handler is an `async fn(ConsumableEvent<{T}>) -> Result<{R}, E>` (or a \
            closure returning such a future) where `E: Into<HandlerError>`, \
            the function and its future being `Send`, or a type implementing \
            `RequestHandler<{T}, {R}>`"
)]
pub trait RequestHandler<T, R>: Send + Sync + 'static {
    /// Handles `request`, returning the response.
    fn handle(
        &self,
        request: ConsumableEvent<T>,
    ) -> impl Future<Output = Result<R, HandlerError>> + Send;
}

impl<T, R, F, Fut, E> RequestHandler<T, R> for F
where
    F: Fn(ConsumableEvent<T>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, E>> + Send,
    E: Into<HandlerError>,
{
    fn handle(
        &self,
        request: ConsumableEvent<T>,
    ) -> impl Future<Output = Result<R, HandlerError>> + Send {
        let fut = self(request);
        async move { fut.await.map_err(Into::into) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::{DeliveryInfo, Metadata};
    use futures::executor::block_on;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn event<T>(payload: T) -> ConsumableEvent<T> {
        ConsumableEvent::new(
            Metadata::default(),
            DeliveryInfo::new("q", "events", "Order.Created"),
            payload,
        )
    }

    fn run<T, H: EventHandler<T>>(h: &H, payload: T) -> Result<(), HandlerError> {
        block_on(h.handle(event(payload)))
    }

    fn ask<T, R, H: RequestHandler<T, R>>(h: &H, payload: T) -> Result<R, HandlerError> {
        block_on(h.handle(event(payload)))
    }

    #[derive(Debug, thiserror::Error)]
    #[error("wrapped: {0}")]
    struct Wrapper(#[source] Error);

    #[test]
    fn question_mark_means_retry() {
        let e = HandlerError::from(std::io::Error::other("broker busy"));
        assert_eq!(e.disposition(), Disposition::Retry);
        assert!(e.is_retry());
        assert_eq!(e.to_string(), "broker busy");
        assert_eq!(
            HandlerError::from("plain text").disposition(),
            Disposition::Retry
        );
        assert_eq!(
            HandlerError::from(String::from("owned")).to_string(),
            "owned"
        );
    }

    #[test]
    fn parse_json_anywhere_in_the_chain_means_reject() {
        let bad = serde_json::from_str::<u32>("x").map_err(Error::from);
        let Err(bad) = bad else {
            panic!("\"x\" is not JSON");
        };
        assert_eq!(
            HandlerError::from(bad.clone()).disposition(),
            Disposition::Reject
        );
        let wrapped = HandlerError::from(Wrapper(bad));
        assert_eq!(wrapped.disposition(), Disposition::Reject);
        assert!(
            wrapped
                .to_string()
                .starts_with("wrapped: failed to parse JSON payload")
        );
        // A raw serde error is the handler's own business: retry, as in Go.
        let raw = serde_json::from_str::<u32>("x")
            .err()
            .map(HandlerError::from);
        assert_eq!(raw.map(|e| e.disposition()), Some(Disposition::Retry));
    }

    #[test]
    fn from_decode_always_rejects() {
        let Err(bad) = serde_json::from_str::<u32>("[") else {
            panic!("\"[\" is not JSON");
        };
        let e = HandlerError::from_decode(bad);
        assert_eq!(e.disposition(), Disposition::Reject);
        assert!(matches!(
            e.as_error().downcast_ref::<Error>(),
            Some(Error::ParseJson(_))
        ));
        assert!(
            e.to_string().starts_with("failed to parse JSON payload: "),
            "{e}"
        );
    }

    #[test]
    fn explicit_constructors_and_accessors() {
        let e = HandlerError::reject("poison");
        assert!(!e.is_retry());
        assert_eq!(
            format!("{e:?}"),
            r#"HandlerError { disposition: Reject, source: "poison" }"#
        );
        let retry = HandlerError::retry(std::io::Error::other("later"));
        assert!(retry.as_error().is::<std::io::Error>());
        let source = retry.into_source();
        assert!(source.downcast_ref::<std::io::Error>().is_some());
        let shared: crate::SharedError =
            std::sync::Arc::from(HandlerError::reject("x").into_source());
        assert_eq!(shared.to_string(), "x");
    }

    async fn ok_handler(ev: ConsumableEvent<u32>) -> Result<(), HandlerError> {
        if ev.payload == 0 {
            return Err(HandlerError::reject("zero"));
        }
        Ok(())
    }

    async fn io_handler(_ev: ConsumableEvent<u32>) -> Result<(), std::io::Error> {
        Err(std::io::Error::other("down"))
    }

    async fn boxed_handler(ev: ConsumableEvent<String>) -> Result<(), BoxError> {
        let n: i64 = ev.payload.parse()?;
        if n < 0 {
            return Err("negative".into());
        }
        Ok(())
    }

    #[test]
    fn async_fns_are_event_handlers() {
        assert!(run(&ok_handler, 1).is_ok());
        assert_eq!(
            run(&ok_handler, 0).map_err(|e| e.disposition()),
            Err(Disposition::Reject)
        );
        let e = run(&io_handler, 1).err();
        assert_eq!(e.as_ref().map(HandlerError::is_retry), Some(true));
        assert_eq!(e.map(|e| e.to_string()).as_deref(), Some("down"));
        assert!(run(&boxed_handler, "7".to_owned()).is_ok());
        assert!(run(&boxed_handler, "x".to_owned()).is_err_and(|e| e.is_retry()));
        assert!(run(&boxed_handler, "-1".to_owned()).is_err_and(|e| e.is_retry()));
    }

    #[test]
    fn closures_are_event_handlers() {
        let seen = std::sync::Arc::new(AtomicUsize::new(0));
        let counter = std::sync::Arc::clone(&seen);
        let h = move |ev: ConsumableEvent<u32>| {
            let counter = std::sync::Arc::clone(&counter);
            async move {
                counter.fetch_add(ev.payload as usize, Ordering::SeqCst);
                Ok::<(), HandlerError>(())
            }
        };
        assert!(run(&h, 2).is_ok());
        assert!(run(&h, 3).is_ok());
        assert_eq!(seen.load(Ordering::SeqCst), 5);
    }

    /// A stateful handler written as a struct.
    struct Recorder {
        keys: Mutex<Vec<String>>,
    }

    impl EventHandler<String> for Recorder {
        async fn handle(&self, event: ConsumableEvent<String>) -> Result<(), HandlerError> {
            if event.payload.is_empty() {
                return Err(HandlerError::reject("empty payload"));
            }
            self.keys
                .lock()
                .map_err(|_| HandlerError::retry("poisoned"))?
                .push(event.delivery_info.key);
            Ok(())
        }
    }

    impl RequestHandler<u32, String> for Recorder {
        async fn handle(&self, request: ConsumableEvent<u32>) -> Result<String, HandlerError> {
            Ok(format!("#{}", request.payload))
        }
    }

    #[test]
    fn structs_can_implement_both_traits() {
        let r = Recorder {
            keys: Mutex::new(Vec::new()),
        };
        assert!(run(&r, "body".to_owned()).is_ok());
        assert!(run(&r, String::new()).is_err_and(|e| !e.is_retry()));
        assert_eq!(
            r.keys.lock().map(|k| k.clone()).ok(),
            Some(vec!["Order.Created".to_owned()])
        );
        assert_eq!(ask(&r, 4).ok().as_deref(), Some("#4"));
    }

    #[test]
    fn request_handlers_return_responses() {
        async fn echo(ev: ConsumableEvent<String>) -> Result<String, std::fmt::Error> {
            Ok(ev.payload.to_uppercase())
        }
        assert_eq!(ask(&echo, "hi".to_owned()).ok().as_deref(), Some("HI"));
        let failing =
            |_ev: ConsumableEvent<()>| async { Err::<u8, _>(HandlerError::reject("nope")) };
        assert!(ask(&failing, ()).is_err_and(|e| e.disposition() == Disposition::Reject));
    }
}
