//! The service table the control plane publishes, and the decision it makes for the first
//! packet of a flow: which endpoint, whether to masquerade, or REJECT, or DROP. The rules are
//! kube-proxy's (its nftables proxier is the de-facto specification):
//!
//! 1. The frontend is found by destination address, protocol and port; a destination that is
//!    one of the node's addresses also matches NodePorts (`address: None`).
//! 2. A destination that is a Service address but not on this protocol and port is REJECTed;
//!    an address in a Service CIDR that no Service has is DROPped; anything else is not a
//!    Service (the packet goes on untouched). As in kube-proxy's nftables proxier, "a Service
//!    address" is a ClusterIP: external IPs are often the node's own addresses, whose other
//!    ports are none of the Services' business.
//! 3. `loadBalancerSourceRanges` (LoadBalancer frontends): a source outside them is DROPped,
//!    except, when a range holds one of the node's addresses, the LoadBalancer IP itself (a
//!    packet the node sent from the VIP and that looped back). NodePorts are never subject
//!    to them.
//! 4. No endpoint anywhere: REJECT.
//! 5. The source's class: from a pod (in a cluster CIDR), from the node itself (the host
//!    interface, or a node address), or external. Internal (ClusterIP) traffic uses the
//!    Local set under `internalTrafficPolicy: Local`, else the Cluster set, and is
//!    masqueraded unless it comes from a pod. External traffic under
//!    `externalTrafficPolicy: Cluster` uses the Cluster set and is always masqueraded; under
//!    `Local`, external sources use the Local set without masquerade, pods the Cluster set
//!    without masquerade, the node the Cluster set with masquerade.
//! 6. The chosen set is empty: DROP (a Local policy with no local endpoint).
//! 7. With `ClientIP` affinity, the client's last endpoint if still in the set; else Maglev
//!    over the set by the flow's hash (then recorded for affinity).
//! 8. An endpoint that is the client itself (hairpin) is always masqueraded.
//!
//! The table is sharded: each shard is shared (`Arc`) between versions, and changing one
//! frontend copies one shard, so that one Service change costs the same with 10 Services as
//! with 30 000. Cloning a table costs its shard count, not its size.

use core::hash::{BuildHasher, Hash};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hashbrown::HashMap;

use crate::clock::Instant;
use crate::interface::IfIndex;
use crate::nat::affinity::AffinityTable;
use crate::nat::flow::FlowKey;
use crate::nat::maglev::Maglev;

/// A Service port, across its frontends (its ClusterIP, NodePort, external and LB IPs
/// share affinity entries and sessions' bindings). Chosen by the control plane, stable
/// while the Service port exists.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct ServicePortId(pub u64);

/// Whether a frontend's traffic is internal (ClusterIP) or external (the rest).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Scope {
    /// ClusterIP: `internalTrafficPolicy` applies.
    Internal,
    /// NodePort, external IP, LoadBalancer IP: `externalTrafficPolicy` applies.
    External,
}

/// Endpoints to choose from, with their Maglev table.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct EndpointSet {
    /// Sorted, without duplicates: the same endpoints always make the same table.
    endpoints: Box<[SocketAddr]>,
    /// Over `endpoints`, by index.
    maglev: Maglev,
}

impl EndpointSet {
    /// The set of `endpoints` (address and target port); duplicates are merged.
    pub fn new(mut endpoints: Vec<SocketAddr>) -> Self {
        endpoints.sort_unstable();
        endpoints.dedup();
        let seeds: Vec<u64> = endpoints.iter().map(endpoint_seed).collect();
        EndpointSet {
            endpoints: endpoints.into_boxed_slice(),
            maglev: Maglev::new(&seeds),
        }
    }

    /// The endpoints, sorted.
    pub fn endpoints(&self) -> &[SocketAddr] {
        &self.endpoints
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.endpoints().is_empty()
    }

    /// Whether `endpoint` is one of them.
    pub fn contains(&self, endpoint: SocketAddr) -> bool {
        self.endpoints.binary_search(&endpoint).is_ok()
    }

    /// The endpoint for a flow's hash (Maglev).
    #[inline]
    pub fn pick(&self, flow_hash: u64) -> Option<SocketAddr> {
        self.endpoints.get(self.maglev.pick(flow_hash)?).copied()
    }

