//! A test bench for the IP nodes: the standard graph, completed with sinks
//! for next nodes that no module registers yet, a network of two routed
//! interfaces, and frames built with etherparse.
//!
//! Frames enter at `ip4-input` / `ip6-input` the way `ethernet-input`
//! hands them on (Ethernet header consumed, `l2_offset` set), so these tests
//! do not depend on that node.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hashbrown::HashSet;
use podwire_wire::ethernet::EthernetAddress;

use crate::buffer::BufferPool;
use crate::clock::Instant;
use crate::counters::DropReason;
use crate::graph::{Context, Dispatch, Graph, Node};
use crate::interface::{IfIndex, InterfaceConfig};
use crate::nodes::standard_nodes;
use crate::state::WorkerState;
use crate::tables::{Adjacency, Tables, TablesBuilder};
use crate::trace::{Trace, TraceStep};
use crate::tx::TxQueues;

/// The drop reason of a sink standing in for a node not written yet.
const SINK: DropReason = DropReason {
    name: "sink",
    description: "a stand-in for a node that does not exist yet (tests only)",
};

/// Takes every packet and drops it, counted.
struct Sink(&'static str);

impl Node for Sink {
    fn name(&self) -> &'static str {
        self.0
    }
    fn next_nodes(&self) -> &'static [&'static str] {
        &[]
    }
    fn drop_reasons(&self) -> &'static [DropReason] {
        std::slice::from_ref(&SINK)
    }
    fn process(
        &mut self,
        _: &mut Context<'_>,
        packets: &[crate::buffer::BufferIndex],
        out: &mut Dispatch,
    ) {
        for &bi in packets {
            out.drop(bi, 0u16);
        }
    }
}

/// The standard nodes plus a sink for every next node nobody provides.
fn completed_graph() -> Graph {
    let mut nodes = standard_nodes();
    let present: HashSet<&str> = nodes.iter().map(|n| n.name()).collect();
    let mut missing: Vec<&'static str> = nodes
        .iter()
        .flat_map(|n| n.next_nodes().iter().copied())
        .filter(|name| !present.contains(name))
        .collect();
    missing.sort_unstable();
    missing.dedup();
    nodes.extend(
        missing
            .into_iter()
            .map(|name| Box::new(Sink(name)) as Box<dyn Node>),
    );
    Graph::new(nodes, None).expect("the completed graph wires")
}

/// The pod-facing interface.
pub(crate) const POD_IF: IfIndex = IfIndex(0);
/// The uplink.
pub(crate) const UPLINK_IF: IfIndex = IfIndex(1);
/// The switch's MAC on the pod interface.
pub(crate) const POD_IF_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 0xa0]);
/// The switch's MAC on the uplink.
pub(crate) const UPLINK_IF_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 0xb0]);
/// The pod's MAC.
pub(crate) const POD_MAC: EthernetAddress = EthernetAddress([0x0a, 0, 0, 0, 0, 2]);
/// The pod's addresses.
pub(crate) const POD_IP4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub(crate) const POD_IP6: Ipv6Addr = Ipv6Addr::new(0xfd10, 0, 0, 0, 0, 0, 0, 2);
/// The pod's link-local address.
pub(crate) const POD_LL6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
/// The pods' gateway: the switch's addresses on every pod interface.
pub(crate) const GATEWAY4: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);
pub(crate) const GATEWAY6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
/// The switch's addresses on the uplink.
pub(crate) const UPLINK_IP4: Ipv4Addr = Ipv4Addr::new(192, 168, 50, 1);
pub(crate) const UPLINK_IP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x50, 0, 0, 0, 0, 0, 1);
/// Two routers on the uplink, and their MACs.
pub(crate) const ROUTER_A4: Ipv4Addr = Ipv4Addr::new(192, 168, 50, 2);
pub(crate) const ROUTER_B4: Ipv4Addr = Ipv4Addr::new(192, 168, 50, 3);
pub(crate) const ROUTER_A6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0xa);
pub(crate) const ROUTER_A_MAC: EthernetAddress = EthernetAddress([0x0e, 0, 0, 0, 0, 0xa]);
pub(crate) const ROUTER_B_MAC: EthernetAddress = EthernetAddress([0x0e, 0, 0, 0, 0, 0xb]);
/// A host on the uplink's subnet whose MAC nobody knows.
pub(crate) const UNKNOWN_HOST4: Ipv4Addr = Ipv4Addr::new(192, 168, 50, 99);
/// Reached via router A (a /16), except a /24 of it via router B.
pub(crate) const REMOTE_NET_A4: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 0);
pub(crate) const REMOTE_NET_B4: Ipv4Addr = Ipv4Addr::new(10, 9, 1, 0);
/// Reached via router A's link-local address.
pub(crate) const REMOTE_NET6: Ipv6Addr = Ipv6Addr::new(0xfd20, 0, 0, 0, 0, 0, 0, 0);
/// A blackholed and an unreachable prefix.
pub(crate) const BLACKHOLE4: Ipv4Addr = Ipv4Addr::new(10, 66, 0, 0);
pub(crate) const UNREACHABLE4: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 0);

