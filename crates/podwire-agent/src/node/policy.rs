//! The node's side of NetworkPolicies: publishing the policy table each time the compiled
//! policies of its pods change, explaining a verdict from what was compiled, and the
//! per-rule counters the workers keep.

use std::net::IpAddr;
use std::sync::{Arc, MutexGuard};

use podwire_dataplane::policy::classifier::RuleSlot;
use podwire_dataplane::policy::table::PolicyTable;
use podwire_dataplane::tables::{Adjacency, Tables};
use podwire_k8s::policy::Party;
use podwire_model::policy::{ExplainRequest, Explanation, PodPolicy, PolicyRuleView};

use super::Node;
use crate::cluster::{Cluster, PodAddresses};
use crate::policy::render;
use crate::policy::slots::RuleSlots;

/// What the data plane was last told about policies.
#[derive(Debug, Default)]
pub(super) struct Policies {
    /// The compiled policies of this node's pods: what `explain` answers from.
    pods: Vec<PodPolicy>,
    /// The table rendered from them and published.
    table: Arc<PolicyTable>,
    /// The rules' slots, kept from table to table so that their counters go on.
    slots: RuleSlots,
}

impl Policies {
    /// Makes `pods` the compiled policies and renders them into the table of the next
    /// generation, which it returns to be published; `None` when they are what was rendered
    /// last.
    fn update(&mut self, pods: Vec<PodPolicy>) -> Option<Arc<PolicyTable>> {
        if self.pods == pods {
            return None;
        }
        let generation = self.table.generation + 1;
        self.table = Arc::new(render::render(&pods, &mut self.slots, generation));
        self.pods = pods;
        Some(self.table.clone())
    }

    /// The views of the current table's rules with the workers' counters `hits` (each with
    /// the numbering epoch of the slots it is indexed by), summed: counters of another
    /// epoch count other rules in the same slots, and are left out.
    fn views<'a>(&self, hits: impl IntoIterator<Item = (u64, &'a [u64])>) -> Vec<PolicyRuleView> {
        let mut sums = vec![0u64; self.table.rules.len()];
        let current = hits
            .into_iter()
            .filter(|&(epoch, _)| epoch == self.table.epoch);
        for (_, counts) in current {
            for (sum, &count) in sums.iter_mut().zip(counts) {
                *sum += count;
            }
        }
        views(&self.table, self.slots.live(), &sums)
    }
}

/// One end of a connection to explain, as the request names it.
enum Named<'a> {
    /// `namespace/name`.
    Pod(&'a str, &'a str),
    /// An address.
    Address(IpAddr),
}

impl<'a> Named<'a> {
    fn parse(text: &'a str) -> Result<Named<'a>, String> {
        let text = text.trim();
        if let Ok(address) = text.parse() {
            return Ok(Named::Address(address));
        }
        match text.split_once('/') {
            // A namespace's name is a DNS label: this also tells a prefix (10.0.0.0/8) apart.
            Some((namespace, name))
                if is_dns_label(namespace) && !name.is_empty() && !name.contains('/') =>
            {
                Ok(Named::Pod(namespace, name))
            }
            _ => Err(format!(
                "{text:?} is neither NAMESPACE/POD nor an IP address: name a pod as \
                 namespace/name (e.g. default/web-0), or give an IPv4 or IPv6 address"
            )),
        }
    }

    /// The address family of an address, to pick the same one for a pod at the other end.
    fn is_ipv6(&self) -> Option<bool> {
        match self {
            Named::Address(address) => Some(address.is_ipv6()),
            Named::Pod(..) => None,
        }
    }
}

impl Node {
    fn policy_state(&self) -> MutexGuard<'_, Policies> {
        self.policies.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `pods` (the cluster store's compiled policies of this node's pods) what the data
    /// plane enforces: renders them and publishes the tables, unless they are what it already
    /// enforces (most changes of the store touch no policy). The new table gets the next
    /// generation, so that only new connections are checked against it; its rules keep the
    /// slots they had, so that their counters go on.
    /// Whether they changed.
    pub(super) fn apply_policies(&self, pods: Vec<PodPolicy>) -> bool {
        let mut policies = self.policy_state();
        let Some(table) = policies.update(pods) else {
            return false;
        };
        // Published under the tables' lock: a change of attachments renders and publishes
        // under it too, and must not publish tables rendered before this one after it.
        let mut dynamic = self.dynamic();
        let tables = dynamic.set_policies(table);
        self.publisher.publish(tables);
        true
    }

