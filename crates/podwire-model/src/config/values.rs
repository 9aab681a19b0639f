//! Checks of single config values. Each returns the parsed value or a problem that says what
//! is wrong and how to fix it; the caller puts the field path in front.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::{MemifSocket, NETNS_DIR, Netns, POD_GATEWAY_V4, POD_GATEWAY_V6};
use crate::cidr::Cidr;

/// The longest interface name Linux accepts (IFNAMSIZ less the terminating NUL).
const IFNAME_MAX: usize = 15;
/// The longest DNS subdomain (RFC 1123), as Kubernetes limits node and pod names.
const DNS_NAME_MAX: usize = 253;
/// The smallest MTU IPv4 allows.
const MTU_MIN_V4: u32 = 68;
/// The smallest MTU IPv6 allows.
const MTU_MIN_V6: u32 = 1280;
/// The largest MTU an interface can have.
const MTU_MAX: u32 = 65535;
/// The longest bridge domain name.
const BRIDGE_DOMAIN_NAME_MAX: usize = 63;
/// The longest unix socket address, path or abstract name (`sun_path` less one NUL).
const SOCKET_ADDR_MAX: usize = 107;

/// A kernel (or podwire) interface name: 1 to 15 bytes of `[a-zA-Z0-9_.-]`.
pub(super) fn interface_name(text: &str) -> Result<String, String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if text.is_empty() || text.len() > IFNAME_MAX {
        Err(format!(
            "{text:?} is {} bytes long; an interface name has 1 to {IFNAME_MAX}",
            text.len()
        ))
    } else if let Some(bad) = text.chars().find(|&c| !allowed(c)) {
        Err(format!(
            "{text:?} contains {bad:?}; an interface name uses only letters, digits, '_', '.' and '-'"
        ))
    } else if text == "." || text == ".." {
        Err(format!("{text:?} is not a usable interface name"))
    } else {
        Ok(text.to_owned())
    }
}

/// A bridge domain's name: 1 to 63 bytes of `[a-zA-Z0-9_.-]`.
pub(super) fn bridge_domain_name(text: &str) -> Result<String, String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if text.is_empty() || text.len() > BRIDGE_DOMAIN_NAME_MAX {
        Err(format!(
            "{text:?} is {} bytes long; a bridge domain name has 1 to {BRIDGE_DOMAIN_NAME_MAX}",
            text.len()
        ))
    } else if let Some(bad) = text.chars().find(|&c| !allowed(c)) {
        Err(format!(
            "{text:?} contains {bad:?}; a bridge domain name uses only letters, digits, '_', '.' and '-'"
        ))
    } else {
        Ok(text.to_owned())
    }
}

/// A memif socket: an absolute path, or an abstract name written `@NAME` (or VPP's
/// `abstract:NAME`); either fits a unix socket address.
pub(super) fn memif_socket(text: &str) -> Result<MemifSocket, String> {
    let socket = match text
        .strip_prefix('@')
        .or_else(|| text.strip_prefix("abstract:"))
    {
        Some("") => {
            return Err(format!(
                "{text:?} names no abstract socket; write @NAME, or give an absolute path"
            ));
        }
        Some(name) => MemifSocket::Abstract(name.to_owned()),
        None if text.starts_with('/') => MemifSocket::Path(PathBuf::from(text)),
        None => {
            return Err(format!(
                "{text:?} is neither an absolute path nor an abstract name (@NAME); the daemon's working directory is not fixed, so give the full path"
            ));
        }
    };
    let len = match &socket {
        MemifSocket::Path(_) => text.len(),
        MemifSocket::Abstract(name) => name.len(),
    };
    if text.contains('\0') {
        Err(format!("{text:?} contains a NUL byte; remove it"))
    } else if len > SOCKET_ADDR_MAX {
        Err(format!(
            "{text:?} is {len} bytes long; a unix socket address holds at most {SOCKET_ADDR_MAX}: choose a shorter path or name"
        ))
    } else {
        Ok(socket)
    }
}

