//! Interfaces as the data plane sees them: an index, addresses, a mode.
//!
//! What kind of device is behind an interface (tap, AF_PACKET, memif) is the
//! I/O layer's business; the graph only needs what decides forwarding.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use podwire_wire::ethernet::EthernetAddress;

/// An interface of the switch, by position in [`crate::tables::Tables`].
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct IfIndex(pub u16);

impl IfIndex {
    /// No interface (not yet decided).
    pub const INVALID: IfIndex = IfIndex(u16::MAX);

    /// The position in the interface table.
    #[inline]
    pub fn as_usize(self) -> usize {
        self.0 as usize
    }
}

/// A bridge domain, by position in [`crate::tables::Tables`].
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct BridgeDomainId(pub u16);

/// How the switch treats frames received on an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InterfaceMode {
    /// Routed: frames for the interface's MAC are forwarded by IP.
    L3,
    /// A port of a bridge domain: frames are switched by MAC.
    Bridged(BridgeDomainId),
    /// Every frame received leaves by the other interface unchanged.
    CrossConnect(IfIndex),
}

/// An interface's configuration, as the control plane gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceConfig {
    /// The name the user knows it by.
    pub name: String,
    /// The switch's MAC address on this interface.
    pub mac: EthernetAddress,
    /// Largest IP packet sent out of this interface.
    pub mtu: u16,
    /// Routed, bridged or cross-connected.
    pub mode: InterfaceMode,
    /// The switch's IPv4 addresses on this interface, with prefix lengths.
    pub ip4: Vec<(Ipv4Addr, u8)>,
    /// The switch's IPv6 addresses on this interface, with prefix lengths.
    pub ip6: Vec<(Ipv6Addr, u8)>,
    /// Anti-spoofing: accept an IP packet only if its source address routes
    /// back out of this interface (strict reverse-path check). On for
    /// pods, so a pod can send only from its own addresses; off for
    /// uplinks, which carry traffic from anywhere. Unspecified and
    /// link-local IPv6 sources pass (neighbor discovery needs them).
    pub source_check: bool,
    /// Pod traffic leaving the cluster by this interface (from a cluster CIDR to an address
    /// outside them) is masqueraded to the interface's own address: an uplink.
    pub masquerade: bool,
    /// A VXLAN tunnel interface: it has no port of its own. Frames routed to it are
    /// encapsulated and the outer packet is routed by the FIB (it leaves by the uplink);
    /// frames that arrive encapsulated from one of its peers are received on it.
    pub vxlan: Option<VxlanTunnel>,
    /// The work the device behind this interface finishes on transmit: what a packet may
    /// still ask for when it leaves here. The rest is done in software before it leaves.
    pub offloads: TxOffloads,
}

/// Offloads a device takes on transmit (for a tap: what `TUNSETOFFLOAD` accepted).
/// None by default: every packet leaves whole, its checksums filled in, cut to the MTU.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct TxOffloads {
    /// A TCP or UDP checksum left for the device (`OffloadInfo::needs_csum`).
    pub csum: bool,
    /// TCP segments over IPv4 larger than the MTU, cut by the device.
    pub tso4: bool,
    /// TCP segments over IPv6 larger than the MTU, cut by the device.
    pub tso6: bool,
    /// UDP datagrams to be cut into `gso_size` datagrams by the device (USO).
    pub uso: bool,
}

/// A VXLAN tunnel (RFC 7348): what makes an interface the end of a tunnel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VxlanTunnel {
    /// The VXLAN network identifier, 24 bits.
    pub vni: u32,
    /// The switch's own address at this end: the outer source of what it sends, the
    /// outer destination of what it accepts. One of the switch's interface addresses.
    pub local: IpAddr,
    /// The UDP destination port (4789 by IANA).
    pub port: u16,
    /// The remote ends it accepts packets from (the outer source must be one of them),
    /// of the same family as `local`, sorted: a packet's source is found by binary search,
    /// since a cluster of 5,000 nodes gives a tunnel 4,999 peers.
    pub peers: Vec<IpAddr>,
}

impl InterfaceConfig {
    /// A routed interface with no address yet.
    pub fn l3(name: impl Into<String>, mac: EthernetAddress) -> Self {
        InterfaceConfig {
            name: name.into(),
            mac,
            mtu: 1500,
            mode: InterfaceMode::L3,
            ip4: Vec::new(),
            ip6: Vec::new(),
            source_check: false,
            masquerade: false,
            vxlan: None,
            offloads: TxOffloads::default(),
        }
    }

    /// A VXLAN tunnel interface of MTU `mtu` (the uplink's less the encapsulation): routed,
    /// with no address, its MAC the inner MAC of its local end
    /// ([`crate::nodes::vxlan::inner_mac`]), which the other nodes send to.
    pub fn vxlan(name: impl Into<String>, tunnel: VxlanTunnel, mtu: u16) -> Self {
        let mut interface = InterfaceConfig::l3(name, crate::nodes::vxlan::inner_mac(tunnel.local));
        interface.mtu = mtu;
        interface.vxlan = Some(tunnel);
        interface
    }

    /// Whether `addr` is one of the switch's addresses on this interface.
    #[inline]
    pub fn has_ip4(&self, addr: Ipv4Addr) -> bool {
        self.ip4.iter().any(|&(a, _)| a == addr)
    }

    /// Whether `addr` is one of the switch's addresses on this interface.
    #[inline]
    pub fn has_ip6(&self, addr: Ipv6Addr) -> bool {
        self.ip6.iter().any(|&(a, _)| a == addr)
    }

    /// The address the switch speaks from on this interface, for ARP
    /// requests and ICMP errors: its first IPv4 address.
    pub fn primary_ip4(&self) -> Option<Ipv4Addr> {
        self.ip4.first().map(|&(a, _)| a)
    }

    /// The switch's IPv6 source address on this interface: a link-local
    /// one for neighbor discovery, else the first.
    pub fn primary_ip6(&self) -> Option<Ipv6Addr> {
        self.ip6
            .iter()
            .find(|(a, _)| a.is_unicast_link_local())
            .or(self.ip6.first())
            .map(|&(a, _)| a)
    }
}
