//! An attachment planned before anything is touched: its names, MACs, the addresses and routes
//! the pod gets, its memif socket. Deterministic, so that a restarted agent derives the same
//! names again and finds what it made.

use std::net::IpAddr;
use std::path::Path;

use podwire_model::attach::{AddRequest, Attachment, AttachmentKind, PodRoute};
use podwire_model::cidr::Cidr;
use podwire_model::config::{
    DEFAULT_MEMIF_SOCKET_FILE, DEFAULT_NETWORK_MTU, NetworkConfig, NetworkForwarding,
    POD_GATEWAY_V4, POD_GATEWAY_V6,
};

use crate::node::{derived_mac, stable_hash};

/// Where memif attachments get a directory each, `<dir>/<network>-<hash>/memif.sock`: a
/// directory per pod, which the runtime can mount into that pod alone.
pub const POD_MEMIF_DIR: &str = "/run/podwire/memif/pods";

/// The attachment `request` gets on `network` with `addresses` (one per pool, from IPAM), on
/// node `node`.
pub fn plan(
    node: &str,
    network: &NetworkConfig,
    request: &AddRequest,
    addresses: &[IpAddr],
    memif_dir: &Path,
) -> Attachment {
    let key = &request.key;
    let id = [
        node,
        key.network.as_str(),
        key.container_id.as_str(),
        key.ifname.as_str(),
    ];
    let hash = stable_hash(&id);
    let routed = network.forwarding == NetworkForwarding::Routed;
    let addresses: Vec<Cidr> = addresses
        .iter()
        .map(|&ip| pod_address(network, ip, routed))
        .collect();
    let gateways: Vec<IpAddr> = if routed {
        families(&addresses)
            .map(|v4| {
                if v4 {
                    IpAddr::from(POD_GATEWAY_V4)
                } else {
                    IpAddr::from(POD_GATEWAY_V6)
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    let routes = if routed {
        network
            .pod_routes
            .iter()
            .map(|&dst| PodRoute {
                dst,
                gateway: Some(if dst.addr().is_ipv4() {
                    POD_GATEWAY_V4.into()
                } else {
                    POD_GATEWAY_V6.into()
                }),
            })
            .collect()
    } else {
        Vec::new()
    };
    let (host_interface, mac, socket_path) = match network.interface {
        AttachmentKind::Tap => (None, Some(planned_pod_mac(&id)), None),
        AttachmentKind::Veth => (
            Some(format!("pw{:010x}", hash >> 24)),
            Some(planned_pod_mac(&id)),
            None,
        ),
        AttachmentKind::Memif => {
            let dir = memif_dir.join(format!("{}-{:012x}", key.network, hash >> 16));
            (None, None, Some(dir.join(DEFAULT_MEMIF_SOCKET_FILE)))
        }
    };
    Attachment {
        key: key.clone(),
        netns: request.netns.clone(),
        pod: request.pod.clone(),
        cni_network: request.cni_network.clone(),
        kind: network.interface,
        switch_interface: switch_interface_name(request),
        host_interface,
        mac,
        // The node decides every network's MTU at start (`PodNetworks::decide_mtu`).
        mtu: network.mtu.unwrap_or(DEFAULT_NETWORK_MTU),
        addresses,
        gateways,
        routes,
        socket_path,
        device_info_file: match network.interface {
            AttachmentKind::Memif => request.device_info_file.clone(),
            _ => None,
        },
    }
}

/// The switch's MAC on an attachment's link.
pub fn switch_mac(node: &str, attachment: &Attachment) -> podwire_wire::ethernet::EthernetAddress {
    let key = &attachment.key;
    derived_mac(&[node, &key.network, &key.container_id, &key.ifname, "switch"])
}

/// The pod interface's MAC the plan gave it (tap and veth).
pub fn pod_mac(attachment: &Attachment) -> Option<podwire_wire::ethernet::EthernetAddress> {
    attachment.mac.as_deref()?.parse().ok()
}

fn planned_pod_mac(id: &[&str]) -> String {
    let mut parts = id.to_vec();
    parts.push("pod");
    derived_mac(&parts).to_string()
}

/// podwire's name for the switch's end: the pod's namespace/name when the runtime said it,
/// else the container id's first 12 characters (as `crictl` shows it), then the interface.
fn switch_interface_name(request: &AddRequest) -> String {
    let key = &request.key;
    match (&request.pod.namespace, &request.pod.name) {
        (Some(namespace), Some(name)) => format!("{namespace}/{name}:{}", key.ifname),
        _ => {
            let short: String = key.container_id.chars().take(12).collect();
            format!("{short}:{}", key.ifname)
        }
    }
}

/// `ip` as the pod's interface has it: a host route on a routed network, the subnet's prefix
/// length on a bridged one.
fn pod_address(network: &NetworkConfig, ip: IpAddr, routed: bool) -> Cidr {
    if routed {
        return Cidr::host(ip);
    }
    let len = network
        .pod_cidrs
        .iter()
        .find(|c| c.contains(ip))
        .map_or_else(|| Cidr::host(ip).prefix_len(), Cidr::prefix_len);
    Cidr::new(ip, len).unwrap_or_else(|_| Cidr::host(ip))
}

/// Whether each address is IPv4, IPv4 first.
fn families(addresses: &[Cidr]) -> impl Iterator<Item = bool> + '_ {
    let v4 = addresses.iter().any(|a| a.addr().is_ipv4());
    let v6 = addresses.iter().any(|a| a.addr().is_ipv6());
    [v4.then_some(true), v6.then_some(false)]
        .into_iter()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use podwire_model::attach::{AttachmentKey, PodIdentity};

    fn network(kind: AttachmentKind, forwarding: NetworkForwarding) -> NetworkConfig {
        NetworkConfig {
            name: "default".into(),
            pod_cidrs: vec![
                "10.1.0.0/24".parse().unwrap(),
                "fd01::/112".parse().unwrap(),
            ],
            interface: kind,
            forwarding,
            mtu: Some(1400),
            pod_routes: match forwarding {
                NetworkForwarding::Routed => {
                    vec!["0.0.0.0/0".parse().unwrap(), "::/0".parse().unwrap()]
                }
                NetworkForwarding::Bridged => Vec::new(),
            },
        }
    }

    fn request(pod: PodIdentity) -> AddRequest {
        AddRequest {
            key: AttachmentKey {
                network: "default".into(),
                container_id: "0123456789abcdef0123".into(),
                ifname: "eth0".into(),
            },
            netns: "/run/netns/p".into(),
            pod,
            cni_network: "podwire".into(),
            device_info_file: None,
        }
    }

    fn addrs() -> Vec<IpAddr> {
        vec!["10.1.0.7".parse().unwrap(), "fd01::7".parse().unwrap()]
    }

    #[test]
    fn a_routed_tap_gets_host_routes_and_link_local_gateways() {
        let net = network(AttachmentKind::Tap, NetworkForwarding::Routed);
        let a = plan(
            "n1",
            &net,
            &request(PodIdentity::default()),
            &addrs(),
            Path::new("/m"),
        );
        let shown: Vec<String> = a.addresses.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["10.1.0.7/32", "fd01::7/128"]);
        assert_eq!(
            a.gateways,
            [IpAddr::from(POD_GATEWAY_V4), IpAddr::from(POD_GATEWAY_V6)]
        );
        assert_eq!(a.routes.len(), 2);
        assert_eq!(a.routes[1].gateway, Some(POD_GATEWAY_V6.into()));
        assert_eq!(a.switch_interface, "0123456789ab:eth0");
        assert_eq!(a.mtu, 1400);
        assert!(a.mac.is_some() && a.host_interface.is_none() && a.socket_path.is_none());
    }

    #[test]
    fn a_bridged_pod_gets_the_subnet_and_no_gateway() {
        let net = network(AttachmentKind::Tap, NetworkForwarding::Bridged);
        let a = plan(
            "n1",
            &net,
            &request(PodIdentity::default()),
            &addrs(),
            Path::new("/m"),
        );
        let shown: Vec<String> = a.addresses.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["10.1.0.7/24", "fd01::7/112"]);
        assert!(a.gateways.is_empty() && a.routes.is_empty());
    }

    #[test]
    fn names_are_stable_and_fit_the_kernel() {
        let net = network(AttachmentKind::Veth, NetworkForwarding::Routed);
        let pod = PodIdentity {
            namespace: Some("web".into()),
            name: Some("front-1".into()),
            ..PodIdentity::default()
        };
        let a = plan("n1", &net, &request(pod.clone()), &addrs(), Path::new("/m"));
        let b = plan("n1", &net, &request(pod), &addrs(), Path::new("/m"));
        assert_eq!(a, b);
        let host = a.host_interface.unwrap();
        assert!(host.len() <= 15 && host.starts_with("pw"), "{host}");
        assert_eq!(a.switch_interface, "web/front-1:eth0");
        let other = plan(
            "n2",
            &net,
            &request(PodIdentity::default()),
            &addrs(),
            Path::new("/m"),
        );
        assert_ne!(other.mac, b.mac);
    }

    #[test]
    fn a_memif_pod_gets_a_socket_in_a_directory_of_its_own() {
        let net = network(AttachmentKind::Memif, NetworkForwarding::Routed);
        let mut req = request(PodIdentity::default());
        req.device_info_file = Some("/var/run/k8s.cni.cncf.io/devinfo/cni/x".into());
        let a = plan("n1", &net, &req, &addrs(), Path::new("/m"));
        let socket = a.socket_path.unwrap();
        let text = socket.display().to_string();
        assert!(text.starts_with("/m/default-"), "{text}");
        assert!(socket.ends_with("memif.sock"));
        assert!(socket.as_os_str().len() < 108, "fits sun_path");
        assert!(a.device_info_file.is_some() && a.mac.is_none());
    }
}
