//! The other nodes of the cluster: which of their pod CIDRs this node routes through its
//! VXLAN tunnel, and to which tunnel address, rendered from the store's Node objects as a
//! pure function; and each Node's status as `podwire ctl get nodes` shows it.

use std::net::IpAddr;

use podwire_model::Cidr;
use podwire_model::cluster::{NodeInfo, ObjectStatus, TUNNEL_ADDRESS_ANNOTATION};

/// One other node's pod CIDR and the tunnel address it is reached at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteRoute {
    /// The pod CIDR.
    pub cidr: Cidr,
    /// Where the node's tunnel ends.
    pub remote: IpAddr,
    /// The node, for messages.
    pub node: String,
}

/// A Node as this node sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeState {
    /// Its name.
    pub name: String,
    /// Its values, when they parse.
    pub info: Option<NodeInfo>,
    /// Whether this node routes to it, and if not, why.
    pub status: ObjectStatus,
}

/// This node, as the renderer needs it.
#[derive(Clone, Debug)]
pub struct Local<'a> {
    /// Its name: its own Node gets no route.
    pub name: &'a str,
    /// Its pod CIDRs: another node's that overlap them are refused.
    pub pod_cidrs: &'a [Cidr],
    /// Its tunnel address: a node whose tunnel address is of the other family cannot be
    /// reached over this underlay.
    pub tunnel_address: IpAddr,
}

/// The routes to the other nodes' pod CIDRs (sorted) and every Node's state, from `nodes`
/// (each with its values or why they do not parse). A pod CIDR that overlaps this node's or
/// one of a node earlier by name is refused, so two nodes never fight over an address.
pub fn render(
    local: &Local<'_>,
    nodes: Vec<(String, Result<NodeInfo, String>)>,
) -> (Vec<RemoteRoute>, Vec<NodeState>) {
    let mut routes: Vec<RemoteRoute> = Vec::new();
    let mut states = Vec::new();
    for (name, info) in nodes {
        let (info, status) = match info {
            Err(problems) => (None, ObjectStatus::Failed(problems)),
            Ok(info) if info.name == local.name => (Some(info), ObjectStatus::Applied),
            Ok(info) => {
                let status = routes_of(local, &info, &mut routes);
                (Some(info), status)
            }
        };
        states.push(NodeState { name, info, status });
    }
    routes.sort_by_key(|r| (r.cidr.addr(), r.cidr.prefix_len()));
    (routes, states)
}

/// Adds the routes to `node` that do not conflict; its status.
fn routes_of(local: &Local<'_>, node: &NodeInfo, routes: &mut Vec<RemoteRoute>) -> ObjectStatus {
    let Some(remote) = node.tunnel_address else {
        return ObjectStatus::Pending(format!(
            "it has no tunnel address: give it an InternalIP or the annotation {TUNNEL_ADDRESS_ANNOTATION}"
        ));
    };
    if remote.is_ipv4() != local.tunnel_address.is_ipv4() {
        return ObjectStatus::Failed(format!(
            "its tunnel address {remote} is not of the family of this node's ({}): the tunnels of a cluster use one underlay family",
            local.tunnel_address
        ));
    }
    if node.pod_cidrs.is_empty() {
        return ObjectStatus::Pending("it has no pod CIDRs yet".to_owned());
    }
    let mut refused = Vec::new();
    for &cidr in &node.pod_cidrs {
        let taken = local
            .pod_cidrs
            .iter()
            .find(|own| own.overlaps(&cidr))
            .map(|_| local.name.to_owned())
            .or_else(|| {
                routes
                    .iter()
                    .find(|r| r.cidr.overlaps(&cidr))
                    .map(|r| r.node.clone())
            });
        match taken {
            Some(owner) => refused.push(format!("its pod CIDR {cidr} overlaps node {owner}'s")),
            None => routes.push(RemoteRoute {
                cidr,
                remote,
                node: node.name.clone(),
            }),
        }
    }
    match refused.is_empty() {
        true => ObjectStatus::Applied,
        false => ObjectStatus::Failed(format!(
            "{}; fix the CIDRs: overlapping routes are not installed",
            refused.join("; ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(
        name: &str,
        cidrs: &[&str],
        address: Option<&str>,
    ) -> (String, Result<NodeInfo, String>) {
        (
            name.to_owned(),
            Ok(NodeInfo {
                name: name.to_owned(),
                pod_cidrs: cidrs.iter().map(|c| c.parse().unwrap()).collect(),
                tunnel_address: address.map(|a| a.parse().unwrap()),
            }),
        )
    }

    fn local(cidrs: &[Cidr]) -> Local<'_> {
        Local {
            name: "n1",
            pod_cidrs: cidrs,
            tunnel_address: "192.168.60.1".parse().unwrap(),
        }
    }

    #[test]
    fn every_other_node_with_an_address_and_cidrs_is_routed() {
        let own = ["10.244.1.0/24".parse().unwrap()];
        let (routes, states) = render(
            &local(&own),
            vec![
                info("n1", &["10.244.1.0/24"], Some("192.168.60.1")),
                info(
                    "n2",
                    &["10.244.2.0/24", "fd44::2:0/112"],
                    Some("192.168.60.2"),
                ),
                info("n3", &["10.244.3.0/24"], Some("192.168.60.3")),
            ],
        );
        let cidrs: Vec<String> = routes
            .iter()
            .map(|r| format!("{}>{}", r.cidr, r.remote))
            .collect();
        assert_eq!(
            cidrs,
            [
                "10.244.2.0/24>192.168.60.2",
                "10.244.3.0/24>192.168.60.3",
                "fd44::2:0/112>192.168.60.2"
            ]
        );
        assert!(states.iter().all(|s| s.status == ObjectStatus::Applied));
    }

    #[test]
    fn a_node_that_cannot_be_routed_says_why_and_gets_no_route() {
        let own = ["10.244.1.0/24".parse().unwrap()];
        let (routes, states) = render(
            &local(&own),
            vec![
                info("a-no-address", &["10.244.2.0/24"], None),
                info("b-v6", &["10.244.3.0/24"], Some("fd60::3")),
                info("c-no-cidrs", &[], Some("192.168.60.4")),
                info("d-mine", &["10.244.1.0/25"], Some("192.168.60.5")),
                info("e-first", &["10.244.6.0/24"], Some("192.168.60.6")),
                info("f-second", &["10.244.6.0/23"], Some("192.168.60.7")),
                ("g-bad".to_owned(), Err("spec.podCIDRs[0]: bad".to_owned())),
            ],
        );
        assert_eq!(routes.len(), 1, "{routes:?}");
        assert_eq!(routes[0].node, "e-first");
        let status = |name: &str| {
            states
                .iter()
                .find(|s| s.name == name)
                .map(|s| s.status.to_string())
                .unwrap()
        };
        assert!(status("a-no-address").contains("no tunnel address"));
        assert!(status("b-v6").contains("family"));
        assert!(status("c-no-cidrs").contains("no pod CIDRs"));
        assert!(status("d-mine").contains("overlaps node n1's"));
        assert!(status("f-second").contains("overlaps node e-first's"));
        assert!(status("g-bad").contains("spec.podCIDRs[0]"));
    }
}
