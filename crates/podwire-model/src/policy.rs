//! NetworkPolicies as the data plane enforces them: for each pod of this node, per direction,
//! whether it is isolated and the rules that allow traffic, with every selector and named port
//! already resolved to addresses and port numbers. `podwire-k8s` compiles Kubernetes
//! NetworkPolicies, Pods and Namespaces into these; the agent renders them into the data
//! plane's classifiers. Nothing here knows Kubernetes' types.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::cidr::Cidr;
use crate::service::Protocol;

/// A NetworkPolicy, by namespace and name; or a ClusterNetworkPolicy (cluster-scoped), by
/// name with an empty namespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PolicyId {
    /// Its namespace; empty for a ClusterNetworkPolicy.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

/// How a ClusterNetworkPolicy's name is shown: a kind with capitals, which no namespace
/// name can be, so it never reads as a NetworkPolicy's `namespace/name`.
const CLUSTER_POLICY_PREFIX: &str = "ClusterNetworkPolicy";

impl PolicyId {
    /// The ClusterNetworkPolicy `name`.
    pub fn cluster(name: impl Into<String>) -> PolicyId {
        PolicyId {
            namespace: String::new(),
            name: name.into(),
        }
    }

    /// Whether it is a ClusterNetworkPolicy (not a namespaced NetworkPolicy).
    pub fn is_cluster(&self) -> bool {
        self.namespace.is_empty()
    }
}

impl std::fmt::Display for PolicyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.is_cluster() {
            true => write!(f, "{CLUSTER_POLICY_PREFIX}/{}", self.name),
            false => write!(f, "{}/{}", self.namespace, self.name),
        }
    }
}

/// A ClusterNetworkPolicy tier. Tiers are evaluated Admin, then the NetworkPolicy tier
/// (namespaced NetworkPolicies, final for the pods they isolate), then Baseline; when none
/// decides, the traffic is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Tier {
    /// Before NetworkPolicies: what the cluster's administrators impose.
    Admin,
    /// After NetworkPolicies: the default for pods no NetworkPolicy isolates.
    Baseline,
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Tier::Admin => "Admin",
            Tier::Baseline => "Baseline",
        })
    }
}

/// What a ClusterNetworkPolicy rule does with the traffic it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RuleAction {
    /// Allowed; no later rule of this direction is asked (the other end's ingress still
    /// is, for an egress Accept).
    Accept,
    /// Dropped; no later rule is asked.
    Deny,
    /// The rest of this tier is skipped: the next tier decides.
    Pass,
}

impl std::fmt::Display for RuleAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RuleAction::Accept => "Accept",
            RuleAction::Deny => "Deny",
            RuleAction::Pass => "Pass",
        })
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

/// A rule of a ClusterNetworkPolicy tier: what it matches (as a NetworkPolicy rule would
/// allow it) and what it does with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierRule {
    /// What it matches; its id names the ClusterNetworkPolicy ([`PolicyId::cluster`]).
    pub rule: CompiledRule,
    /// What it does.
    pub action: RuleAction,
}

/// One direction of one pod: the Admin tier's rules, whether NetworkPolicies isolate it and
/// what they allow, and the Baseline tier's rules.
///
/// The verdict on traffic: the first Admin rule that matches decides when it is Accept or
/// Deny (Pass skips the rest of the Admin tier); then, when NetworkPolicies isolate the pod,
/// they decide (allowed when one of `rules` matches, denied otherwise); then the first
/// Baseline rule that matches decides when it is Accept or Deny; else the traffic is
/// allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DirectionPolicy {
    /// The NetworkPolicies that select the pod for this direction (isolate it), in name
    /// order; empty: not isolated by a NetworkPolicy.
    pub policies: Vec<PolicyId>,
    /// The NetworkPolicy rules that allow traffic, in policy then rule order.
    pub rules: Vec<CompiledRule>,
    /// The Admin tier's rules for this pod and direction, in precedence order: by policy
    /// priority (lower first), then policy name, then rule order.
    #[serde(default)]
    pub admin: Vec<TierRule>,
    /// The Baseline tier's rules, in the same order.
    #[serde(default)]
    pub baseline: Vec<TierRule>,
}

impl DirectionPolicy {
    /// Whether a NetworkPolicy isolates the pod in this direction.
    pub fn isolated(&self) -> bool {
        !self.policies.is_empty()
    }

    /// Whether anything restricts this direction: a NetworkPolicy or a rule of either
    /// ClusterNetworkPolicy tier. When nothing does, everything is allowed.
    pub fn restricted(&self) -> bool {
        self.isolated() || !self.admin.is_empty() || !self.baseline.is_empty()
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
    /// The rule that decided: a NetworkPolicy rule that allowed it, or an Accept or Deny
    /// rule of a ClusterNetworkPolicy tier. `None` when no rule did: nothing restricts the
    /// direction or no tier decided (allowed), or NetworkPolicies isolate the pod and none
    /// of their rules allows it (denied).
    pub rule: Option<RuleId>,
    /// The tier of `rule` when it is a ClusterNetworkPolicy's; `None` otherwise.
    #[serde(default)]
    pub tier: Option<Tier>,
    /// The NetworkPolicies that isolate the pod in this direction (empty: none selects it).
    pub isolating: Vec<PolicyId>,
    /// The Pass rules that matched on the way, in evaluation order (at most one per tier).
    #[serde(default)]
    pub passed: Vec<RuleId>,
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
    /// The rule (`namespace/policy ingress[0]`, `ClusterNetworkPolicy/name egress[1]`).
    pub rule: String,
    /// What the rule does: `Allow` for a NetworkPolicy rule, else its tier and action
    /// (`Admin Deny`, `Baseline Accept`, `Admin Pass`).
    #[serde(default)]
    pub action: String,
    /// New connections it decided (for a Pass rule: that it passed on), all workers.
    pub packets: u64,
}
