//! Which rule set the commands validate with (`--rules`).

use messaging_spec::{
    Topology, ValidationErrors, validate, validate_for_export, validate_topologies,
    validate_topologies_for_export,
};

/// The validation rules: the Go reference's, or the ones for topologies transports export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Rules {
    /// Go's specverify exactly: publish endpoints need a routing key (what the fixtures expect).
    #[default]
    Spec,
    /// Topologies exported by transports (Go, TypeScript, Rust): a publisher without a
    /// routing key publishes any key on its exchange, and service-response consumers need no
    /// declared publisher.
    Export,
}

impl Rules {
    /// Validates one topology.
    pub(crate) fn validate(self, topology: &Topology) -> Result<(), ValidationErrors> {
        match self {
            Self::Spec => validate(topology),
            Self::Export => validate_for_export(topology),
        }
    }

    /// Validates the topologies together.
    pub(crate) fn validate_topologies(
        self,
        topologies: &[Topology],
    ) -> Result<(), ValidationErrors> {
        match self {
            Self::Spec => validate_topologies(topologies),
            Self::Export => validate_topologies_for_export(topologies),
        }
    }
}