    /// `POST /v1/explain`: the verdict of the compiled policies on a connection, with what
    /// decided it. An error names what in the request cannot be resolved.
    pub(crate) fn explain(&self, request: ExplainRequest) -> Result<Explanation, String> {
        let from_name = Named::parse(&request.from)?;
        let to_name = Named::parse(&request.to)?;
        let tables = self.publisher.current();
        // The store is locked before the policies, as a change of the store does.
        let cluster = self.cluster();
        let attached = self.attached_pods();
        let policies = self.policy_state();
        let resolver = Resolver {
            cluster: &cluster,
            attached: &attached,
            pods: &policies.pods,
            tables: &tables,
        };
        let from = resolver.party(&from_name, &to_name, true)?;
        let to = resolver.party(&to_name, &from_name, false)?;
        Ok(podwire_k8s::policy::explain(
            from,
            to,
            request.protocol,
            request.port,
        ))
    }

    /// `GET /v1/policies`: every compiled rule of this node's pods, with what it does and the
    /// new connections it decided (allowed, accepted or denied) or, a Pass rule, passed on,
    /// summed over the workers. A rule compiled into several classifier rules (a rule with
    /// a named port) is shown once, with their sum.
    pub(crate) fn policy_views(&self) -> Vec<PolicyRuleView> {
        // The workers answer before the policies are locked: a change of policies must not
        // wait for them.
        let snapshots = self.snapshots();
        let hits = snapshots
            .iter()
            .map(|s| (s.policy_epoch, s.policy_hits.as_slice()));
        self.policy_state().views(hits)
    }
}

/// What the parties of a connection to explain are looked up in.
struct Resolver<'a> {
    cluster: &'a Cluster,
    attached: &'a dyn PodAddresses,
    /// The compiled policies of this node's pods.
    pods: &'a [PodPolicy],
    tables: &'a Tables,
}

impl<'a> Resolver<'a> {
    /// Who `named` is: a pod of this node by name or address, else the node or an address
    /// (a pod elsewhere by its address of the family of the `other` end's, if an address).
    /// `client`: it is the end that opens the connection.
    fn party(
        &self,
        named: &Named<'_>,
        other: &Named<'_>,
        client: bool,
    ) -> Result<Party<'a>, String> {
        let address = match *named {
            Named::Address(address) => address,
            Named::Pod(namespace, name) => {
                let local = self
                    .pods
                    .iter()
                    .find(|p| p.namespace == namespace && p.name == name);
                if let Some(pod) = local {
                    return Ok(Party::Pod(pod));
                }
                let addresses = self
                    .cluster
                    .pod_addresses(namespace, name, self.attached)
                    .ok_or_else(|| {
                        format!(
                            "there is no Pod {namespace}/{name} in the cluster store: apply it \
                             first, or give its address"
                        )
                    })?;
                pick(&addresses, other.is_ipv6()).ok_or_else(|| {
                    format!(
                        "Pod {namespace}/{name} has no address yet: it is not attached on \
                         this node and its status lists no podIPs"
                    )
                })?
            }
        };
        Ok(party(address, self.pods, self.tables, client))
    }
}