/// A DNS subdomain name as Kubernetes names nodes and pods: lowercase letters, digits, '-'
/// and '.', starting and ending with a letter or digit.
pub(super) fn dns_name(text: &str) -> Result<String, String> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.');
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if text.is_empty() || text.len() > DNS_NAME_MAX {
        Err(format!(
            "{text:?} is {} bytes long; a name has 1 to {DNS_NAME_MAX}",
            text.len()
        ))
    } else if let Some(bad) = text.chars().find(|&c| !allowed(c)) {
        Err(format!(
            "{text:?} contains {bad:?}; a name uses only lowercase letters, digits, '-' and '.'"
        ))
    } else if !alnum(text.chars().next()) || !alnum(text.chars().last()) {
        Err(format!(
            "{text:?} must start and end with a lowercase letter or a digit"
        ))
    } else {
        Ok(text.to_owned())
    }
}

/// A network namespace: a name under `/run/netns`, or an absolute path.
pub(super) fn netns(text: &str) -> Result<Netns, String> {
    if text.starts_with('/') {
        Ok(Netns::Path(PathBuf::from(text)))
    } else if text.is_empty() || text.contains('/') || text == "." || text == ".." {
        Err(format!(
            "{text:?} is neither a namespace name (a file under {NETNS_DIR}) nor an absolute path"
        ))
    } else {
        Ok(Netns::Named(text.to_owned()))
    }
}

/// An absolute filesystem path.
pub(super) fn absolute_path(text: &str) -> Result<PathBuf, String> {
    if Path::new(text).is_absolute() {
        Ok(PathBuf::from(text))
    } else {
        Err(format!(
            "{text:?} is not an absolute path; the daemon's working directory is not fixed, so give the full path"
        ))
    }
}

/// An IP address and a TCP port.
pub(super) fn socket_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        format!("{text:?} is not an IP address and port like 127.0.0.1:9464 or [::1]:9464")
    })
}

/// An address with its prefix length, host bits allowed.
pub(super) fn cidr(text: &str) -> Result<Cidr, String> {
    text.parse()
        .map_err(|error| format!("{text:?} is not a valid CIDR: {error}"))
}

/// A prefix: an address with its prefix length and the host bits zero.
pub(super) fn prefix(text: &str) -> Result<Cidr, String> {
    let cidr = cidr(text)?;
    if cidr.is_canonical() {
        Ok(cidr)
    } else {
        Err(format!(
            "{text:?} has host bits set; write the prefix as {}",
            cidr.network()
        ))
    }
}

/// A single IP address, without a prefix length.
pub(super) fn ip(text: &str) -> Result<IpAddr, String> {
    match text.split_once('/') {
        Some((addr, _)) => Err(format!(
            "{text:?} has a prefix length; write the address alone, {addr:?}"
        )),
        None => text
            .parse()
            .map_err(|_| format!("{text:?} is not an IPv4 or IPv6 address")),
    }
}

/// An address of one family (`A` is `Ipv4Addr` or `Ipv6Addr`) that may be owned (see
/// [`own_address`]); `other_field` is where an address of the other family belongs.
pub(super) fn address_of_family<A: FromStr>(text: &str, other_field: &str) -> Result<A, String> {
    let any = ip(text)?;
    let family = if any.is_ipv4() { "IPv4" } else { "IPv6" };
    let addr = text
        .parse()
        .map_err(|_| format!("{text:?} is an {family} address; give it as {other_field}"))?;
    own_address(any)?;
    Ok(addr)
}

/// An address the switch or a pod may own: one that can be the source of unicast traffic and
/// is not reserved as the pods' gateway.
pub(super) fn own_address(ip: IpAddr) -> Result<(), String> {
    if ip == IpAddr::V4(POD_GATEWAY_V4) || ip == IpAddr::V6(POD_GATEWAY_V6) {
        return Err(format!(
            "{ip} is reserved as the pods' gateway address; choose another address"
        ));
    }
    let what = match ip {
        _ if ip.is_unspecified() => "the unspecified address",
        _ if ip.is_loopback() => "a loopback address",
        _ if ip.is_multicast() => "a multicast address",
        IpAddr::V4(v4) if v4.is_broadcast() => "the broadcast address",
        _ => return Ok(()),
    };
    Err(format!(
        "{ip} is {what}; give a unicast address that can be routed"
    ))
}

