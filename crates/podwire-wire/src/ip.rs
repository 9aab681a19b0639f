//! What IPv4 and IPv6 share: protocol numbers.

use core::fmt;

/// An IP protocol number: the IPv4 `protocol` field, or an IPv6 `next_header`
/// (IANA "Assigned Internet Protocol Numbers").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpProtocol(pub u8);

impl IpProtocol {
    /// IPv6 Hop-by-Hop Options extension header.
    pub const IPV6_HOPOPT: Self = Self(0);
    /// Internet Control Message Protocol.
    pub const ICMP: Self = Self(1);
    /// Transmission Control Protocol.
    pub const TCP: Self = Self(6);
    /// User Datagram Protocol.
    pub const UDP: Self = Self(17);
    /// IPv6 Routing extension header.
    pub const IPV6_ROUTE: Self = Self(43);
    /// IPv6 Fragment extension header.
    pub const IPV6_FRAG: Self = Self(44);
    /// ICMP for IPv6.
    pub const ICMPV6: Self = Self(58);
    /// IPv6 "no next header".
    pub const IPV6_NONXT: Self = Self(59);
    /// IPv6 Destination Options extension header.
    pub const IPV6_OPTS: Self = Self(60);
    /// Stream Control Transmission Protocol.
    pub const SCTP: Self = Self(132);
}

impl From<u8> for IpProtocol {
    #[inline]
    fn from(value: u8) -> Self {
        Self(value)
    }
}

impl From<IpProtocol> for u8 {
    #[inline]
    fn from(value: IpProtocol) -> Self {
        value.0
    }
}

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            Self::IPV6_HOPOPT => "hop-by-hop",
            Self::ICMP => "icmp",
            Self::TCP => "tcp",
            Self::UDP => "udp",
            Self::IPV6_ROUTE => "ipv6-route",
            Self::IPV6_FRAG => "ipv6-frag",
            Self::ICMPV6 => "icmpv6",
            Self::IPV6_NONXT => "ipv6-nonxt",
            Self::IPV6_OPTS => "ipv6-opts",
            Self::SCTP => "sctp",
            Self(other) => return write!(f, "protocol {other}"),
        };
        f.write_str(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_iana() {
        assert_eq!(IpProtocol::TCP.0, etherparse::IpNumber::TCP.0);
        assert_eq!(IpProtocol::UDP.0, etherparse::IpNumber::UDP.0);
        assert_eq!(IpProtocol::ICMPV6.0, etherparse::IpNumber::IPV6_ICMP.0);
        assert_eq!(IpProtocol::SCTP.0, etherparse::IpNumber::SCTP.0);
        assert_eq!(
            IpProtocol::IPV6_FRAG.0,
            etherparse::IpNumber::IPV6_FRAGMENTATION_HEADER.0
        );
        assert_eq!(IpProtocol::UDP.to_string(), "udp");
        assert_eq!(IpProtocol(250).to_string(), "protocol 250");
    }
}
