//! An IP address with a prefix length (`10.0.0.0/16`, `fd00:50::1/64`).
//!
//! The model keeps its own small type so that it does not depend on the packet crates.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IP address with a prefix length, written `address/length`.
///
/// It stands for either a prefix (a route, a subnet), whose host bits are zero (see
/// [`Cidr::is_canonical`]), or an interface address together with its subnet
/// (`192.168.50.1/24`), whose host bits are the address. Which one is meant is up to the
/// field that holds it; parsing accepts both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix_len: u8,
}

/// Why a text or a pair of address and length is not a [`Cidr`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// There is no `/` in the text.
    #[error("it has no prefix length: write it as address/length, e.g. 10.0.0.0/16")]
    MissingPrefixLen,
    /// The part before the `/` is not an address.
    #[error("{0:?} is not an IPv4 or IPv6 address")]
    BadAddress(String),
    /// The part after the `/` is not a decimal number.
    #[error("prefix length {0:?} is not a number")]
    BadPrefixLen(String),
    /// The prefix length is longer than the address.
    #[error("prefix length {len} is over {max}")]
    PrefixLenTooLong {
        /// The length given.
        len: u32,
        /// The address family's length in bits (32 or 128).
        max: u8,
    },
}

impl Cidr {
    /// Pairs `addr` with `prefix_len`, which must not exceed the address's length in bits.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Result<Cidr, CidrError> {
        let max = max_prefix_len(addr);
        if prefix_len > max {
            return Err(CidrError::PrefixLenTooLong {
                len: u32::from(prefix_len),
                max,
            });
        }
        Ok(Cidr { addr, prefix_len })
    }

    /// A single address: `/32` for IPv4, `/128` for IPv6.
    pub fn host(addr: IpAddr) -> Cidr {
        Cidr {
            addr,
            prefix_len: max_prefix_len(addr),
        }
    }

    /// The address as written (host bits included).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The number of leading bits that name the network.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The prefix with the host bits cleared (`192.168.50.1/24` → `192.168.50.0/24`).
    pub fn network(&self) -> Cidr {
        let addr = match self.addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask_v4(self.prefix_len))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask_v6(self.prefix_len))),
        };
        Cidr { addr, ..*self }
    }

    /// Whether the host bits are zero, as a route or a subnet must be written.
    pub fn is_canonical(&self) -> bool {
        self.network() == *self
    }

    /// Whether `ip` lies inside this prefix (an address of the other family never does).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = mask_v4(self.prefix_len);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = mask_v6(self.prefix_len);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }

    /// Whether the two prefixes share an address: one holds the other's first address (never
    /// across families).
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(other.network().addr()) || other.contains(self.network().addr())
    }

    /// For IPv4 subnets longer than two addresses, the last one (all host bits set).
    /// `None` for IPv6, which has no broadcast, and for `/31` and `/32`.
    pub fn broadcast(&self) -> Option<Ipv4Addr> {
        match self.addr {
            IpAddr::V4(a) if self.prefix_len < 31 => {
                Some(Ipv4Addr::from(u32::from(a) | !mask_v4(self.prefix_len)))
            }
            _ => None,
        }
    }
}

/// The length in bits of `addr`'s family: 32 or 128.
pub fn max_prefix_len(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn mask_v4(prefix_len: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(prefix_len))
        .unwrap_or(0)
}

fn mask_v6(prefix_len: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(prefix_len))
        .unwrap_or(0)
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Cidr, CidrError> {
        let (addr, len) = text.split_once('/').ok_or(CidrError::MissingPrefixLen)?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| CidrError::BadAddress(addr.to_owned()))?;
        let bad_len = || CidrError::BadPrefixLen(len.to_owned());
        if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad_len());
        }
        let len: u32 = len.parse().map_err(|_| bad_len())?;
        let max = max_prefix_len(addr);
        match u8::try_from(len) {
            Ok(len) if len <= max => Ok(Cidr {
                addr,
                prefix_len: len,
            }),
            _ => Err(CidrError::PrefixLenTooLong { len, max }),
        }
    }
}

