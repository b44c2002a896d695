//! `messaging`: validate, cross-validate, visualize and export (AsyncAPI 3.0) gomessaging
//! topology files.
//!
//! Mirrors Go's `specverify`, except that flags may come anywhere, usage errors exit with 2,
//! and error lines name the file they come from.
//!
//! `--rules` picks the validation rules for `validate`, `cross-validate`, `visualize`,
//! `asyncapi` and `check-fixtures`:
//! - `spec` (default): the Go reference byte for byte, which is what the spec fixtures
//!   expect. It requires a routing key on every publish endpoint, so it rejects the
//!   topologies real services export.
//! - `export`: for topologies exported by transports (Go, TypeScript, and
//!   `ConnectionBuilder::topology()` here): a publisher without a routing key publishes any
//!   key on its exchange, and service-response consumers need no declared publisher. Every
//!   other rule, and every error text, is the reference's.
//!
//! Under both, the library's own checks follow the reference's (names `start()` refuses,
//! unknown transports, a service given twice, and unknown JSON keys unless
//! `--allow-unknown-keys`); no spec fixture trips them (`rules.rs`).
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
mod picture;
mod rules;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cmd::asyncapi::Options as AsyncApiOptions;
use crate::cmd::visualize::HtmlPage;
use crate::output::Format;
use crate::rules::Rules;

