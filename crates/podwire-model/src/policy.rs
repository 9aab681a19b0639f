//! NetworkPolicies as the data plane enforces them: for each pod of this node, per direction,
//! whether it is isolated and the rules that allow traffic, with every selector and named port
//! already resolved to addresses and port numbers. `podwire-k8s` compiles Kubernetes
//! NetworkPolicies, Pods and Namespaces into these; the agent renders them into the data
//! plane's classifiers. Nothing here knows Kubernetes' types.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::cidr::Cidr;
use crate::service::Protocol;

/// A NetworkPolicy, by namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PolicyId {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl std::fmt::Display for PolicyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Which way a rule looks: ingress rules match the source, egress rules the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyDirection {
    /// Traffic to the pod.
    Ingress,
    /// Traffic from the pod.
    Egress,
}

/// A rule of a policy: `spec.ingress[rule]` or `spec.egress[rule]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RuleId {
    /// The policy.
    pub policy: PolicyId,
    /// Ingress or egress.
    pub direction: PolicyDirection,
    /// Its index in the policy's list for that direction.
    pub index: usize,
}

impl std::fmt::Display for RuleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = match self.direction {
            PolicyDirection::Ingress => "ingress",
            PolicyDirection::Egress => "egress",
        };
        write!(f, "{} {list}[{}]", self.policy, self.index)
    }
}

/// The remote addresses a rule allows: a prefix minus the prefixes in `except` (an ipBlock;
/// a selected pod is one address, a /32 or /128, with no exception).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PeerBlock {
    /// The prefix.
    pub cidr: Cidr,
    /// Prefixes inside it that are not allowed.
    pub except: Vec<Cidr>,
}

/// The ports a rule allows: one protocol, a range of ports (inclusive); `None` for every
/// port of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PortRange {
    /// The protocol.
    pub protocol: Protocol,
    /// First and last port, inclusive; `None` for all ports.
    pub ports: Option<(u16, u16)>,
}

/// One compiled rule: traffic is allowed when its remote address is in one of `peers`
/// (`None`: any address) AND its protocol and port are in one of `ports` (`None`: any
/// protocol and port). A Kubernetes rule may compile into several of these (an egress rule
/// with a named port: one per port number the peers' containers give that name), all with
/// the same [`RuleId`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledRule {
    /// The policy rule it comes from.
    pub id: RuleId,
    /// The remote addresses; `None` matches any.
    pub peers: Option<Vec<PeerBlock>>,
    /// The protocols and ports; `None` matches any.
    pub ports: Option<Vec<PortRange>>,
}

/// One direction of one pod: isolated or not, and if isolated, what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DirectionPolicy {
    /// The policies that select the pod for this direction (isolate it), in name order;
    /// empty: not isolated, everything is allowed.
    pub policies: Vec<PolicyId>,
    /// The rules that allow traffic, in policy then rule order.
    pub rules: Vec<CompiledRule>,
}

impl DirectionPolicy {
    /// Whether a policy isolates the pod in this direction.
    pub fn isolated(&self) -> bool {
        !self.policies.is_empty()
    }
}

/// What the policies say about one pod of this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodPolicy {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub name: String,
    /// Its addresses (what the data plane knows it by).
    pub addresses: Vec<IpAddr>,
    /// Traffic to it.
    pub ingress: DirectionPolicy,
    /// Traffic from it.
    pub egress: DirectionPolicy,
}

/// A verdict and what decided it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Whether the traffic is allowed.
    pub allowed: bool,
    /// The rule that allowed it; `None` when nothing isolates the pod in this direction, or
    /// when it is denied.
    pub rule: Option<RuleId>,
    /// The policies that isolate the pod in this direction (empty: none selects it).
    pub isolating: Vec<PolicyId>,
}

/// `POST /v1/explain`: a connection to explain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExplainRequest {
    /// The client: `namespace/pod`, or an address.
    pub from: String,
    /// The server: `namespace/pod`, or an address.
    pub to: String,
    /// The protocol.
    pub protocol: Protocol,
    /// The destination port (the pod's, after any Service translation).
    pub port: u16,
}

/// The answer of `POST /v1/explain` (`podwire ctl explain --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explanation {
    /// `allow` or `deny`: both directions allow it.
    pub verdict: String,
    /// The policy that decided (`namespace/name`): the allowing rule's, or for a denial the
    /// first isolating policy of the direction that denied; `None` when no policy selects
    /// either pod.
    pub policy: Option<String>,
    /// The rule that decided (`ingress[0]`, `egress[1]`), or for a denial the direction
    /// (`ingress`, `egress`) that has no rule allowing it; `None` when no policy applies.
    pub rule: Option<String>,
    /// The client's egress verdict (`None`: the client is not a pod of this cluster).
    pub egress: Option<Verdict>,
    /// The server's ingress verdict (`None`: the server is not a pod of this cluster).
    pub ingress: Option<Verdict>,
    /// One line for people: what decided and why.
    pub reason: String,
}

/// `GET /v1/policies`: one compiled rule of one pod, with its counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRuleView {
    /// The pod (`namespace/name`).
    pub pod: String,
    /// The rule (`namespace/policy ingress[0]`).
    pub rule: String,
    /// New connections it allowed, all workers.
    pub packets: u64,
}
