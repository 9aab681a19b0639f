//! IPv4/IPv6 configuration: addresses, routes, neighbor entries.
//!
//! Each `add_*` replaces an existing entry with the same key instead of failing, so applying the
//! same configuration twice (after an agent restart, say) is not an error.

use std::net::IpAddr;

use futures::TryStreamExt;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressHeaderFlags};
use netlink_packet_route::route::{RouteMessage, RouteScope};
use rtnetlink::RouteMessageBuilder;

use super::link::Mac;
use super::{Error, Netlink, Result, request_failed};

/// A route to add with [`Netlink::add_route`], IPv4 or IPv6 after `dst`. A default route is
/// `0.0.0.0/0` or `::/0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route<'a> {
    /// Destination network address (host bits clear).
    pub dst: IpAddr,
    /// Destination prefix length.
    pub prefix_len: u8,
    /// Next hop; `None` for a destination directly on the link of `dev`. An IPv6 next hop on
    /// an IPv4 route is allowed (RFC 5549, `RTA_VIA`).
    pub gateway: Option<IpAddr>,
    /// Outgoing interface.
    pub dev: Option<&'a str>,
    /// Trust that `gateway` is on the link of `dev` even if no address says so (`ip route …
    /// onlink`); how a pod reaches a link-local gateway with only a /32 of its own.
    pub onlink: bool,
    /// Preferred source address for locally originated packets.
    pub src: Option<IpAddr>,
}

impl Route<'_> {
    /// A route to `dst/prefix_len` with no gateway, device, onlink or source yet.
    pub fn new(dst: IpAddr, prefix_len: u8) -> Self {
        Self {
            dst,
            prefix_len,
            gateway: None,
            dev: None,
            onlink: false,
            src: None,
        }
    }
}

