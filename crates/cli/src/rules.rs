//! Which rules the topology commands validate with (`--rules`, `--allow-unknown-keys`).
//!
//! Under both rule sets a topology gets the reference's checks first, with Go's exact text,
//! then the library's ([`library`]): the transport, service, stream, routing-key and
//! durable names `start()` refuses, unknown keys, and (across files) a service named
//! twice. The library's checks skip an endpoint the reference already rejects, so nothing
//! is reported twice, and none of them fires on a spec fixture, so `--rules spec` prints
//! exactly what the Go reference prints for every fixture.

mod library;

use std::fmt;

use messaging_spec::{
    Topology, ValidationErrors, validate, validate_for_export, validate_topologies,
    validate_topologies_for_export,
};

pub(crate) use library::{Violation, duplicate_services};

use crate::input::Loaded;

/// The reference's rule set: Go's, or the one for topologies transports export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum RuleSet {
    /// Go's specverify exactly: publish endpoints need a routing key (what the fixtures expect).
    #[default]
    Spec,
    /// Topologies exported by transports (Go, TypeScript, Rust): a publisher without a
    /// routing key publishes any key on its exchange, and service-response consumers need no
    /// declared publisher.
    Export,
}

/// The validation rules: a rule set, and whether keys the topology format lacks pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::Args)]
pub(crate) struct Rules {
    /// Which validation rules apply (both also run the library's name checks).
    #[arg(
        long = "rules",
        value_name = "RULES",
        value_enum,
        default_value_t,
        global = true
    )]
    pub(crate) set: RuleSet,
    /// Accept JSON keys a topology or endpoint does not have (by default they are errors:
    /// parsing would drop them, so a misspelt key reads as a missing one).
    #[arg(long, global = true)]
    pub(crate) allow_unknown_keys: bool,
}

/// What is wrong with one topology: the reference's errors, then the library's.
#[derive(Debug, Clone, Default)]
pub(crate) struct Findings {
    /// What the reference rules report, in their order and text.
    pub(crate) reference: ValidationErrors,
    /// What the library rejects besides.
    pub(crate) library: Vec<Violation>,
}

impl Findings {
    fn into_result(self) -> Result<(), Self> {
        if self.reference.is_empty() && self.library.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for Findings {
    /// One line per finding (the reference's own lines first).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lines = (!self.reference.is_empty())
            .then(|| self.reference.to_string())
            .into_iter()
            .chain(self.library.iter().map(ToString::to_string));
        if let Some(first) = lines.next() {
            f.write_str(&first)?;
        }
        lines.try_for_each(|line| write!(f, "\n{line}"))
    }
}

impl Rules {
    /// The reference's checks of one topology.
    fn reference(self, topology: &Topology) -> ValidationErrors {
        let checked = match self.set {
            RuleSet::Spec => validate(topology),
            RuleSet::Export => validate_for_export(topology),
        };
        checked.err().unwrap_or_default()
    }

    /// Validates one topology: the reference's checks, then the library's name checks.
    pub(crate) fn validate(self, topology: &Topology) -> Result<(), Findings> {
        let reference = self.reference(topology);
        let library = library::check(topology, &reference);
        Findings { reference, library }.into_result()
    }

    /// Validates one topology file: [`Rules::validate`], and its unknown keys unless
    /// they are allowed.
    pub(crate) fn check(self, loaded: &Loaded) -> Result<(), Findings> {
        let reference = self.reference(&loaded.topology);
        let library = self.library(loaded, &reference);
        Findings { reference, library }.into_result()
    }

    /// What the library rejects in one topology file beyond the reference's checks, which
    /// reported `reference` for it.
    fn library(self, loaded: &Loaded, reference: &ValidationErrors) -> Vec<Violation> {
        let keys = loaded
            .unknown_keys
            .iter()
            .cloned()
            .map(Violation::UnknownKey);
        let keys = keys.filter(|_| !self.allow_unknown_keys);
        keys.chain(library::check(&loaded.topology, reference))
            .collect()
    }

    /// What the library rejects in one of several topology files; the reference's
    /// findings come from [`Rules::validate_topologies`].
    pub(crate) fn library_in(self, loaded: &Loaded) -> Vec<Violation> {
        self.library(loaded, &self.reference(&loaded.topology))
    }

    /// The reference's checks of the topologies together (each one, then the publishers
    /// of exact consumers), in the reference's order and text.
    pub(crate) fn validate_topologies(
        self,
        topologies: &[Topology],
    ) -> Result<(), ValidationErrors> {
        match self.set {
            RuleSet::Spec => validate_topologies(topologies),
            RuleSet::Export => validate_topologies_for_export(topologies),
        }
    }
}
