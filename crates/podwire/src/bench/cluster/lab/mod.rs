//! A cluster on one machine, for `podwire bench cluster` and the end-to-end tests (which
//! include this module by its path, so it uses nothing else of the binary):
//!
//! - [`underlay`]: a Linux bridge in a network namespace of its own, with etcd on it;
//! - [`node`]: each node a network namespace with a veth to the bridge as its uplink (of
//!   [`LabOptions::uplink_mtu`]), running its own `podwire daemon` with etcd as the source of
//!   cluster objects;
//! - [`pod`]: pods, network namespaces attached through the real CNI plugin against their
//!   node's API socket;
//! - [`manifest`]: the Pods and Services they apply;
//! - [`traffic`]: servers, connections and probers in the pods;
//! - [`snapshot`]: what a node's kernel has, to tell what a test or a restart left behind.
//!
//! Everything is removed on drop, in reverse order: pods (CNI DEL) are the caller's and go
//! first, then the daemons stop (SIGTERM), then the nodes' namespaces go, then etcd and the
//! underlay.

pub mod manifest;
pub mod namespace;
pub mod node;
pub mod pod;
pub mod snapshot;
pub mod traffic;
pub mod underlay;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

// What the benchmark uses; the tests reach the rest through the modules.
pub use node::Node;
pub use pod::Pod;
pub use snapshot::Snapshot;
pub use traffic::{PodServer, Prober, TcpConn};

use node::ClusterSettings;
use underlay::Underlay;

/// The network pods attach to: its pod CIDRs are claimed from etcd, and routed between nodes.
pub const POD_NETWORK: &str = "default";
/// The memif network of [`LabOptions::memif_network`].
pub const MEMIF_NETWORK: &str = "memif";
/// The cluster's pod CIDRs, each node's claimed from them.
pub const CLUSTER_CIDRS: [&str; 2] = ["10.244.0.0/16", "fd44::/56"];
/// How often a waiting loop looks again.
const POLL: Duration = Duration::from_millis(20);
/// How long a process may take to exit on SIGTERM before it is killed.
const STOP_LIMIT: Duration = Duration::from_secs(10);
/// Lines of a log quoted in failure messages.
const LOG_LINES: usize = 150;

/// How the lab is made.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// How many nodes.
    pub nodes: usize,
    /// `cluster.lease_ttl_s` of every node.
    pub lease_ttl_s: u64,
    /// Whether every node also has a memif network ([`MEMIF_NETWORK`], pod CIDR
    /// [`memif_cidr`]).
    pub memif_network: bool,
    /// The MTU of every node's uplink veth, both ends (the bridge takes it from its ports);
    /// the pods get it less VXLAN's 50 bytes.
    pub uplink_mtu: u32,
}

impl Default for LabOptions {
    /// Three nodes, a lease of 3 s, no memif network, 1500-byte uplinks.
    fn default() -> LabOptions {
        LabOptions {
            nodes: 3,
            lease_ttl_s: 3,
            memif_network: false,
            uplink_mtu: 1500,
        }
    }
}

/// The underlay with etcd, and the nodes with their daemons running.
pub struct ClusterLab {
    // Fields drop in order: the nodes before the underlay, the directory last.
    nodes: Vec<Node>,
    baselines: Vec<Snapshot>,
    underlay: Underlay,
    tag: String,
    exe: PathBuf,
    pods_made: AtomicU32,
    _dir: tempfile::TempDir,
}