impl Netlink {
    /// Adds `addr/prefix_len` to interface `name` (or replaces it).
    pub async fn add_address(&self, name: &str, addr: IpAddr, prefix_len: u8) -> Result<()> {
        let index = self.index(name).await?;
        let mut request = self.handle.address().add(index, addr, prefix_len).replace();
        if addr.is_ipv6() {
            // Usable at once: without IFA_F_NODAD the kernel marks the address tentative until
            // its DAD work runs, even with accept_dad = 0, and a route that names it as its
            // source is refused (EINVAL) in that window. podwire's addresses are unique.
            let message = request.message_mut();
            message.header.flags |= AddressHeaderFlags::Nodad;
            message
                .attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        request.execute().await.map_err(request_failed(format!(
            "adding address {addr}/{prefix_len} to interface {name}"
        )))
    }

    /// The addresses of interface `name`, with their prefix lengths (IPv6 link-local ones
    /// included).
    pub async fn addresses(&self, name: &str) -> Result<Vec<(IpAddr, u8)>> {
        let index = self.index(name).await?;
        let messages: Vec<_> = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute()
            .try_collect()
            .await
            .map_err(request_failed(format!(
                "listing the addresses of interface {name}"
            )))?;
        Ok(messages
            .into_iter()
            // The filter is a hint the kernel may ignore; the header says for sure.
            .filter(|m| m.header.index == index)
            .filter_map(|m| {
                let len = m.header.prefix_len;
                m.attributes.into_iter().find_map(|a| match a {
                    AddressAttribute::Address(ip) => Some((ip, len)),
                    _ => None,
                })
            })
            .collect())
    }

    /// Adds `route` to the main table (or replaces the route to the same destination).
    pub async fn add_route(&self, route: &Route<'_>) -> Result<()> {
        let message = self.route_message(route).await?;
        self.handle
            .route()
            .add(message)
            .replace()
            .execute()
            .await
            .map_err(request_failed(format!(
                "adding route {}",
                RouteDisplay(route)
            )))
    }

    /// Adds a permanent neighbor entry (ARP or NDP): `addr` is at `mac` on interface `dev`.
    pub async fn add_neighbor(&self, dev: &str, addr: IpAddr, mac: [u8; 6]) -> Result<()> {
        let index = self.index(dev).await?;
        self.handle
            .neighbours()
            .add(index, addr)
            .link_layer_address(&mac)
            .replace()
            .execute()
            .await
            .map_err(request_failed(format!(
                "adding neighbor {addr} at {} on interface {dev}",
                Mac(mac)
            )))
    }

    /// The RTM_NEWROUTE message for `route`, with its device resolved to an index.
    async fn route_message(&self, route: &Route<'_>) -> Result<RouteMessage> {
        let invalid = |reason: String| Error::InvalidRoute {
            dst: route.dst,
            prefix_len: route.prefix_len,
            reason,
        };
        if route.gateway.is_none() && route.dev.is_none() {
            return Err(invalid("it needs a gateway or a device".into()));
        }
        if has_host_bits(route.dst, route.prefix_len) {
            return Err(invalid(
                "the destination has host bits set; use the network address".into(),
            ));
        }
        let mut builder = RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(route.dst, route.prefix_len)
            .map_err(|e| invalid(e.to_string()))?;
        match route.gateway {
            Some(gateway) => {
                builder = builder
                    .gateway(gateway)
                    .map_err(|e| invalid(e.to_string()))?;
            }
            // Like `ip route add PREFIX dev DEV`: reachable directly on the link. (IPv6 routes
            // keep universe scope; the kernel ignores scope for them.)
            None if route.dst.is_ipv4() => builder = builder.scope(RouteScope::Link),
            None => {}
        }
        if let Some(dev) = route.dev {
            builder = builder.output_interface(self.index(dev).await?);
        }
        if route.onlink {
            builder = builder.onlink();
        }
        if let Some(src) = route.src {
            builder = builder
                .pref_source(src)
                .map_err(|e| invalid(e.to_string()))?;
        }
        Ok(builder.build())
    }
}

/// Whether `addr` has bits set beyond its first `prefix_len` (the kernel refuses such a route
/// destination with a bare EINVAL). A too-long prefix is left for the route builder to report.
fn has_host_bits(addr: IpAddr, prefix_len: u8) -> bool {
    let (bits, width) = match addr {
        IpAddr::V4(v4) => (u128::from(v4.to_bits()) << 96, 32),
        IpAddr::V6(v6) => (v6.to_bits(), 128),
    };
    prefix_len < width && bits.checked_shl(u32::from(prefix_len)).unwrap_or(0) != 0
}

/// A route in `ip route` notation, for messages.
struct RouteDisplay<'a, 'r>(&'a Route<'r>);

impl std::fmt::Display for RouteDisplay<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let route = self.0;
        write!(f, "{}/{}", route.dst, route.prefix_len)?;
        if let Some(gateway) = route.gateway {
            write!(f, " via {gateway}")?;
        }
        if let Some(dev) = route.dev {
            write!(f, " dev {dev}")?;
        }
        if route.onlink {
            f.write_str(" onlink")?;
        }
        if let Some(src) = route.src {
            write!(f, " src {src}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn host_bits_are_detected_in_both_families() {
        assert!(!has_host_bits(ip("10.1.0.0"), 16));
        assert!(has_host_bits(ip("10.1.0.1"), 16));
        assert!(!has_host_bits(ip("10.1.0.1"), 32));
        assert!(!has_host_bits(ip("0.0.0.0"), 0));
        assert!(has_host_bits(ip("10.0.0.0"), 0));
        assert!(!has_host_bits(ip("fd00:1::"), 64));
        assert!(has_host_bits(ip("fd00:1::1"), 64));
        assert!(!has_host_bits(ip("fd00:1::1"), 128));
        assert!(!has_host_bits(ip("::"), 0));
        assert!(has_host_bits(ip("2001:db8::"), 0));
    }

    #[test]
    fn routes_print_like_iproute2() {
        let mut route = Route::new(ip("0.0.0.0"), 0);
        route.gateway = Some(ip("169.254.1.1"));
        route.dev = Some("eth0");
        route.onlink = true;
        route.src = Some(ip("10.0.0.5"));
        assert_eq!(
            RouteDisplay(&route).to_string(),
            "0.0.0.0/0 via 169.254.1.1 dev eth0 onlink src 10.0.0.5"
        );
        assert_eq!(RouteDisplay(&Route::new(ip("::"), 0)).to_string(), "::/0");
    }
}
