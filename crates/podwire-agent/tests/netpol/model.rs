//! The upstream netpol model (`test/e2e/network/netpol/model.go`, and cyclonus's, which is the
//! same): namespaces x, y and z labelled `ns=<name>` (and `kubernetes.io/metadata.name`, which
//! the API server adds), each with pods a, b and c labelled `pod=<name>`, every pod with one
//! container per (port, protocol) of the test, whose port is named `serve-<port>-<proto>`.
//! Here all nine pods run on this node, and each has one address of the cluster's family.
//!
//! The cluster is the state a test has put its objects in: labels (which tests change), and
//! the NetworkPolicies and ClusterNetworkPolicies in force, as the API's JSON.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use podwire_model::service::Protocol;
use serde_json::{Value, json};

/// The model's namespaces, in order.
pub const NAMESPACES: [&str; 3] = ["x", "y", "z"];
/// The pods of each namespace, in order.
pub const POD_NAMES: [&str; 3] = ["a", "b", "c"];
/// Every pod of the model.
pub const POD_COUNT: usize = NAMESPACES.len() * POD_NAMES.len();
/// The node every pod runs on.
pub const NODE: &str = "netpol-node";
/// The label every namespace gets from the API server.
pub const NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// The address family of the cluster's pods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

/// A pod of the model, by position: namespace index × 3 + pod index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodId(pub usize);

impl PodId {
    /// The nine pods, x/a first.
    pub fn all() -> impl Iterator<Item = PodId> {
        (0..POD_COUNT).map(PodId)
    }

    /// The pod `namespace/name` (`"x/a"`); panics on a pod the model does not have, which
    /// is a mistake in a test's data.
    pub fn named(pod: &str) -> PodId {
        PodId::all()
            .find(|p| p.to_string() == pod)
            .unwrap_or_else(|| panic!("the model has no pod {pod:?}"))
    }

    /// Its namespace's index in [`NAMESPACES`].
    pub fn namespace_index(self) -> usize {
        self.0 / POD_NAMES.len()
    }

    /// Its namespace.
    pub fn namespace(self) -> &'static str {
        NAMESPACES[self.namespace_index()]
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        POD_NAMES[self.0 % POD_NAMES.len()]
    }
}

impl fmt::Display for PodId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace(), self.name())
    }
}

/// The name of the container port serving `port` over `protocol` (`serve-80-tcp`).
pub fn port_name(port: u16, protocol: Protocol) -> String {
    format!("serve-{port}-{}", protocol.to_string().to_lowercase())
}

/// The objects of a test at one moment.
#[derive(Clone, Debug)]
pub struct Cluster {
    /// The pods' address family.
    pub family: Family,
    /// What every pod's containers serve: (port, protocol).
    pub containers: Vec<(u16, Protocol)>,
    /// Each namespace's labels, in [`NAMESPACES`] order.
    pub namespace_labels: Vec<BTreeMap<String, String>>,
    /// Each pod's labels, by [`PodId`].
    pub pod_labels: Vec<BTreeMap<String, String>>,
    /// The NetworkPolicies, as the API's JSON (with `metadata.namespace`), in creation order.
    pub policies: Vec<Value>,
    /// The ClusterNetworkPolicies (`policy.networking.k8s.io/v1alpha2`, cluster-scoped), as
    /// the API's JSON, in creation order.
    pub cluster_policies: Vec<Value>,
}

impl Cluster {
    /// The model with containers serving each of `ports` over each of `protocols`, no policy.
    pub fn new(family: Family, ports: &[u16], protocols: &[Protocol]) -> Cluster {
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        Cluster {
            family,
            containers: ports
                .iter()
                .flat_map(|&port| protocols.iter().map(move |&p| (port, p)))
                .collect(),
            namespace_labels: NAMESPACES
                .iter()
                .map(|ns| labels(&[("ns", ns), (NAME_LABEL, ns)]))
                .collect(),
            pod_labels: PodId::all().map(|p| labels(&[("pod", p.name())])).collect(),
            policies: Vec::new(),
            cluster_policies: Vec::new(),
        }
    }

    /// The address of `pod`. The nine are consecutive, so prefixes around one of them take
    /// in some of the others (what ipBlock tests need to mean something).
    pub fn address(&self, pod: PodId) -> IpAddr {
        let host = 10 + pod.0 as u8;
        match self.family {
            Family::V4 => Ipv4Addr::new(10, 244, 0, host).into(),
            Family::V6 => Ipv6Addr::new(0xfd00, 0x10, 0x244, 0, 0, 0, 0, u16::from(host)).into(),
        }
    }

    /// `pod`'s address as a host prefix (`/32` or `/128`), as upstream writes it.
    pub fn host_cidr(&self, pod: PodId) -> String {
        self.cidr_around(pod, self.max_len())
    }

    /// The `/4` holding `pod`'s address (upstream's `makeLargeCIDRForIP`).
    pub fn large_cidr(&self, pod: PodId) -> String {
        self.cidr_around(pod, 4)
    }

