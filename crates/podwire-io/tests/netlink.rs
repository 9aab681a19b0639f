//! Netlink operations, checked against what `ip` reports (root; each test in its own
//! namespaces).

mod common;

use std::net::IpAddr;

use common::{TestNs, ip, root_or_skip};
use podwire_io::netlink::{Error, Netlink, Route};
use podwire_io::sysctl;

fn addr(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// The flags of interface `dev` as `ip -o link` prints them: `<BROADCAST,MULTICAST,UP,...>`.
fn link_flags(ns: &TestNs, dev: &str) -> Vec<String> {
    let line = ip(&["-n", &ns.name, "-o", "link", "show", "dev", dev]);
    let flags = line
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(flags, _)| flags)
        .unwrap_or_else(|| panic!("no flags in {line:?}"));
    flags.split(',').map(str::to_owned).collect()
}

#[tokio::test]
async fn links_round_trip() {
    if !root_or_skip() {
        return;
    }
    let test = TestNs::new();
    let nl = Netlink::connect_in(&test.ns).unwrap();
    assert!(
        nl.link_index("lo").await.unwrap().is_some(),
        "a fresh namespace has lo"
    );
    assert_eq!(nl.link_index("pa").await.unwrap(), None);

    nl.create_veth("pa", "pb").await.unwrap();
    let index = nl.link_index("pa").await.unwrap().expect("pa exists");
    assert!(nl.link_index("pb").await.unwrap().is_some());
    let err = nl.create_veth("pa", "pz").await.unwrap_err();
    assert_eq!(err.errno(), Some(libc::EEXIST), "{err}");
    assert!(err.to_string().contains("pa / pz"), "{err}");

    nl.set_mtu("pa", 1400).await.unwrap();
    assert_eq!(nl.mtu("pa").await.unwrap(), 1400);
    assert!(ip(&["-n", &test.name, "link", "show", "pa"]).contains("mtu 1400"));

    let mac = [0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc];
    nl.set_mac("pa", mac).await.unwrap();
    assert_eq!(nl.mac("pa").await.unwrap(), mac);
    assert!(ip(&["-n", &test.name, "link", "show", "pa"]).contains("02:00:00:aa:bb:cc"));

    nl.rename("pa", "pc").await.unwrap();
    assert_eq!(nl.link_index("pa").await.unwrap(), None);
    assert_eq!(nl.link_index("pc").await.unwrap(), Some(index));

    nl.set_up("pc").await.unwrap();
    assert!(link_flags(&test, "pc").contains(&"UP".to_owned()));
    nl.set_down("pc").await.unwrap();
    assert!(!link_flags(&test, "pc").contains(&"UP".to_owned()));

    nl.delete_link("pc").await.unwrap();
    assert_eq!(nl.link_index("pc").await.unwrap(), None);
    assert_eq!(
        nl.link_index("pb").await.unwrap(),
        None,
        "the peer goes too"
    );
    nl.delete_link("pc")
        .await
        .expect("deleting what is gone is fine");
}

#[tokio::test]
async fn errors_name_the_missing_interface() {
    if !root_or_skip() {
        return;
    }
    let test = TestNs::new();
    let nl = Netlink::connect_in(&test.ns).unwrap();
    let err = nl.set_mtu("nothere0", 1500).await.unwrap_err();
    assert!(matches!(&err, Error::NoSuchLink { name } if name == "nothere0"));
    assert!(err.to_string().contains("nothere0"));
    let err = nl
        .add_address("nothere1", addr("10.0.0.1"), 24)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("nothere1"));
    let err = nl.set_up("bad/name").await.unwrap_err();
    assert!(matches!(err, Error::InvalidName(_)));
}

#[tokio::test]
async fn links_move_between_namespaces() {
    if !root_or_skip() {
        return;
    }
    let (a, b) = (TestNs::new(), TestNs::new());
    let (nl_a, nl_b) = (
        Netlink::connect_in(&a.ns).unwrap(),
        Netlink::connect_in(&b.ns).unwrap(),
    );
    nl_a.create_veth("ma", "mb").await.unwrap();
    nl_a.move_to_netns("mb", &b.ns).await.unwrap();
    assert_eq!(nl_a.link_index("mb").await.unwrap(), None);
    assert!(nl_b.link_index("mb").await.unwrap().is_some());
    assert!(ip(&["-n", &b.name, "link", "show", "mb"]).contains("mb@"));
}