    /// Bytes it takes besides itself.
    pub fn heap_bytes(&self) -> usize {
        core::mem::size_of_val(&*self.endpoints) + self.maglev.heap_bytes()
    }

    /// Its Maglev table.
    pub fn maglev(&self) -> &Maglev {
        &self.maglev
    }
}

/// An endpoint's Maglev seed: a fixed hash of its address and port, the same in every build
/// of the table (a random seed would move every flow on each rebuild).
fn endpoint_seed(endpoint: &SocketAddr) -> u64 {
    foldhash::fast::FixedState::with_seed(ENDPOINT_SEED).hash_one(endpoint)
}

const ENDPOINT_SEED: u64 = 0x7365_7276_6963_6501;

/// One address, protocol and port a Service answers on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frontend {
    /// For traces and `show`: `namespace/name:port (ClusterIP 10.96.0.10:80/TCP)`.
    pub name: Arc<str>,
    /// Its Service port.
    pub service_port: ServicePortId,
    /// Internal or external traffic.
    pub scope: Scope,
    /// The traffic policy of its scope is `Local`.
    pub local_policy: bool,
    /// Endpoints for Cluster-policy traffic (empty: the Service has none: REJECT).
    pub cluster: EndpointSet,
    /// Endpoints for Local-policy traffic.
    pub local: EndpointSet,
    /// `ClientIP` affinity timeout.
    pub affinity: Option<Duration>,
    /// `loadBalancerSourceRanges` as (network, prefix length); empty allows all.
    pub source_ranges: Vec<(IpAddr, u8)>,
}

/// Where a frontend is found: an address (`None`: a NodePort, on every node address), a
/// protocol number and a port.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct FrontendKey {
    /// The address; `None` for a NodePort.
    pub address: Option<IpAddr>,
    /// IP protocol number (6, 17, 132).
    pub protocol: u8,
    /// The port.
    pub port: u16,
}

/// What the data plane knows of the node, for classifying sources and masquerading.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct NodeNat {
    /// Service CIDRs: an address in them that no frontend has is dropped.
    pub service_cidrs: Vec<(IpAddr, u8)>,
    /// Where pods' addresses come from: sources in them are pods.
    pub cluster_cidrs: Vec<(IpAddr, u8)>,
    /// The node's addresses: NodePorts answer on them; sources with them are the node.
    pub node_addresses: Vec<IpAddr>,
    /// What masqueraded IPv4 flows get as their source.
    pub masquerade4: Option<Ipv4Addr>,
    /// What masqueraded IPv6 flows get as their source.
    pub masquerade6: Option<Ipv6Addr>,
    /// The host's interface: what comes in on it is from the node.
    pub host_interface: Option<IfIndex>,
}

/// Where a packet comes from, in kube-proxy's terms.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum SourceClass {
    /// A pod: the source is in a cluster CIDR.
    Pod,
    /// The node itself: it came in on the host interface, or from a node address.
    Node,
    /// Anything else.
    External,
}

/// Why a new flow to a Service address is dropped.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum DropCause {
    /// The source is outside the frontend's `loadBalancerSourceRanges`.
    SourceRange,
    /// A `Local` traffic policy and no endpoint on this node.
    NoLocalEndpoint,
    /// An address in a Service CIDR that no Service has.
    Unallocated,
}

/// Why a new flow to a Service address is refused (answered with ICMP unreachable).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum RejectCause {
    /// The Service has no endpoint anywhere.
    NoEndpoints,
    /// The address is a Service's, the port or protocol is not.
    NoSuchPort,
}

/// What to do with the first packet of a flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision<'a> {
    /// Not for a Service: leave it alone.
    NotAService,
    /// Send it to `endpoint`, masqueraded or not.
    Forward {
        /// The frontend it matched.
        frontend: &'a Frontend,
        /// Where it goes.
        endpoint: SocketAddr,
        /// Whether its source becomes the node's masquerade address.
        masquerade: bool,
    },
    /// Refuse it.
    Reject(RejectCause),
    /// Drop it.
    Drop(DropCause),
}

/// How many shards each of the table's maps has.
pub const SHARDS: usize = 256;

