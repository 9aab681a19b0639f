//! The node of kube-proxy's fake proxier as a podwire switch, in memory: a pods interface
//! (10.0.0.0/8 and fd00:10::/32 attached to it, every endpoint's MAC known), an uplink with
//! the node's addresses and a default route, and the host's interface. One packet at a time
//! goes through a fresh engine, and what comes out is read back from the output queues.

use crate::packets;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use podwire_dataplane::clock::Instant;
use podwire_dataplane::engine::Engine;
use podwire_dataplane::interface::{IfIndex, InterfaceConfig};
use podwire_dataplane::nat::affinity::AffinityTable;
use podwire_dataplane::nat::flow::FlowKey;
use podwire_dataplane::nat::service::{Decision, NodeNat, ServiceTable};
use podwire_dataplane::tables::{Adjacency, Tables, TablesBuilder};
use podwire_wire::ethernet::{self, EtherType, EthernetAddress};
use podwire_wire::ip::IpProtocol;
use podwire_wire::{icmpv4, icmpv6, ipv4, ipv6};

/// The interface pods are attached to.
pub const PODS: IfIndex = IfIndex(0);
/// The uplink: the node's addresses, the way out of the cluster.
pub const UPLINK: IfIndex = IfIndex(1);
/// The host's own interface: what the node itself sends comes in here.
pub const HOST: IfIndex = IfIndex(2);

const SWITCH_MACS: [EthernetAddress; 3] = [
    EthernetAddress([2, 0, 0, 0, 0, 0xa0]),
    EthernetAddress([2, 0, 0, 0, 0, 0xb0]),
    EthernetAddress([2, 0, 0, 0, 0, 0xc0]),
];
/// The MAC of whatever sends to the switch, and of every pod.
const PEER_MAC: EthernetAddress = EthernetAddress([0x0a, 0, 0, 0, 0, 1]);

const NODE4: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 2);
const NODE4_ALT: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 2);
const NODE6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const NODE6_ALT: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);
const GATEWAY4: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
const GATEWAY6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xfffe);
/// Pods, kube-proxy's `podCIDR`s: the cluster CIDRs.
const CLUSTER4: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 0, 0, 0), 8);
const CLUSTER6: (Ipv6Addr, u8) = (Ipv6Addr::new(0xfd00, 0x10, 0, 0, 0, 0, 0, 0), 64);
/// What the pods interface is routed for: the cluster CIDRs and the IPv6 endpoints the
/// upstream IPv6 cases put outside theirs (fd00:10:180::/48).
const PODS_ROUTE6: (Ipv6Addr, u8) = (Ipv6Addr::new(0xfd00, 0x10, 0, 0, 0, 0, 0, 0), 32);

/// The node's facts as kube-proxy's fake proxier has them: Service CIDRs 172.30.0.0/16 and
/// fd00:10:96::/112, pods in the cluster CIDRs, NodePorts on the node's primary addresses
/// only (upstream's `nodePortAddresses`), which are also what masquerading uses.
pub fn node_nat() -> NodeNat {
    NodeNat {
        service_cidrs: vec![
            (Ipv4Addr::new(172, 30, 0, 0).into(), 16),
            (Ipv6Addr::new(0xfd00, 0x10, 0x96, 0, 0, 0, 0, 0).into(), 112),
        ],
        cluster_cidrs: vec![
            (CLUSTER4.0.into(), CLUSTER4.1),
            (CLUSTER6.0.into(), CLUSTER6.1),
        ],
        node_addresses: vec![NODE4.into(), NODE6.into()],
        masquerade4: Some(NODE4),
        masquerade6: Some(NODE6),
        host_interface: Some(HOST),
    }
}