/// The switch of the tests: a pod (source-checked, MTU 1500) on
/// [`POD_IF`] and an uplink (MTU 1400) on [`UPLINK_IF`] with two routers.
pub(crate) fn network() -> Tables {
    let mut b = TablesBuilder::new();
    let mut pod = InterfaceConfig::l3("pod-a", POD_IF_MAC);
    pod.ip4.push((GATEWAY4, 32));
    pod.ip6.push((GATEWAY6, 64));
    pod.source_check = true;
    assert_eq!(b.add_interface(pod).unwrap(), POD_IF);
    let mut uplink = InterfaceConfig::l3("uplink", UPLINK_IF_MAC);
    uplink.mtu = 1400;
    uplink.ip4.push((UPLINK_IP4, 24));
    uplink.ip6.push((UPLINK_IP6, 64));
    assert_eq!(b.add_interface(uplink).unwrap(), UPLINK_IF);

    let to_pod = Adjacency::Attached { interface: POD_IF };
    b.add_route4(POD_IP4, 32, to_pod).unwrap();
    b.add_route6(POD_IP6, 128, to_pod).unwrap();
    b.add_neighbor(POD_IF, POD_IP4.into(), POD_MAC);
    b.add_neighbor(POD_IF, POD_IP6.into(), POD_MAC);
    b.add_neighbor(POD_IF, POD_LL6.into(), POD_MAC);

    let via = |gateway: IpAddr| Adjacency::Via {
        interface: UPLINK_IF,
        gateway,
    };
    b.add_route4(REMOTE_NET_A4, 16, via(ROUTER_A4.into()))
        .unwrap();
    b.add_route4(REMOTE_NET_B4, 24, via(ROUTER_B4.into()))
        .unwrap();
    b.add_route6(REMOTE_NET6, 64, via(ROUTER_A6.into()))
        .unwrap();
    b.add_route4(BLACKHOLE4, 16, Adjacency::Drop).unwrap();
    b.add_route4(UNREACHABLE4, 16, Adjacency::Unreachable)
        .unwrap();
    b.add_neighbor(UPLINK_IF, ROUTER_A4.into(), ROUTER_A_MAC);
    b.add_neighbor(UPLINK_IF, ROUTER_B4.into(), ROUTER_B_MAC);
    b.add_neighbor(UPLINK_IF, ROUTER_A6.into(), ROUTER_A_MAC);
    b.build(1)
}

/// A worker's graph and everything it runs with, driven by hand.
pub(crate) struct Harness {
    pub pool: BufferPool,
    pub graph: Graph,
    pub state: WorkerState,
    pub trace: Trace,
    pub tx: TxQueues,
    pub tables: Tables,
    pub now: Instant,
}

/// Buffers in a harness's pool.
pub(crate) const HARNESS_BUFFERS: u32 = 512;

impl Harness {
    /// A harness over [`network`].
    pub fn new() -> Self {
        Self::with_tables(network())
    }

    /// A harness over `tables`.
    pub fn with_tables(tables: Tables) -> Self {
        Harness {
            pool: BufferPool::new(HARNESS_BUFFERS),
            graph: completed_graph(),
            state: WorkerState::default(),
            trace: Trace::default(),
            tx: TxQueues::default(),
            tables,
            now: Instant::from_nanos(1_000_000_000),
        }
    }

    /// Receives an Ethernet frame on routed interface `rx_if` and hands it
    /// to `ip4-input` or `ip6-input` by its EtherType, as ethernet-input
    /// does; the packet is traced. Returns its trace id.
    pub fn receive(&mut self, rx_if: IfIndex, frame: &[u8]) -> u32 {
        let id = self.trace.packets().len() as u32;
        self.trace.arm(1);
        let bi = self.enqueue(rx_if, frame);
        let now = self.now;
        self.trace.on_receive(self.pool.meta_mut(bi), now);
        assert_eq!(self.pool.meta(bi).trace, Some(id), "trace is full");
        id
    }

