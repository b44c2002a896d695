//! `messaging visualize FILE...`: the Mermaid diagram, optionally as an HTML page too.

use std::path::PathBuf;

use messaging_spec::{Topology, mermaid};

use crate::cmd::cross_validate;
use crate::error::CliError;
use crate::html;
use crate::output::Outcome;
use crate::rules::Rules;

/// Where to write the HTML page and where it loads Mermaid from.
#[derive(Debug, Clone)]
pub(crate) struct HtmlPage {
    /// The page's path.
    pub(crate) path: PathBuf,
    /// The URL of Mermaid's ES-module build.
    pub(crate) mermaid_src: String,
}

/// Reads `files`, validates them together under `rules` unless `rules` is `None`, and draws
/// them.
pub(crate) fn run(files: Vec<PathBuf>, rules: Option<Rules>, page: Option<&HtmlPage>) -> Outcome {
    let topologies = match cross_validate::load_checked(files, rules) {
        Ok(t) => t,
        Err(outcome) => return outcome,
    };
    let diagram = mermaid(&topologies);
    if let Some(page) = page {
        if let Err(e) = write_page(page, &topologies, &diagram) {
            return e.into();
        }
        // stderr, so stdout stays exactly the diagram (or its JSON wrapper).
        eprintln!("wrote {}", page.path.display());
    }
    Outcome::Diagram(diagram)
}

fn write_page(page: &HtmlPage, topologies: &[Topology], diagram: &str) -> Result<(), CliError> {
    let services: Vec<&str> = topologies
        .iter()
        .map(|t| t.service_name.as_str())
        .filter(|s| !s.is_empty())
        .collect();
    let title = format!("Messaging topology: {}", services.join(", "));
    let text = html::page(&title, diagram, &page.mermaid_src);
    std::fs::write(&page.path, text).map_err(|source| CliError::WriteHtml {
        path: page.path.clone(),
        source,
    })
}
