//! `messaging validate [FILE|-]`: one topology on its own.

use crate::input::Input;
use crate::output::Outcome;
use crate::rules::Rules;

/// Validates the topology read from `input` under `rules`.
pub(crate) fn run(input: &Input, rules: Rules, verbose: bool) -> Outcome {
    let loaded = match input.clone().load() {
        Ok(loaded) => loaded,
        Err(e) => return e.into(),
    };
    match rules.check(&loaded) {
        Ok(()) => Outcome::Valid {
            details: verbose.then(|| {
                format!(
                    "{}: {} endpoints OK",
                    loaded.topology.service_name,
                    loaded.topology.endpoints.len()
                )
            }),
        },
        Err(findings) => Outcome::invalid_in(input, &findings),
    }
}
