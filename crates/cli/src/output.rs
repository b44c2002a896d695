//! Reporting a command's outcome as text or JSON, and the exit code that goes with it.

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;

use crate::error::CliError;

/// How results are printed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// `OK` / `OK: <details>`, or one `ERROR: <line>` per error line.
    #[default]
    Text,
    /// `{"ok": …, "errors": […], "details": "…"}`, indented two spaces.
    Json,
}

/// What a command found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Everything was valid; `details` is shown with `--verbose`.
    Valid {
        /// The success summary, if any.
        details: Option<String>,
    },
    /// A Mermaid diagram to print.
    Diagram(String),
    /// A JSON document (AsyncAPI) to print.
    Document(serde_json::Value),
    /// What a live command did: `text` for people, `json` for `--format json`.
    Report {
        /// The text form.
        text: String,
        /// The JSON form (an object with `"ok": true`).
        json: serde_json::Value,
    },
    /// Like [`Report`](Self::Report), with the JSON form already rendered: a typed value
    /// keeps its field order, which a `serde_json::Value` would sort.
    Rendered {
        /// The text form.
        text: String,
        /// The JSON form, printed as it is.
        json: String,
    },
    /// What a live command found wrong (drift, a failed check): printed as a
    /// [`Report`](Self::Report), but exits 1.
    Flagged {
        /// The text form.
        text: String,
        /// The JSON form (an object with `"ok": false`).
        json: serde_json::Value,
    },
    /// Something was invalid or unreadable: one entry per error line.
    Invalid(Vec<String>),
}

impl Outcome {
    /// An invalid outcome from error text: one entry per non-blank line, trimmed.
    pub(crate) fn invalid(errors: &impl fmt::Display) -> Self {
        Self::Invalid(
            error_lines(&errors.to_string())
                .map(str::to_owned)
                .collect(),
        )
    }

    /// An invalid outcome for the errors of one file: every line is prefixed `<file>: `.
    pub(crate) fn invalid_in(file: &impl fmt::Display, errors: &impl fmt::Display) -> Self {
        Self::Invalid(prefixed(file, errors))
    }

    /// 0 when valid, 1 otherwise (usage errors never get here: clap exits with 2).
    pub(crate) fn exit_code(&self) -> ExitCode {
        match self {
            Self::Valid { .. }
            | Self::Diagram(_)
            | Self::Document(_)
            | Self::Report { .. }
            | Self::Rendered { .. } => ExitCode::SUCCESS,
            Self::Flagged { .. } | Self::Invalid(_) => ExitCode::FAILURE,
        }
    }

    /// Prints the outcome in `format`.
    pub(crate) fn write(&self, format: Format, out: &mut impl Write) -> io::Result<()> {
        match format {
            Format::Text => self.write_text(out),
            Format::Json => {
                match self {
                    Self::Valid { details } => write_json(
                        out,
                        &Report {
                            ok: true,
                            errors: &[],
                            details: details.as_deref(),
                        },
                    ),
                    Self::Invalid(errors) => write_json(
                        out,
                        &Report {
                            ok: false,
                            errors,
                            details: None,
                        },
                    ),
                    Self::Diagram(diagram) => write_json(out, &DiagramReport { ok: true, diagram }),
                    Self::Document(document) => {
                        write_json(out, &DocumentReport { ok: true, document })
                    }
                    Self::Report { json, .. } | Self::Flagged { json, .. } => write_json(out, json),
                    Self::Rendered { json, .. } => out.write_all(json.as_bytes()),
                }?;
                // Go's JSON encoder ends its output with a newline.
                writeln!(out)
            }
        }
    }

    fn write_text(&self, out: &mut impl Write) -> io::Result<()> {
        match self {
            Self::Valid { details: None } => writeln!(out, "OK"),
            Self::Valid {
                details: Some(details),
            } => writeln!(out, "OK: {details}"),
            Self::Diagram(diagram) => out.write_all(diagram.as_bytes()),
            Self::Document(document) => {
                write_json(out, document)?;
                writeln!(out)
            }
            Self::Report { text, .. }
            | Self::Flagged { text, .. }
            | Self::Rendered { text, .. } => writeln!(out, "{text}"),
            Self::Invalid(errors) => errors.iter().try_for_each(|e| writeln!(out, "ERROR: {e}")),
        }
    }
}

impl From<CliError> for Outcome {
    fn from(e: CliError) -> Self {
        Self::invalid(&e)
    }
}