/// The switch with `services`, knowing the MAC of every address in `pods` (endpoints and
/// pod clients) on the pods interface.
pub fn tables(services: Arc<ServiceTable>, pods: &[IpAddr]) -> Tables {
    let mut b = TablesBuilder::new();
    let mut pod_if = InterfaceConfig::l3("pods", SWITCH_MACS[0]);
    pod_if.ip4.push((Ipv4Addr::new(169, 254, 1, 1), 32));
    pod_if
        .ip6
        .push((Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1), 64));
    let mut uplink = InterfaceConfig::l3("uplink", SWITCH_MACS[1]);
    uplink.ip4 = vec![(NODE4, 24), (NODE4_ALT, 24)];
    uplink.ip6 = vec![(NODE6, 64), (NODE6_ALT, 64)];
    let host = InterfaceConfig::l3("host", SWITCH_MACS[2]);
    for (config, index) in [(pod_if, PODS), (uplink, UPLINK), (host, HOST)] {
        let added = b
            .add_interface(config)
            .expect("the test switch's interfaces are valid");
        assert_eq!(
            added, index,
            "interfaces are numbered in the order they are added"
        );
    }
    let to_pods = Adjacency::Attached { interface: PODS };
    b.add_route4(CLUSTER4.0, CLUSTER4.1, to_pods)
        .expect("a valid route");
    b.add_route6(PODS_ROUTE6.0, PODS_ROUTE6.1, to_pods)
        .expect("a valid route");
    for pod in pods {
        b.add_neighbor(PODS, *pod, PEER_MAC);
    }
    let via = |gateway: IpAddr| Adjacency::Via {
        interface: UPLINK,
        gateway,
    };
    b.add_route4(Ipv4Addr::UNSPECIFIED, 0, via(GATEWAY4.into()))
        .expect("a valid route");
    b.add_route6(Ipv6Addr::UNSPECIFIED, 0, via(GATEWAY6.into()))
        .expect("a valid route");
    b.add_neighbor(UPLINK, GATEWAY4.into(), PEER_MAC);
    b.add_neighbor(UPLINK, GATEWAY6.into(), PEER_MAC);
    b.set_services(services);
    b.build(1)
}

/// Whether `addr` is routed to the pods interface.
pub fn on_pods_link(addr: IpAddr) -> bool {
    within(addr, CLUSTER4) || within(addr, PODS_ROUTE6)
}

/// Whether `addr` is in the prefix `net`/`len` (of its own family).
fn within(addr: IpAddr, (net, len): (impl Into<IpAddr>, u8)) -> bool {
    let (addr, net, bits) = match (addr, net.into()) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (a.to_bits().into(), n.to_bits().into(), 32),
        (IpAddr::V6(a), IpAddr::V6(n)) => (a.to_bits(), n.to_bits(), 128),
        _ => return false,
    };
    let host_bits = bits - u32::from(len);
    u128::checked_shr(addr, host_bits) == u128::checked_shr(net, host_bits)
}

/// Where a packet from `source` comes in: a pod's from the pods interface, the node's own
/// from the host's, anything else from the uplink.
pub fn rx_interface(source: IpAddr) -> IfIndex {
    if within(source, CLUSTER4) || within(source, CLUSTER6) {
        PODS
    } else if is_masquerade_address(source) {
        HOST
    } else {
        UPLINK
    }
}

/// The name of a test interface.
pub fn interface_name(index: IfIndex) -> &'static str {
    match index {
        PODS => "pods",
        UPLINK => "uplink",
        HOST => "host",
        _ => "an unknown interface",
    }
}

/// What the switch did with one packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It left, towards `to`, from `from`.
    Forwarded {
        from: SocketAddr,
        to: SocketAddr,
        interface: &'static str,
    },
    /// An ICMP destination unreachable with `code` went back to the source, quoting the
    /// packet, and nothing else left.
    Refused { code: u8 },
    /// The switch took it as addressed to itself (its own stack answered).
    Local,
    /// Nothing left; these drop counters moved.
    Dropped { reasons: Vec<String> },
    /// Anything else (several packets, a packet of another kind, nothing at all).
    Other(String),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Forwarded {
                from,
                to,
                interface,
            } => write!(f, "sent to {to} from {from} out of {interface}"),
            Outcome::Refused { code } => {
                write!(f, "refused: ICMP destination unreachable code {code}")
            }
            Outcome::Local => f.write_str("delivered to the switch itself"),
            Outcome::Dropped { reasons } => write!(f, "dropped ({})", reasons.join(", ")),
            Outcome::Other(what) => f.write_str(what),
        }
    }
}

