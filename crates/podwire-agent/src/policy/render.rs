//! Compiled pod policies into the data plane's [`PolicyTable`]: per pod a classifier for each
//! isolated direction, and one [`RuleSlot`] per compiled rule, in order, named for counters
//! and traces.

use std::sync::Arc;

use podwire_dataplane::policy::classifier::{
    Classifier, ClassifierBuilder, PeerMatch, PortMatch, RuleSlot,
};
use podwire_dataplane::policy::table::{PodRules, PolicyTable, RuleInfo};
use podwire_model::Cidr;
use podwire_model::policy::{DirectionPolicy, PeerBlock, PodPolicy, PortRange};

/// The policy table of `pods`, stamped `generation` (which must exceed the generation of the
/// table it replaces: sessions remember the generation they were allowed under).
///
/// Slots are given in pod order, each pod's ingress rules before its egress rules. A pod
/// that no policy isolates in a direction has no classifier for it (everything allowed), and
/// a pod isolated in neither is left out, so that a node whose pods have no policies has an
/// empty table and its packets skip the policy check.
pub fn render(pods: &[PodPolicy], generation: u64) -> PolicyTable {
    let mut table = PolicyTable {
        generation,
        ..PolicyTable::default()
    };
    for pod in pods {
        let name: Arc<str> = format!("{}/{}", pod.namespace, pod.name).into();
        let ingress = classifier(&pod.ingress, &name, &mut table.rules);
        let egress = classifier(&pod.egress, &name, &mut table.rules);
        if ingress.is_none() && egress.is_none() {
            continue;
        }
        let rules = Arc::new(PodRules {
            name,
            ingress,
            egress,
        });
        for &address in &pod.addresses {
            table.pods.insert(address, rules.clone());
        }
    }
    table
}

/// The classifier of one direction (`None` when nothing isolates it), its rules given the
/// next slots of `rules`.
fn classifier(
    direction: &DirectionPolicy,
    pod: &Arc<str>,
    rules: &mut Vec<RuleInfo>,
) -> Option<Classifier> {
    if !direction.isolated() {
        return None;
    }
    let mut builder = ClassifierBuilder::new();
    for rule in &direction.rules {
        // More than 4 billion rules on one node cannot be built in memory anyway.
        let slot = RuleSlot(u32::try_from(rules.len()).unwrap_or(u32::MAX));
        let peers: Option<Vec<PeerMatch>> = rule
            .peers
            .as_ref()
            .map(|peers| peers.iter().map(peer_match).collect());
        let ports: Option<Vec<PortMatch>> = rule
            .ports
            .as_ref()
            .map(|ports| ports.iter().map(port_match).collect());
        builder.add(slot, peers.as_deref(), ports.as_deref());
        rules.push(RuleInfo {
            pod: pod.clone(),
            rule: rule.id.to_string().into(),
        });
    }
    Some(builder.build())
}

/// A prefix as the classifier takes it: network address (host bits cleared) and length.
fn prefix(cidr: &Cidr) -> (std::net::IpAddr, u8) {
    let network = cidr.network();
    (network.addr(), network.prefix_len())
}

/// The classifier's form of a rule's peer.
fn peer_match(block: &PeerBlock) -> PeerMatch {
    PeerMatch {
        prefix: prefix(&block.cidr),
        except: block.except.iter().map(prefix).collect(),
    }
}

/// The classifier's form of a rule's ports.
fn port_match(range: &PortRange) -> PortMatch {
    PortMatch {
        protocol: range.protocol.number(),
        ports: range.ports,
    }
}
