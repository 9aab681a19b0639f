//! A ported test (upstream's netpol e2e, or network-policy-api's conformance): what it does to
//! the cluster, step after step, and the matrices it expects in between.

use podwire_model::service::Protocol;
use serde_json::{Value, json};

use crate::model::{Cluster, Family, PodId};
use crate::reachability::Reachability;

/// A change to the cluster's objects.
#[derive(Clone, Debug)]
pub enum Change {
    /// Create `policy` in `namespace`, or update the one of that name there.
    Apply {
        namespace: &'static str,
        policy: Value,
    },
    /// Delete every NetworkPolicy (upstream's `cleanNetworkPolicies`).
    DeletePolicies,
    /// Create the ClusterNetworkPolicy `policy`, or update the one of its name.
    ApplyCluster { policy: Value },
    /// Delete the ClusterNetworkPolicy `name`.
    DeleteCluster { name: String },
    /// Set a label of a namespace (`AddNamespaceLabel`).
    NamespaceLabel {
        namespace: &'static str,
        key: &'static str,
        value: &'static str,
    },
    /// Add labels to a pod (`AddPodLabels`).
    PodLabels {
        pod: &'static str,
        labels: &'static [(&'static str, &'static str)],
    },
}

impl Change {
    /// Makes the change in `cluster`.
    pub fn apply(&self, cluster: &mut Cluster) {
        match self {
            Change::Apply { namespace, policy } => cluster.apply(namespace, policy.clone()),
            Change::DeletePolicies => cluster.delete_policies(),
            Change::ApplyCluster { policy } => cluster.apply_cluster_policy(policy.clone()),
            Change::DeleteCluster { name } => cluster.delete_cluster_policy(name),
            Change::NamespaceLabel {
                namespace,
                key,
                value,
            } => cluster.set_namespace_label(namespace, key, value),
            Change::PodLabels { pod, labels } => cluster.add_pod_labels(PodId::named(pod), labels),
        }
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Apply { namespace, policy } => write!(
                f,
                "apply policy {namespace}/{}",
                policy["metadata"]["name"].as_str().unwrap_or("?")
            ),
            Change::DeletePolicies => f.write_str("delete every NetworkPolicy"),
            Change::ApplyCluster { policy } => write!(
                f,
                "apply ClusterNetworkPolicy {}",
                policy["metadata"]["name"].as_str().unwrap_or("?")
            ),
            Change::DeleteCluster { name } => write!(f, "delete ClusterNetworkPolicy {name}"),
            Change::NamespaceLabel {
                namespace,
                key,
                value,
            } => write!(f, "label namespace {namespace} {key}={value}"),
            Change::PodLabels { pod, labels } => {
                let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "label pod {pod} {}", pairs.join(","))
            }
        }
    }
}

/// One step of a test.
#[derive(Clone, Debug)]
pub enum Step {
    /// Change the cluster.
    Change(Change),
    /// Probe every pair on `protocol`/`port` and compare with `expect` (`ValidateOrFail`).
    Probe {
        port: u16,
        protocol: Protocol,
        expect: Reachability,
    },
}

/// One ported test (upstream's `f.It`), with the model it sets up (`initializeResources`).
pub struct Case {
    /// Its name, as upstream has it.
    pub name: &'static str,
    /// Where it sits in its suite, as its full name starts: upstream's `Describe` and
    /// `Context` (`Netpol NetworkPolicy between server and client using UDP`).
    pub context: &'static str,
    /// The ports every pod serves.
    pub ports: &'static [u16],
    /// The protocols every pod serves them over.
    pub protocols: &'static [Protocol],
    /// Its steps; given the model (its addresses, for ipBlocks).
    pub steps: fn(&Cluster) -> Vec<Step>,
}

impl Case {
    /// The model the test starts from, in `family`.
    pub fn cluster(&self, family: Family) -> Cluster {
        Cluster::new(family, self.ports, self.protocols)
    }

    /// How it is called in reports.
    pub fn label(&self) -> String {
        format!("{} {:?}", self.context, self.name)
    }
}

/// Creates (or updates) the NetworkPolicy `name` with `spec` in `namespace` (what
/// upstream's `GenNetworkPolicy...` and `CreatePolicy`/`UpdatePolicy` do).
pub fn create(namespace: &'static str, name: &str, spec: Value) -> Step {
    Step::Change(Change::Apply {
        namespace,
        policy: json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": { "name": name },
            "spec": spec,
        }),
    })
}

/// Creates (or updates) the ClusterNetworkPolicy `name` with `spec`.
pub fn create_cluster(name: &str, spec: Value) -> Step {
    Step::Change(Change::ApplyCluster {
        policy: cluster_policy(name, spec),
    })
}

/// The ClusterNetworkPolicy `name` with `spec`, as the API's JSON.
pub fn cluster_policy(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "policy.networking.k8s.io/v1alpha2",
        "kind": "ClusterNetworkPolicy",
        "metadata": { "name": name },
        "spec": spec,
    })
}

/// Probes `protocol`/`port` expecting `expect`.
pub fn probe(port: u16, protocol: Protocol, expect: Reachability) -> Step {
    Step::Probe {
        port,
        protocol,
        expect,
    }
}