/// One packet's fate, with the nodes it went through.
#[derive(Clone, Debug)]
pub struct Observation {
    pub outcome: Outcome,
    /// The nodes of its trace (and of the packets it caused), with their notes.
    pub path: String,
}

/// The time every packet is sent at.
const NOW: Instant = Instant::from_nanos(1_000_000_000);

/// Sends the first packet of `flow` (a TCP SYN, a UDP datagram or an SCTP INIT) in on
/// `rx`, through a fresh engine (no session, no affinity, a full ICMP budget), and reads
/// what comes out.
pub fn send(tables: &Tables, flow: &FlowKey, rx: IfIndex) -> Observation {
    let mut engine = Engine::new(32, None).expect("the standard graph wires");
    let frame = frame(flow, rx);
    let bi = engine
        .pool
        .alloc_from(&frame)
        .expect("a fresh pool has room");
    engine.trace.arm(1);
    engine.receive(rx, &[bi], NOW);
    engine.run(tables, NOW);
    let path = engine
        .trace
        .packets()
        .iter()
        .flat_map(|p| &p.steps)
        .map(|s| {
            if s.detail.is_empty() {
                s.node.to_string()
            } else {
                format!("{} ({})", s.node, s.detail)
            }
        })
        .collect::<Vec<_>>()
        .join(" → ");
    let local = engine
        .trace
        .packets()
        .iter()
        .flat_map(|p| &p.steps)
        .any(|s| s.node == "ip4-local" || s.node == "ip6-local");
    let sent = packets::sent_frames(&mut engine);
    let outcome = if local {
        Outcome::Local
    } else {
        match sent.as_slice() {
            [] => {
                let reasons: Vec<String> = engine
                    .graph
                    .drop_counts()
                    .iter()
                    .map(|d| format!("{}: {}", d.node, d.reason.name))
                    .collect();
                if reasons.is_empty() {
                    Outcome::Other("nothing sent and no drop counted".into())
                } else {
                    Outcome::Dropped { reasons }
                }
            }
            [(interface, bytes)] => read(flow, *interface, bytes),
            many => Outcome::Other(format!(
                "{} packets sent: {}",
                many.len(),
                many.iter()
                    .map(|(i, b)| read(flow, *i, b).to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
        }
    };
    Observation { outcome, path }
}

/// Whether the service table masquerades the first packet of `flow` (for sources that are
/// the masquerade address already, where the wire cannot show it).
pub fn table_masquerades(tables: &Tables, flow: &FlowKey, rx: IfIndex) -> Option<bool> {
    let mut affinity = AffinityTable::new(16);
    match tables.services.decide(flow, rx, &mut affinity, NOW) {
        Decision::Forward { masquerade, .. } => Some(masquerade),
        _ => None,
    }
}

/// Whether `addr` is the node's primary address of its family, which masqueraded flows get.
pub fn is_masquerade_address(addr: IpAddr) -> bool {
    [IpAddr::from(NODE4), NODE6.into()].contains(&addr)
}

/// The frame of the first packet of `flow`, from a peer to the switch's interface `rx`.
fn frame(flow: &FlowKey, rx: IfIndex) -> Vec<u8> {
    let flow = packets::Flow {
        src: flow.src,
        dst: flow.dst,
        protocol: flow.protocol,
        src_port: flow.src_port,
        dst_port: flow.dst_port,
    };
    packets::frame(
        &flow,
        packets::Kind::Open,
        PEER_MAC,
        SWITCH_MACS[usize::from(rx.0)],
    )
}

/// What `bytes`, sent out of `interface` after the first packet of `flow` came in, is.
fn read(flow: &FlowKey, interface: IfIndex, bytes: &[u8]) -> Outcome {
    let out = interface_name(interface);
    let Ok(frame) = ethernet::Frame::new_checked(bytes) else {
        return Outcome::Other(format!("a runt frame out of {out}"));
    };
    let ip = frame.payload();
    let (src, dst, protocol, payload) = match frame.ethertype() {
        EtherType::IPV4 => match ipv4::Packet::new_checked(ip) {
            Ok(v4) => (
                IpAddr::from(v4.src_addr()),
                IpAddr::from(v4.dst_addr()),
                v4.protocol(),
                &ip[usize::from(v4.header_len())..usize::from(v4.total_len())],
            ),
            Err(e) => return Outcome::Other(format!("a bad IPv4 packet out of {out}: {e:?}")),
        },
        EtherType::IPV6 => match ipv6::Packet::new_checked(ip) {
            Ok(v6) => (
                IpAddr::from(v6.src_addr()),
                IpAddr::from(v6.dst_addr()),
                v6.next_header(),
                &ip[40..40 + usize::from(v6.payload_len())],
            ),
            Err(e) => return Outcome::Other(format!("a bad IPv6 packet out of {out}: {e:?}")),
        },
        EtherType::ARP => return Outcome::Other(format!("an ARP packet out of {out}")),
        other => return Outcome::Other(format!("a frame of EtherType {other} out of {out}")),
    };
    let unreachable = match protocol {
        IpProtocol::ICMP => icmpv4::Packet::new_checked(payload)
            .ok()
            .filter(|p| p.msg_type() == icmpv4::Message::DST_UNREACHABLE)
            .map(|p| (p.msg_code(), p.data().to_vec())),
        IpProtocol::ICMPV6 => icmpv6::Packet::new_checked(payload)
            .ok()
            .filter(|p| p.msg_type() == icmpv6::Message::DST_UNREACHABLE)
            .map(|p| (p.msg_code(), p.data().to_vec())),
        _ => None,
    };
    if let Some((code, quoted)) = unreachable {
        return if dst == flow.src && quotes(&quoted, flow) {
            Outcome::Refused { code }
        } else {
            Outcome::Other(format!(
                "an ICMP destination unreachable (code {code}) to {dst} out of {out} that does \
                 not answer the packet"
            ))
        };
    }
    match (protocol.0 == flow.protocol, ports(payload)) {
        (true, Some((sport, dport))) => Outcome::Forwarded {
            from: SocketAddr::new(src, sport),
            to: SocketAddr::new(dst, dport),
            interface: out,
        },
        _ => Outcome::Other(format!(
            "a packet of IP protocol {} from {src} to {dst} out of {out}",
            protocol.0
        )),
    }
}

/// The ports of a TCP, UDP or SCTP header (all start with them).
fn ports(l4: &[u8]) -> Option<(u16, u16)> {
    match l4 {
        [a, b, c, d, ..] => Some((u16::from_be_bytes([*a, *b]), u16::from_be_bytes([*c, *d]))),
        _ => None,
    }
}

/// Whether `quoted`, the start of the packet an ICMP error carries, is the packet of `flow`.
fn quotes(quoted: &[u8], flow: &FlowKey) -> bool {
    let (src, dst, protocol, l4) = match flow.src {
        IpAddr::V4(_) => match ipv4::Packet::new_quoted(quoted) {
            Ok(ip) => (
                IpAddr::from(ip.src_addr()),
                IpAddr::from(ip.dst_addr()),
                ip.protocol(),
                &quoted[usize::from(ip.header_len()).min(quoted.len())..],
            ),
            Err(_) => return false,
        },
        IpAddr::V6(_) => match quoted.get(..40) {
            Some(header) => {
                let ip = ipv6::Packet::new_unchecked(header);
                (
                    IpAddr::from(ip.src_addr()),
                    IpAddr::from(ip.dst_addr()),
                    ip.next_header(),
                    &quoted[40..],
                )
            }
            None => return false,
        },
    };
    src == flow.src
        && dst == flow.dst
        && protocol.0 == flow.protocol
        && ports(l4) == Some((flow.src_port, flow.dst_port))
}
