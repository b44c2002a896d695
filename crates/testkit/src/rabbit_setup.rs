//! Preparing a broker run: finding `rabbitmq-server` and `epmd`, writing the
//! configuration files, and the environment the broker is started with.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::TestkitError;

/// Environment variable naming the `rabbitmq-server` script to run.
pub const RABBITMQ_SERVER_BIN_ENV: &str = "RABBITMQ_SERVER_BIN";

/// Where Debian's package keeps the versioned scripts.
const DEBIAN_LIB: &str = "/usr/lib/rabbitmq/lib";
/// Debian's unversioned link to the script; what its `su` wrapper runs.
const DEBIAN_BIN: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";
/// The file name of Debian's `/usr/sbin` wrapper, which switches to the
/// `rabbitmq` user and redirects the output: never run that one.
const DEBIAN_WRAPPER: &str = "rabbitmq-script-wrapper";
/// Where Debian's Erlang keeps `epmd` when it is not on `PATH`.
const ERLANG_ROOT: &str = "/usr/lib/erlang";

pub(crate) const CONFIG_FILE: &str = "rabbitmq.conf";
pub(crate) const PLUGINS_FILE: &str = "enabled_plugins";
pub(crate) const CONF_ENV_FILE: &str = "rabbitmq-env.conf";
pub(crate) const ADVANCED_CONFIG_FILE: &str = "advanced.config";
pub(crate) const MNESIA_DIR: &str = "mnesia";
pub(crate) const LOG_DIR: &str = "log";
/// The broker's stdout and stderr (it logs to the console).
pub(crate) const BROKER_LOG: &str = "rabbitmq.log";
pub(crate) const EPMD_LOG: &str = "epmd.log";

/// The four loopback ports one broker uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RabbitPorts {
    pub(crate) amqp: u16,
    pub(crate) management: u16,
    /// Erlang distribution (`RABBITMQ_DIST_PORT`).
    pub(crate) dist: u16,
    /// The broker's own `epmd` (`ERL_EPMD_PORT`).
    pub(crate) epmd: u16,
}

/// The executables a broker run needs.
#[derive(Debug, Clone)]
pub(crate) struct RabbitBinaries {
    pub(crate) server: PathBuf,
    pub(crate) epmd: PathBuf,
}

/// Finds `rabbitmq-server` (`explicit`, else `RABBITMQ_SERVER_BIN`, else the
/// Debian paths) and `epmd` (`PATH`, else Debian's Erlang).
pub(crate) fn locate(explicit: Option<&Path>) -> Result<RabbitBinaries, TestkitError> {
    Ok(RabbitBinaries {
        server: locate_server(explicit)?,
        epmd: locate_epmd()?,
    })
}

fn locate_server(explicit: Option<&Path>) -> Result<PathBuf, TestkitError> {
    let from_env = std::env::var_os(RABBITMQ_SERVER_BIN_ENV).filter(|v| !v.is_empty());
    let (candidates, searched) = match (explicit, from_env) {
        (Some(path), _) => (vec![resolve(path)], path.display().to_string()),
        (None, Some(value)) => {
            let path = PathBuf::from(&value);
            let searched = format!("{RABBITMQ_SERVER_BIN_ENV}={}", path.display());
            (vec![resolve(&path)], searched)
        }
        (None, None) => {
            let mut candidates: Vec<Option<PathBuf>> =
                debian_scripts().into_iter().map(Some).collect();
            candidates.push(Some(PathBuf::from(DEBIAN_BIN)));
            let searched =
                format!("{DEBIAN_LIB}/rabbitmq_server-*/sbin/rabbitmq-server, {DEBIAN_BIN}");
            (candidates, searched)
        }
    };
    candidates
        .into_iter()
        .flatten()
        .find(|path| path.is_file())
        .map(|path| avoid_wrapper(&path))
        .ok_or(TestkitError::RabbitNotFound {
            program: "rabbitmq-server",
            searched,
        })
}

/// A bare name is looked up on `PATH`; a path is taken as it is.
fn resolve(path: &Path) -> Option<PathBuf> {
    if path.components().count() == 1 && !path.has_root() {
        on_path(path.as_os_str())
    } else {
        Some(path.to_path_buf())
    }
}