impl serde::Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(text: &str) -> Cidr {
        text.parse().expect("test CIDR parses")
    }

    #[test]
    fn parses_and_displays_both_families() {
        assert_eq!(cidr("10.0.0.0/16").to_string(), "10.0.0.0/16");
        assert_eq!(cidr("fd00:50::1/64").to_string(), "fd00:50::1/64");
        assert_eq!(cidr("0.0.0.0/0").prefix_len(), 0);
        assert_eq!(cidr("::/0").prefix_len(), 0);
    }

    #[test]
    fn rejects_bad_text_with_the_reason() {
        assert_eq!("10.0.0.1".parse::<Cidr>(), Err(CidrError::MissingPrefixLen));
        assert_eq!(
            "10.0.0.1/33".parse::<Cidr>(),
            Err(CidrError::PrefixLenTooLong { len: 33, max: 32 })
        );
        assert_eq!(
            "fd00::/129".parse::<Cidr>(),
            Err(CidrError::PrefixLenTooLong { len: 129, max: 128 })
        );
        assert_eq!(
            "10.0.0.1/+8".parse::<Cidr>(),
            Err(CidrError::BadPrefixLen("+8".into()))
        );
        assert_eq!(
            "10.0.0.1/".parse::<Cidr>(),
            Err(CidrError::BadPrefixLen("".into()))
        );
        assert_eq!(
            "10.0.0/8".parse::<Cidr>(),
            Err(CidrError::BadAddress("10.0.0".into()))
        );
        assert_eq!(
            "10.0.0.1/99999999999"
                .parse::<Cidr>()
                .unwrap_err()
                .to_string(),
            "prefix length \"99999999999\" is not a number"
        );
        assert_eq!(
            "10.0.0.1/33".parse::<Cidr>().unwrap_err().to_string(),
            "prefix length 33 is over 32"
        );
    }

    #[test]
    fn network_clears_exactly_the_host_bits() {
        assert_eq!(cidr("192.168.50.1/24").network(), cidr("192.168.50.0/24"));
        assert_eq!(cidr("10.255.255.255/9").network(), cidr("10.128.0.0/9"));
        assert_eq!(cidr("10.1.2.3/32").network(), cidr("10.1.2.3/32"));
        assert_eq!(cidr("10.1.2.3/0").network(), cidr("0.0.0.0/0"));
        assert_eq!(cidr("fd00:50::1/64").network(), cidr("fd00:50::/64"));
        assert_eq!(cidr("fd00:50::ff/121").network(), cidr("fd00:50::80/121"));
        assert!(cidr("10.9.0.0/16").is_canonical());
        assert!(!cidr("10.9.0.1/16").is_canonical());
    }

    #[test]
    fn contains_checks_the_prefix_and_the_family() {
        let net = cidr("192.168.50.1/24");
        assert!(net.contains("192.168.50.200".parse().unwrap()));
        assert!(!net.contains("192.168.51.1".parse().unwrap()));
        assert!(!net.contains("::ffff:192.168.50.2".parse().unwrap()));
        assert!(cidr("0.0.0.0/0").contains("8.8.8.8".parse().unwrap()));
        assert!(cidr("fd10::/64").contains("fd10::2".parse().unwrap()));
        assert!(!cidr("fd10::/64").contains("fd10:0:0:1::2".parse().unwrap()));
    }

    #[test]
    fn broadcast_only_for_ipv4_subnets_with_hosts() {
        assert_eq!(
            cidr("192.168.50.1/24").broadcast(),
            Some(Ipv4Addr::new(192, 168, 50, 255))
        );
        assert_eq!(cidr("10.0.0.0/31").broadcast(), None);
        assert_eq!(cidr("fd00::1/64").broadcast(), None);
    }

    #[test]
    fn new_checks_the_length_and_host_is_full_length() {
        let v4: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(Cidr::new(v4, 33).is_err());
        assert_eq!(Cidr::host(v4), cidr("10.0.0.2/32"));
        assert_eq!(Cidr::host("fd10::2".parse().unwrap()), cidr("fd10::2/128"));
    }
}
