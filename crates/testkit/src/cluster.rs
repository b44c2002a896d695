//! [`NatsCluster`]: several servers routed into one JetStream cluster.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::config::ClusterConf;
use crate::error::TestkitError;
use crate::ports::free_ports;
use crate::server::{NatsServer, monitor_json};
use crate::wait::{Deadline, Probe};

/// Default bound on each wait while a cluster forms.
const DEFAULT_CLUSTER_TIMEOUT: Duration = Duration::from_secs(30);
/// Route ports are picked before the servers bind them; if another process
/// takes one in between, a node exits and the whole cluster is retried.
const ATTEMPTS: usize = 3;

/// Options for [`NatsCluster`]; made by [`NatsCluster::builder`].
///
/// ```no_run
/// use messaging_testkit::NatsCluster;
///
/// # fn main() -> Result<(), messaging_testkit::TestkitError> {
/// let cluster = NatsCluster::builder(3).name("orders").start()?;
/// assert_eq!(cluster.node(0).and_then(|n| n.server_name()), Some("orders-0"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct NatsClusterBuilder {
    size: usize,
    name: String,
    jetstream: bool,
    config: Vec<String>,
    startup_timeout: Duration,
}

impl NatsClusterBuilder {
    /// Sets `cluster.name`; nodes are named `<name>-0`, `<name>-1`, …
    /// Default `testkit`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Turns JetStream on (the default) or off on every node.
    pub fn jetstream(mut self, enabled: bool) -> Self {
        self.jetstream = enabled;
        self
    }

    /// Appends configuration text to every node's configuration
    /// (see [`NatsServerBuilder::config`](crate::NatsServerBuilder::config)).
    pub fn config(mut self, text: impl Into<String>) -> Self {
        self.config.push(text.into());
        self
    }

    /// Bounds each wait (each node's start, the cluster forming, restarts);
    /// default 30 s.
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Starts the nodes and waits until they are all routed to each other
    /// and (with JetStream) agree on a JetStream meta leader.
    ///
    /// # Errors
    ///
    /// [`TestkitError::InvalidClusterSize`] below two nodes; otherwise as
    /// [`NatsServerBuilder::start`](crate::NatsServerBuilder::start).
    pub fn start(self) -> Result<NatsCluster, TestkitError> {
        if self.size < 2 {
            return Err(TestkitError::InvalidClusterSize { size: self.size });
        }
        let mut attempt = 1;
        loop {
            match self.try_start() {
                Err(TestkitError::Exited { .. }) if attempt < ATTEMPTS => attempt += 1,
                outcome => return outcome,
            }
        }
    }

