//! # A shop, written once
//!
//! Three services whose business code knows nothing of the broker:
//!
//! - [`orders`] places an order: it asks `billing` to charge it (a typed request that may
//!   be refused) and then publishes `Order.Placed`;
//! - [`billing`] answers `Billing.Charge` with a [`Receipt`], and refuses empty charges;
//! - [`notifications`] consumes `Order.Placed` with a durable consumer.
//!
//! Registrations are plain [`Setup`] values and the publishing code is generic over
//! [`EventPublisher`] and [`Requester`], so the same functions run on NATS, RabbitMQ and
//! the in-memory transport. `src/bin/shop-demo.rs` runs them on each broker.

use messaging_core::{EventPublisher, Requester, Setup, TransportError};
use messaging_spec::{ConsumableEvent, HandlerError};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// The service names.
pub const ORDERS: &str = "shop-orders";
/// The billing service.
pub const BILLING: &str = "shop-billing";
/// The notifications service.
pub const NOTIFICATIONS: &str = "shop-notifications";

/// Published when an order was charged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPlaced {
    /// The order.
    pub id: u32,
    /// Who ordered.
    pub customer: String,
    /// The receipt billing issued.
    pub receipt: String,
}

/// A request to charge an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    /// The order.
    pub order_id: u32,
    /// The amount.
    pub cents: u64,
}

/// Billing's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The order.
    pub order_id: u32,
    /// The receipt number.
    pub receipt: String,
}

/// Where the services report what they did (the demo prints it, tests assert it).
pub type Journal = mpsc::UnboundedSender<String>;

/// Billing: charges orders.
pub mod billing {
    use super::{Charge, ConsumableEvent, HandlerError, Journal, Receipt, Setup};

    /// The request key.
    pub const CHARGE: &str = "Billing.Charge";

    /// Billing's registrations: one request handler.
    #[must_use]
    pub fn setups(journal: Journal) -> Vec<Setup> {
        vec![Setup::request_handler(
            CHARGE,
            move |req: ConsumableEvent<Charge>| {
                let journal = journal.clone();
                async move {
                    let Charge { order_id, cents } = req.payload;
                    if cents == 0 {
                        let _ = journal.send(format!(
                            "[billing] refused order {order_id}: nothing to charge"
                        ));
                        return Err(HandlerError::reject("nothing to charge"));
                    }
                    let receipt = format!("R-{order_id:04}");
                    let _ = journal.send(format!(
                        "[billing] charged order {order_id}: {cents} cents for {}",
                        req.metadata.source
                    ));
                    Ok(Receipt { order_id, receipt })
                }
            },
        )]
    }
}

/// Notifications: tells customers about their orders.
pub mod notifications {
    use std::sync::Arc;
    use std::time::Duration;

    use messaging_core::ConsumerOptions;

    use super::{ConsumableEvent, HandlerError, Journal, OrderPlaced, Setup};

    /// How a customer is told; fails while the mail service is down.
    pub trait Mailer: Send + Sync + 'static {
        /// Sends `text` to `customer`.
        ///
        /// # Errors
        /// Why it could not be sent (the event is retried later).
        fn send(&self, customer: &str, text: &str) -> Result<(), String>;
    }

    /// A mailer that is always up and sends nothing.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct NoMail;

    impl Mailer for NoMail {
        fn send(&self, _customer: &str, _text: &str) -> Result<(), String> {
            Ok(())
        }
    }

    /// Retry delays while the mailer is down: 1 s, then every 30 s, at most 5 deliveries.
    pub const BACKOFF: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(30)];

    /// Notifications' registrations: a durable consumer of `Order.Placed`.
    #[must_use]
    pub fn setups(journal: Journal) -> Vec<Setup> {
        setups_with(journal, Arc::new(NoMail))
    }

    /// As [`setups`], mailing through `mailer`: a mailer failure is retried with
    /// [`BACKOFF`].
    #[must_use]
    pub fn setups_with(journal: Journal, mailer: Arc<dyn Mailer>) -> Vec<Setup> {
        let options = ConsumerOptions::new().backoff(BACKOFF).max_deliver(5);
        vec![
            Setup::event_consumer(
                super::orders::PLACED,
                move |ev: ConsumableEvent<OrderPlaced>| {
                    let text = format!(
                        "[notifications] order {} for {} placed (receipt {}, from {})",
                        ev.payload.id, ev.payload.customer, ev.payload.receipt, ev.metadata.source
                    );
                    let sent = mailer
                        .send(&ev.payload.customer, &text)
                        .map_err(HandlerError::retry)
                        .map(|()| {
                            let _ = journal.send(text);
                        });
                    std::future::ready(sent)
                },
            )
            .options(options),
        ]
    }
}

/// Orders: places orders.
pub mod orders {
    use super::{
        BILLING, Charge, EventPublisher, OrderPlaced, Receipt, Requester, Setup, TransportError,
        billing,
    };

    /// The event key.
    pub const PLACED: &str = "Order.Placed";

    /// Orders' registrations: the event publisher and billing's request publisher.
    #[must_use]
    pub fn setups() -> Vec<Setup> {
        vec![Setup::event_publisher(), Setup::service_publisher(BILLING)]
    }

    /// Why an order was not placed.
    #[derive(Debug, thiserror::Error)]
    #[non_exhaustive]
    pub enum OrderError {
        /// Billing refused the charge.
        #[error("billing refused order {id}: {reason}")]
        Refused {
            /// The order.
            id: u32,
            /// Billing's reason.
            reason: String,
        },
        /// The broker failed.
        #[error("messaging failed: {0}")]
        Messaging(String),
    }

    fn failure<E: TransportError>(id: u32, e: &E) -> OrderError {
        match e.remote_message() {
            Some(reason) => OrderError::Refused {
                id,
                reason: reason.to_owned(),
            },
            None => OrderError::Messaging(e.to_string()),
        }
    }

    /// Charges the order, then publishes `Order.Placed`.
    ///
    /// # Errors
    /// [`OrderError::Refused`] when billing refuses; [`OrderError::Messaging`] when the
    /// broker fails.
    pub async fn place<P: EventPublisher, R: Requester>(
        events: &P,
        billing: &R,
        id: u32,
        customer: &str,
        cents: u64,
    ) -> Result<Receipt, OrderError> {
        let receipt: Receipt = billing
            .send_request(
                billing::CHARGE,
                &Charge {
                    order_id: id,
                    cents,
                },
            )
            .await
            .map_err(|e| failure(id, &e))?;
        let placed = OrderPlaced {
            id,
            customer: customer.to_owned(),
            receipt: receipt.receipt.clone(),
        };
        events
            .publish_event(PLACED, &placed)
            .await
            .map_err(|e| failure(id, &e))?;
        Ok(receipt)
    }
}