/// Validate, visualize and export gomessaging topologies; discover, plan and doctor a live
/// broker; tail, publish, request and replay dead letters on a live NATS server.
///
/// Exit status: 0 valid (or done), 1 invalid or unreadable input, a broker error, drift
/// (`plan`) or a failed check (`doctor`), 2 usage error.
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
    /// `--rules` and `--allow-unknown-keys`.
    #[command(flatten)]
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
        /// Also write an HTML page with the picture of the fleet: self-contained (the SVG is
        /// drawn here and inlined; no script, nothing loaded when it is viewed).
        #[arg(long, value_name = "OUT.html")]
        html: Option<PathBuf>,
        /// Render the page's diagram with Mermaid instead, loading its ES-module build from
        /// URL (`html::DEFAULT_MERMAID_SRC` is the published one).
        #[arg(long, value_name = "URL", requires = "html")]
        mermaid_src: Option<String>,
        /// Also write the picture alone, as an SVG file.
        #[arg(long, value_name = "OUT.svg")]
        svg: Option<PathBuf>,
    },
    /// Print the AsyncAPI 3.0 document of the topologies (validated together first): one
    /// service's for one file, the fleet's for several.
    Asyncapi {
        /// Topology JSON files (`-` for stdin).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Write `<service>.asyncapi.json` for each topology (and `fleet.asyncapi.json` for
        /// several) into DIR instead of printing.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// A JSON object mapping message types (or routing keys) to payload JSON Schemas;
        /// other messages get an open schema.
        #[arg(long, value_name = "FILE")]
        schemas: Option<PathBuf>,
        /// `info.title` of the printed or fleet document.
        #[arg(long)]
        title: Option<String>,
        /// `info.version` of the documents.
        #[arg(long, value_name = "VERSION")]
        api_version: Option<String>,
        /// Export even when the topologies do not validate.
        #[arg(long)]
        no_validate: bool,
    },
    /// Print live events as they are published (a transient consumer; nothing is left on
    /// the server).
    Tail {
        #[command(flatten)]
        server: cmd::live::Server,
        /// Routing-key pattern (`*` one token, `#` or `>` the rest).
        #[arg(default_value = "#")]
        pattern: String,
        /// The stream.
        #[arg(long, default_value = "events")]
        stream: String,
        /// Start with the events the stream holds, not only new ones.
        #[arg(long)]
        from_start: bool,
        /// Stop after this many events (default: on Ctrl-C).
        #[arg(long)]
        count: Option<usize>,
        /// Stop after this many seconds without an event.
        #[arg(long, value_name = "SECONDS")]
        idle: Option<u64>,
    },
    /// Publish one event (JSON body) and wait for the stream's ack.
    Publish {
        #[command(flatten)]
        server: cmd::live::Server,
        /// The routing key.
        key: String,
        /// The JSON body.
        body: String,
        /// A custom stream instead of `events`.
        #[arg(long)]
        stream: Option<String>,
        /// The CloudEvents id (default: a new UUID).
        #[arg(long)]
        id: Option<String>,
    },
    /// Call a service's request handler and print its reply.
    Request {
        #[command(flatten)]
        server: cmd::live::Server,
        /// The service that handles the request.
        target: String,
        /// The routing key.
        key: String,
        /// The JSON body.
        body: String,
    },
    /// Dead letters: list, show or replay what consumers gave up on.
    Dlq {
        #[command(flatten)]
        server: cmd::live::Server,
        /// The dead-letter stream.
        #[arg(long, default_value = messaging_nats::DEFAULT_DEAD_LETTER_STREAM)]
        stream: String,
        #[command(subcommand)]
        action: DlqAction,
    },
    /// Reconstruct each service's topology from a live broker (NATS, or RabbitMQ's
    /// management API): a text summary, a JSON array with `--format json`, or one file per
    /// service with `--out DIR`.
    Discover(cmd::ops::discover::Discover),
    /// Compare declared topology files with a live broker; exit 1 on drift.
    Plan(cmd::ops::plan::Plan),
    /// Check a NATS server: version, JetStream and its limits, retention, lag,
    /// redeliveries, slow consumers and clock skew; exit 1 on a failed check.
    Doctor(cmd::ops::doctor::Doctor),
    /// Check every `*.json` file in a directory (not recursive): topologies must validate,
    /// other files must be valid JSON.
    CheckFixtures {
        /// The directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum DlqAction {
    /// One line per dead letter, oldest first.
    List {
        /// The first sequence to look at.
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Everything about one dead letter: why, from where, its headers and body.
    Show {
        /// Its sequence in the dead-letter stream.
        sequence: u64,
    },
    /// Publish dead letters back to the subjects they came from, then delete them.
    Replay {
        /// Their sequences in the dead-letter stream.
        #[arg(required = true)]
        sequences: Vec<u64>,
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
            svg,
        } => {
            let page = html.map(|path| HtmlPage { path, mermaid_src });
            let rules = (!no_validate).then_some(cli.rules);
            cmd::visualize::run(files, rules, page.as_ref(), svg.as_deref())
        }
        Command::Asyncapi {
            files,
            out,
            schemas,
            title,
            api_version,
            no_validate,
        } => {
            let options = AsyncApiOptions {
                out,
                schemas,
                title,
                api_version,
            };
            let rules = (!no_validate).then_some(cli.rules);
            cmd::asyncapi::run(files, rules, &options, cli.verbose)
        }
        Command::Discover(discover) => cmd::ops::discover::run(&discover, cli.verbose),
        Command::Plan(plan) => cmd::ops::plan::run(&plan, cli.verbose),
        Command::Doctor(doctor) => cmd::ops::doctor::run(&doctor, cli.verbose),
        Command::CheckFixtures { dir } => cmd::check_fixtures::run(&dir, cli.rules, cli.verbose),
        Command::Tail {
            server,
            pattern,
            stream,
            from_start,
            count,
            idle,
        } => {
            let tail = cmd::live::tail::Tail {
                stream,
                pattern,
                from_start,
                count,
                idle: idle.map(std::time::Duration::from_secs),
            };
            cmd::live::tail::run(&server, &tail, cli.format)
        }
        Command::Publish {
            server,
            key,
            body,
            stream,
            id,
        } => cmd::live::publish::publish(&server, stream.as_deref(), &key, &body, id.as_deref()),
        Command::Request {
            server,
            target,
            key,
            body,
        } => cmd::live::publish::request(&server, &target, &key, &body),
        Command::Dlq {
            server,
            stream,
            action,
        } => match action {
            DlqAction::List { from, limit } => cmd::live::dlq::list(&server, &stream, from, limit),
            DlqAction::Show { sequence } => cmd::live::dlq::show(&server, &stream, sequence),
            DlqAction::Replay { sequences } => cmd::live::dlq::replay(&server, &stream, &sequences),
        },
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
