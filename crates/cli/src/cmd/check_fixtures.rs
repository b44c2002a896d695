//! `messaging check-fixtures DIR`: every `*.json` file directly in DIR is either a valid
//! topology or, when it is not a topology (or has no service name), at least valid JSON.

use std::path::{Path, PathBuf};

use serde::de::IgnoredAny;

use crate::error::CliError;
use crate::input::{Input, parse_topology};
use crate::output::{Outcome, prefixed};
use crate::rules::Rules;

/// Checks the directory's JSON files in name order, topologies under `rules`.
pub(crate) fn run(dir: &Path, rules: Rules, verbose: bool) -> Outcome {
    let files = match json_files(dir) {
        Ok(files) => files,
        Err(e) => return e.into(),
    };
    let errors: Vec<String> = files.iter().flat_map(|path| check(path, rules)).collect();
    if !errors.is_empty() {
        return Outcome::Invalid(errors);
    }
    Outcome::Valid {
        details: verbose
            .then(|| format!("{} JSON files checked in {}", files.len(), dir.display())),
    }
}

fn json_files(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    let read_dir = |source| CliError::ReadDir {
        dir: dir.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_dir)? {
        let entry = entry.map_err(read_dir)?;
        let is_dir = entry.file_type().map_err(read_dir)?.is_dir();
        if !is_dir && entry.file_name().to_string_lossy().ends_with(".json") {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// The error lines for one file (empty when it passes).
fn check(path: &Path, rules: Rules) -> Vec<String> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(source) => {
            let input = Input::File(path.to_owned());
            return vec![CliError::Read { input, source }.to_string()];
        }
    };
    match parse_topology(&bytes) {
        // Not a topology (e.g. a fixture table): only well-formedness is required.
        Err(_) => match serde_json::from_slice::<IgnoredAny>(&bytes) {
            Ok(_) => Vec::new(),
            Err(source) => vec![
                CliError::InvalidJson {
                    path: path.to_owned(),
                    source,
                }
                .to_string(),
            ],
        },
        Ok(topology) if topology.service_name.is_empty() => Vec::new(),
        Ok(topology) => match rules.validate(&topology) {
            Ok(()) => Vec::new(),
            Err(errors) => prefixed(&path.display(), &errors),
        },
    }
}
