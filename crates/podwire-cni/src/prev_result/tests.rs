use std::path::Path;

use serde_json::{Value, json};

use super::*;
use crate::config::Dns;
use crate::test_support::{NETNS, cidr, tap};
use crate::version::SpecVersion;

/// What the Debian bridge plugin answers: bridge, host veth, then the pod's eth0.
fn bridge_result() -> Value {
    json!({
        "cniVersion": "1.0.0",
        "interfaces": [
            {"name": "cni0", "mac": "00:11:22:33:44:55"},
            {"name": "veth3243", "mac": "55:44:33:22:11:11"},
            {"name": "eth0", "mac": "99:88:77:66:55:44", "sandbox": "/run/netns/other"},
        ],
        "ips": [{"address": "10.1.0.5/16", "gateway": "10.1.0.1", "interface": 2}],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dns": {"nameservers": ["10.1.0.1"]},
        "someVendorKey": {"kept": true},
    })
}

fn ours(version: SpecVersion, dns: Option<&Dns>) -> SuccessResult {
    SuccessResult::from_attachment(&tap(), version, Path::new(NETNS), dns)
}

fn chained(prev: &Value, version: SpecVersion, dns: Option<&Dns>) -> Value {
    let prev = PrevResult::parse(prev).expect("prevResult parses");
    serde_json::from_str(&prev.chain(&ours(version, dns))).expect("chained result is JSON")
}

#[test]
fn parses_what_check_needs() {
    let prev = PrevResult::parse(&bridge_result()).unwrap();
    assert_eq!(prev.interfaces().len(), 3);
    assert_eq!(prev.interfaces()[2].name, "eth0");
    assert_eq!(
        prev.interfaces()[2].sandbox.as_deref(),
        Some("/run/netns/other")
    );
    assert_eq!(prev.interfaces()[0].sandbox, None);
    assert_eq!(
        prev.ips(),
        [PrevIp {
            address: cidr("10.1.0.5/16"),
            interface: Some(2)
        }]
    );
}

#[test]
fn an_empty_result_is_a_result() {
    let prev = PrevResult::parse(&json!({"cniVersion": "1.0.0"})).unwrap();
    assert!(prev.interfaces().is_empty());
    assert!(prev.ips().is_empty());
}

#[test]
fn chaining_appends_and_shifts_the_interface_indices() {
    let result = chained(&bridge_result(), SpecVersion::V1_0_0, None);
    let interfaces = result["interfaces"].as_array().unwrap();
    assert_eq!(interfaces.len(), 4);
    assert_eq!(interfaces[3]["name"], "eth0");
    assert_eq!(interfaces[3]["sandbox"], NETNS);
    assert_eq!(
        result["ips"],
        json!([
            {"address": "10.1.0.5/16", "gateway": "10.1.0.1", "interface": 2},
            {"address": "10.251.0.2/32", "gateway": "169.254.1.1", "interface": 3},
            {"address": "fd00:251::2/128", "gateway": "fe80::1", "interface": 3},
        ])
    );
    assert_eq!(result["routes"].as_array().unwrap().len(), 3);
    assert_eq!(result["routes"][0], json!({"dst": "0.0.0.0/0"}));
}

#[test]
fn chaining_keeps_every_other_key_and_earlier_dns() {
    let dns = Dns {
        nameservers: vec!["10.96.0.10".into()],
        ..Dns::default()
    };
    let result = chained(&bridge_result(), SpecVersion::V1_0_0, Some(&dns));
    assert_eq!(result["someVendorKey"], json!({"kept": true}));
    assert_eq!(result["dns"], json!({"nameservers": ["10.1.0.1"]}));
}

#[test]
fn chaining_fills_in_dns_and_lists_the_earlier_plugins_left_out() {
    let dns = Dns {
        nameservers: vec!["10.96.0.10".into()],
        ..Dns::default()
    };
    let result = chained(
        &json!({"cniVersion": "1.0.0", "dns": {}}),
        SpecVersion::V1_1_0,
        Some(&dns),
    );
    assert_eq!(result["cniVersion"], "1.1.0");
    assert_eq!(result["dns"], json!({"nameservers": ["10.96.0.10"]}));
    assert_eq!(result["interfaces"][0]["name"], "eth0");
    assert_eq!(result["ips"][0]["interface"], 0);
    assert_eq!(result["routes"].as_array().unwrap().len(), 2);
}

#[test]
fn chaining_onto_null_lists_makes_them() {
    let result = chained(
        &json!({"interfaces": null, "ips": null, "routes": null}),
        SpecVersion::V1_0_0,
        None,
    );
    assert_eq!(result["interfaces"].as_array().unwrap().len(), 1);
    assert_eq!(result["ips"].as_array().unwrap().len(), 2);
}

#[test]
fn bad_shapes_are_named() {
    let cases = [
        (json!([]), "it is a list, not an object"),
        (
            json!({"interfaces": {}}),
            "interfaces is an object, not a list",
        ),
        (
            json!({"interfaces": [1]}),
            "interfaces[0] is a number, not an object",
        ),
        (
            json!({"interfaces": [{"mac": "x"}]}),
            "interfaces[0] has no name",
        ),
        (
            json!({"interfaces": [{"name": 5}]}),
            "interfaces[0].name is a number, not a string",
        ),
        (json!({"ips": [{}]}), "ips[0] has no address"),
        (
            json!({"ips": [{"address": "10.0.0.1"}]}),
            "ips[0].address \"10.0.0.1\" is not an address/length",
        ),
        (
            json!({"ips": [{"address": "10.0.0.1/8", "interface": -1}]}),
            "ips[0].interface is not an index",
        ),
        (json!({"routes": "x"}), "routes is a string, not a list"),
        (json!({"dns": []}), "dns is a list, not an object"),
    ];
    for (prev, expected) in cases {
        let error = PrevResult::parse(&prev).unwrap_err().to_string();
        assert!(error.starts_with(expected), "{prev}: {error}");
    }
}
