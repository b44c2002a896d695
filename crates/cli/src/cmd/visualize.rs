//! `messaging visualize FILE...`: the Mermaid diagram, optionally with an HTML page of
//! the fleet's picture (or of the diagram rendered by Mermaid).

use std::path::{Path, PathBuf};

use messaging_spec::{Topology, mermaid};

use crate::cmd::cross_validate;
use crate::error::CliError;
use crate::html;
use crate::output::Outcome;
use crate::rules::Rules;

/// Where to write the HTML page, and how it shows the diagram.
#[derive(Debug, Clone)]
pub(crate) struct HtmlPage {
    /// The page's path.
    pub(crate) path: PathBuf,
    /// `None`: the picture drawn here, inline (self-contained). Some URL: the Mermaid
    /// diagram, rendered in the browser by Mermaid's ES-module build from that URL.
    pub(crate) mermaid_src: Option<String>,
}

/// Reads `files`, validates them together under `rules` unless `rules` is `None`, and draws
/// them.
pub(crate) fn run(
    files: Vec<PathBuf>,
    rules: Option<Rules>,
    page: Option<&HtmlPage>,
    svg: Option<&Path>,
) -> Outcome {
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
    if let Some(path) = svg {
        let Some(picture) = crate::picture::svg(&topologies) else {
            return CliError::NothingToDraw.into();
        };
        if let Err(source) = std::fs::write(path, picture) {
            let path = path.to_owned();
            return CliError::Write { path, source }.into();
        }
        eprintln!("wrote {}", path.display());
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
    let text = match &page.mermaid_src {
        Some(src) => html::page(&title, diagram, src),
        None => html::picture_page(&title, crate::picture::svg(topologies).as_deref(), diagram),
    };
    std::fs::write(&page.path, text).map_err(|source| CliError::WriteHtml {
        path: page.path.clone(),
        source,
    })
}
