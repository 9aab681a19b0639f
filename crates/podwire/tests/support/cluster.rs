//! The harness of the cluster tests: the lab of `podwire bench cluster` (included by its
//! path, so the benchmark and the tests share one lab), one test at a time, and what the
//! tests add to it: pods with their Pod objects, views of a pod's namespace for the other
//! harnesses, the nodes' routes, and the check that nothing is left behind.
//!
//! Included with `#[path]` by the test files that use it (support/mod.rs, which every test
//! file shares, does not name it), so it reaches the rest of the harness as `crate::support`.

// Each test file uses its own part of the harness, and the lab's.
#![allow(dead_code)]

#[path = "../../src/bench/cluster/lab/mod.rs"]
mod lab;

use std::collections::BTreeSet;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use podwire_model::api::RouteView;

pub use lab::*;

use crate::support::{Netns, podwire, run, unique};

/// One lab at a time: each runs three daemons and etcd, and two labs at once on a small
/// machine starve the nodes' lease renewals (3 s), which then take each other's routes away.
static TURN: Mutex<()> = Mutex::new(());

/// How long the cluster may take to show what a change made, beyond a lease's expiry.
pub const CONVERGE: Duration = Duration::from_secs(20);

/// A running lab, held for one test; its logs are printed when the test fails.
pub struct Cluster {
    lab: Option<ClusterLab>,
    /// The prefix of the names of everything it made.
    pub tag: String,
    _turn: MutexGuard<'static, ()>,
}

impl Cluster {
    /// Three nodes as `options` say, their daemons serving.
    pub fn start(options: LabOptions) -> Cluster {
        let turn = TURN.lock().unwrap_or_else(PoisonError::into_inner);
        let tag = unique("pwct");
        let lab = ClusterLab::start(Path::new(podwire()), &tag, &options)
            .unwrap_or_else(|e| panic!("the cluster lab did not start: {e:#}"));
        Cluster {
            lab: Some(lab),
            tag,
            _turn: turn,
        }
    }

    /// Pod `name` on node `node` with `labels`: its Pod object is applied as the scheduler
    /// leaves it (placed, no address), then the node attaches it through the CNI plugin, as
    /// a kubelet does.
    pub fn pod(&self, node: usize, name: &str, labels: &[(&str, &str)]) -> Pod {
        self.apply(&manifest::pod(name, &self.node(node).name, labels));
        self.attached(node, name, POD_NETWORK)
    }

    /// Pod `name` on node `node`'s memif network (no Pod object: nothing selects it).
    pub fn memif_pod(&self, node: usize, name: &str) -> Pod {
        self.attached(node, name, MEMIF_NETWORK)
    }

    fn attached(&self, node: usize, name: &str, network: &str) -> Pod {
        let mut pod = self
            .lab()
            .pod(node, name)
            .unwrap_or_else(|e| panic!("{e:#}"));
        pod.add(network).unwrap_or_else(|e| {
            panic!(
                "CNI ADD of pod {name} on {}: {e:#}\n{}",
                self.node(node).name,
                self.node(node).log_tail()
            )
        });
        pod
    }

    /// `podwire ctl apply` of `manifest` on a node, which must succeed.
    pub fn apply(&self, manifest: &str) {
        if let Err(e) = self.lab().apply(manifest) {
            panic!("{e:#}\nthe manifest:\n{manifest}");
        }
    }

    /// Node `node`'s forwarding table (`GET /v1/routes`).
    pub fn routes(&self, node: usize) -> Vec<RouteView> {
        let client = self.node(node).client();
        node::block_on(client.routes())
            .and_then(|r| r.map_err(anyhow::Error::from))
            .unwrap_or_else(|e| panic!("GET /v1/routes of {}: {e:#}", self.node(node).name))
    }

    /// Node `node`'s routes as lines, for comparing and for failure messages.
    pub fn route_lines(&self, node: usize) -> BTreeSet<String> {
        self.routes(node)
            .iter()
            .map(|r| {
                format!(
                    "{} {} via {} dev {}",
                    r.prefix,
                    r.action,
                    r.via.as_deref().unwrap_or("-"),
                    r.interface.as_deref().unwrap_or("-")
                )
            })
            .collect()
    }

    /// Waits until `done` holds, failing the test with `what` (and what it says now) after
    /// `limit`.
    pub fn wait_until(
        &self,
        limit: Duration,
        what: &str,
        mut done: impl FnMut() -> Result<(), String>,
    ) {
        let start = Instant::now();
        loop {
            let why = match done() {
                Ok(()) => return,
                Err(why) => why,
            };
            assert!(start.elapsed() < limit, "{what} within {limit:?}: {why}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The lab.
    fn lab(&self) -> &ClusterLab {
        self.lab.as_ref().expect("the lab runs until finish")
    }

    /// Ends the test: nothing the pods had may be left in the nodes (the pods must be gone
    /// by now), and after the lab is removed no namespace of it may be left.
    pub fn finish(mut self) {
        let lab = self.lab.take().expect("the lab runs until finish");
        let leaks = lab.leaks().unwrap_or_else(|e| panic!("{e:#}"));
        assert!(
            leaks.is_empty(),
            "the nodes' kernels kept what the pods had:\n{}\n{}",
            leaks.join("\n"),
            lab.logs()
        );
        drop(lab);
        let left: Vec<String> = String::from_utf8_lossy(&run("ip", &["netns", "list"]).stdout)
            .lines()
            .filter(|l| l.starts_with(&format!("{}-", self.tag)))
            .map(str::to_owned)
            .collect();
        assert!(left.is_empty(), "network namespaces left behind: {left:?}");
    }
}

impl Deref for Cluster {
    type Target = ClusterLab;

    fn deref(&self) -> &ClusterLab {
        self.lab()
    }
}

impl DerefMut for Cluster {
    fn deref_mut(&mut self) -> &mut ClusterLab {
        self.lab.as_mut().expect("the lab runs until finish")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(lab) = &self.lab
        {
            eprintln!("--- the cluster lab's logs ---\n{}", lab.logs());
        }
    }
}

/// A view of `pod`'s namespace for the harnesses that take a [`Netns`]: it does not own
/// the namespace (the pod does), so it deletes nothing when dropped.
pub fn netns(pod: &Pod) -> ManuallyDrop<Netns> {
    ManuallyDrop::new(Netns {
        name: pod.namespace.name().to_owned(),
    })
}

/// Whether `text` (what ping printed) names the MTU `mtu` the way iputils does: `mtu = N`
/// (an ICMP "fragmentation needed"), `mtu=N` (a local error or an ICMPv6 "packet too big")
/// or `mtu: N`.
pub fn names_mtu(text: &str, mtu: u32) -> bool {
    [
        format!("mtu = {mtu}"),
        format!("mtu={mtu}"),
        format!("mtu: {mtu}"),
    ]
    .iter()
    .any(|m| text.contains(m.as_str()))
}
