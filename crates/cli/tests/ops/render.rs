//! Rendering a `visualize --html` page in headless Chromium, with Mermaid from a local npm
//! install served on localhost (the page itself is self-contained but for Mermaid).
//! Without chromium or npm, `Browser::find` prints SKIPPED and returns `None`, except
//! under `CI=true`, where it fails.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::browser::{CHROMIUM_LIMIT, Server, chromium_dom, run_bounded};

const NPM_LIMIT: Duration = Duration::from_secs(180);
const MERMAID_PATH: &str = "/node_modules/mermaid/dist/mermaid.esm.min.mjs";

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Chromium plus a localhost file server for a temporary directory holding Mermaid.
pub(crate) struct Browser {
    dir: tempfile::TempDir,
    server: Server,
}

impl Browser {
    /// Installs Mermaid and starts serving; `None` (skipped) without the tools.
    pub(crate) fn find() -> Result<Option<Self>, Error> {
        if let Err(reason) = run_bounded(Command::new("chromium").arg("--version"), CHROMIUM_LIMIT)
        {
            return skip(&format!("chromium unavailable: {reason}"));
        }
        let dir = tempfile::tempdir()?;
        let mut npm = Command::new("npm");
        npm.args([
            "install",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            "--prefix",
        ])
        .arg(dir.path())
        .arg("mermaid@11");
        if let Err(reason) = run_bounded(&mut npm, NPM_LIMIT) {
            return skip(&format!("npm install mermaid@11 failed: {reason}"));
        }
        let server = Server::start(dir.path().to_owned())?;
        Ok(Some(Self { dir, server }))
    }

    /// The served directory.
    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Where pages load Mermaid from.
    pub(crate) fn mermaid_src(&self) -> String {
        format!("http://{}{MERMAID_PATH}", self.server.addr)
    }

    /// Renders `page` (relative to the root) and returns the ids of the drawn nodes, sorted,
    /// failing if one is drawn twice.
    pub(crate) fn node_ids(&self, page: &str) -> Result<Vec<String>, Error> {
        let dom = chromium_dom(self.root(), &format!("http://{}/{page}", self.server.addr))?;
        let start = dom
            .find("<svg")
            .ok_or_else(|| format!("no <svg> in the DOM:\n{dom}"))?;
        let mut ids = Vec::new();
        for (at, _) in dom[start..].match_indices("<g class=\"node ") {
            let tag = &dom[start + at..];
            let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
            let id = tag
                .split_once(" id=\"")
                .and_then(|(_, rest)| rest.split_once('"'))
                .map(|(id, _)| id)
                .ok_or("a node without an id")?;
            // `<prefix>-flowchart-<id>-<n>`
            let id = id.split_once("-flowchart-").map_or(id, |(_, rest)| rest);
            let id = id.rsplit_once('-').map_or(id, |(name, _)| name);
            ids.push(id.to_owned());
        }
        let drawn = ids.len();
        ids.sort();
        ids.dedup();
        if ids.len() != drawn {
            return Err(format!("a node was drawn twice: {drawn} nodes for {ids:?}").into());
        }
        Ok(ids)
    }
}

fn skip(reason: &str) -> Result<Option<Browser>, Error> {
    if messaging_testkit::in_ci() {
        return Err(format!("{reason} (required under CI=true)").into());
    }
    println!("SKIPPED: {reason}");
    Ok(None)
}
