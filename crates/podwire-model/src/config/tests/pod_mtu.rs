//! [`pod_mtu`]: a pod's MTU from the config's `mtu` and the node's ways out.

use super::*;

/// A tunnel over `uplink` of MTU `uplink_mtu`, with an IPv4 underlay (50 bytes of VXLAN).
fn tunnel(uplink: &str, uplink_mtu: u32) -> TunnelExit {
    TunnelExit {
        uplink: uplink.into(),
        uplink_mtu,
        mtu: uplink_mtu - 50,
    }
}

fn masquerade(interfaces: &[(&str, u32)]) -> Vec<(String, u32)> {
    interfaces
        .iter()
        .map(|&(name, mtu)| (name.to_owned(), mtu))
        .collect()
}

fn in_cluster(uplink_mtu: u32) -> PodExits {
    PodExits {
        tunnel: Some(tunnel("eth1", uplink_mtu)),
        masquerade: masquerade(&[("eth1", uplink_mtu)]),
    }
}

#[test]
fn in_a_cluster_pods_get_the_tunnels_mtu_on_jumbo_and_ordinary_uplinks() {
    for uplink in [9000, 1500] {
        let chosen = pod_mtu(None, &in_cluster(uplink));
        assert_eq!(chosen.mtu, uplink - 50, "uplink {uplink}");
        assert_eq!(chosen.from, MtuSource::Tunnel(tunnel("eth1", uplink)));
    }
    assert_eq!(
        pod_mtu(None, &in_cluster(9000)).to_string(),
        "MTU 8950 (tunnel over eth1, MTU 9000)"
    );
}

#[test]
fn a_masquerade_interface_smaller_than_the_tunnel_bounds_the_pods() {
    let exits = PodExits {
        tunnel: Some(tunnel("fabric", 9000)),
        masquerade: masquerade(&[("fabric", 9000), ("wan", 1500)]),
    };
    let chosen = pod_mtu(None, &exits);
    assert_eq!(chosen.mtu, 1500);
    assert_eq!(chosen.from, MtuSource::Masquerade("wan".into()));
}

#[test]
fn on_one_node_pods_get_the_smallest_masquerade_interfaces_mtu() {
    let jumbo = PodExits {
        tunnel: None,
        masquerade: masquerade(&[("uplink0", 9000)]),
    };
    assert_eq!(pod_mtu(None, &jumbo).mtu, 9000);
    let two = PodExits {
        tunnel: None,
        masquerade: masquerade(&[("uplink0", 9000), ("uplink1", 1500), ("uplink2", 4000)]),
    };
    let chosen = pod_mtu(None, &two);
    assert_eq!(chosen.mtu, 1500);
    assert_eq!(chosen.from, MtuSource::Masquerade("uplink1".into()));
    assert_eq!(
        chosen.to_string(),
        "MTU 1500 (masquerade interface uplink1)"
    );
}

#[test]
fn with_no_way_out_pods_get_the_default() {
    let chosen = pod_mtu(None, &PodExits::default());
    assert_eq!(chosen.mtu, DEFAULT_NETWORK_MTU);
    assert_eq!(chosen.from, MtuSource::Default);
}

#[test]
fn a_given_mtu_is_an_upper_bound_only_the_tunnel_lowers() {
    // Carried by the tunnel: kept, even below what the tunnel could take.
    let kept = pod_mtu(Some(1400), &in_cluster(9000));
    assert_eq!((kept.mtu, kept.from), (1400, MtuSource::Given));
    // Too large for the tunnel: lowered to it.
    let lowered = pod_mtu(Some(9000), &in_cluster(1500));
    assert_eq!(lowered.mtu, 1450);
    assert_eq!(
        lowered.from,
        MtuSource::GivenOverTunnel {
            given: 9000,
            tunnel: tunnel("eth1", 1500),
        }
    );
    assert_eq!(
        lowered.to_string(),
        "MTU 1450 (9000 given in the config, lowered to fit the tunnel over eth1, MTU 1500)"
    );
    // Equal to the tunnel's: kept as given.
    assert_eq!(
        pod_mtu(Some(1450), &in_cluster(1500)).from,
        MtuSource::Given
    );
    // On one node the file may go above its masquerade interfaces (traffic that stays local).
    let local = PodExits {
        tunnel: None,
        masquerade: masquerade(&[("uplink0", 1500)]),
    };
    assert_eq!(pod_mtu(Some(9000), &local).mtu, 9000);
}
