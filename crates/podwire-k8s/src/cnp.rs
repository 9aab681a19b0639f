//! `policy.networking.k8s.io/v1alpha2` ClusterNetworkPolicy, the network-policy-api's
//! cluster-scoped policy with its Admin and Baseline tiers, as a Rust type. k8s-openapi has
//! only the core API groups; this mirrors the upstream Go types
//! (`apis/v1alpha2/clusternetworkpolicy_types.go`) field by field, and implements
//! k8s-openapi's `Resource` and `Metadata` so that it is handled like the other kinds.
//!
//! The experimental peers (`nodes`, `domainNames`) are kept as fields so that a manifest
//! using them is read and then refused by validation with a clear reason, not reported as a
//! typo.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, ObjectMeta};
use podwire_model::policy::{RuleAction, Tier};
use serde::{Deserialize, Serialize};

/// A ClusterNetworkPolicy: which pods it applies to (`spec.subject`), in which tier and with
/// which priority, and its ingress and egress rules, each with an action.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNetworkPolicy {
    /// Its metadata (cluster-scoped: no namespace).
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What it says.
    #[serde(default)]
    pub spec: ClusterNetworkPolicySpec,
    /// What an implementation reports; kept as written.
    #[serde(default)]
    pub status: Option<ClusterNetworkPolicyStatus>,
}

/// `spec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNetworkPolicySpec {
    /// `Admin` or `Baseline`.
    pub tier: Tier,
    /// 0 to 1000: lower values are evaluated first within the tier.
    pub priority: i32,
    /// The pods it applies to: exactly one of `namespaces` and `pods`. Read as empty when
    /// absent, so that a misspelt `subject` is reported as an unknown field and an absent
    /// one by validation, each by its own name.
    #[serde(default)]
    pub subject: ClusterNetworkPolicySubject,
    /// Rules on traffic to the subject's pods, in precedence order (at most 25).
    // Written even when empty, like every field below that a manifest may spell out empty:
    // the strict decoding takes a field the object does not write back for an unknown one.
    #[serde(default)]
    pub ingress: Vec<ClusterNetworkPolicyIngressRule>,
    /// Rules on traffic from the subject's pods, in precedence order (at most 25).
    #[serde(default)]
    pub egress: Vec<ClusterNetworkPolicyEgressRule>,
}

impl Default for ClusterNetworkPolicySpec {
    fn default() -> Self {
        ClusterNetworkPolicySpec {
            tier: Tier::Admin,
            priority: 0,
            subject: ClusterNetworkPolicySubject::default(),
            ingress: Vec::new(),
            egress: Vec::new(),
        }
    }
}

/// `status`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNetworkPolicyStatus {
    /// The implementation's conditions.
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// `spec.subject`: exactly one field is set.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNetworkPolicySubject {
    /// Every pod of the namespaces this selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<LabelSelector>,
    /// The pods this selects in the namespaces it selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<NamespacedPod>,
}

/// Pods by namespace AND pod labels.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespacedPod {
    /// The namespaces; empty (`{}`) selects all of them.
    #[serde(default)]
    pub namespace_selector: LabelSelector,
    /// The pods in them; empty (`{}`) selects all of them. Required, as upstream: a
    /// forgotten podSelector does not select every pod.
    pub pod_selector: LabelSelector,
}

/// `spec.ingress[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNetworkPolicyIngressRule {
    /// A name for people (at most 100 characters).
    #[serde(default)]
    pub name: String,
    /// What it does with the traffic it matches.
    pub action: RuleAction,
    /// The sources it matches (1 to 25); any one matching is enough.
    #[serde(default)]
    pub from: Vec<ClusterNetworkPolicyIngressPeer>,
    /// The protocols and ports it matches (1 to 25); absent: all traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocols: Option<Vec<ClusterNetworkPolicyProtocol>>,
}

/// `spec.egress[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNetworkPolicyEgressRule {
    /// A name for people (at most 100 characters).
    #[serde(default)]
    pub name: String,
    /// What it does with the traffic it matches.
    pub action: RuleAction,
    /// The destinations it matches (1 to 25); any one matching is enough.
    #[serde(default)]
    pub to: Vec<ClusterNetworkPolicyEgressPeer>,
    /// The protocols and ports it matches (1 to 25); absent: all traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocols: Option<Vec<ClusterNetworkPolicyProtocol>>,
}

/// A source of an ingress rule: exactly one field is set.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNetworkPolicyIngressPeer {
    /// Every pod of the namespaces this selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<LabelSelector>,
    /// The pods this selects in the namespaces it selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<NamespacedPod>,
}

/// A destination of an egress rule: exactly one field is set.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNetworkPolicyEgressPeer {
    /// Every pod of the namespaces this selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<LabelSelector>,
    /// The pods this selects in the namespaces it selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<NamespacedPod>,
    /// Nodes by label (experimental upstream; podwire refuses it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<LabelSelector>,
    /// CIDRs (1 to 25), matching any traffic to them, pods' included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networks: Option<Vec<String>>,
    /// Domain names (experimental upstream; podwire refuses it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_names: Option<Vec<String>>,
}

