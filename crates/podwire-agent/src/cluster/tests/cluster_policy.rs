//! ClusterNetworkPolicies in the store: kept, persisted and reloaded, removed, and compiled
//! into the Admin tier rules of the pods their subject selects.

use podwire_model::cidr::Cidr;
use podwire_model::policy::{
    PeerBlock, PodPolicy, PolicyDirection, PolicyId, PortRange, RuleAction, RuleId, TierRule,
};
use podwire_model::service::Protocol;

use super::*;

/// Namespace x, with x/a (app=web) and x/b (app=client) attached here and x/c (app=other)
/// on another node, known by its status.
fn namespace_and_pods() -> (Vec<String>, Attached) {
    let elsewhere = "  nodeName: node-b\nstatus: {podIPs: [{ip: 10.244.1.4}]}\n";
    let attached =
        Attached::default()
            .with("x", "a", &["10.244.0.2"])
            .with("x", "b", &["10.244.0.3"]);
    let documents = vec![
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n".to_owned(),
        pod("x", "a", "web", ""),
        pod("x", "b", "client", ""),
        pod("x", "c", "other", elsewhere),
    ];
    (documents, attached)
}

/// Admin policy `guard` on `app=web` pods: ingress Accepts TCP 80 from `app=client` pods,
/// then Denies every pod; egress Passes 10.0.0.0/8.
const GUARD: &str = "apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: guard}
spec:
  tier: Admin
  priority: 5
  subject:
    pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: web}}}
  ingress:
  - name: clients
    action: Accept
    from: [{pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: client}}}}]
    protocols: [{tcp: {destinationPort: {number: 80}}}]
  - name: no-one-else
    action: Deny
    from: [{namespaces: {}}]
  egress:
  - action: Pass
    to: [{networks: [10.0.0.0/8]}]
";

fn guard_key() -> ObjectKey {
    key(ObjectKind::ClusterNetworkPolicy, "", "guard")
}

fn find<'a>(policies: &'a [PodPolicy], name: &str) -> &'a PodPolicy {
    policies
        .iter()
        .find(|p| p.namespace == "x" && p.name == name)
        .unwrap_or_else(|| panic!("no compiled policies for x/{name}: {policies:?}"))
}

fn rule_id(direction: PolicyDirection, index: usize) -> RuleId {
    RuleId {
        policy: PolicyId::cluster("guard"),
        direction,
        index,
    }
}

fn block(cidr: &str) -> PeerBlock {
    PeerBlock {
        cidr: cidr.parse::<Cidr>().unwrap(),
        except: Vec::new(),
    }
}

/// A tier rule's peers as text, sorted.
fn peers(rule: &TierRule) -> Vec<String> {
    let mut peers: Vec<String> = rule
        .rule
        .peers
        .iter()
        .flatten()
        .map(|block| block.cidr.to_string())
        .collect();
    peers.sort();
    peers
}

#[test]
fn a_cluster_network_policy_is_kept_reloaded_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (documents, attached) = namespace_and_pods();
    let text = manifest(&[documents, vec![GUARD.to_owned()]].concat());
    let before: Vec<_> = {
        let mut cluster = open(&dir);
        let (report, updates) = cluster.apply(&text, &attached).unwrap();
        assert!(
            changes(&report).contains(&("ClusterNetworkPolicy guard".to_owned(), Change::Created)),
            "{report:?}"
        );
        assert_eq!(ids(&updates), Vec::<String>::new(), "no Service is touched");
        let (report, _) = cluster.apply(GUARD, &attached).unwrap();
        assert_eq!(
            changes(&report),
            [("ClusterNetworkPolicy guard".to_owned(), Change::Unchanged)]
        );
        cluster.objects().cloned().collect()
    };
    let saved = std::fs::read_to_string(dir.path().join("cluster.json")).unwrap();
    assert!(
        saved.contains("\"policy.networking.k8s.io/v1alpha2\""),
        "{saved}"
    );

    let mut cluster = open(&dir);
    let after: Vec<_> = cluster.objects().cloned().collect();
    assert_eq!(after, before);
    assert!(after.iter().any(|o| o.key() == guard_key()));

    let (report, _) = cluster.delete(GUARD, &attached).unwrap();
    assert_eq!(
        changes(&report),
        [("ClusterNetworkPolicy guard".to_owned(), Change::Deleted)]
    );
    let (report, _) = cluster.delete(GUARD, &attached).unwrap();
    assert_eq!(
        changes(&report),
        [("ClusterNetworkPolicy guard".to_owned(), Change::NotFound)]
    );
    let reopened = open(&dir);
    assert!(reopened.objects().all(|o| o.key() != guard_key()));
    assert_eq!(
        reopened.objects().count(),
        4,
        "the Namespace and the Pods stay"
    );
}

