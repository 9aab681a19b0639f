//! The control plane's side: what the agent does when a NetworkPolicy, a Pod or a Namespace
//! changes. Its cluster store holds the objects ([`workload::manifest`], applied untimed,
//! validation included); the timed part is the whole recompile of the node's pods
//! (`Cluster::pod_policies`, which gathers the stored objects and calls
//! `podwire_k8s::policy::compile`) and the rendering of the result into the data plane's
//! `PolicyTable` (the agent's renderer: every pod's classifiers built).

use std::net::IpAddr;
use std::time::Instant;

use anyhow::{Context, ensure};
use podwire_agent::cluster::{Cluster, PodAddresses};
use podwire_k8s::services::NodeContext;

use super::dataplane;
use super::workload::{self, NAMESPACE, SERVER};
use crate::bench::samples::Samples;

/// What compiling the policies took, and what it made.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// NetworkPolicies in the store.
    pub policies: usize,
    /// Pods in the store, and of them on the node.
    pub pods: usize,
    /// Pods of the node.
    pub local_pods: usize,
    /// Namespaces in the store.
    pub namespaces: usize,
    /// Each recompile and rendering.
    pub took: Samples,
    /// The recompiles alone.
    pub compiling: Samples,
    /// Compiled rules of the server pod.
    pub server_rules: usize,
    /// Rule slots in the rendered table (every pod).
    pub slots: usize,
}

/// No pod is attached: every address comes from the Pods' `status.podIPs`.
struct Unattached;

impl PodAddresses for Unattached {
    fn addresses(&self, _namespace: &str, _name: &str) -> Vec<IpAddr> {
        Vec::new()
    }
}

/// Applies [`workload::manifest`]`(policies)` to a cluster store in a temporary directory,
/// then recompiles and renders the node's policies `times` times, timing each. Checks that
/// the server pod comes out isolated by every policy, with a rule of each.
pub fn measure(policies: usize, times: usize) -> anyhow::Result<Compiled> {
    let objects = workload::manifest(policies);
    let dir = tempfile::tempdir().context("a temporary directory for the cluster store")?;
    let node = NodeContext {
        node_name: workload::NODE.to_owned(),
    };
    let mut cluster = Cluster::open(dir.path(), node)?;
    cluster
        .apply(&objects.text, &Unattached)
        .context("the cluster store refused the benchmark's objects")?;
    let (mut took, mut compiling) = (Vec::new(), Vec::new());
    let mut last = None;
    for generation in 1..=times.max(1) as u64 {
        // The previous table goes first: two at once would hold twice the memory.
        drop(last.take());
        let start = Instant::now();
        let pods = cluster.pod_policies(&Unattached);
        compiling.push(start.elapsed());
        let table = dataplane::render(&pods, generation);
        took.push(start.elapsed());
        last = Some((pods, table));
    }
    let (pods, table) = last.context("no compile")?;
    ensure!(
        pods.len() == objects.local_pods,
        "{} of the node's {} pods were compiled",
        pods.len(),
        objects.local_pods
    );
    let server = pods
        .iter()
        .find(|p| p.namespace == NAMESPACE && p.name == SERVER)
        .context("the server pod was not compiled")?;
    ensure!(
        server.ingress.policies.len() == policies && server.ingress.rules.len() >= policies,
        "the server pod is isolated by {} policies with {} rules, not {policies} with a rule \
         each",
        server.ingress.policies.len(),
        server.ingress.rules.len()
    );
    Ok(Compiled {
        policies,
        pods: objects.pods,
        local_pods: objects.local_pods,
        namespaces: objects.namespaces,
        took: Samples::new(took),
        compiling: Samples::new(compiling),
        server_rules: server.ingress.rules.len(),
        slots: table.rules.len(),
    })
}
