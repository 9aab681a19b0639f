//! NetworkPolicies in the store: kept and persisted, refused when invalid, and compiled again
//! against the Pods' labels and addresses as they change.

use podwire_model::policy::PodPolicy;

use super::*;

/// What places a Pod on another node, with its address.
const ELSEWHERE: &str = "  nodeName: node-b\nstatus: {podIPs: [{ip: 10.244.1.4}]}\n";

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// Namespace x; in it, `web` isolates `app=web` pods for ingress and lets in TCP 80 from
/// `app=client` pods.
fn namespace_and_policy() -> Vec<String> {
    vec![
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n".to_owned(),
        "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: x}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{protocol: TCP, port: 80}]
"
        .to_owned(),
    ]
}

/// x/a (app=web) and x/b (app=client) attached here; x/c (app=other) on another node,
/// known by its status.
fn pods() -> (Vec<String>, Attached) {
    let pod_c = pod("x", "c", "other", ELSEWHERE);
    let attached =
        Attached::default()
            .with("x", "a", &["10.244.0.2"])
            .with("x", "b", &["10.244.0.3"]);
    (
        vec![pod("x", "a", "web", ""), pod("x", "b", "client", ""), pod_c],
        attached,
    )
}

fn find<'a>(policies: &'a [PodPolicy], name: &str) -> &'a PodPolicy {
    policies
        .iter()
        .find(|p| p.namespace == "x" && p.name == name)
        .unwrap_or_else(|| panic!("no compiled policies for x/{name}: {policies:?}"))
}

/// The prefixes x/a's ingress rules allow traffic from, as text, sorted.
fn ingress_peers(policies: &[PodPolicy]) -> Vec<String> {
    let a = find(policies, "a");
    let mut peers: Vec<String> = a
        .ingress
        .rules
        .iter()
        .flat_map(|rule| rule.peers.iter().flatten())
        .map(|block| block.cidr.to_string())
        .collect();
    peers.sort();
    peers
}

#[test]
fn network_policies_are_kept_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (pod_docs, attached) = pods();
    let text = manifest(&[namespace_and_policy(), pod_docs].concat());
    let (before, compiled) = {
        let mut cluster = open(&dir);
        let (report, _) = cluster.apply(&text, &attached).unwrap();
        assert!(
            changes(&report).contains(&("NetworkPolicy x/web".to_owned(), Change::Created)),
            "{report:?}"
        );
        let objects: Vec<_> = cluster.objects().cloned().collect();
        (objects, cluster.pod_policies(&attached))
    };
    let saved = std::fs::read_to_string(dir.path().join("cluster.json")).unwrap();
    assert!(saved.contains("\"networking.k8s.io/v1\""), "{saved}");

    let cluster = open(&dir);
    let after: Vec<_> = cluster.objects().cloned().collect();
    assert_eq!(after, before);
    assert!(
        after
            .iter()
            .any(|o| o.key() == key(ObjectKind::NetworkPolicy, "x", "web"))
    );
    assert_eq!(cluster.pod_policies(&attached), compiled);
    let a = find(&compiled, "a");
    assert_eq!(a.ingress.policies.len(), 1);
    assert_eq!(a.ingress.policies[0].to_string(), "x/web");
    assert!(!a.egress.isolated());
    assert!(!find(&compiled, "b").ingress.isolated());
    assert!(
        compiled.iter().all(|p| p.name != "c"),
        "x/c runs on another node"
    );
}

#[test]
fn an_invalid_network_policy_is_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = open(&dir);
    let attached = Attached::default();
    let outside_except = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: bad, namespace: x}
spec:
  podSelector: {}
  ingress:
  - from: [{ipBlock: {cidr: 10.0.0.0/24, except: [10.1.0.0/24]}}]
";
    let misspelt = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: typo, namespace: x}
spec:
  podSelecter: {}
";
    for bad in [outside_except, misspelt] {
        let text = manifest(&[namespace_and_policy(), vec![bad.to_owned()]].concat());
        let error = cluster.apply(&text, &attached).unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, ClusterError::Refused(_)), "{message}");
        assert!(message.contains("document 3"), "{message}");
        assert_eq!(cluster.objects().count(), 0);
        assert!(!dir.path().join("cluster.json").exists());
    }
    let text = manifest(&[namespace_and_policy(), vec![outside_except.to_owned()]].concat());
    let message = cluster.apply(&text, &attached).unwrap_err().to_string();
    assert!(message.contains("except"), "{message}");
    let text = manifest(&[namespace_and_policy(), vec![misspelt.to_owned()]].concat());
    let message = cluster.apply(&text, &attached).unwrap_err().to_string();
    assert!(message.contains("spec.podSelecter"), "{message}");
}

#[test]
fn compiled_policies_follow_pod_labels_and_attachments() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = open(&dir);
    let (pod_docs, attached) = pods();
    let text = manifest(&[namespace_and_policy(), pod_docs].concat());
    cluster.apply(&text, &attached).unwrap();
    let compiled = cluster.pod_policies(&attached);
    assert_eq!(ingress_peers(&compiled), ["10.244.0.3/32"]);
    assert_eq!(find(&compiled, "a").addresses, [ip("10.244.0.2")]);

    // x/b is no client any more; x/c, on the other node, becomes one.
    cluster
        .apply(&pod("x", "b", "other", ""), &attached)
        .unwrap();
    cluster
        .apply(&pod("x", "c", "client", ELSEWHERE), &attached)
        .unwrap();
    let compiled = cluster.pod_policies(&attached);
    assert_eq!(ingress_peers(&compiled), ["10.244.1.4/32"]);

    // x/b, a client again, gets a second address here.
    cluster
        .apply(&pod("x", "b", "client", ""), &attached)
        .unwrap();
    let attached = attached.with("x", "b", &["10.244.0.3", "10.244.0.9"]);
    let compiled = cluster.pod_policies(&attached);
    assert_eq!(
        ingress_peers(&compiled),
        ["10.244.0.3/32", "10.244.0.9/32", "10.244.1.4/32"]
    );

    // x/a is no longer selected: nothing isolates it.
    cluster.apply(&pod("x", "a", "db", ""), &attached).unwrap();
    let compiled = cluster.pod_policies(&attached);
    assert!(!find(&compiled, "a").ingress.isolated());

    // Deleting the policy leaves every pod unrestricted.
    cluster.apply(&pod("x", "a", "web", ""), &attached).unwrap();
    assert!(
        find(&cluster.pod_policies(&attached), "a")
            .ingress
            .isolated()
    );
    cluster
        .delete(&namespace_and_policy()[1], &attached)
        .unwrap();
    let compiled = cluster.pod_policies(&attached);
    assert!(
        compiled
            .iter()
            .all(|p| !p.ingress.isolated() && !p.egress.isolated())
    );
}
