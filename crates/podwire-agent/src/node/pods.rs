//! Wiring a pod: a tap whose kernel end becomes the pod's interface, with
//! the pod's addresses and a default route via the switch's link-local
//! gateway, so that pods are routed (L3) even on one node.

use core::net::IpAddr;

use podwire_io::netlink::{Netlink, Route};
use podwire_io::netns::NetNs;
use podwire_io::sysctl;
use podwire_io::tap::Tap;
use podwire_model::config::{PodConfig, PodExits, pod_mtu};
use podwire_wire::ethernet::EthernetAddress;

use super::{NodeError, POD_GATEWAY4, POD_GATEWAY6, derived_mac, netlink_err};

/// A pod wired on the kernel side.
pub struct WiredPod {
    /// The switch's end.
    pub tap: Tap,
    /// The switch's MAC on the pod's link.
    pub switch_mac: EthernetAddress,
    /// The pod's MAC.
    pub pod_mac: EthernetAddress,
    /// The link's MTU.
    pub mtu: u16,
}

/// The host-side name of a pod's tap: `pw` and the pod's name, or a hash
/// of it when too long for an interface name.
pub fn tap_name(pod: &str) -> String {
    let name = format!("pw{pod}");
    if name.len() <= 15
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        name
    } else {
        let mac = derived_mac(&[pod]).0;
        format!(
            "pw{:02x}{:02x}{:02x}{:02x}{:02x}",
            mac[1], mac[2], mac[3], mac[4], mac[5]
        )
    }
}

/// Makes the pod's tap, moves its kernel end into the pod's namespace as
/// the pod's interface, and gives it addresses and routes. On failure the
/// tap is dropped, which removes it. Its MTU fits where its traffic leaves, `exits`.
pub async fn wire(node: &str, pod: &PodConfig, exits: &PodExits) -> Result<WiredPod, NodeError> {
    let what = format!("pod {}", pod.name);
    let path = pod.netns.path();
    let ns = NetNs::open(&path).map_err(|source| NodeError::Netns {
        what: what.clone(),
        path: path.display().to_string(),
        source,
    })?;
    let name = tap_name(&pod.name);
    // With the virtio-net header: the node offers it offloads (attach_pod).
    let options = super::attach::offload_tap_options(false, false);
    let tap = Tap::create_with(&name, &options).map_err(|source| NodeError::Tap {
        what: what.clone(),
        source,
    })?;
    let pod_mac = derived_mac(&[node, &pod.name, "pod"]);
    let switch_mac = derived_mac(&[node, &pod.name, "switch"]);
    let chosen = pod_mtu(pod.mtu, exits);
    tracing::info!("pod {}: {chosen}", pod.name);
    let mtu = chosen.mtu;

    let host = Netlink::connect().map_err(netlink_err(&what))?;
    host.set_mac(&name, pod_mac.0)
        .await
        .map_err(netlink_err(&what))?;
    host.set_mtu(&name, mtu).await.map_err(netlink_err(&what))?;
    host.move_to_netns(&name, &ns)
        .await
        .map_err(netlink_err(&what))?;

    let inside = Netlink::connect_in(&ns).map_err(netlink_err(&what))?;
    let ifname = pod.interface.as_str();
    inside
        .rename(&name, ifname)
        .await
        .map_err(netlink_err(format!(
            "{what}: naming its interface {ifname} (is there one already?)"
        )))?;
    sysctl::disable_ipv6_dad(&ns, ifname).map_err(|source| NodeError::Sysctl {
        what: what.clone(),
        source,
    })?;
    inside.set_up("lo").await.map_err(netlink_err(&what))?;
    inside.set_up(ifname).await.map_err(netlink_err(&what))?;
    for &addr in &pod.addresses {
        let len = if addr.is_ipv4() { 32 } else { 128 };
        inside
            .add_address(ifname, addr, len)
            .await
            .map_err(netlink_err(format!("{what}: address {addr}")))?;
    }
    if pod.addresses.iter().any(IpAddr::is_ipv4) {
        let mut gw = Route::new(POD_GATEWAY4.into(), 32);
        gw.dev = Some(ifname);
        inside.add_route(&gw).await.map_err(netlink_err(&what))?;
        let mut default = Route::new(core::net::Ipv4Addr::UNSPECIFIED.into(), 0);
        default.gateway = Some(POD_GATEWAY4.into());
        default.dev = Some(ifname);
        default.onlink = true;
        inside
            .add_route(&default)
            .await
            .map_err(netlink_err(&what))?;
    }
    if pod.addresses.iter().any(IpAddr::is_ipv6) {
        let mut default = Route::new(core::net::Ipv6Addr::UNSPECIFIED.into(), 0);
        default.gateway = Some(POD_GATEWAY6.into());
        default.dev = Some(ifname);
        inside
            .add_route(&default)
            .await
            .map_err(netlink_err(&what))?;
    }
    // The gateways' MAC is known: no ARP or ND for it, ever (see attach::kernel).
    for gateway in [IpAddr::from(POD_GATEWAY4), IpAddr::from(POD_GATEWAY6)] {
        if pod
            .addresses
            .iter()
            .any(|a| a.is_ipv4() == gateway.is_ipv4())
        {
            inside
                .add_neighbor(ifname, gateway, switch_mac.0)
                .await
                .map_err(netlink_err(&what))?;
        }
    }
    Ok(WiredPod {
        tap,
        switch_mac,
        pod_mac,
        mtu: mtu.min(u32::from(u16::MAX)) as u16,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tap_names_fit_an_interface_name() {
        assert_eq!(tap_name("web-1"), "pwweb-1");
        let long = tap_name("a-very-long-pod-name-indeed");
        assert!(long.len() <= 15 && long.starts_with("pw"), "{long}");
        assert_eq!(long, tap_name("a-very-long-pod-name-indeed"));
        assert_ne!(tap_name("x/y"), "pwx/y");
    }
}