#[tokio::test]
async fn addresses_routes_and_neighbors_round_trip() {
    if !root_or_skip() {
        return;
    }
    let test = TestNs::new();
    let nl = Netlink::connect_in(&test.ns).unwrap();
    nl.create_veth("ra", "rb").await.unwrap();
    // Turned off before the address is added, so the address is never tentative.
    sysctl::disable_ipv6_dad(&test.ns, "ra").unwrap();
    nl.set_up("ra").await.unwrap();
    nl.set_up("rb").await.unwrap();

    nl.add_address("ra", addr("10.66.0.1"), 24).await.unwrap();
    nl.add_address("ra", addr("fd00:66::1"), 64).await.unwrap();
    nl.add_address("ra", addr("10.66.0.1"), 24)
        .await
        .expect("adding again is not an error");
    let v4 = ip(&["-n", &test.name, "-j", "addr", "show", "dev", "ra"]);
    assert!(v4.contains(r#""local":"10.66.0.1","prefixlen":24"#), "{v4}");
    assert!(
        v4.contains(r#""local":"fd00:66::1","prefixlen":64"#),
        "{v4}"
    );
    let v6 = ip(&["-n", &test.name, "-6", "addr", "show", "dev", "ra"]);
    assert!(v6.contains("fd00:66::1/64"), "{v6}");
    assert!(
        !v6.contains("tentative"),
        "DAD is off, so usable at once: {v6}"
    );

    let routes = [
        Route {
            gateway: Some(addr("10.66.0.254")),
            dev: Some("ra"),
            ..Route::new(addr("10.67.0.0"), 16)
        },
        Route {
            dev: Some("ra"),
            src: Some(addr("10.66.0.1")),
            ..Route::new(addr("10.68.0.0"), 16)
        },
        Route {
            gateway: Some(addr("169.254.1.1")),
            dev: Some("ra"),
            onlink: true,
            ..Route::new(addr("0.0.0.0"), 0)
        },
        Route {
            gateway: Some(addr("fd00:66::fe")),
            dev: Some("ra"),
            ..Route::new(addr("fd00:67::"), 64)
        },
        Route {
            gateway: Some(addr("fe80::1")),
            dev: Some("ra"),
            ..Route::new(addr("::"), 0)
        },
    ];
    for route in &routes {
        nl.add_route(route).await.unwrap();
    }
    nl.add_route(&routes[0]).await.expect("re-adding replaces");
    let v4 = ip(&["-n", &test.name, "route"]);
    for expected in [
        "10.67.0.0/16 via 10.66.0.254 dev ra proto static",
        "10.68.0.0/16 dev ra proto static scope link src 10.66.0.1",
        "default via 169.254.1.1 dev ra proto static onlink",
    ] {
        assert!(v4.contains(expected), "{expected:?} not in\n{v4}");
    }
    let v6 = ip(&["-n", &test.name, "-6", "route"]);
    for expected in [
        "fd00:67::/64 via fd00:66::fe dev ra proto static",
        "default via fe80::1 dev ra proto static",
    ] {
        assert!(v6.contains(expected), "{expected:?} not in\n{v6}");
    }

    let host_bits = Route {
        dev: Some("ra"),
        ..Route::new(addr("10.69.0.1"), 16)
    };
    let err = nl.add_route(&host_bits).await.unwrap_err();
    assert!(matches!(err, Error::InvalidRoute { .. }), "{err}");
    let nowhere = Route::new(addr("10.70.0.0"), 16);
    assert!(matches!(
        nl.add_route(&nowhere).await,
        Err(Error::InvalidRoute { .. })
    ));

    nl.add_neighbor("ra", addr("10.66.0.9"), [2, 0, 0, 0, 0, 9])
        .await
        .unwrap();
    nl.add_neighbor("ra", addr("fd00:66::9"), [2, 0, 0, 0, 0, 0x99])
        .await
        .unwrap();
    let neighbors = ip(&["-n", &test.name, "neigh", "show", "dev", "ra"]);
    assert!(
        neighbors.contains("10.66.0.9 lladdr 02:00:00:00:00:09 PERMANENT"),
        "{neighbors}"
    );
    assert!(
        neighbors.contains("fd00:66::9 lladdr 02:00:00:00:00:99 PERMANENT"),
        "{neighbors}"
    );
}