#[test]
fn an_invalid_cluster_network_policy_is_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = open(&dir);
    let (documents, attached) = namespace_and_pods();
    for (bad, field) in [
        (
            GUARD.replace("number: 80", "number: 0"),
            "destinationPort.number",
        ),
        (
            GUARD.replace("[{networks: [10.0.0.0/8]}]", "[{nodes: {}}]"),
            "to[0].nodes",
        ),
        (
            GUARD.replace("priority: 5", "priority: 1001"),
            "spec.priority",
        ),
    ] {
        let text = manifest(&[documents.clone(), vec![bad]].concat());
        let error = cluster.apply(&text, &attached).unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, ClusterError::Refused(_)), "{message}");
        assert!(
            message.contains("document 5 (ClusterNetworkPolicy guard): "),
            "{message}"
        );
        assert!(message.contains(field), "{field}: {message}");
        assert_eq!(cluster.objects().count(), 0);
        assert!(!dir.path().join("cluster.json").exists());
    }
}

#[test]
fn compiled_policies_carry_the_admin_rules_until_the_policy_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (documents, attached) = namespace_and_pods();
    let mut cluster = open(&dir);
    cluster.apply(&manifest(&documents), &attached).unwrap();
    let without = cluster.pod_policies(&attached);
    assert!(
        without
            .iter()
            .all(|p| !p.ingress.restricted() && !p.egress.restricted()),
        "{without:?}"
    );

    cluster.apply(GUARD, &attached).unwrap();
    let compiled = cluster.pod_policies(&attached);
    let a = find(&compiled, "a");
    let actions: Vec<_> = a.ingress.admin.iter().map(|r| r.action).collect();
    assert_eq!(actions, [RuleAction::Accept, RuleAction::Deny]);
    let ids: Vec<_> = a.ingress.admin.iter().map(|r| r.rule.id.clone()).collect();
    assert_eq!(
        ids,
        [
            rule_id(PolicyDirection::Ingress, 0),
            rule_id(PolicyDirection::Ingress, 1)
        ]
    );
    assert_eq!(peers(&a.ingress.admin[0]), ["10.244.0.3/32"]);
    assert_eq!(
        a.ingress.admin[0].rule.ports,
        Some(vec![PortRange {
            protocol: Protocol::Tcp,
            ports: Some((80, 80)),
        }])
    );
    assert_eq!(
        peers(&a.ingress.admin[1]),
        ["10.244.0.2/32", "10.244.0.3/32", "10.244.1.4/32"]
    );
    assert_eq!(a.ingress.admin[1].rule.ports, None);
    assert_eq!(
        a.egress.admin,
        [TierRule {
            rule: podwire_model::policy::CompiledRule {
                id: rule_id(PolicyDirection::Egress, 0),
                peers: Some(vec![block("10.0.0.0/8")]),
                ports: None,
            },
            action: RuleAction::Pass,
        }]
    );
    assert!(a.ingress.baseline.is_empty() && !a.ingress.isolated());
    let b = find(&compiled, "b");
    assert!(!b.ingress.restricted() && !b.egress.restricted(), "{b:?}");

    // What a restarted agent compiles from its file is the same.
    assert_eq!(open(&dir).pod_policies(&attached), compiled);

    // x/b stops being a client: the Accept rule admits no address any more (whether it is
    // kept with no peer or left out).
    cluster
        .apply(&pod("x", "b", "other", ""), &attached)
        .unwrap();
    let compiled = cluster.pod_policies(&attached);
    let a = find(&compiled, "a");
    let accepts: Vec<_> = a
        .ingress
        .admin
        .iter()
        .filter(|r| r.action == RuleAction::Accept)
        .collect();
    assert!(
        accepts
            .iter()
            .all(|r| r.rule.peers.as_ref().is_some_and(Vec::is_empty)),
        "{accepts:?}"
    );
    assert_eq!(
        a.ingress.admin.last().map(|r| r.action),
        Some(RuleAction::Deny)
    );

    cluster.delete(GUARD, &attached).unwrap();
    let compiled = cluster.pod_policies(&attached);
    assert!(
        compiled
            .iter()
            .all(|p| !p.ingress.restricted() && !p.egress.restricted()),
        "{compiled:?}"
    );
}