/// A file name for `service` that stays inside the output directory: service names come
/// from input files or the broker, so only `[A-Za-z0-9._-]` reaches a file name.
pub(crate) fn file_stem(service: &str) -> String {
    let stem: String = service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    match stem.trim_start_matches('.') {
        "" => "_".to_owned(),
        s => s.to_owned(),
    }
}

/// The file of each topology, in order: `<service><suffix>`, refusing two that would
/// share one (a second topology of a service would silently overwrite the first).
pub(crate) fn service_files(
    topologies: &[messaging_spec::Topology],
    suffix: &str,
) -> Result<Vec<String>, CliError> {
    let mut names = std::collections::BTreeSet::new();
    topologies
        .iter()
        .map(|t| {
            let file = format!("{}{suffix}", file_stem(&t.service_name));
            if names.insert(file.clone()) {
                Ok(file)
            } else {
                Err(CliError::DuplicateOutput { file })
            }
        })
        .collect()
}

/// Writes each `(file, document)` into `dir` (created when missing) as pretty JSON with a
/// final newline; returns the paths, in order.
pub(crate) fn write_json_files<T: Serialize>(
    dir: &Path,
    files: impl IntoIterator<Item = (String, T)>,
) -> Result<Vec<PathBuf>, CliError> {
    std::fs::create_dir_all(dir).map_err(|source| CliError::Write {
        path: dir.to_owned(),
        source,
    })?;
    let mut written = Vec::new();
    for (file, doc) in files {
        let path = dir.join(file);
        let mut text = serde_json::to_string_pretty(&doc).map_err(|source| CliError::Write {
            path: path.clone(),
            source: source.into(),
        })?;
        text.push('\n');
        std::fs::write(&path, text).map_err(|source| CliError::Write {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

/// The lines of `errors` (split on newlines, trimmed, blanks dropped), each prefixed `<file>: `.
pub(crate) fn prefixed(file: &impl fmt::Display, errors: &impl fmt::Display) -> Vec<String> {
    error_lines(&errors.to_string())
        .map(|l| format!("{file}: {l}"))
        .collect()
}

/// The non-blank lines of `text`, trimmed.
pub(crate) fn error_lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n').map(str::trim).filter(|l| !l.is_empty())
}

#[derive(Serialize)]
struct Report<'a> {
    ok: bool,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    errors: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a str>,
}

#[derive(Serialize)]
struct DiagramReport<'a> {
    ok: bool,
    diagram: &'a str,
}

#[derive(Serialize)]
struct DocumentReport<'a> {
    ok: bool,
    document: &'a serde_json::Value,
}

fn write_json(out: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(outcome: &Outcome, format: Format) -> String {
        let mut buf = Vec::new();
        assert!(outcome.write(format, &mut buf).is_ok());
        String::from_utf8_lossy(&buf).into_owned()
    }

    #[test]
    fn file_stems_stay_inside_the_directory() {
        assert_eq!(file_stem("orders"), "orders");
        assert_eq!(file_stem("../etc/passwd"), "_etc_passwd");
        assert_eq!(file_stem(".."), "_");
        assert_eq!(file_stem("a b"), "a_b");
    }

    #[test]
    fn text_forms() {
        assert_eq!(
            render(&Outcome::Valid { details: None }, Format::Text),
            "OK\n"
        );
        let verbose = Outcome::Valid {
            details: Some("orders: 2 endpoints OK".to_owned()),
        };
        assert_eq!(
            render(&verbose, Format::Text),
            "OK: orders: 2 endpoints OK\n"
        );
        let bad = Outcome::invalid(&"a.json: x\n  b.json: y  \n\n");
        assert_eq!(
            render(&bad, Format::Text),
            "ERROR: a.json: x\nERROR: b.json: y\n"
        );
        let diagram = Outcome::Diagram("graph LR\n".to_owned());
        assert_eq!(render(&diagram, Format::Text), "graph LR\n");
    }

    #[test]
    fn json_forms_omit_empty_fields() {
        assert_eq!(
            render(&Outcome::Valid { details: None }, Format::Json),
            "{\n  \"ok\": true\n}\n"
        );
        assert_eq!(
            render(&Outcome::invalid(&"e1\ne2"), Format::Json),
            "{\n  \"ok\": false,\n  \"errors\": [\n    \"e1\",\n    \"e2\"\n  ]\n}\n"
        );
        assert_eq!(
            render(&Outcome::Diagram("graph LR\n".to_owned()), Format::Json),
            "{\n  \"ok\": true,\n  \"diagram\": \"graph LR\\n\"\n}\n"
        );
    }
}
