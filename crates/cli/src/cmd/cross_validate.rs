//! `messaging cross-validate FILE...`: the topologies together, each error line naming the
//! file it comes from.

use std::path::PathBuf;

use messaging_spec::{Topology, ValidationError, ValidationErrors};

use crate::input::{Loaded, load_all};
use crate::output::{Outcome, prefixed};
use crate::rules::{Rules, duplicate_services};

/// Reads `files` and validates them together under `rules`.
pub(crate) fn run(files: Vec<PathBuf>, rules: Rules, verbose: bool) -> Outcome {
    let loaded = match load_all(files) {
        Ok(loaded) => loaded,
        Err(e) => return e.into(),
    };
    if let Err(errors) = check(&loaded, rules) {
        return Outcome::Invalid(errors);
    }
    Outcome::Valid {
        details: verbose.then(|| summary(&loaded)),
    }
}

/// Reads `files` and, unless `rules` is `None`, validates them together: the topologies,
/// or the outcome to report instead.
pub(crate) fn load_checked(
    files: Vec<PathBuf>,
    rules: Option<Rules>,
) -> Result<Vec<Topology>, Outcome> {
    let loaded = load_all(files).map_err(Outcome::from)?;
    if let Some(rules) = rules {
        check(&loaded, rules).map_err(Outcome::Invalid)?;
    }
    Ok(loaded.into_iter().map(|l| l.topology).collect())
}

/// Cross-validates, returning the error lines, each prefixed with its file: the
/// reference's lines first (exactly Go's), then what the library rejects file by file, then
/// services given twice.
pub(crate) fn check(loaded: &[Loaded], rules: Rules) -> Result<(), Vec<String>> {
    let topologies: Vec<Topology> = loaded.iter().map(|l| l.topology.clone()).collect();
    let mut lines = match rules.validate_topologies(&topologies) {
        Ok(()) => Vec::new(),
        Err(errors) => attribute(loaded, &errors),
    };
    for l in loaded {
        for violation in rules.library_in(l) {
            lines.extend(prefixed(&l.input, &violation));
        }
    }
    for (i, violation) in duplicate_services(loaded) {
        if let Some(l) = loaded.get(i) {
            lines.extend(prefixed(&l.input, &violation));
        }
    }
    if lines.is_empty() { Ok(()) } else { Err(lines) }
}

/// Prefixes every error's lines with the file of the topology at fault.
fn attribute(loaded: &[Loaded], errors: &ValidationErrors) -> Vec<String> {
    // Per-service failures arrive one per failing topology, in input order, so each claims
    // the next unclaimed topology with its service name.
    let mut claimed = vec![false; loaded.len()];
    let mut lines = Vec::new();
    for error in errors {
        let owner = match error {
            ValidationError::InService { service, .. } => {
                let found = (0..loaded.len())
                    .find(|&i| !claimed[i] && loaded[i].topology.service_name == *service);
                if let Some(i) = found {
                    claimed[i] = true;
                }
                found
            }
            ValidationError::NoPublisher {
                service,
                routing_key,
                exchange,
            } => loaded.iter().position(|l| {
                l.topology.service_name == *service
                    && l.topology
                        .endpoints
                        .iter()
                        .any(|ep| ep.routing_key == *routing_key && ep.exchange_name == *exchange)
            }),
            _ => None,
        };
        match owner.and_then(|i| loaded.get(i)) {
            Some(l) => lines.extend(prefixed(&l.input, error)),
            None => lines.extend(crate::output::error_lines(&error.to_string()).map(str::to_owned)),
        }
    }
    lines
}

fn summary(loaded: &[Loaded]) -> String {
    let names: Vec<&str> = loaded
        .iter()
        .map(|l| l.topology.service_name.as_str())
        .collect();
    let endpoints: usize = loaded.iter().map(|l| l.topology.endpoints.len()).sum();
    format!(
        "{} services ({}), {endpoints} endpoints OK",
        loaded.len(),
        names.join(", ")
    )
}