/// The views of `table`'s rules in the slots `live`, in that order, with the counts `hits`
/// (by slot), slots of the same pod and rule merged.
fn views(table: &PolicyTable, live: &[RuleSlot], hits: &[u64]) -> Vec<PolicyRuleView> {
    let mut views: Vec<PolicyRuleView> = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for &slot in live {
        let Some(info) = table.rules.get(slot.0 as usize) else {
            continue;
        };
        let packets = hits.get(slot.0 as usize).copied().unwrap_or(0);
        match seen.get(&(info.pod.clone(), info.rule.clone())) {
            Some(&i) => {
                let view: &mut PolicyRuleView = &mut views[i];
                view.packets += packets;
            }
            None => {
                seen.insert((info.pod.clone(), info.rule.clone()), views.len());
                views.push(PolicyRuleView {
                    pod: info.pod.to_string(),
                    rule: info.rule.to_string(),
                    action: info.action.to_string(),
                    packets,
                });
            }
        }
    }
    views
}

/// Who is at `address`: a pod of this node, the node itself, or any other address. The node
/// is what the data plane treats as the node: one of its node addresses, or, for a client,
/// an address it routes to the host interface (such packets come in through it).
fn party<'a>(address: IpAddr, pods: &'a [PodPolicy], tables: &Tables, client: bool) -> Party<'a> {
    if let Some(pod) = pods.iter().find(|p| p.addresses.contains(&address)) {
        return Party::Pod(pod);
    }
    let node = tables.services.node();
    let behind_host = || {
        let route = match address {
            IpAddr::V4(a) => tables.route4(a),
            IpAddr::V6(a) => tables.route6(a),
        };
        matches!(
            (route, node.host_interface),
            (Some((_, Adjacency::Attached { interface })), Some(host)) if interface == host
        )
    };
    match node.node_addresses.contains(&address) || (client && behind_host()) {
        true => Party::Node(address),
        false => Party::Address(address),
    }
}

/// Whether `text` is a DNS label (RFC 1123), as a namespace's name must be.
fn is_dns_label(text: &str) -> bool {
    let ok = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let bytes = text.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(&first), Some(&last)) => {
            bytes.len() <= 63 && ok(first) && ok(last) && bytes.iter().all(|&c| ok(c) || c == b'-')
        }
        _ => false,
    }
}

