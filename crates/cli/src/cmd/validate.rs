//! `messaging validate [FILE|-]`: one topology on its own.

use messaging_spec::validate;

use crate::input::Input;
use crate::output::Outcome;

/// Validates the topology read from `input`.
pub(crate) fn run(input: &Input, verbose: bool) -> Outcome {
    let topology = match input.read_topology() {
        Ok(t) => t,
        Err(e) => return e.into(),
    };
    match validate(&topology) {
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