/// Shards are chosen by a fixed hash (a key's shard must not change between versions of the
/// table) with its own seed, unrelated to the maps' seeded hashers: keys of one shard must
/// still spread over that shard's buckets.
const SHARD_SEED: u64 = 0x7368_6172_6473_0001;

/// One shard of a map: shared between versions of the table until one of them changes it.
type Shard<K, V> = Arc<HashMap<K, V, foldhash::fast::RandomState>>;

/// A map split into [`SHARDS`] shards.
#[derive(Clone, Debug)]
struct Sharded<K, V> {
    shards: Box<[Shard<K, V>]>,
}

impl<K: Hash + Eq + Clone, V: Clone> Sharded<K, V> {
    fn new() -> Self {
        Sharded {
            shards: (0..SHARDS).map(|_| Arc::default()).collect(),
        }
    }

    fn shard_of(key: &K) -> usize {
        (foldhash::fast::FixedState::with_seed(SHARD_SEED).hash_one(key) % SHARDS as u64) as usize
    }

    fn get(&self, key: &K) -> Option<&V> {
        self.shards[Self::shard_of(key)].get(key)
    }

    /// The shard of `key`, copied first if another version shares it.
    fn shard_mut(&mut self, key: &K) -> &mut HashMap<K, V, foldhash::fast::RandomState> {
        Arc::make_mut(&mut self.shards[Self::shard_of(key)])
    }

    fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.shards.iter().flat_map(|shard| shard.iter())
    }

    /// Bytes of the shards' tables: their capacity in entries, and the shard headers.
    fn heap_bytes(&self) -> usize {
        let entry = core::mem::size_of::<(K, V)>() + 1;
        let header = core::mem::size_of::<HashMap<K, V, foldhash::fast::RandomState>>()
            + 2 * core::mem::size_of::<usize>();
        self.shards.len() * (core::mem::size_of::<Shard<K, V>>() + header)
            + self
                .shards
                .iter()
                .map(|s| s.capacity() * entry)
                .sum::<usize>()
    }
}

/// The Services as the workers see them.
#[derive(Clone, Debug)]
pub struct ServiceTable {
    node: Arc<NodeNat>,
    frontends: Sharded<FrontendKey, Arc<Frontend>>,
    /// ClusterIPs, each with how many frontends it has (rule 2's REJECT).
    cluster_ips: Sharded<IpAddr, u32>,
    /// Each Service port's serving endpoint addresses.
    serving: Sharded<ServicePortId, Arc<[IpAddr]>>,
    /// Frontends in `frontends`.
    len: usize,
}

impl Default for ServiceTable {
    fn default() -> Self {
        ServiceTable::new(NodeNat::default())
    }
}

impl ServiceTable {
    /// An empty table for a node.
    pub fn new(node: NodeNat) -> Self {
        ServiceTable {
            node: Arc::new(node),
            frontends: Sharded::new(),
            cluster_ips: Sharded::new(),
            serving: Sharded::new(),
            len: 0,
        }
    }

    /// The node facts.
    pub fn node(&self) -> &NodeNat {
        &self.node
    }

    /// Replaces the node facts.
    pub fn set_node(&mut self, node: NodeNat) {
        self.node = Arc::new(node);
    }

    /// Adds or replaces a frontend.
    pub fn insert(&mut self, key: FrontendKey, frontend: Frontend) {
        let new_ip = cluster_ip(&key, &frontend);
        let old = self
            .frontends
            .shard_mut(&key)
            .insert(key, Arc::new(frontend));
        match &old {
            Some(old) => self.forget_cluster_ip(cluster_ip(&key, old)),
            None => self.len += 1,
        }
        if let Some(ip) = new_ip {
            *self.cluster_ips.shard_mut(&ip).entry(ip).or_insert(0) += 1;
        }
    }

    /// Removes a frontend; returns it.
    pub fn remove(&mut self, key: &FrontendKey) -> Option<Arc<Frontend>> {
        // Look first: removing from a shard copies it when it is shared.
        self.frontends.get(key)?;
        let old = self.frontends.shard_mut(key).remove(key)?;
        self.len -= 1;
        self.forget_cluster_ip(cluster_ip(key, &old));
        Some(old)
    }