/// Debian's `/usr/sbin/rabbitmq-server` is a wrapper that `su`s to the
/// `rabbitmq` user and hides the output; run the script it would run.
fn avoid_wrapper(path: &Path) -> PathBuf {
    let is_wrapper = std::fs::canonicalize(path)
        .ok()
        .and_then(|real| real.file_name().map(|n| n == DEBIAN_WRAPPER))
        .unwrap_or(false);
    if is_wrapper && Path::new(DEBIAN_BIN).is_file() {
        PathBuf::from(DEBIAN_BIN)
    } else {
        path.to_path_buf()
    }
}

/// `/usr/lib/rabbitmq/lib/rabbitmq_server-<version>/sbin/rabbitmq-server`,
/// newest version first.
fn debian_scripts() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(DEBIAN_LIB) else {
        return Vec::new();
    };
    let mut found: Vec<(Vec<u64>, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let version = name.strip_prefix("rabbitmq_server-")?;
            let key = version
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|part| part.parse().ok())
                .collect();
            Some((key, entry.path().join("sbin").join("rabbitmq-server")))
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0));
    found.into_iter().map(|(_, path)| path).collect()
}

fn locate_epmd() -> Result<PathBuf, TestkitError> {
    if let Some(path) = on_path("epmd".as_ref()) {
        return Ok(path);
    }
    let fixed = Path::new(ERLANG_ROOT).join("bin").join("epmd");
    if fixed.is_file() {
        return Ok(fixed);
    }
    std::fs::read_dir(ERLANG_ROOT)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("erts-"))
        .map(|entry| entry.path().join("bin").join("epmd"))
        .find(|path| path.is_file())
        .ok_or_else(|| TestkitError::RabbitNotFound {
            program: "epmd",
            searched: format!("PATH, {ERLANG_ROOT}/bin, {ERLANG_ROOT}/erts-*/bin"),
        })
}

fn on_path(name: &std::ffi::OsStr) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A node name no other broker of this machine uses:
/// `rabbit-testkit-<pid>-<n>@localhost` (a short name, so
/// `RABBITMQ_USE_LONGNAME` stays unset).
pub(crate) fn unique_node_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("rabbit-testkit-{}-{n}@localhost", std::process::id())
}

/// Writes `rabbitmq.conf`, `enabled_plugins` and an empty
/// `rabbitmq-env.conf` into `dir`, and creates the data and log folders.
pub(crate) fn write_files(
    dir: &Path,
    ports: RabbitPorts,
    plugins: &[String],
    config: &[String],
) -> Result<(), TestkitError> {
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text)
            .map_err(|e| TestkitError::io(format!("writing {}", path.display()), e))
    };
    write(CONFIG_FILE, render_config(ports, config))?;
    write(PLUGINS_FILE, render_plugins(plugins))?;
    write(CONF_ENV_FILE, String::new())?;
    for sub in [MNESIA_DIR, LOG_DIR] {
        let path = dir.join(sub);
        std::fs::create_dir_all(&path)
            .map_err(|e| TestkitError::io(format!("creating {}", path.display()), e))?;
    }
    Ok(())
}

fn render_config(ports: RabbitPorts, extra: &[String]) -> String {
    let mut text = format!(
        "# Written by messaging-testkit.\n\
         listeners.tcp.default = 127.0.0.1:{amqp}\n\
         management.tcp.port = {management}\n\
         management.tcp.ip = 127.0.0.1\n\
         loopback_users = none\n\
         log.console = true\n\
         log.console.level = info\n\
         log.console.use_colors = off\n\
         log.file = false\n",
        amqp = ports.amqp,
        management = ports.management,
    );
    for line in extra {
        text.push_str(line);
        text.push('\n');
    }
    text
}

fn render_plugins(extra: &[String]) -> String {
    let mut plugins = vec!["rabbitmq_management"];
    for plugin in extra {
        if !plugins.contains(&plugin.as_str()) {
            plugins.push(plugin);
        }
    }
    format!("[{}].\n", plugins.join(","))
}