    fn try_start(&self) -> Result<NatsCluster, TestkitError> {
        let route_ports = free_ports(self.size)?;
        // One at a time: a node is "up" without its peers, and starting
        // them in turn keeps a 2-core machine responsive.
        let nodes = route_ports
            .iter()
            .enumerate()
            .map(|(i, &port)| {
                let cluster = ClusterConf {
                    name: self.name.clone(),
                    port,
                    routes: route_ports.iter().copied().filter(|&p| p != port).collect(),
                };
                let mut node = NatsServer::builder()
                    .server_name(format!("{}-{i}", self.name))
                    .jetstream(self.jetstream)
                    .startup_timeout(self.startup_timeout)
                    .cluster_node(cluster);
                for text in &self.config {
                    node = node.config(text.clone());
                }
                node.start()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut cluster = NatsCluster {
            nodes,
            name: self.name.clone(),
            jetstream: self.jetstream,
            timeout: self.startup_timeout,
        };
        cluster.wait_ready()?;
        Ok(cluster)
    }
}

/// A cluster of `nats-server`s on loopback, with JetStream by default.
///
/// Each node has its own `server_name` (`testkit-0`, …), client and
/// monitoring ports, route port and store directory; all share one
/// `cluster.name` and list each other as routes. Dropping the cluster kills
/// every node. Nodes can be killed and restarted to test failover.
///
/// ```no_run
/// use messaging_testkit::NatsCluster;
///
/// # fn main() -> Result<(), messaging_testkit::TestkitError> {
/// let mut cluster = NatsCluster::start(3)?;
/// let urls = cluster.client_urls().join(",");
/// cluster.kill_node(0)?;
/// cluster.restart_node(0)?; // back, same ports and data, cluster re-formed
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct NatsCluster {
    nodes: Vec<NatsServer>,
    name: String,
    jetstream: bool,
    timeout: Duration,
}

impl NatsCluster {
    /// Starts a cluster of `size` nodes with the default options.
    ///
    /// # Errors
    ///
    /// As [`NatsClusterBuilder::start`].
    pub fn start(size: usize) -> Result<Self, TestkitError> {
        Self::builder(size).start()
    }

    /// Options for a cluster of `size` nodes.
    pub fn builder(size: usize) -> NatsClusterBuilder {
        NatsClusterBuilder {
            size,
            name: "testkit".to_owned(),
            jetstream: true,
            config: Vec::new(),
            startup_timeout: DEFAULT_CLUSTER_TIMEOUT,
        }
    }

    /// The `cluster.name` shared by the nodes.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The number of nodes, running or not.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always `false`: a cluster has at least two nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// All nodes, in index order.
    pub fn nodes(&self) -> &[NatsServer] {
        &self.nodes
    }

    /// Node `index`, if there is one.
    pub fn node(&self, index: usize) -> Option<&NatsServer> {
        self.nodes.get(index)
    }

    /// The client URLs of all nodes (also stopped ones: clients reconnect).
    pub fn client_urls(&self) -> Vec<String> {
        self.nodes.iter().map(NatsServer::client_url).collect()
    }

    fn node_mut(&mut self, index: usize) -> Result<&mut NatsServer, TestkitError> {
        let len = self.nodes.len();
        self.nodes
            .get_mut(index)
            .ok_or(TestkitError::NoSuchNode { index, len })
    }

    /// Kills node `index` at once (SIGKILL), like a crash.
    ///
    /// # Errors
    ///
    /// [`TestkitError::NoSuchNode`], or as [`NatsServer::kill`].
    pub fn kill_node(&mut self, index: usize) -> Result<(), TestkitError> {
        self.node_mut(index)?.kill()
    }

    /// Shuts node `index` down cleanly.
    ///
    /// # Errors
    ///
    /// [`TestkitError::NoSuchNode`], or as [`NatsServer::stop`].
    pub fn stop_node(&mut self, index: usize) -> Result<(), TestkitError> {
        self.node_mut(index)?.stop()
    }

    /// Starts stopped node `index` again (same ports and store) and waits
    /// until the cluster has re-formed ([`wait_ready`](Self::wait_ready)).
    ///
    /// # Errors
    ///
    /// [`TestkitError::NoSuchNode`], or as [`NatsServer::start_again`] and
    /// [`wait_ready`](Self::wait_ready).
    pub fn start_node(&mut self, index: usize) -> Result<(), TestkitError> {
        self.node_mut(index)?.start_again()?;
        self.wait_ready()
    }

    /// Stops node `index` (if running), starts it again and waits until the
    /// cluster has re-formed.
    ///
    /// # Errors
    ///
    /// As [`stop_node`](Self::stop_node) and [`start_node`](Self::start_node).
    pub fn restart_node(&mut self, index: usize) -> Result<(), TestkitError> {
        self.node_mut(index)?.stop()?;
        self.start_node(index)
    }

    /// The index of the node currently JetStream meta leader, as seen by the
    /// first running node; `None` while there is none.
    ///
    /// # Errors
    ///
    /// As [`NatsServer::monitor_json`]; [`TestkitError::NotRunning`] if no
    /// node is running.
    pub fn meta_leader(&self) -> Result<Option<usize>, TestkitError> {
        let observer = self
            .nodes
            .iter()
            .find(|n| n.pid().is_some())
            .ok_or(TestkitError::NotRunning)?;
        let jsz = observer.monitor_json("/jsz")?;
        let leader = meta_leader_name(&jsz);
        Ok(leader.and_then(|name| {
            self.nodes
                .iter()
                .position(|n| n.server_name() == Some(name.as_str()))
        }))
    }

    /// Waits until every running node is routed to every other running node
    /// and, with JetStream and a majority of nodes running, all of them are
    /// healthy and agree on a meta leader. Bounded by the startup timeout.
    ///
    /// # Errors
    ///
    /// [`TestkitError::Exited`] if a node died,
    /// [`TestkitError::NotReady`] (with every running node's log tail) on
    /// timeout.
    pub fn wait_ready(&mut self) -> Result<(), TestkitError> {
        let deadline = Deadline::after(self.timeout);
        let outcome = deadline.poll(|| self.probe_formed())?;
        outcome.map_err(|reason| TestkitError::NotReady {
            waited: deadline.elapsed(),
            reason,
            log_tail: self.log_tails(),
        })
    }

    fn probe_formed(&mut self) -> Result<Probe<()>, TestkitError> {
        let size = self.nodes.len();
        let jetstream = self.jetstream;
        let mut running = Vec::new();
        for node in &mut self.nodes {
            if node.check_alive()? {
                running.push(&*node);
            }
        }
        let names: BTreeSet<&str> = running.iter().filter_map(|n| n.server_name()).collect();
        let quorum = running.len() * 2 > size;
        let mut leaders = BTreeSet::new();
        for node in &running {
            let me = node.server_name().unwrap_or_default();
            match check_node(node, jetstream && quorum) {
                Ok(NodeView { peers, leader }) => {
                    let missing: Vec<&&str> = names
                        .iter()
                        .filter(|n| **n != me && !peers.contains(**n))
                        .collect();
                    if !missing.is_empty() {
                        return Ok(Probe::NotYet(format!("{me} has no route to {missing:?}")));
                    }
                    leaders.extend(leader);
                }
                Err(reason) => return Ok(Probe::NotYet(format!("{me}: {reason}"))),
            }
        }
        if jetstream && quorum && leaders.len() != 1 {
            return Ok(Probe::NotYet(format!("meta leaders seen: {leaders:?}")));
        }
        Ok(Probe::Ready(()))
    }

    fn log_tails(&self) -> String {
        self.nodes
            .iter()
            .filter(|n| n.pid().is_some())
            .map(|n| {
                format!(
                    "=== {} ===\n{}",
                    n.server_name().unwrap_or_default(),
                    n.log_tail()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// What one node reports about the cluster.
struct NodeView {
    /// Server names this node has routes to.
    peers: BTreeSet<String>,
    /// The meta leader it knows, if JetStream was checked.
    leader: Option<String>,
}

/// Reads a node's routes and, when `jetstream`, its health and meta leader.
fn check_node(node: &NatsServer, jetstream: bool) -> Result<NodeView, String> {
    let port = node.monitoring_port();
    let routez = monitor_json(port, "/routez").map_err(|e| e.to_string())?;
    let peers = routez
        .get("routes")
        .and_then(serde_json::Value::as_array)
        .map(|routes| {
            routes
                .iter()
                .filter_map(|r| r.get("remote_name")?.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut leader = None;
    if jetstream {
        monitor_json(port, "/healthz").map_err(|e| e.to_string())?;
        let jsz = monitor_json(port, "/jsz").map_err(|e| e.to_string())?;
        leader = Some(meta_leader_name(&jsz).ok_or("no meta leader yet")?);
    }
    Ok(NodeView { peers, leader })
}

fn meta_leader_name(jsz: &serde_json::Value) -> Option<String> {
    let name = jsz.get("meta_cluster")?.get("leader")?.as_str()?;
    (!name.is_empty()).then(|| name.to_owned())
}
