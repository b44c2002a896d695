//! `messaging asyncapi FILE... [--out DIR]`: AsyncAPI 3.0 documents of the topologies.
//!
//! Without `--out` the one document goes to stdout: a service's for one file, the fleet's for
//! several. With `--out`, every service's own document is written too, since code
//! generators and contract tests want one application per document, while the fleet
//! document shows how the services meet on shared channels.

use std::path::{Path, PathBuf};

use messaging_spec::{AsyncApi, Topology};
use serde_json::Value;

use crate::cmd::cross_validate;
use crate::error::CliError;
use crate::input::Input;
use crate::output::{Outcome, service_files, write_json_files};
use crate::rules::Rules;

/// The file name of the fleet document in `--out`.
const FLEET_FILE: &str = "fleet.asyncapi.json";

/// What the command was asked for besides the files.
#[derive(Debug, Clone, Default)]
pub(crate) struct Options {
    /// Write the documents into this directory instead of printing one.
    pub(crate) out: Option<PathBuf>,
    /// A JSON object mapping message types (or routing keys) to payload JSON Schemas.
    pub(crate) schemas: Option<PathBuf>,
    /// `info.title` of the printed (or fleet) document.
    pub(crate) title: Option<String>,
    /// `info.version` of every document.
    pub(crate) api_version: Option<String>,
}

/// Reads `files`, validates them together under `rules` unless `rules` is `None`, and
/// exports them.
pub(crate) fn run(
    files: Vec<PathBuf>,
    rules: Option<Rules>,
    options: &Options,
    verbose: bool,
) -> Outcome {
    let topologies = match cross_validate::load_checked(files, rules) {
        Ok(t) => t,
        Err(outcome) => return outcome,
    };
    let result = builder(options).and_then(|base| match &options.out {
        None => export(&with_title(base, options), &topologies).map(Outcome::Document),
        Some(dir) => write_all(dir, base, options, &topologies).map(|written| Outcome::Valid {
            details: verbose.then(|| format!("wrote {}", written.join(", "))),
        }),
    });
    result.unwrap_or_else(Outcome::from)
}

fn builder(options: &Options) -> Result<AsyncApi, CliError> {
    let mut base = AsyncApi::new();
    if let Some(version) = &options.api_version {
        base = base.version(version.clone());
    }
    if let Some(path) = &options.schemas {
        for (name, schema) in read_schemas(path)? {
            base = base.schema(name, schema);
        }
    }
    Ok(base)
}

fn with_title(base: AsyncApi, options: &Options) -> AsyncApi {
    match &options.title {
        Some(title) => base.title(title.clone()),
        None => base,
    }
}

fn read_schemas(path: &Path) -> Result<serde_json::Map<String, Value>, CliError> {
    let input = Input::File(path.to_owned());
    let bytes = std::fs::read(path).map_err(|source| CliError::Read {
        input: input.clone(),
        source,
    })?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(CliError::Schemas {
            path: path.to_owned(),
        }),
        Err(source) => Err(CliError::Parse { input, source }),
    }
}

fn export(builder: &AsyncApi, topologies: &[Topology]) -> Result<Value, CliError> {
    builder
        .document(topologies)
        .map_err(|source| CliError::Export { source })
}

/// Writes `<service>.asyncapi.json` per topology, and the fleet document when there are
/// several; returns the paths written.
fn write_all(
    dir: &Path,
    base: AsyncApi,
    options: &Options,
    topologies: &[Topology],
) -> Result<Vec<String>, CliError> {
    let names = service_files(topologies, ".asyncapi.json")?;
    let mut files = Vec::with_capacity(names.len() + 1);
    for (t, file) in topologies.iter().zip(&names) {
        let builder = match (&options.title, topologies) {
            (Some(title), [_]) => base.clone().title(title.clone()),
            _ => base.clone(),
        };
        files.push((file.clone(), export(&builder, std::slice::from_ref(t))?));
    }
    if topologies.len() > 1 {
        if names.iter().any(|n| n == FLEET_FILE) {
            return Err(CliError::DuplicateOutput {
                file: FLEET_FILE.to_owned(),
            });
        }
        files.push((
            FLEET_FILE.to_owned(),
            export(&with_title(base, options), topologies)?,
        ));
    }
    let written = write_json_files(dir, files)?;
    for path in &written {
        // stderr, like `visualize --html`, so stdout stays the outcome.
        eprintln!("wrote {}", path.display());
    }
    Ok(written.iter().map(|p| p.display().to_string()).collect())
}
