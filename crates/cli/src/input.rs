//! Where a topology comes from (a file or stdin) and how it is read.

mod unknown_keys;

use std::fmt;
use std::io::Read;
use std::path::PathBuf;

use messaging_spec::Topology;
use serde::de::Unexpected;

use crate::error::CliError;

pub(crate) use unknown_keys::UnknownKey;

/// One topology source named on the command line; `-` means stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Input {
    /// Standard input.
    Stdin,
    /// A file, as the user spelled it (so messages show the same path).
    File(PathBuf),
}

impl From<PathBuf> for Input {
    fn from(path: PathBuf) -> Self {
        if path.as_os_str() == "-" {
            Self::Stdin
        } else {
            Self::File(path)
        }
    }
}

impl From<Option<PathBuf>> for Input {
    fn from(path: Option<PathBuf>) -> Self {
        path.map_or(Self::Stdin, Self::from)
    }
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stdin => f.write_str("<stdin>"),
            Self::File(path) => write!(f, "{}", path.display()),
        }
    }
}

impl Input {
    /// Reads and parses the topology, noting the keys it has that a topology has not.
    pub(crate) fn load(self) -> Result<Loaded, CliError> {
        let bytes = self.read_bytes()?;
        match parse_topology(&bytes) {
            Ok(topology) => Ok(Loaded {
                unknown_keys: unknown_keys::find(&bytes),
                input: self,
                topology,
            }),
            Err(source) => Err(CliError::Parse {
                input: self,
                source,
            }),
        }
    }

    fn read_bytes(&self) -> Result<Vec<u8>, CliError> {
        let read = match self {
            Self::Stdin => {
                let mut buf = Vec::new();
                std::io::stdin().lock().read_to_end(&mut buf).map(|_| buf)
            }
            Self::File(path) => std::fs::read(path),
        };
        read.map_err(|source| CliError::Read {
            input: self.clone(),
            source,
        })
    }
}

/// Parses a topology, which must be a JSON object: serde also reads a struct from an
/// array, which Go (and so the spec) rejects.
pub(crate) fn parse_topology(bytes: &[u8]) -> Result<Topology, serde_json::Error> {
    let topology = serde_json::from_slice(bytes)?;
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(serde::de::Error::invalid_type(
            Unexpected::Seq,
            &"a topology object",
        ));
    }
    Ok(topology)
}

/// A topology together with the input it came from, so errors can name the file.
#[derive(Debug, Clone)]
pub(crate) struct Loaded {
    /// Where it was read from.
    pub(crate) input: Input,
    /// What was read.
    pub(crate) topology: Topology,
    /// The keys in the file that the topology format does not have, which parsing drops
    /// (reported unless `--allow-unknown-keys`).
    pub(crate) unknown_keys: Vec<UnknownKey>,
}

/// Reads every input in order; the first failure stops the command.
pub(crate) fn load_all(inputs: impl IntoIterator<Item = PathBuf>) -> Result<Vec<Loaded>, CliError> {
    inputs
        .into_iter()
        .map(|path| Input::from(path).load())
        .collect()
}
