use std::path::Path;

use serde_json::{Value, json};

use super::*;
use crate::test_support::{NETNS, memif, tap, veth};

fn result_json(attachment: &Attachment, version: SpecVersion, dns: Option<&Dns>) -> Value {
    let result = SuccessResult::from_attachment(attachment, version, Path::new(NETNS), dns);
    serde_json::from_str(&result.to_json()).expect("the result is JSON")
}

#[test]
fn tap_result_1_0_has_the_pod_interface_addresses_and_routes() {
    assert_eq!(
        result_json(&tap(), SpecVersion::V1_0_0, None),
        json!({
            "cniVersion": "1.0.0",
            "interfaces": [{"name": "eth0", "mac": "02:fe:00:00:00:02", "sandbox": NETNS}],
            "ips": [
                {"address": "10.251.0.2/32", "gateway": "169.254.1.1", "interface": 0},
                {"address": "fd00:251::2/128", "gateway": "fe80::1", "interface": 0},
            ],
            "routes": [
                {"dst": "0.0.0.0/0", "gw": "169.254.1.1"},
                {"dst": "::/0", "gw": "fe80::1"},
            ],
        })
    );
}

#[test]
fn result_1_1_adds_the_mtu() {
    let result = result_json(&tap(), SpecVersion::V1_1_0, None);
    assert_eq!(result["cniVersion"], "1.1.0");
    assert_eq!(result["interfaces"][0]["mtu"], 1500);
    assert!(
        result_json(&tap(), SpecVersion::V1_0_0, None)["interfaces"][0]
            .get("mtu")
            .is_none()
    );
}

#[test]
fn veth_result_lists_the_host_end_first_and_points_ips_at_the_pod_end() {
    let result = result_json(&veth(), SpecVersion::V1_1_0, None);
    assert_eq!(
        result["interfaces"],
        json!([
            {"name": "pwv-c0ffee", "mtu": 1500},
            {"name": "eth0", "mac": "02:fe:00:00:00:02", "mtu": 1500, "sandbox": NETNS},
        ])
    );
    assert_eq!(result["ips"][0]["interface"], 1);
    assert_eq!(result["ips"][1]["interface"], 1);
}

#[test]
fn memif_result_has_the_socket_only_in_1_1() {
    assert_eq!(
        result_json(&memif(), SpecVersion::V1_1_0, None),
        json!({
            "cniVersion": "1.1.0",
            "interfaces": [{
                "name": "net1", "mtu": 9000, "sandbox": NETNS,
                "socketPath": "/run/podwire/memif/c0ffee-net1.sock",
            }],
        })
    );
    assert_eq!(
        result_json(&memif(), SpecVersion::V1_0_0, None),
        json!({"cniVersion": "1.0.0", "interfaces": [{"name": "net1", "sandbox": NETNS}]})
    );
}

#[test]
fn gateways_go_with_their_family() {
    let mut single = tap();
    single.addresses.reverse();
    single.gateways = vec!["169.254.1.1".parse().unwrap()];
    let result = result_json(&single, SpecVersion::V1_0_0, None);
    assert_eq!(
        result["ips"],
        json!([
            {"address": "fd00:251::2/128", "interface": 0},
            {"address": "10.251.0.2/32", "gateway": "169.254.1.1", "interface": 0},
        ])
    );
}

#[test]
fn bridged_attachments_have_no_gateway_and_no_routes() {
    let mut bridged = tap();
    bridged.addresses = vec![crate::test_support::cidr("10.9.0.5/24")];
    bridged.gateways = vec![];
    bridged.routes = vec![];
    let result = result_json(&bridged, SpecVersion::V1_0_0, None);
    assert_eq!(
        result["ips"],
        json!([{"address": "10.9.0.5/24", "interface": 0}])
    );
    assert!(result.get("routes").is_none());
}

#[test]
fn dns_is_copied_when_the_config_has_some() {
    let dns = Dns {
        nameservers: vec!["10.96.0.10".into()],
        search: vec!["svc.cluster.local".into()],
        ..Dns::default()
    };
    assert_eq!(
        result_json(&tap(), SpecVersion::V1_0_0, Some(&dns))["dns"],
        json!({"nameservers": ["10.96.0.10"], "search": ["svc.cluster.local"]})
    );
    assert!(
        result_json(&tap(), SpecVersion::V1_0_0, Some(&Dns::default()))
            .get("dns")
            .is_none()
    );
}

#[test]
fn the_sandbox_is_the_runtimes_path_not_the_agents() {
    let mut attachment = tap();
    attachment.netns = "/proc/1234/ns/net".into();
    let result = SuccessResult::from_attachment(
        &attachment,
        SpecVersion::V1_0_0,
        Path::new("/var/run/netns/x"),
        None,
    );
    assert_eq!(
        result.interfaces[0].sandbox.as_deref(),
        Some("/var/run/netns/x")
    );
}
