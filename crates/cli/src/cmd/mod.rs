//! One module per subcommand; each turns its arguments into an [`Outcome`](crate::output::Outcome).

pub(crate) mod asyncapi;
pub(crate) mod check_fixtures;
pub(crate) mod cross_validate;
pub(crate) mod live;
pub(crate) mod ops;
pub(crate) mod validate;
pub(crate) mod visualize;