    /// The frontend at `key`.
    pub fn get(&self, key: &FrontendKey) -> Option<&Frontend> {
        self.frontends.get(key).map(|f| &**f)
    }

    /// Frontends in the table.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every frontend, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&FrontendKey, &Frontend)> {
        self.frontends.iter().map(|(key, f)| (key, &**f))
    }

    /// Sets the serving endpoints' addresses of a Service port (for clearing stale UDP
    /// sessions); an empty list removes the entry.
    pub fn set_serving(&mut self, service_port: ServicePortId, mut serving: Vec<IpAddr>) {
        if serving.is_empty() {
            if self.serving.get(&service_port).is_some() {
                self.serving.shard_mut(&service_port).remove(&service_port);
            }
            return;
        }
        serving.sort_unstable();
        serving.dedup();
        self.serving
            .shard_mut(&service_port)
            .insert(service_port, serving.into());
    }

    /// Whether `endpoint` serves `service_port` now. A Service port the table does not know
    /// serves nothing.
    pub fn is_serving(&self, service_port: ServicePortId, endpoint: IpAddr) -> bool {
        self.serving
            .get(&service_port)
            .is_some_and(|serving| serving.binary_search(&endpoint).is_ok())
    }

    /// The class of a packet's source.
    pub fn classify(&self, src: IpAddr, rx_if: IfIndex) -> SourceClass {
        if self.node.host_interface == Some(rx_if) || self.node.node_addresses.contains(&src) {
            SourceClass::Node
        } else if cidrs_contain(&self.node.cluster_cidrs, src) {
            SourceClass::Pod
        } else {
            SourceClass::External
        }
    }

    /// The masquerade address for a family (`v6` true: IPv6).
    pub fn masquerade_address(&self, v6: bool) -> Option<IpAddr> {
        match v6 {
            false => self.node.masquerade4.map(IpAddr::V4),
            true => self.node.masquerade6.map(IpAddr::V6),
        }
    }

    /// Whether `flow` comes from the LoadBalancer IP it is addressed to while a source range
    /// holds a node address: kube-proxy lets the node reach its own LoadBalancer IPs.
    fn looped_back_from_vip(&self, frontend: &Frontend, flow: &FlowKey) -> bool {
        flow.src == flow.dst
            && self
                .node
                .node_addresses
                .iter()
                .any(|&a| cidrs_contain(&frontend.source_ranges, a))
    }

    /// The decision for the first packet of `flow`, which came in on `rx_if` (rules 1-8 in
    /// the module's documentation). Affinity entries are looked up and recorded in
    /// `affinity`.
    pub fn decide(
        &self,
        flow: &FlowKey,
        rx_if: IfIndex,
        affinity: &mut AffinityTable,
        now: Instant,
    ) -> Decision<'_> {
        // Rules 1 and 2.
        let Some((node_port, frontend)) = self.frontend_for(flow) else {
            return self.not_a_frontend(flow.dst);
        };
        // Rule 3; NodePorts are not subject to source ranges.
        if !node_port
            && !frontend.source_ranges.is_empty()
            && !cidrs_contain(&frontend.source_ranges, flow.src)
            && !self.looped_back_from_vip(frontend, flow)
        {
            return Decision::Drop(DropCause::SourceRange);
        }
        // Rule 4.
        if frontend.cluster.is_empty() {
            return Decision::Reject(RejectCause::NoEndpoints);
        }
        // Rule 5.
        let class = self.classify(flow.src, rx_if);
        let (set, masquerade) = match (frontend.scope, frontend.local_policy) {
            (Scope::Internal, false) => (&frontend.cluster, class != SourceClass::Pod),
            (Scope::Internal, true) => (&frontend.local, class != SourceClass::Pod),
            (Scope::External, false) => (&frontend.cluster, true),
            (Scope::External, true) => match class {
                SourceClass::External => (&frontend.local, false),
                SourceClass::Pod => (&frontend.cluster, false),
                SourceClass::Node => (&frontend.cluster, true),
            },
        };
        // Rules 6 and 7: an empty set has nothing to pick.
        let Some(endpoint) = choose(frontend, set, flow, affinity, now) else {
            return Decision::Drop(DropCause::NoLocalEndpoint);
        };
        Decision::Forward {
            frontend,
            endpoint,
            // Rule 8.
            masquerade: masquerade || endpoint.ip() == flow.src,
        }
    }

    /// Bytes the table takes, roughly (for `svc_bytes_per_service`): the maps' capacities,
    /// the frontends and their endpoint sets and tables, the serving lists.
    pub fn heap_bytes(&self) -> usize {
        let frontends: usize = self
            .frontends
            .iter()
            .map(|(_, f)| {
                core::mem::size_of::<Frontend>()
                    + 2 * core::mem::size_of::<usize>()
                    + f.name.len()
                    + f.cluster.heap_bytes()
                    + f.local.heap_bytes()
                    + core::mem::size_of_val(&*f.source_ranges)
            })
            .sum();
        let serving: usize = self
            .serving
            .iter()
            .map(|(_, s)| core::mem::size_of_val(&**s) + 2 * core::mem::size_of::<usize>())
            .sum();
        self.frontends.heap_bytes()
            + self.cluster_ips.heap_bytes()
            + self.serving.heap_bytes()
            + frontends
            + serving
    }

    /// The frontend a flow is for, and whether it is a NodePort.
    fn frontend_for(&self, flow: &FlowKey) -> Option<(bool, &Frontend)> {
        let mut key = FrontendKey {
            address: Some(flow.dst),
            protocol: flow.protocol,
            port: flow.dst_port,
        };
        if let Some(frontend) = self.get(&key) {
            return Some((false, frontend));
        }
        if !self.node.node_addresses.contains(&flow.dst) {
            return None;
        }
        key.address = None;
        self.get(&key).map(|frontend| (true, frontend))
    }

    /// Rule 2: what becomes of a flow to `dst` that no frontend has.
    fn not_a_frontend(&self, dst: IpAddr) -> Decision<'_> {
        if self.cluster_ips.get(&dst).is_some() {
            Decision::Reject(RejectCause::NoSuchPort)
        } else if cidrs_contain(&self.node.service_cidrs, dst) {
            Decision::Drop(DropCause::Unallocated)
        } else {
            Decision::NotAService
        }
    }

    fn forget_cluster_ip(&mut self, ip: Option<IpAddr>) {
        let Some(ip) = ip else { return };
        let shard = self.cluster_ips.shard_mut(&ip);
        if let Some(count) = shard.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                shard.remove(&ip);
            }
        }
    }
}