/// The broker command: the script with `-noinput`, a clean `RABBITMQ_*`
/// environment pointing into `dir`, and `RABBITMQ_ALLOW_INPUT` set so the
/// script `exec`s the Erlang VM (the child process *is* the broker, with no
/// signal-forwarding shell in between).
pub(crate) fn broker_command(server: &Path, dir: &Path, node: &str, ports: RabbitPorts) -> Command {
    let mut command = Command::new(server);
    command.arg("-noinput").current_dir(dir);
    for (key, _) in std::env::vars_os() {
        let key_text = key.to_string_lossy();
        if key_text.starts_with("RABBITMQ_") || key_text.starts_with("ERL_EPMD_") {
            command.env_remove(&key);
        }
    }
    // Our epmd is started first; never let the VM (or the helper VM the
    // broker runs to "ensure epmd") start a daemon we would not own.
    let mut aflags = std::env::var_os("ERL_AFLAGS").unwrap_or_default();
    if !aflags.is_empty() {
        aflags.push(" ");
    }
    aflags.push("-start_epmd false");
    let path = |name: &str| dir.join(name).into_os_string();
    let vars: [(&str, OsString); 13] = [
        ("HOME", dir.as_os_str().to_owned()),
        ("RABBITMQ_ALLOW_INPUT", "true".into()),
        ("RABBITMQ_NODENAME", node.into()),
        ("RABBITMQ_DIST_PORT", ports.dist.to_string().into()),
        ("ERL_EPMD_PORT", ports.epmd.to_string().into()),
        ("RABBITMQ_MNESIA_BASE", path(MNESIA_DIR)),
        ("RABBITMQ_LOG_BASE", path(LOG_DIR)),
        ("RABBITMQ_ENABLED_PLUGINS_FILE", path(PLUGINS_FILE)),
        ("RABBITMQ_CONFIG_FILE", path(CONFIG_FILE)),
        ("RABBITMQ_ADVANCED_CONFIG_FILE", path(ADVANCED_CONFIG_FILE)),
        ("RABBITMQ_CONF_ENV_FILE", path(CONF_ENV_FILE)),
        (
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
            "-kernel inet_dist_use_interface {127,0,0,1}".into(),
        ),
        ("ERL_AFLAGS", aflags),
    ];
    command.envs(vars);
    command
}

/// `epmd` in the foreground on the loopback `port`, as our own child.
pub(crate) fn epmd_command(epmd: &Path, dir: &Path, port: u16) -> Command {
    let mut command = Command::new(epmd);
    command
        .arg("-port")
        .arg(port.to_string())
        .arg("-address")
        .arg("127.0.0.1")
        .current_dir(dir)
        .env_remove("ERL_EPMD_PORT")
        .env_remove("ERL_EPMD_ADDRESS");
    command
}

#[cfg(test)]
mod tests {
    use super::{RabbitPorts, locate_server, render_config, render_plugins, unique_node_name};
    use crate::TestkitError;
    use std::path::Path;

    #[test]
    fn config_binds_loopback_ports() {
        let ports = RabbitPorts {
            amqp: 1111,
            management: 2222,
            dist: 3333,
            epmd: 4444,
        };
        let text = render_config(ports, &["collect_statistics_interval = 500".to_owned()]);
        assert!(text.contains("listeners.tcp.default = 127.0.0.1:1111\n"));
        assert!(text.contains("management.tcp.port = 2222\n"));
        assert!(text.contains("management.tcp.ip = 127.0.0.1\n"));
        assert!(text.contains("loopback_users = none\n"));
        assert!(text.ends_with("collect_statistics_interval = 500\n"));
    }

    #[test]
    fn plugins_always_include_management() {
        assert_eq!(render_plugins(&[]), "[rabbitmq_management].\n");
        let extra = [
            "rabbitmq_management".to_owned(),
            "rabbitmq_sharding".to_owned(),
        ];
        assert_eq!(
            render_plugins(&extra),
            "[rabbitmq_management,rabbitmq_sharding].\n"
        );
    }

    #[test]
    fn node_names_are_unique_short_names() {
        let (a, b) = (unique_node_name(), unique_node_name());
        assert_ne!(a, b);
        assert!(a.starts_with("rabbit-") && a.ends_with("@localhost"), "{a}");
    }

    #[test]
    fn a_missing_script_says_how_to_install_it() {
        match locate_server(Some(Path::new("/nonexistent/rabbitmq-server"))) {
            Err(e @ TestkitError::RabbitNotFound { .. }) => {
                let text = e.to_string();
                assert!(text.contains("apt-get install --no-install-recommends rabbitmq-server"));
                assert!(text.contains("scripts/install-deps.sh"));
            }
            other => panic!("expected RabbitNotFound, got {other:?}"),
        }
    }
}
