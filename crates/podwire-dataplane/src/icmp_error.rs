//! The ICMP errors the switch sends, as the forwarding nodes ask for them.
//!
//! A node that must answer a packet with an ICMP error (TTL exhausted, no
//! route, too big) sends the packet to `ip4-icmp-error` / `ip6-icmp-error`
//! with the error stored in [`crate::buffer::PacketMeta::next_index`]; that
//! node builds the error, routes it back to the sender and drops the
//! original, counting the reason.

/// An ICMP error to send about a packet.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum IcmpError {
    /// TTL / hop limit exhausted in transit (type 11 / ICMPv6 3).
    TimeExceeded,
    /// No route to the destination network (net unreachable / ICMPv6 no route).
    NoRoute,
    /// The route says unreachable; or the neighbor never answered
    /// (host unreachable / ICMPv6 address unreachable).
    HostUnreachable,
    /// The switch does not speak the protocol addressed to it
    /// (protocol unreachable / ICMPv6 parameter problem, next header).
    ProtocolUnreachable,
    /// A UDP/TCP port of the switch itself (port unreachable).
    PortUnreachable,
    /// Larger than the outgoing MTU and may not be fragmented
    /// (fragmentation needed / ICMPv6 packet too big), with that MTU.
    TooBig {
        /// The MTU of the outgoing link.
        mtu: u16,
    },
}

const TOO_BIG_TAG: u32 = 0x1_0000;

impl IcmpError {
    /// Packs the error into a buffer's `next_index`.
    pub fn encode(self) -> u32 {
        match self {
            IcmpError::TimeExceeded => 0,
            IcmpError::NoRoute => 1,
            IcmpError::HostUnreachable => 2,
            IcmpError::ProtocolUnreachable => 3,
            IcmpError::PortUnreachable => 4,
            IcmpError::TooBig { mtu } => TOO_BIG_TAG | u32::from(mtu),
        }
    }

    /// Unpacks what [`IcmpError::encode`] packed.
    pub fn decode(value: u32) -> Option<IcmpError> {
        Some(match value {
            0 => IcmpError::TimeExceeded,
            1 => IcmpError::NoRoute,
            2 => IcmpError::HostUnreachable,
            3 => IcmpError::ProtocolUnreachable,
            4 => IcmpError::PortUnreachable,
            v if v & !0xffff == TOO_BIG_TAG => IcmpError::TooBig { mtu: v as u16 },
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_survives_the_round_trip() {
        for e in [
            IcmpError::TimeExceeded,
            IcmpError::NoRoute,
            IcmpError::HostUnreachable,
            IcmpError::ProtocolUnreachable,
            IcmpError::PortUnreachable,
            IcmpError::TooBig { mtu: 1400 },
            IcmpError::TooBig { mtu: 0 },
        ] {
            assert_eq!(IcmpError::decode(e.encode()), Some(e));
        }
        assert_eq!(IcmpError::decode(99), None);
    }
}
