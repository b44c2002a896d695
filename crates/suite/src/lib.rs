//! # messaging-suite
//!
//! One behavioural suite for every transport. A transport implements [`Harness`] (start a
//! service from transport-neutral [`Setup`](messaging_core::Setup)s, hand out publishers, close), declares its
//! [`Capabilities`], and [`scenarios`] runs the same scenarios with the same assertions
//! against it. Where a broker cannot do something, the scenario asserts the documented
//! refusal instead of skipping.

mod dead_letters;
mod harness;
pub mod scenarios;
mod wait;

pub use harness::{BoxError, Capabilities, Harness, Started};
pub use wait::{Inbox, WAIT};
