//! `messaging validate [FILE|-]`: one topology on its own.

use crate::input::Input;
use crate::output::Outcome;
use crate::rules::Rules;

/// Validates the topology read from `input` under `rules`.
pub(crate) fn run(input: &Input, rules: Rules, verbose: bool) -> Outcome {
    let topology = match input.read_topology() {
        Ok(t) => t,
        Err(e) => return e.into(),
    };
    match rules.validate(&topology) {
        Ok(()) => Outcome::Valid {
            details: verbose.then(|| {
                format!(
                    "{}: {} endpoints OK",
                    topology.service_name,
                    topology.endpoints.len()
                )
            }),
        },
        Err(errors) => Outcome::invalid_in(input, &errors),
    }
}
