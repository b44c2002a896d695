//! Rendering the `nats-server` configuration file the harness starts from.

use std::fmt::Write as _;
use std::path::Path;

/// The cluster block of one node's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClusterConf {
    /// `cluster.name`, the same on every node.
    pub(crate) name: String,
    /// This node's route listener port.
    pub(crate) port: u16,
    /// The route ports of the other nodes.
    pub(crate) routes: Vec<u16>,
}

/// Everything that goes into one server's configuration file.
#[derive(Debug)]
pub(crate) struct ServerConf<'a> {
    /// Client port; `None` lets the server pick one (`-1`).
    pub(crate) port: Option<u16>,
    /// Monitoring port; `None` lets the server pick one.
    pub(crate) monitoring_port: Option<u16>,
    /// Where the server writes its ports file, from which we learn the ports.
    pub(crate) ports_dir: &'a Path,
    pub(crate) server_name: Option<&'a str>,
    /// JetStream store directory; `None` disables JetStream.
    pub(crate) jetstream_store: Option<&'a Path>,
    pub(crate) cluster: Option<&'a ClusterConf>,
    /// The `tls { .. }` and authentication blocks, already rendered.
    pub(crate) security: &'a str,
    /// Caller-supplied configuration text, appended last.
    pub(crate) extra: &'a [String],
}

/// A quoted configuration string; JSON string syntax is valid NATS config.
fn quoted(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

fn port_or_any(port: Option<u16>) -> String {
    port.map_or_else(|| "-1".to_owned(), |p| p.to_string())
}

impl ServerConf<'_> {
    /// The configuration file text.
    pub(crate) fn render(&self) -> String {
        let mut out = String::from("# Written by messaging-testkit.\n");
        // `write!` into a String cannot fail.
        let _ = writeln!(
            out,
            "listen: {}",
            quoted(&format!("127.0.0.1:{}", port_or_any(self.port)))
        );
        let _ = writeln!(
            out,
            "http: {}",
            quoted(&format!("127.0.0.1:{}", port_or_any(self.monitoring_port)))
        );
        let _ = writeln!(
            out,
            "ports_file_dir: {}",
            quoted(&self.ports_dir.to_string_lossy())
        );
        if let Some(name) = self.server_name {
            let _ = writeln!(out, "server_name: {}", quoted(name));
        }
        if let Some(store) = self.jetstream_store {
            let _ = writeln!(
                out,
                "jetstream {{\n  store_dir: {}\n}}",
                quoted(&store.to_string_lossy())
            );
        }
        if let Some(cluster) = self.cluster {
            let routes: Vec<String> = cluster
                .routes
                .iter()
                .map(|p| quoted(&format!("nats-route://127.0.0.1:{p}")))
                .collect();
            let _ = writeln!(
                out,
                "cluster {{\n  name: {}\n  listen: {}\n  routes: [{}]\n}}",
                quoted(&cluster.name),
                quoted(&format!("127.0.0.1:{}", cluster.port)),
                routes.join(", ")
            );
        }
        out.push_str(self.security);
        for extra in self.extra {
            out.push_str(extra);
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::{ClusterConf, ServerConf};
    use std::path::Path;

    #[test]
    fn renders_standalone_jetstream() {
        let conf = ServerConf {
            port: None,
            monitoring_port: Some(8222),
            ports_dir: Path::new("/tmp/x"),
            server_name: Some("s1"),
            jetstream_store: Some(Path::new("/tmp/x/store")),
            cluster: None,
            security: "",
            extra: &["max_payload: 2MB".to_owned()],
        };
        assert_eq!(
            conf.render(),
            "# Written by messaging-testkit.\n\
             listen: \"127.0.0.1:-1\"\n\
             http: \"127.0.0.1:8222\"\n\
             ports_file_dir: \"/tmp/x\"\n\
             server_name: \"s1\"\n\
             jetstream {\n  store_dir: \"/tmp/x/store\"\n}\n\
             max_payload: 2MB\n"
        );
    }

    #[test]
    fn renders_cluster_without_jetstream() {
        let cluster = ClusterConf {
            name: "c".to_owned(),
            port: 6001,
            routes: vec![6002, 6003],
        };
        let conf = ServerConf {
            port: Some(4222),
            monitoring_port: None,
            ports_dir: Path::new("/p"),
            server_name: None,
            jetstream_store: None,
            cluster: Some(&cluster),
            security: "",
            extra: &[],
        };
        assert_eq!(
            conf.render(),
            "# Written by messaging-testkit.\n\
             listen: \"127.0.0.1:4222\"\n\
             http: \"127.0.0.1:-1\"\n\
             ports_file_dir: \"/p\"\n\
             cluster {\n  name: \"c\"\n  listen: \"127.0.0.1:6001\"\n  \
             routes: [\"nats-route://127.0.0.1:6002\", \"nats-route://127.0.0.1:6003\"]\n}\n"
        );
    }
}
