//! The 5-tuple a packet belongs to, the key of sessions.

use core::hash::{Hash, Hasher};
use core::net::IpAddr;

/// IP protocol number of ICMP.
pub const ICMP: u8 = 1;
/// IP protocol number of TCP.
pub const TCP: u8 = 6;
/// IP protocol number of UDP.
pub const UDP: u8 = 17;
/// IP protocol number of ICMPv6.
pub const ICMP6: u8 = 58;
/// IP protocol number of SCTP.
pub const SCTP: u8 = 132;

/// The identity of a flow as one packet carries it. For ICMP echo (request and reply), both
/// ports are the echo identifier, so that a reply's reversed key is the request's.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct FlowKey {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol number.
    pub protocol: u8,
    /// Source port (TCP, UDP, SCTP) or echo identifier (ICMP).
    pub src_port: u16,
    /// Destination port (TCP, UDP, SCTP) or echo identifier (ICMP).
    pub dst_port: u16,
}

impl FlowKey {
    /// The key of the packets that answer this one: addresses and ports swapped.
    #[inline]
    pub fn reversed(&self) -> FlowKey {
        FlowKey {
            src: self.dst,
            dst: self.src,
            protocol: self.protocol,
            src_port: self.dst_port,
            dst_port: self.src_port,
        }
    }

    /// A hash of the flow in this direction, stable for the life of the process, for load
    /// balancing (Maglev). Seeded per process: flows are chosen by whoever sends them.
    #[inline]
    pub fn hash(&self) -> u64 {
        use core::hash::BuildHasher;
        flow_hasher().hash_one(self)
    }
}

/// Every field, in as few whole words as it takes: two for IPv4. Flows are hashed for every
/// new connection (more than once), and the derived hash writes seven small values (each
/// address's family, then the address, then each port), which costs a fast hasher several
/// rounds. A key of mixed families, which no packet has, may collide with an IPv6 one, as
/// any two keys may.
impl Hash for FlowKey {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        let ports = u64::from(self.protocol) << 32
            | u64::from(self.src_port) << 16
            | u64::from(self.dst_port);
        match (self.src, self.dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                state.write_u64(u64::from(src.to_bits()) << 32 | u64::from(dst.to_bits()));
                state.write_u64(ports);
            }
            (src, dst) => {
                state.write_u128(wide(src));
                state.write_u128(wide(dst));
                state.write_u64(ports);
            }
        }
    }
}

/// An address as 128 bits (IPv4 in the low 32).
#[inline]
fn wide(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(a.to_bits()),
        IpAddr::V6(a) => a.to_bits(),
    }
}

/// The process's hasher of flows: seeded once at random, so that a sender cannot choose
/// flows that all land on one endpoint or one bucket.
pub fn flow_hasher() -> &'static foldhash::fast::FixedState {
    static STATE: std::sync::OnceLock<foldhash::fast::FixedState> = std::sync::OnceLock::new();
    STATE.get_or_init(|| {
        use core::hash::BuildHasher;
        let seed = foldhash::fast::RandomState::default().hash_one(0x0070_6f64_7769_7265_u64);
        foldhash::fast::FixedState::with_seed(seed)
    })
}