/// An address the switch owns on an interface, with its subnet.
pub(super) fn interface_address(cidr: Cidr) -> Result<(), String> {
    own_address(cidr.addr())?;
    let network = cidr.network();
    if cidr.broadcast().is_some() && network.addr() == cidr.addr() {
        Err(format!(
            "{cidr} is the network address of its subnet; give the interface a host address inside {network}"
        ))
    } else if cidr.broadcast().map(IpAddr::V4) == Some(cidr.addr()) {
        Err(format!(
            "{cidr} is the broadcast address of its subnet; give the interface a host address inside {network}"
        ))
    } else {
        Ok(())
    }
}

/// An address a pod owns: like [`own_address`], and not link-local, which other pods and
/// nodes could not route to.
pub(super) fn pod_address(ip: IpAddr) -> Result<(), String> {
    own_address(ip)?;
    let link_local = match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_unicast_link_local(),
    };
    if link_local {
        Err(format!(
            "{ip} is link-local, which other pods and nodes cannot route to; give a routable address"
        ))
    } else {
        Ok(())
    }
}

/// An MTU, at least 1280 when the interface carries IPv6.
pub(super) fn mtu(value: u32, carries_ipv6: bool) -> Result<u32, String> {
    let min = if carries_ipv6 { MTU_MIN_V6 } else { MTU_MIN_V4 };
    if (min..=MTU_MAX).contains(&value) {
        Ok(value)
    } else if carries_ipv6 && (MTU_MIN_V4..MTU_MIN_V6).contains(&value) {
        Err(format!(
            "{value} is below {MTU_MIN_V6}, the smallest MTU IPv6 allows, and this interface has an IPv6 address"
        ))
    } else {
        Err(format!(
            "{value} is out of range; an MTU is from {min} to {MTU_MAX}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    #[test]
    fn interface_names_follow_the_kernel_limits() {
        assert_eq!(interface_name("veth-up.1_a").as_deref(), Ok("veth-up.1_a"));
        assert!(interface_name("a23456789012345").is_ok());
        let long = interface_name("a234567890123456").unwrap_err();
        assert!(long.contains("16 bytes long"), "{long}");
        assert!(interface_name("").is_err());
        assert!(interface_name("eth/0").unwrap_err().contains("'/'"));
        assert!(interface_name("eth 0").is_err());
        assert!(interface_name("..").is_err());
    }

    #[test]
    fn dns_names_are_lowercase_and_start_and_end_alphanumeric() {
        assert!(dns_name("node-1.example").is_ok());
        assert!(dns_name("Node1").unwrap_err().contains("'N'"));
        assert!(dns_name("-a").is_err());
        assert!(dns_name("a.").is_err());
        assert!(dns_name("").is_err());
    }

    #[test]
    fn netns_is_a_name_or_an_absolute_path() {
        assert_eq!(netns("podwire-a"), Ok(Netns::Named("podwire-a".into())));
        assert_eq!(
            netns("podwire-a").unwrap().path(),
            PathBuf::from("/run/netns/podwire-a")
        );
        assert_eq!(
            netns("/proc/1/ns/net"),
            Ok(Netns::Path("/proc/1/ns/net".into()))
        );
        assert!(netns("ns/a").is_err());
        assert!(netns("..").is_err());
        assert!(netns("").is_err());
    }

    #[test]
    fn prefixes_must_be_canonical_and_say_the_canonical_form() {
        assert!(prefix("10.9.0.0/16").is_ok());
        assert_eq!(
            prefix("10.9.0.1/16").unwrap_err(),
            r#""10.9.0.1/16" has host bits set; write the prefix as 10.9.0.0/16"#
        );
        assert_eq!(
            cidr("10.0.0.1/33").unwrap_err(),
            r#""10.0.0.1/33" is not a valid CIDR: prefix length 33 is over 32"#
        );
    }

    #[test]
    fn ip_rejects_a_prefix_length_with_a_hint() {
        assert_eq!(ip("fd10::2"), Ok("fd10::2".parse().unwrap()));
        assert!(ip("10.0.0.2/32").unwrap_err().contains(r#""10.0.0.2""#));
        assert!(ip("ten").is_err());
    }

    #[test]
    fn address_of_family_points_to_the_other_field() {
        assert_eq!(
            address_of_family::<Ipv4Addr>("10.0.255.254", "host.address6"),
            Ok(Ipv4Addr::new(10, 0, 255, 254))
        );
        assert_eq!(
            address_of_family::<Ipv4Addr>("fd10::1", "host.address6"),
            Err(r#""fd10::1" is an IPv6 address; give it as host.address6"#.to_owned())
        );
        assert!(address_of_family::<Ipv6Addr>("::1", "host.address4").is_err());
    }

    #[test]
    fn own_addresses_exclude_the_gateway_and_non_unicast() {
        for bad in [
            "169.254.1.1",
            "fe80::1",
            "0.0.0.0",
            "::",
            "127.0.0.1",
            "::1",
            "224.0.0.1",
            "ff02::1",
            "255.255.255.255",
        ] {
            assert!(own_address(bad.parse().unwrap()).is_err(), "{bad}");
        }
        assert!(
            own_address("169.254.1.1".parse().unwrap())
                .unwrap_err()
                .contains("gateway")
        );
        assert!(own_address("10.0.0.1".parse().unwrap()).is_ok());
        assert!(own_address("fe80::2".parse().unwrap()).is_ok());
        assert!(pod_address("fe80::2".parse().unwrap()).is_err());
        assert!(pod_address("169.254.7.7".parse().unwrap()).is_err());
        assert!(pod_address("fd10::2".parse().unwrap()).is_ok());
    }

    #[test]
    fn interface_addresses_are_hosts_of_their_subnet() {
        let check = |text: &str| interface_address(text.parse().unwrap());
        assert!(check("192.168.50.1/24").is_ok());
        assert!(
            check("192.168.50.0/24")
                .unwrap_err()
                .contains("network address")
        );
        assert!(
            check("192.168.50.255/24")
                .unwrap_err()
                .contains("broadcast address")
        );
        assert!(check("10.0.0.0/31").is_ok());
        assert!(check("10.0.0.7/32").is_ok());
        assert!(check("fd00:50::/64").is_ok());
    }

    #[test]
    fn memif_sockets_are_absolute_paths_or_abstract_names_that_fit() {
        assert_eq!(
            memif_socket("/run/x/memif.sock"),
            Ok(MemifSocket::Path("/run/x/memif.sock".into()))
        );
        assert_eq!(
            memif_socket("@cnf"),
            Ok(MemifSocket::Abstract("cnf".into()))
        );
        assert_eq!(
            memif_socket("abstract:/run/memif.sock"),
            Ok(MemifSocket::Abstract("/run/memif.sock".into()))
        );
        assert!(
            memif_socket("memif.sock")
                .unwrap_err()
                .contains("absolute path")
        );
        assert!(
            memif_socket("@")
                .unwrap_err()
                .contains("names no abstract socket")
        );
        assert!(memif_socket("/a\0b").unwrap_err().contains("NUL"));
        let long = format!("/{}", "a".repeat(107));
        assert!(memif_socket(&long).unwrap_err().contains("108 bytes long"));
        assert!(memif_socket(&format!("@{}", "a".repeat(107))).is_ok());
    }

    #[test]
    fn bridge_domain_names_are_short_words() {
        assert_eq!(bridge_domain_name("cnf-net.1").as_deref(), Ok("cnf-net.1"));
        assert!(bridge_domain_name("").is_err());
        assert!(bridge_domain_name("a b").unwrap_err().contains("' '"));
        assert!(
            bridge_domain_name(&"b".repeat(64))
                .unwrap_err()
                .contains("64 bytes")
        );
    }

    #[test]
    fn mtu_limits_depend_on_ipv6() {
        assert_eq!(mtu(1500, true), Ok(1500));
        assert_eq!(mtu(576, false), Ok(576));
        assert!(mtu(576, true).unwrap_err().contains("1280"));
        assert!(mtu(67, false).is_err());
        assert!(mtu(65536, false).is_err());
    }
}