    /// The canonical prefix of length `len` that holds `pod`'s address.
    pub fn cidr_around(&self, pod: PodId, len: u8) -> String {
        let network = match self.address(pod) {
            IpAddr::V4(a) => {
                IpAddr::from(Ipv4Addr::from_bits(mask(a.to_bits().into(), len, 32) as u32))
            }
            IpAddr::V6(a) => IpAddr::from(Ipv6Addr::from_bits(mask(a.to_bits(), len, 128))),
        };
        format!("{network}/{len}")
    }

    /// The longest prefix length of the family.
    pub fn max_len(&self) -> u8 {
        match self.family {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }

    /// Creates `policy` in `namespace`, or replaces the one of the same name there.
    pub fn apply(&mut self, namespace: &str, mut policy: Value) {
        policy["metadata"]["namespace"] = json!(namespace);
        let name = policy["metadata"]["name"].clone();
        match self
            .policies
            .iter_mut()
            .find(|p| p["metadata"]["namespace"] == namespace && p["metadata"]["name"] == name)
        {
            Some(old) => *old = policy,
            None => self.policies.push(policy),
        }
    }

    /// Deletes every NetworkPolicy.
    pub fn delete_policies(&mut self) {
        self.policies.clear();
    }

    /// Creates the ClusterNetworkPolicy `policy`, or replaces the one of its name.
    pub fn apply_cluster_policy(&mut self, policy: Value) {
        let name = &policy["metadata"]["name"];
        match self
            .cluster_policies
            .iter_mut()
            .find(|p| p["metadata"]["name"] == *name)
        {
            Some(old) => *old = policy,
            None => self.cluster_policies.push(policy),
        }
    }

    /// Deletes the ClusterNetworkPolicy `name`, if there is one.
    pub fn delete_cluster_policy(&mut self, name: &str) {
        self.cluster_policies
            .retain(|p| p["metadata"]["name"] != name);
    }

    /// Sets label `key` of namespace `namespace`.
    pub fn set_namespace_label(&mut self, namespace: &str, key: &str, value: &str) {
        let i = NAMESPACES
            .iter()
            .position(|n| *n == namespace)
            .unwrap_or_else(|| panic!("the model has no namespace {namespace:?}"));
        self.namespace_labels[i].insert(key.into(), value.into());
    }

    /// Adds `labels` to `pod`'s (replacing the values of keys it has), as upstream's
    /// `AddPodLabels` does.
    pub fn add_pod_labels(&mut self, pod: PodId, labels: &[(&str, &str)]) {
        for (k, v) in labels {
            self.pod_labels[pod.0].insert(k.to_string(), v.to_string());
        }
    }

    /// Namespace `i` as the API's JSON.
    pub fn namespace_object(&self, i: usize) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": { "name": NAMESPACES[i], "labels": self.namespace_labels[i] },
        })
    }

    /// `pod` as the API's JSON: its labels, containers and address, on [`NODE`].
    pub fn pod_object(&self, pod: PodId) -> Value {
        let containers: Vec<Value> = self
            .containers
            .iter()
            .map(|&(port, protocol)| {
                json!({
                    "name": format!("cont-{port}-{}", protocol.to_string().to_lowercase()),
                    "image": "registry.k8s.io/e2e-test-images/agnhost:2.53",
                    "ports": [{
                        "containerPort": port,
                        "name": port_name(port, protocol),
                        "protocol": protocol.to_string(),
                    }],
                })
            })
            .collect();
        let ip = self.address(pod).to_string();
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "namespace": pod.namespace(),
                "name": pod.name(),
                "labels": self.pod_labels[pod.0],
            },
            "spec": { "nodeName": NODE, "containers": containers },
            "status": { "phase": "Running", "podIP": ip, "podIPs": [{ "ip": ip }] },
        })
    }

    /// Every namespace's and pod's labels, for reports: `x{kubernetes.io/...=x,ns=x} ...`.
    pub fn labels_text(&self) -> String {
        let text = |labels: &BTreeMap<String, String>| {
            let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{{{}}}", pairs.join(","))
        };
        let namespaces = NAMESPACES
            .iter()
            .zip(&self.namespace_labels)
            .map(|(ns, labels)| format!("{ns}{}", text(labels)));
        let pods = PodId::all().map(|p| format!("{p}{}", text(&self.pod_labels[p.0])));
        format!(
            "namespaces: {}\n  pods: {}",
            namespaces.collect::<Vec<_>>().join(" "),
            pods.collect::<Vec<_>>().join(" ")
        )
    }
}

/// `addr` (of a `bits`-bit family) with all but its first `len` bits cleared.
fn mask(addr: u128, len: u8, bits: u32) -> u128 {
    let host = bits - u32::from(len.min(bits as u8));
    addr.checked_shr(host)
        .and_then(|n| n.checked_shl(host))
        .unwrap_or(0)
}