/// Of a pod's addresses, the first of the family `ipv6` (when the other end is an address),
/// else its first.
fn pick(addresses: &[IpAddr], ipv6: Option<bool>) -> Option<IpAddr> {
    let same = ipv6.and_then(|v6| addresses.iter().find(|a| a.is_ipv6() == v6));
    same.or(addresses.first()).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use podwire_dataplane::interface::InterfaceConfig;
    use podwire_dataplane::nat::service::{NodeNat, ServiceTable};
    use podwire_dataplane::policy::table::{Action, PolicyHits, RuleInfo};
    use podwire_dataplane::policy::tier::{Tier, TierAction};
    use podwire_dataplane::tables::TablesBuilder;
    use podwire_k8s::services::NodeContext;
    use podwire_model::service::Protocol;
    use podwire_wire::ethernet::EthernetAddress;

    /// x/a and x/b are attached here.
    struct Attached;

    impl PodAddresses for Attached {
        fn addresses(&self, namespace: &str, name: &str) -> Vec<IpAddr> {
            match (namespace, name) {
                ("x", "a") => vec!["10.244.0.2".parse().unwrap()],
                ("x", "b") => vec!["10.244.0.3".parse().unwrap()],
                _ => Vec::new(),
            }
        }
    }

    const MANIFEST: &str = "apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x}
spec: {containers: [{name: main, image: example}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, labels: {app: client}}
spec: {containers: [{name: main, image: example}]}
---
apiVersion: v1
kind: Pod
metadata: {name: r, namespace: far}
spec: {nodeName: node-b, containers: [{name: main, image: example}]}
status: {podIPs: [{ip: 10.244.1.5}, {ip: 'fd00:1::5'}]}
---
apiVersion: v1
kind: Pod
metadata: {name: pending, namespace: far}
spec: {containers: [{name: main, image: example}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: x}
spec:
  podSelector: {matchExpressions: [{key: app, operator: DoesNotExist}]}
  policyTypes: [Ingress]
";

    /// Tables with a host interface (its address 192.168.1.1 routed to it) and the node
    /// address 198.51.100.7.
    fn tables() -> Tables {
        let mut builder = TablesBuilder::new();
        let mac = EthernetAddress([2, 0, 0, 0, 0, 1]);
        let host = builder
            .add_interface(InterfaceConfig::l3("host", mac))
            .unwrap();
        builder
            .add_route4(
                "192.168.1.1".parse().unwrap(),
                32,
                Adjacency::Attached { interface: host },
            )
            .unwrap();
        builder.set_services(Arc::new(ServiceTable::new(NodeNat {
            node_addresses: vec!["198.51.100.7".parse().unwrap()],
            host_interface: Some(host),
            ..NodeNat::default()
        })));
        builder.build(1)
    }

    #[test]
    fn parties_are_pods_of_this_node_the_node_or_addresses() {
        let dir = tempfile::tempdir().unwrap();
        let node = NodeContext {
            node_name: "node-a".into(),
        };
        let mut cluster = Cluster::open(dir.path(), node).unwrap();
        cluster.apply(MANIFEST, &Attached).unwrap();
        let pods = cluster.pod_policies(&Attached);
        let tables = tables();
        let resolver = Resolver {
            cluster: &cluster,
            attached: &Attached,
            pods: &pods,
            tables: &tables,
        };
        let party = |text: &str, other: &str, client: bool| {
            let (named, other) = (Named::parse(text)?, Named::parse(other)?);
            resolver.party(&named, &other, client)
        };
        let address = |text: &str| text.parse::<IpAddr>().unwrap();
        let pod_name = |p: Result<Party<'_>, String>| match p {
            Ok(Party::Pod(pod)) => format!("{}/{}", pod.namespace, pod.name),
            other => panic!("not a pod of this node: {other:?}"),
        };
        assert_eq!(pod_name(party("x/a", "x/b", true)), "x/a");
        assert_eq!(pod_name(party("10.244.0.3", "x/a", false)), "x/b");
        for client in [true, false] {
            assert!(matches!(
                party("198.51.100.7", "x/a", client),
                Ok(Party::Node(a)) if a == address("198.51.100.7")
            ));
        }
        // The host's own address comes in through the host interface: the node, as a client.
        assert!(matches!(
            party("192.168.1.1", "x/a", true),
            Ok(Party::Node(_))
        ));
        assert!(matches!(
            party("192.168.1.1", "x/a", false),
            Ok(Party::Address(_))
        ));
        assert!(matches!(
            party("far/r", "x/a", true),
            Ok(Party::Address(a)) if a == address("10.244.1.5")
        ));
        assert!(matches!(
            party("far/r", "fd00::2", true),
            Ok(Party::Address(a)) if a == address("fd00:1::5")
        ));
        let error = party("far/nobody", "x/a", true).unwrap_err();
        assert!(
            error.contains("no Pod far/nobody in the cluster store"),
            "{error}"
        );
        let error = party("far/pending", "x/a", true).unwrap_err();
        assert!(
            error.contains("Pod far/pending has no address yet"),
            "{error}"
        );

        // What the parties are given to: x/a (unlabelled) is isolated for ingress by x/deny.
        let explain = |from: &str, to: &str| {
            let from = party(from, to, true).unwrap();
            let to = party(to, "x/b", false).unwrap();
            podwire_k8s::policy::explain(from, to, Protocol::Tcp, 80)
        };
        let denied = explain("x/b", "x/a");
        assert_eq!(denied.verdict, "deny");
        assert_eq!(denied.policy.as_deref(), Some("x/deny"));
        assert_eq!(explain("198.51.100.7", "x/a").verdict, "allow");
        assert_eq!(explain("x/a", "x/b").verdict, "allow");
    }

    #[test]
    fn names_parse_as_pods_or_addresses_and_anything_else_is_refused() {
        assert!(matches!(Named::parse("x/a"), Ok(Named::Pod("x", "a"))));
        assert!(matches!(
            Named::parse(" 10.0.0.1 "),
            Ok(Named::Address(IpAddr::V4(_)))
        ));
        assert!(matches!(Named::parse("fd00::1"), Ok(Named::Address(_))));
        assert!(matches!(
            Named::parse("kube-system/web-0.a"),
            Ok(Named::Pod(..))
        ));
        for bad in ["a", "x/", "/a", "x/a/b", "10.0.0.0/8", "X/a", "-x/a", ""] {
            let error = Named::parse(bad).err().unwrap();
            assert!(
                error.contains("neither NAMESPACE/POD nor an IP address"),
                "{bad}"
            );
        }
    }

    #[test]
    fn pick_prefers_the_other_ends_family() {
        let addresses: Vec<IpAddr> = vec!["10.0.0.1".parse().unwrap(), "fd00::1".parse().unwrap()];
        assert_eq!(pick(&addresses, Some(true)), Some(addresses[1]));
        assert_eq!(pick(&addresses, Some(false)), Some(addresses[0]));
        assert_eq!(pick(&addresses, None), Some(addresses[0]));
        assert_eq!(pick(&addresses[..1], Some(true)), Some(addresses[0]));
        assert_eq!(pick(&[], None), None);
    }

    #[test]
    fn views_merge_the_slots_of_one_rule_show_the_live_ones_in_order_and_say_what_each_does() {
        let info = |pod: &str, rule: &str, action| RuleInfo {
            pod: pod.into(),
            rule: rule.into(),
            action,
        };
        let admin = |action| Action::Tier(Tier::Admin, action);
        let table = PolicyTable {
            rules: vec![
                info(
                    "x/a",
                    "ClusterNetworkPolicy/c ingress[0]",
                    admin(TierAction::Pass),
                ),
                info("x/a", "x/p ingress[0]", Action::Allow),
                info("x/b", "x/q egress[0]", Action::Allow),
                info("x/b", "x/q egress[0]", Action::Allow),
                info("x/b", "x/q egress[1]", Action::Allow),
                info(
                    "x/b",
                    "ClusterNetworkPolicy/c egress[0]",
                    Action::Tier(Tier::Baseline, TierAction::Deny),
                ),
            ],
            ..PolicyTable::default()
        };
        // x/b's rules were rendered first; x/q egress[1] (slot 4) went away.
        let live = [2, 3, 5, 0, 1].map(RuleSlot);
        let found: Vec<(String, String, String, u64)> = views(&table, &live, &[4, 1, 2, 3, 7, 6])
            .into_iter()
            .map(|v| (v.pod, v.rule, v.action, v.packets))
            .collect();
        let expected = [
            ("x/b", "x/q egress[0]", "Allow", 5),
            (
                "x/b",
                "ClusterNetworkPolicy/c egress[0]",
                "Baseline Deny",
                6,
            ),
            ("x/a", "ClusterNetworkPolicy/c ingress[0]", "Admin Pass", 4),
            ("x/a", "x/p ingress[0]", "Allow", 1),
        ]
        .map(|(p, r, a, n)| (p.to_owned(), r.to_owned(), a.to_owned(), n));
        assert_eq!(found, expected);
    }

    /// The pods attached here: x/web, and x/client once it has attached.
    struct Attaching {
        client: bool,
    }

    impl PodAddresses for Attaching {
        fn addresses(&self, namespace: &str, name: &str) -> Vec<IpAddr> {
            match (namespace, name) {
                ("x", "web") => vec!["10.244.0.2".parse().unwrap()],
                ("x", "client") if self.client => vec!["10.244.0.3".parse().unwrap()],
                _ => Vec::new(),
            }
        }
    }

    /// x/web is isolated for ingress: x/allow ingress[0] lets x/client in on TCP 80,
    /// ingress[1] lets 10.1.0.0/16 in; x/client is isolated for egress: x/out egress[0]
    /// lets it reach x/web.
    const WEB: &str = "apiVersion: v1
kind: Pod
metadata: {name: web, namespace: x, labels: {app: web}}
spec: {containers: [{name: main, image: example}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: x, labels: {app: client}}
spec: {containers: [{name: main, image: example}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow, namespace: x}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{protocol: TCP, port: 80}]
  - from: [{ipBlock: {cidr: 10.1.0.0/16}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: out, namespace: x}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress: [{to: [{podSelector: {matchLabels: {app: web}}}]}]
";

    /// A worker: its counters, counting as the data plane does.
    #[derive(Default)]
    struct Worker(PolicyHits);

    impl Worker {
        /// A TCP connection from `src` to `dst` port `port`, checked against `table`.
        fn connect(&mut self, table: &PolicyTable, src: &str, dst: &str, port: u16) {
            let verdict = table.check(
                src.parse().unwrap(),
                dst.parse().unwrap(),
                6,
                port,
                false,
                false,
            );
            for slot in verdict.slots() {
                self.0.count(table, slot);
            }
        }

        fn hits(&self) -> (u64, &[u64]) {
            (self.0.epoch, &self.0.hits)
        }
    }

    /// The views' rules and counts.
    fn counts(views: Vec<PolicyRuleView>) -> Vec<(String, String, u64)> {
        views
            .into_iter()
            .map(|v| (v.pod, v.rule, v.packets))
            .collect()
    }

    fn count(pod: &str, rule: &str, packets: u64) -> (String, String, u64) {
        (pod.to_owned(), rule.to_owned(), packets)
    }

    #[test]
    fn a_rules_count_goes_on_when_another_pod_attaches() {
        let dir = tempfile::tempdir().unwrap();
        let node = NodeContext {
            node_name: "node-a".into(),
        };
        let mut cluster = Cluster::open(dir.path(), node).unwrap();
        let alone = Attaching { client: false };
        cluster.apply(WEB, &alone).unwrap();
        let mut policies = Policies::default();
        let first = policies.update(cluster.pod_policies(&alone)).unwrap();
        assert!(
            policies.update(cluster.pod_policies(&alone)).is_none(),
            "nothing changed"
        );
        let (mut one, mut two) = (Worker::default(), Worker::default());
        one.connect(&first, "10.1.0.9", "10.244.0.2", 443);
        two.connect(&first, "10.1.0.9", "10.244.0.2", 443);

        // x/client attaches: its rule is rendered before x/web's, which are compiled again
        // (ingress[0] now allows its address), and a new table is published.
        let attached = Attaching { client: true };
        let second = policies.update(cluster.pod_policies(&attached)).unwrap();
        assert!(second.generation > first.generation);
        assert_eq!(second.epoch, first.epoch);
        assert_eq!(
            second.rules[..first.rules.len()],
            first.rules[..],
            "x/web's rules keep their slots, x/client's gets a new one"
        );
        one.connect(&second, "10.1.0.9", "10.244.0.2", 443);
        one.connect(&second, "10.244.0.3", "10.244.0.2", 80);
        // Worker two counted under the first table only: its count still adds up.
        let views = policies.views([one.hits(), two.hits()]);
        assert_eq!(
            counts(views),
            [
                count("x/client", "x/out egress[0]", 1),
                count("x/web", "x/allow ingress[0]", 1),
                count("x/web", "x/allow ingress[1]", 3)
            ]
        );
    }

    /// Pod x/`name` at `address`, isolated for ingress by x/p, whose rule `index` allows
    /// `from` for each (index, from).
    fn isolated_pod(name: &str, address: &str, rules: &[(usize, &str)]) -> PodPolicy {
        use podwire_model::policy::{
            CompiledRule, DirectionPolicy, PeerBlock, PolicyDirection, PolicyId, RuleId,
        };
        let policy = PolicyId {
            namespace: "x".into(),
            name: "p".into(),
        };
        let rule = |&(index, from): &(usize, &str)| CompiledRule {
            id: RuleId {
                policy: policy.clone(),
                direction: PolicyDirection::Ingress,
                index,
            },
            peers: Some(vec![PeerBlock {
                cidr: from.parse().unwrap(),
                except: Vec::new(),
            }]),
            ports: None,
        };
        PodPolicy {
            namespace: "x".into(),
            name: name.into(),
            addresses: vec![address.parse().unwrap()],
            ingress: DirectionPolicy {
                policies: vec![policy.clone()],
                rules: rules.iter().map(rule).collect(),
                ..DirectionPolicy::default()
            },
            egress: DirectionPolicy::default(),
        }
    }

    #[test]
    fn a_removed_rule_leaves_the_views_and_comes_back_with_its_count() {
        let mut policies = Policies::default();
        let both = [(0, "10.1.0.1/32"), (1, "10.1.0.2/32")];
        let table = policies
            .update(vec![isolated_pod("a", "10.244.0.2", &both)])
            .unwrap();
        let mut worker = Worker::default();
        worker.connect(&table, "10.1.0.1", "10.244.0.2", 80);
        worker.connect(&table, "10.1.0.2", "10.244.0.2", 80);
        worker.connect(&table, "10.1.0.2", "10.244.0.2", 80);

        // Rule 0 is removed (its policy changed): its count leaves the views.
        let one = [(1, "10.1.0.2/32")];
        let table = policies
            .update(vec![isolated_pod("a", "10.244.0.2", &one)])
            .unwrap();
        worker.connect(&table, "10.1.0.2", "10.244.0.2", 80);
        worker.connect(&table, "10.1.0.1", "10.244.0.2", 80);
        assert_eq!(
            counts(policies.views([worker.hits()])),
            [count("x/a", "x/p ingress[1]", 3)]
        );

        // It comes back: its slot and its count with it.
        let table = policies
            .update(vec![isolated_pod("a", "10.244.0.2", &both)])
            .unwrap();
        worker.connect(&table, "10.1.0.1", "10.244.0.2", 80);
        assert_eq!(
            counts(policies.views([worker.hits()])),
            [
                count("x/a", "x/p ingress[0]", 2),
                count("x/a", "x/p ingress[1]", 3)
            ]
        );
    }

    #[test]
    fn renumbered_slots_drop_the_old_counts_and_workers_count_again() {
        let mut policies = Policies {
            slots: RuleSlots::with_min_retired(1),
            ..Policies::default()
        };
        let many: Vec<(usize, &str)> = (0..4).map(|i| (i, "10.1.0.0/16")).collect();
        let pods = |rules: &[(usize, &str)]| vec![isolated_pod("a", "10.244.0.2", rules)];
        let table = policies.update(pods(&many)).unwrap();
        let (mut one, mut two) = (Worker::default(), Worker::default());
        one.connect(&table, "10.1.0.1", "10.244.0.2", 80);
        // Three rules go away: their slots outnumber the one left, and the next table
        // numbers the rules afresh.
        let table = policies.update(pods(&many[3..])).unwrap();
        assert_eq!(table.epoch, 0);
        two.connect(&table, "10.1.0.1", "10.244.0.2", 80);
        let renumbered = policies.update(pods(&many[2..])).unwrap();
        assert_eq!(renumbered.epoch, 1);
        assert_eq!(renumbered.rules.len(), 2, "only the live rules have slots");
        // Counted under the old numbering (rule 0 in slot 0, rule 3 in slot 3): not shown,
        // as slot 0 is rule 2's now.
        assert_eq!(
            counts(policies.views([one.hits(), two.hits()])),
            [
                count("x/a", "x/p ingress[2]", 0),
                count("x/a", "x/p ingress[3]", 0)
            ]
        );
        one.connect(&renumbered, "10.1.0.1", "10.244.0.2", 80);
        assert_eq!(one.hits(), (1, &[1, 0][..]), "counted afresh");
        assert_eq!(
            counts(policies.views([one.hits(), two.hits()])),
            [
                count("x/a", "x/p ingress[2]", 1),
                count("x/a", "x/p ingress[3]", 0)
            ]
        );
    }
}