    /// Like [`Harness::receive`], without tracing.
    pub fn receive_untraced(&mut self, rx_if: IfIndex, frame: &[u8]) {
        self.enqueue(rx_if, frame);
    }

    fn enqueue(&mut self, rx_if: IfIndex, frame: &[u8]) -> crate::buffer::BufferIndex {
        let bi = self.pool.alloc_from(frame).expect("pool has room");
        let node = match frame.get(12..14) {
            Some([0x86, 0xdd]) => "ip6-input",
            _ => "ip4-input",
        };
        let meta = self.pool.meta_mut(bi);
        meta.rx_if = rx_if;
        meta.l2_offset = meta.current_data;
        self.pool
            .advance(bi, 14)
            .expect("frame holds an Ethernet header");
        let node = self
            .graph
            .node(node)
            .expect("IP input nodes are registered");
        self.graph.enqueue(node, &[bi]);
        bi
    }

    /// Runs the graph until every packet is queued or dropped.
    pub fn run(&mut self) {
        let mut cx = Context {
            pool: &mut self.pool,
            tables: &self.tables,
            state: &mut self.state,
            now: self.now,
            trace: &mut self.trace,
            tx: &mut self.tx,
        };
        self.graph.run(&mut cx);
    }

    /// The frames queued on `interface`, taken off the queue (their
    /// buffers are freed).
    pub fn sent(&mut self, interface: IfIndex) -> Vec<Vec<u8>> {
        let Some(queue) = self.tx.queue_mut(interface) else {
            return Vec::new();
        };
        let mut frames = Vec::new();
        for bi in std::mem::take(queue) {
            let mut bytes = Vec::new();
            self.pool.copy_to_vec(bi, &mut bytes);
            self.pool.free(bi);
            frames.push(bytes);
        }
        frames
    }

    /// Packets queued for output, on every interface.
    pub fn queued(&mut self) -> usize {
        let interfaces: Vec<IfIndex> = self.tx.pending().collect();
        interfaces
            .into_iter()
            .filter_map(|i| self.tx.queue_mut(i).map(|q| q.len()))
            .sum()
    }

    /// How often `node` dropped for `reason`.
    pub fn drops(&self, node: &str, reason: &str) -> u64 {
        self.graph.drop_count(node, reason)
    }

    /// Every drop, of every node.
    pub fn total_drops(&self) -> u64 {
        self.graph.drop_counts().iter().map(|d| d.count).sum()
    }

    /// Receives `frame` on `rx_if`, runs the graph, and checks the books:
    /// the packet was sent, dropped with a counted reason or held for its
    /// next hop, no node sent anything where it should not, and every
    /// buffer that does not wait in an output queue or for its next hop is
    /// back in the pool.
    pub fn receive_and_account(&mut self, rx_if: IfIndex, frame: &[u8]) -> Result<(), String> {
        let accounted =
            |h: &mut Self| h.total_drops() + (h.queued() + h.state.pending.len()) as u64;
        let before = accounted(self);
        self.receive_untraced(rx_if, frame);
        self.run();
        if accounted(self) <= before {
            return Err("the packet was neither sent, dropped nor held".into());
        }
        if self.drops_named("misrouted") > 0 {
            return Err(format!("a node misrouted: {:?}", self.graph.drop_counts()));
        }
        let queued = self.queued();
        let held: usize = self
            .state
            .pending
            .iter()
            .map(|bi| self.pool.chain(bi).count())
            .sum();
        if self.pool.available() + queued + held != HARNESS_BUFFERS as usize {
            return Err(format!(
                "{} buffers free, {queued} queued and {held} held of {HARNESS_BUFFERS}: a leak",
                self.pool.available()
            ));
        }
        Ok(())
    }

    /// Drops for `reason`, by any node.
    pub fn drops_named(&self, reason: &str) -> u64 {
        let counts = self.graph.drop_counts();
        counts
            .iter()
            .filter(|d| d.reason.name == reason)
            .map(|d| d.count)
            .sum()
    }

    /// The steps of traced packet `id` (and of the ICMP errors it caused).
    pub fn steps(&self, id: u32) -> &[TraceStep] {
        &self.trace.packets()[id as usize].steps
    }

    /// The nodes traced packet `id` went through, in order.
    pub fn path(&self, id: u32) -> Vec<&'static str> {
        self.steps(id).iter().map(|s| s.node).collect()
    }
}