impl ClusterLab {
    /// Makes the lab, with `exe` as the daemon and the CNI plugin; every name it gives
    /// (namespaces, the etcd prefix) starts with `tag`. Returns once every node serves its pod
    /// network: the daemons start together, so they claim their pod CIDRs together.
    pub fn start(exe: &Path, tag: &str, options: &LabOptions) -> anyhow::Result<ClusterLab> {
        // Under /run, on tmpfs like a daemon's default state: etcd's and the daemons'
        // durable writes cost no disk flush.
        let dir = tempfile::Builder::new()
            .prefix("podwire-cluster-")
            .tempdir_in("/run")
            .context("cannot create a temporary directory in /run")?;
        let underlay_netns = format!("{tag}-u");
        let underlay = Underlay::create(underlay_netns.clone(), dir.path())?;
        let settings = ClusterSettings {
            etcd_endpoint: underlay.endpoint(),
            etcd_prefix: format!("/podwire-{tag}/"),
            lease_ttl_s: options.lease_ttl_s,
            memif_network: options.memif_network,
            uplink_mtu: options.uplink_mtu,
            underlay_netns,
        };
        let mut nodes = (0..options.nodes)
            .map(|i| {
                let netns = format!("{tag}-n{}", i + 1);
                Node::create(i, netns, &underlay, dir.path(), exe, &settings)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        for node in &mut nodes {
            node.spawn()?;
        }
        for node in &mut nodes {
            node.wait_ready()
                .map_err(|e| followed_by(e, &format!("etcd's log:\n{}", underlay.log_tail())))?;
        }
        let baselines = nodes
            .iter()
            .map(Node::snapshot)
            .collect::<anyhow::Result<_>>()?;
        Ok(ClusterLab {
            nodes,
            baselines,
            underlay,
            tag: tag.to_owned(),
            exe: exe.to_owned(),
            pods_made: AtomicU32::new(0),
            _dir: dir,
        })
    }

    /// The nodes.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Node `index`.
    pub fn node(&self, index: usize) -> &Node {
        &self.nodes[index]
    }

    /// Node `index`, to stop or start.
    pub fn node_mut(&mut self, index: usize) -> &mut Node {
        &mut self.nodes[index]
    }

    /// A pod `name` on node `node`, in a namespace of its own, not attached yet.
    pub fn pod(&self, node: usize, name: &str) -> anyhow::Result<Pod> {
        let n = self.pods_made.fetch_add(1, Ordering::Relaxed);
        let netns = format!("{}-p{n}", self.tag);
        Pod::create(name, netns, node, self.nodes[node].socket(), &self.exe)
    }

    /// `podwire ctl apply` of `manifest` on the first node whose daemon runs (any node
    /// writes to etcd).
    pub fn apply(&self, manifest: &str) -> anyhow::Result<String> {
        let Some(node) = self.nodes.iter().find(|n| n.running()) else {
            bail!("no node of the lab runs a daemon to apply a manifest with");
        };
        node.apply(manifest)
    }

    /// What each node's kernel has that it did not have when the lab was up and had no pod,
    /// or lost since: `node1: + addr …`. Empty when nothing leaked.
    pub fn leaks(&self) -> anyhow::Result<Vec<String>> {
        let mut leaks = Vec::new();
        for (node, before) in self.nodes.iter().zip(&self.baselines) {
            let now = node.snapshot()?;
            leaks.extend(
                before
                    .changes(&now)
                    .into_iter()
                    .map(|change| format!("{}: {change}", node.name)),
            );
        }
        Ok(leaks)
    }

    /// The end of every daemon's log and of etcd's, for failure messages.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for node in &self.nodes {
            text += &format!("--- the daemon of {} ---\n{}\n", node.name, node.log_tail());
        }
        text + &format!("--- etcd ---\n{}", self.underlay.log_tail())
    }
}

/// The last [`LOG_LINES`] lines of the log at `path`.
fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_LINES)..].join("\n")
}

/// Stops `child` with SIGTERM, killing it after [`STOP_LIMIT`]; how it exited, or an error
/// when it had to be killed.
fn stop_child(mut child: Child, what: &str) -> anyhow::Result<ExitStatus> {
    if let Some(pid) = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        // It may have exited already: then there is nothing to signal.
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    let deadline = Instant::now() + STOP_LIMIT;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        thread::sleep(POLL);
    }
    let _ = child.kill();
    let _ = child.wait();
    bail!("{what} did not exit within {STOP_LIMIT:?} of SIGTERM and was killed")
}

/// `error` followed by `more` (a log): `{:#}` puts an anyhow context before the cause, and a
/// log reads better after it.
fn followed_by(error: anyhow::Error, more: &str) -> anyhow::Error {
    anyhow::anyhow!("{error:#}\n{more}")
}
