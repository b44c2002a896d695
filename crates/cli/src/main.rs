//! `messaging`: validate, cross-validate and visualize gomessaging topology files.
//!
//! Mirrors Go's `specverify`, except that flags may come anywhere, usage errors exit with 2,
//! and error lines name the file they come from.
//!
//! `--rules` picks the validation rules for `validate`, `cross-validate`, `visualize` and
//! `check-fixtures`:
//! - `spec` (default): the Go reference byte for byte, which is what the spec fixtures
//!   expect. It requires a routing key on every publish endpoint, so it rejects the
//!   topologies real services export.
//! - `export`: for topologies exported by transports (Go, TypeScript, and
//!   `ConnectionBuilder::topology()` here): a publisher without a routing key publishes any
//!   key on its exchange, and service-response consumers need no declared publisher. Every
//!   other rule, and every error text, is the reference's.
//!
//! The demo (`scripts/demo.sh`) prints the diagram of its services' exported topologies; for
//! topology files, such as the examples, the same check and drawing are:
//!
//! ```sh
//! messaging visualize --rules export examples/topologies/*.json
//! ```

mod cmd;
mod error;
mod html;
mod input;
mod output;
mod rules;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cmd::visualize::HtmlPage;
use crate::output::Format;
use crate::rules::Rules;

/// Validate and visualize gomessaging topologies.
///
/// Exit status: 0 valid, 1 invalid or unreadable input, 2 usage error.
#[derive(Debug, Parser)]
#[command(
    name = "messaging",
    version,
    about,
    after_help = "Example: messaging visualize --rules export examples/topologies/*.json"
)]
struct Cli {
    /// Output format.
    #[arg(long, value_enum, default_value_t, global = true)]
    format: Format,
    /// Show a summary on success.
    #[arg(long, global = true)]
    verbose: bool,
    /// Which validation rules apply.
    #[arg(long, value_enum, default_value_t, global = true)]
    rules: Rules,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate one topology file (stdin when FILE is omitted or `-`).
    Validate {
        /// Topology JSON file, or `-` for stdin.
        file: Option<PathBuf>,
    },
    /// Validate several topologies together: each one, and that every exact consumer has a publisher.
    CrossValidate {
        /// Topology JSON files (`-` for stdin).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the Mermaid diagram of the topologies (validated together first).
    Visualize {
        /// Topology JSON files (`-` for stdin).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Draw even when the topologies do not validate.
        #[arg(long)]
        no_validate: bool,
        /// Also write a self-contained HTML page that renders the diagram.
        #[arg(long, value_name = "OUT.html")]
        html: Option<PathBuf>,
        /// Where the page loads Mermaid's ES-module build from (e.g. a local copy for offline use).
        #[arg(long, value_name = "URL", requires = "html", default_value = html::DEFAULT_MERMAID_SRC)]
        mermaid_src: String,
    },
    /// Check every `*.json` file in a directory (not recursive): topologies must validate,
    /// other files must be valid JSON.
    CheckFixtures {
        /// The directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Validate { file } => cmd::validate::run(&file.into(), cli.rules, cli.verbose),
        Command::CrossValidate { files } => cmd::cross_validate::run(files, cli.rules, cli.verbose),
        Command::Visualize {
            files,
            no_validate,
            html,
            mermaid_src,
        } => {
            let page = html.map(|path| HtmlPage { path, mermaid_src });
            cmd::visualize::run(files, (!no_validate).then_some(cli.rules), page.as_ref())
        }
        Command::CheckFixtures { dir } => cmd::check_fixtures::run(&dir, cli.rules, cli.verbose),
    };
    let mut stdout = std::io::stdout().lock();
    match outcome
        .write(cli.format, &mut stdout)
        .and_then(|()| stdout.flush())
    {
        Ok(()) => outcome.exit_code(),
        Err(e) => {
            eprintln!("messaging: writing output: {e}");
            ExitCode::FAILURE
        }
    }
}
