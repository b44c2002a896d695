//! Topology validation (stub; being written).

/// One validation failure.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValidationError {}

/// All validation failures of one call, in order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("validation failed")]
pub struct ValidationErrors(pub Vec<ValidationError>);