/// The ClusterIP a frontend answers on, if it is a ClusterIP frontend.
fn cluster_ip(key: &FrontendKey, frontend: &Frontend) -> Option<IpAddr> {
    key.address.filter(|_| frontend.scope == Scope::Internal)
}

/// Rule 7: the client's affinity endpoint if it is still in `set`, else Maglev's; `None`
/// when `set` is empty.
fn choose(
    frontend: &Frontend,
    set: &EndpointSet,
    flow: &FlowKey,
    affinity: &mut AffinityTable,
    now: Instant,
) -> Option<SocketAddr> {
    let Some(timeout) = frontend.affinity else {
        return set.pick(flow.hash());
    };
    let sticky = affinity.lookup(frontend.service_port, flow.src, timeout, now, |e| {
        set.contains(e)
    });
    if sticky.is_some() {
        return sticky;
    }
    let endpoint = set.pick(flow.hash())?;
    affinity.record(frontend.service_port, flow.src, endpoint, now);
    Some(endpoint)
}

/// Whether `addr` is in one of `cidrs` (network, prefix length). A network of the other
/// family, or a prefix longer than the family's, contains nothing.
pub fn cidrs_contain(cidrs: &[(IpAddr, u8)], addr: IpAddr) -> bool {
    cidrs
        .iter()
        .any(|&(network, len)| cidr_contains(network, len, addr))
}

fn cidr_contains(network: IpAddr, len: u8, addr: IpAddr) -> bool {
    match (network, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) if len <= 32 => {
            (u32::from(n) ^ u32::from(a))
                .checked_shr(32 - u32::from(len))
                .unwrap_or(0)
                == 0
        }
        (IpAddr::V6(n), IpAddr::V6(a)) if len <= 128 => {
            (u128::from(n) ^ u128::from(a))
                .checked_shr(128 - u32::from(len))
                .unwrap_or(0)
                == 0
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;
