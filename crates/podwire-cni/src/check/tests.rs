use serde_json::{Value, json};

use super::*;
use crate::test_support::{NETNS, cidr, memif, tap};

fn prev(value: Value) -> PrevResult {
    PrevResult::parse(&value).expect("prevResult parses")
}

/// The result podwire's ADD gave, after a chained plugin appended its own.
fn added() -> Value {
    json!({
        "cniVersion": "1.0.0",
        "interfaces": [
            {"name": "eth0", "mac": "02:FE:00:00:00:02", "sandbox": NETNS},
            {"name": "other", "sandbox": NETNS},
        ],
        "ips": [
            {"address": "fd00:251::2/128", "gateway": "fe80::1", "interface": 0},
            {"address": "10.251.0.2/32", "gateway": "169.254.1.1", "interface": 0},
            {"address": "192.168.9.9/24", "interface": 1},
        ],
    })
}

#[test]
fn the_added_result_checks_out_in_any_order_and_mac_case() {
    assert_eq!(
        verify(&prev(added()), "eth0", Path::new(NETNS), &tap()),
        Ok(())
    );
}

#[test]
fn a_missing_interface_is_named() {
    let error = verify(&prev(added()), "eth1", Path::new(NETNS), &tap()).unwrap_err();
    assert_eq!(
        error,
        CheckMismatch::NoInterface {
            ifname: "eth1".into(),
            sandbox: NETNS.into()
        }
    );
    // The same name in another namespace is another interface.
    assert!(matches!(
        verify(&prev(added()), "eth0", Path::new("/run/netns/x"), &tap()),
        Err(CheckMismatch::NoInterface { .. })
    ));
}

#[test]
fn different_addresses_are_named() {
    let mut moved = tap();
    moved.addresses[0] = cidr("10.251.0.3/32");
    let error = verify(&prev(added()), "eth0", Path::new(NETNS), &moved).unwrap_err();
    assert!(matches!(error, CheckMismatch::Addresses { .. }));
    let message = error.to_string();
    assert!(
        message.contains("[fd00:251::2/128, 10.251.0.2/32], but the attachment has [10.251.0.3/32, fd00:251::2/128]"),
        "{message}"
    );

    let mut fewer = tap();
    fewer.addresses.pop();
    assert!(matches!(
        verify(&prev(added()), "eth0", Path::new(NETNS), &fewer),
        Err(CheckMismatch::Addresses { .. })
    ));
}

#[test]
fn a_different_mac_is_named() {
    let mut remade = tap();
    remade.mac = Some("02:fe:00:00:00:99".into());
    let error = verify(&prev(added()), "eth0", Path::new(NETNS), &remade).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the ADD result (prevResult) gives eth0 the MAC 02:FE:00:00:00:02, but it has 02:fe:00:00:00:99 now"
    );
}

#[test]
fn a_memif_without_addresses_checks_out() {
    let prev = prev(json!({"interfaces": [{"name": "net1", "sandbox": NETNS}]}));
    assert_eq!(verify(&prev, "net1", Path::new(NETNS), &memif()), Ok(()));
}

#[test]
fn mismatches_are_code_101() {
    let error: CniError = CheckMismatch::NoInterface {
        ifname: "eth0".into(),
        sandbox: NETNS.into(),
    }
    .into();
    assert_eq!(error.code.number(), 101);
}
