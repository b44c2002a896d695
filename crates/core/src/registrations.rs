//! The registration shortcuts every transport builder offers, written once.

/// Expands, inside a builder's `impl` block, the named registration shortcuts
/// (`event_publisher`, `event_consumer`, `request_handler`, …) as inherent methods that
/// forward to [`Setup`](crate::Setup). The builder must have
/// `fn setup(self, setup: Setup) -> Self`. Pass `queue` to also expand `queue_publisher`
/// (for transports whose rules allow queue publish).
///
/// ```
/// use messaging_core::Setup;
///
/// #[must_use]
/// struct Builder { setups: Vec<Setup> }
///
/// impl Builder {
///     fn setup(mut self, setup: Setup) -> Self {
///         self.setups.push(setup);
///         self
///     }
///     messaging_core::registration_methods!();
/// }
///
/// let b = Builder { setups: Vec::new() }.event_publisher().service_publisher("billing");
/// assert_eq!(b.setups.len(), 2);
/// ```
#[macro_export]
macro_rules! registration_methods {
    (queue) => {
        /// Sends events straight to the queue `queue` (sender-selected distribution: the
        /// default exchange with a `CC` header). Declares nothing.
        pub fn queue_publisher(self, queue: impl Into<String>) -> Self {
            self.setup($crate::Setup::queue_publisher(queue))
        }

        $crate::registration_methods!();
    };
    () => {
        /// Publishes to the `events` stream.
        pub fn event_publisher(self) -> Self {
            self.setup($crate::Setup::event_publisher())
        }

        /// Publishes to a custom stream.
        pub fn stream_publisher(self, stream: impl Into<String>) -> Self {
            self.setup($crate::Setup::stream_publisher(stream))
        }

        /// Sends requests to `target_service`.
        pub fn service_publisher(self, target_service: impl Into<String>) -> Self {
            self.setup($crate::Setup::service_publisher(target_service))
        }

        /// Durable consumer on the `events` stream.
        pub fn event_consumer<T, H>(self, routing_key: impl Into<String>, handler: H) -> Self
        where
            T: $crate::__serde::de::DeserializeOwned + Send + 'static,
            H: $crate::messaging_spec::EventHandler<T>,
        {
            self.setup($crate::Setup::event_consumer(routing_key, handler))
        }

        /// Transient consumer on the `events` stream.
        pub fn transient_event_consumer<T, H>(
            self,
            routing_key: impl Into<String>,
            handler: H,
        ) -> Self
        where
            T: $crate::__serde::de::DeserializeOwned + Send + 'static,
            H: $crate::messaging_spec::EventHandler<T>,
        {
            self.setup($crate::Setup::transient_event_consumer(
                routing_key,
                handler,
            ))
        }

        /// Durable consumer on a custom stream.
        pub fn stream_consumer<T, H>(
            self,
            stream: impl Into<String>,
            routing_key: impl Into<String>,
            handler: H,
        ) -> Self
        where
            T: $crate::__serde::de::DeserializeOwned + Send + 'static,
            H: $crate::messaging_spec::EventHandler<T>,
        {
            self.setup($crate::Setup::stream_consumer(stream, routing_key, handler))
        }

        /// Transient consumer on a custom stream.
        pub fn transient_stream_consumer<T, H>(
            self,
            stream: impl Into<String>,
            routing_key: impl Into<String>,
            handler: H,
        ) -> Self
        where
            T: $crate::__serde::de::DeserializeOwned + Send + 'static,
            H: $crate::messaging_spec::EventHandler<T>,
        {
            self.setup($crate::Setup::transient_stream_consumer(
                stream,
                routing_key,
                handler,
            ))
        }

        /// Answers requests sent to this service.
        pub fn request_handler<T, R, H>(self, routing_key: impl Into<String>, handler: H) -> Self
        where
            T: $crate::__serde::de::DeserializeOwned + Send + 'static,
            R: $crate::__serde::Serialize + Send + 'static,
            H: $crate::messaging_spec::RequestHandler<T, R>,
        {
            self.setup($crate::Setup::request_handler(routing_key, handler))
        }

        /// Handles replies to this service's requests to `target_service`.
        pub fn service_response_consumer<T, H>(
            self,
            target_service: impl Into<String>,
            routing_key: impl Into<String>,
            handler: H,
        ) -> Self
        where
            T: $crate::__serde::de::DeserializeOwned + Send + 'static,
            H: $crate::messaging_spec::EventHandler<T>,
        {
            self.setup($crate::Setup::service_response_consumer(
                target_service,
                routing_key,
                handler,
            ))
        }
    };
}
