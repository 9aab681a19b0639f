//! L2 interfaces: bridge domain ports and cross-connects, for every kind.

use super::*;

fn forwarding(config: &Config, name: &str) -> Forwarding {
    let interface = config.interfaces.iter().find(|i| i.name == name);
    interface.expect(name).forwarding.clone()
}

#[test]
fn bridge_domains_and_cross_connects_are_parsed_and_pairs_made_symmetric() {
    let text = format!(
        r#"{MINIMAL}
[[bridge_domain]]
name = "l2net"

[[bridge_domain]]
name = "quiet"
learn = false
flood = false
mac_age_s = 60

[[interface]]
name = "tap0"
kind = "tap"
bridge_domain = "l2net"

[[interface]]
name = "m0"
kind = "memif"
bridge_domain = "l2net"

[[interface]]
name = "m1"
kind = "memif"
xconnect = "m2"

[[interface]]
name = "m2"
kind = "memif"

[[interface]]
name = "m3"
kind = "memif"
xconnect = "up0"

[[interface]]
name = "up0"
kind = "af-packet"
host_interface = "veth9"
xconnect = "m3"
"#
    );
    let config = Config::parse(&text).unwrap();
    assert_eq!(
        config.bridge_domains,
        vec![
            BridgeDomainConfig {
                name: "l2net".into(),
                learn: true,
                flood: true,
                mac_age: std::time::Duration::from_secs(300),
            },
            BridgeDomainConfig {
                name: "quiet".into(),
                learn: false,
                flood: false,
                mac_age: std::time::Duration::from_secs(60),
            },
        ]
    );
    for port in ["tap0", "m0"] {
        assert_eq!(
            forwarding(&config, port),
            Forwarding::Bridged("l2net".into())
        );
    }
    assert_eq!(
        forwarding(&config, "m1"),
        Forwarding::CrossConnect("m2".into())
    );
    assert_eq!(
        forwarding(&config, "m2"),
        Forwarding::CrossConnect("m1".into()),
        "named on one end, paired both ways"
    );
    assert_eq!(
        forwarding(&config, "m3"),
        Forwarding::CrossConnect("up0".into())
    );
    assert_eq!(
        forwarding(&config, "up0"),
        Forwarding::CrossConnect("m3".into())
    );
}

#[test]
fn every_l2_problem_is_named() {
    let text = format!(
        r#"{MINIMAL}
[[bridge_domain]]
name = "bd"

[[bridge_domain]]
name = "bd"
mac_age_s = 0

[[bridge_domain]]
name = "bad name"

[[interface]]
name = "a"
kind = "memif"
bridge_domain = "bd"
xconnect = "b"

[[interface]]
name = "b"
kind = "memif"
bridge_domain = "nope"

[[interface]]
name = "c"
kind = "tap"
bridge_domain = "bd"
addresses = ["10.0.0.1/24"]

[[interface]]
name = "d"
kind = "memif"
xconnect = "d"

[[interface]]
name = "e"
kind = "memif"
xconnect = "zz"

[[interface]]
name = "f"
kind = "memif"
xconnect = "g"

[[interface]]
name = "g"
kind = "tap"
addresses = ["10.0.9.1/24"]

[[interface]]
name = "h"
kind = "memif"
xconnect = "b"

[[interface]]
name = "i"
kind = "memif"
xconnect = "j"

[[interface]]
name = "j"
kind = "memif"

[[interface]]
name = "k"
kind = "memif"
xconnect = "j"

[[interface]]
name = "l"
kind = "memif"
xconnect = "i"

[[route]]
prefix = "10.7.0.0/16"
interface = "j"
"#
    );
    assert_eq!(
        problems(&text),
        vec![
            "interface[0].xconnect: an interface is a port of a bridge domain or cross-connected, not both; remove bridge_domain or xconnect",
            r#"interface[1].bridge_domain: there is no [[bridge_domain]] named "nope"; name one of bd, bd, bad name"#,
            "interface[2].addresses: an L2 interface (bridge_domain) has no addresses of its own; remove them, or remove bridge_domain to route on it",
            "interface[3].xconnect: an interface cannot be cross-connected with itself; name another one",
            r#"interface[4].xconnect: there is no interface named "zz"; name one of a, b, c, d, f, g, h, i, j, k, l"#,
            r#"interface[5].xconnect: interface "g" has addresses; both ends of a cross-connect forward by MAC: remove its addresses"#,
            r#"interface[7].xconnect: interface "b" is a port of bridge domain "nope"; a cross-connected interface has no other port: remove its bridge_domain"#,
            r#"interface[10].xconnect: interface "j" is already cross-connected with "i" by interface[8].xconnect; an interface has one partner"#,
            r#"interface[11].xconnect: interface "i" is already cross-connected with "j" by interface[8].xconnect; an interface has one partner"#,
            r#"bridge_domain[1].name: "bd" is already the name of bridge_domain[0].name; bridge domain names must be unique"#,
            "bridge_domain[1].mac_age_s: 0 would forget every MAC address at once; give at least 1 (seconds, default 300)",
            r#"bridge_domain[2].name: "bad name" contains ' '; a bridge domain name uses only letters, digits, '_', '.' and '-'"#,
            r#"route[0].interface: interface "j" forwards by MAC (interface "i" cross-connects it); a route leaves through a routed interface, one with addresses"#,
        ]
    );
}

#[test]
fn an_interface_without_bridge_domains_says_how_to_add_one() {
    let text =
        format!("{MINIMAL}[[interface]]\nname = \"t\"\nkind = \"tap\"\nbridge_domain = \"x\"\n");
    assert_eq!(
        problems(&text),
        vec![
            r#"interface[0].bridge_domain: there is no [[bridge_domain]] named "x"; add a [[bridge_domain]] section with name = "x""#
        ]
    );
}