/// Builders of test frames, with etherparse.
pub(crate) mod frames {
    use super::*;
    use etherparse::PacketBuilder;

    /// A UDP datagram in a frame from `src_mac` to `dst_mac`.
    pub fn udp4(
        macs: (EthernetAddress, EthernetAddress),
        src: Ipv4Addr,
        dst: Ipv4Addr,
        ttl: u8,
        payload_len: usize,
    ) -> Vec<u8> {
        let payload: Vec<u8> = (0..payload_len).map(|i| i as u8).collect();
        let builder = PacketBuilder::ethernet2(macs.0.0, macs.1.0)
            .ipv4(src.octets(), dst.octets(), ttl)
            .udp(5000, 53);
        let mut frame = Vec::with_capacity(builder.size(payload.len()));
        builder.write(&mut frame, &payload).unwrap();
        frame
    }

    /// An ICMP echo request in a frame.
    pub fn echo4(
        macs: (EthernetAddress, EthernetAddress),
        src: Ipv4Addr,
        dst: Ipv4Addr,
        payload_len: usize,
    ) -> Vec<u8> {
        let payload: Vec<u8> = (0..payload_len).map(|i| (i * 3) as u8).collect();
        let builder = PacketBuilder::ethernet2(macs.0.0, macs.1.0)
            .ipv4(src.octets(), dst.octets(), 64)
            .icmpv4_echo_request(0x1234, 7);
        let mut frame = Vec::new();
        builder.write(&mut frame, &payload).unwrap();
        frame
    }

    /// A UDP datagram over IPv6 in a frame.
    pub fn udp6(
        macs: (EthernetAddress, EthernetAddress),
        src: Ipv6Addr,
        dst: Ipv6Addr,
        hop_limit: u8,
        payload_len: usize,
    ) -> Vec<u8> {
        let payload: Vec<u8> = (0..payload_len).map(|i| i as u8).collect();
        let builder = PacketBuilder::ethernet2(macs.0.0, macs.1.0)
            .ipv6(src.octets(), dst.octets(), hop_limit)
            .udp(5000, 53);
        let mut frame = Vec::new();
        builder.write(&mut frame, &payload).unwrap();
        frame
    }

    /// An ICMPv6 echo request in a frame.
    pub fn echo6(
        macs: (EthernetAddress, EthernetAddress),
        src: Ipv6Addr,
        dst: Ipv6Addr,
        payload_len: usize,
    ) -> Vec<u8> {
        let payload: Vec<u8> = (0..payload_len).map(|i| (i * 5) as u8).collect();
        let builder = PacketBuilder::ethernet2(macs.0.0, macs.1.0)
            .ipv6(src.octets(), dst.octets(), 64)
            .icmpv6_echo_request(0x4321, 9);
        let mut frame = Vec::new();
        builder.write(&mut frame, &payload).unwrap();
        frame
    }

    /// The MACs of a frame from the pod to the switch.
    pub fn from_pod() -> (EthernetAddress, EthernetAddress) {
        (POD_MAC, POD_IF_MAC)
    }

    /// The MACs of a frame from router A to the switch.
    pub fn from_router() -> (EthernetAddress, EthernetAddress) {
        (ROUTER_A_MAC, UPLINK_IF_MAC)
    }

    /// A frame from `macs.0` to `macs.1` carrying `ip`, an IPv4 or IPv6
    /// packet by its version.
    pub fn raw(macs: (EthernetAddress, EthernetAddress), ip: &[u8]) -> Vec<u8> {
        let ethertype: [u8; 2] = match ip.first().map(|b| b >> 4) {
            Some(6) => [0x86, 0xdd],
            _ => [0x08, 0x00],
        };
        let mut frame = Vec::with_capacity(14 + ip.len());
        frame.extend_from_slice(&macs.1.0);
        frame.extend_from_slice(&macs.0.0);
        frame.extend_from_slice(&ethertype);
        frame.extend_from_slice(ip);
        frame
    }

    /// Recomputes the IPv4 header checksum of a frame after a test
    /// changed the header.
    pub fn refill_ip4_checksum(frame: &mut [u8]) {
        let ihl = usize::from(frame[14] & 0x0f) * 4;
        frame[24..26].fill(0);
        let sum = podwire_wire::checksum::data(&frame[14..14 + ihl]);
        frame[24..26].copy_from_slice(&podwire_wire::checksum::finish(sum).to_be_bytes());
    }
}