/// `protocols[]`: exactly one field is set.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNetworkPolicyProtocol {
    /// TCP, to a destination port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<ProtocolPort>,
    /// UDP, to a destination port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp: Option<ProtocolPort>,
    /// SCTP, to a destination port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sctp: Option<ProtocolPort>,
    /// A destination pod's container port by name (any protocol that port has).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_named_port: Option<String>,
}

/// `tcp`, `udp` or `sctp` of a protocol match.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProtocolPort {
    /// The destination port; required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_port: Option<Port>,
}

/// A port number or a range: exactly one is set.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Port {
    /// One port, 1 to 65535.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<i32>,
    /// An inclusive range, `start < end`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<PortRange>,
}

/// An inclusive port range.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortRange {
    /// The first port.
    pub start: i32,
    /// The last port; greater than `start`.
    pub end: i32,
}

impl k8s_openapi::Resource for ClusterNetworkPolicy {
    const API_VERSION: &'static str = "policy.networking.k8s.io/v1alpha2";
    const GROUP: &'static str = "policy.networking.k8s.io";
    const KIND: &'static str = "ClusterNetworkPolicy";
    const VERSION: &'static str = "v1alpha2";
    const URL_PATH_SEGMENT: &'static str = "clusternetworkpolicies";
    type Scope = k8s_openapi::ClusterResourceScope;
}

impl k8s_openapi::Metadata for ClusterNetworkPolicy {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// Written with its `apiVersion` and `kind`, as k8s-openapi's types write themselves: the
/// store persists objects so, and the strict decoding compares a document with it.
impl Serialize for ClusterNetworkPolicy {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use k8s_openapi::Resource;

        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Written<'a> {
            api_version: &'static str,
            kind: &'static str,
            metadata: &'a ObjectMeta,
            spec: &'a ClusterNetworkPolicySpec,
            #[serde(skip_serializing_if = "Option::is_none")]
            status: &'a Option<ClusterNetworkPolicyStatus>,
        }
        Written {
            api_version: Self::API_VERSION,
            kind: Self::KIND,
            metadata: &self.metadata,
            spec: &self.spec,
            status: &self.status,
        }
        .serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_policy_reads_and_writes_back_as_the_upstream_json() {
        let document = json!({
            "apiVersion": "policy.networking.k8s.io/v1alpha2",
            "kind": "ClusterNetworkPolicy",
            "metadata": {"name": "deny-to-sensitive"},
            "spec": {
                "tier": "Admin",
                "priority": 10,
                "subject": {"namespaces": {"matchLabels": {"team": "x"}}},
                "ingress": [{
                    "name": "no-one",
                    "action": "Deny",
                    "from": [{"pods": {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "a"}}}}],
                    "protocols": [{"tcp": {"destinationPort": {"range": {"start": 80, "end": 81}}}}]
                }],
                "egress": [{
                    "name": "internal",
                    "action": "Pass",
                    "to": [{"networks": ["10.0.0.0/8"]}]
                }]
            }
        });
        let policy: ClusterNetworkPolicy = serde_json::from_value(document.clone()).unwrap();
        assert_eq!(policy.spec.tier, Tier::Admin);
        assert_eq!(policy.spec.ingress[0].action, RuleAction::Deny);
        assert_eq!(
            policy.spec.egress[0].to[0].networks.as_deref(),
            Some(&["10.0.0.0/8".to_owned()][..])
        );
        assert_eq!(serde_json::to_value(&policy).unwrap(), document);
    }

    #[test]
    fn empty_fields_written_out_are_not_taken_for_unknown_ones() {
        // The strict decoding reports a field the written-back object lacks: what a
        // manifest may spell out empty must be written back.
        let document = json!({
            "apiVersion": "policy.networking.k8s.io/v1alpha2",
            "kind": "ClusterNetworkPolicy",
            "metadata": {"name": "empty"},
            "spec": {
                "tier": "Baseline",
                "priority": 0,
                "subject": {"namespaces": {}},
                "ingress": [],
                "egress": [{"name": "", "action": "Deny", "to": [{"namespaces": {}}]}]
            }
        });
        let object = crate::object::decode(document).unwrap();
        let crate::object::Object::ClusterNetworkPolicy(policy) = object else {
            panic!("not a ClusterNetworkPolicy: {object:?}");
        };
        assert_eq!(policy.spec.tier, Tier::Baseline);
        assert_eq!(policy.spec.egress[0].action, RuleAction::Deny);
    }

    #[test]
    fn a_pods_peer_needs_its_pod_selector() {
        let error = serde_json::from_value::<NamespacedPod>(json!({"namespaceSelector": {}}))
            .unwrap_err()
            .to_string();
        assert!(error.contains("podSelector"), "{error}");
        let pods: NamespacedPod = serde_json::from_value(json!({"podSelector": {}})).unwrap();
        assert_eq!(pods, NamespacedPod::default());
    }

    #[test]
    fn an_unknown_action_is_an_error_naming_the_valid_ones() {
        let error = serde_json::from_value::<ClusterNetworkPolicyIngressRule>(json!({
            "action": "Allow", "from": []
        }))
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("Accept") && error.contains("Pass"),
            "{error}"
        );
    }
}
