//! Properties of the parsers a user feeds: they never panic, and what they print they read back.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use podwire_model::Cidr;
use podwire_model::config::Config;
use proptest::prelude::*;

fn any_cidr() -> impl Strategy<Value = Cidr> {
    prop_oneof![
        (any::<u32>(), 0u8..=32).prop_map(|(a, len)| Cidr::new(IpAddr::V4(Ipv4Addr::from(a)), len)),
        (any::<u128>(), 0u8..=128)
            .prop_map(|(a, len)| Cidr::new(IpAddr::V6(Ipv6Addr::from(a)), len)),
    ]
    .prop_map(|cidr| cidr.expect("lengths are in range"))
}

proptest! {
    #[test]
    fn cidr_reads_back_what_it_prints(cidr in any_cidr()) {
        prop_assert_eq!(cidr.to_string().parse::<Cidr>(), Ok(cidr));
    }

    #[test]
    fn network_is_canonical_and_contains_the_address(cidr in any_cidr()) {
        let network = cidr.network();
        prop_assert!(network.is_canonical());
        prop_assert!(network.contains(cidr.addr()));
        prop_assert_eq!(network.prefix_len(), cidr.prefix_len());
    }

    #[test]
    fn cidr_parse_never_panics(text in "[0-9a-f:./]{0,48}") {
        let _ = text.parse::<Cidr>();
    }

    #[test]
    fn config_parse_never_panics_on_plausible_values(
        name in "[a-zA-Z0-9._/-]{0,20}",
        address in "[0-9a-f:./]{0,24}",
        prefix in "[0-9a-f:./]{0,24}",
        mtu in any::<u32>(),
    ) {
        let text = format!(
            "[node]\nname = {name:?}\n[[interface]]\nname = {name:?}\nkind = \"tap\"\n\
             addresses = [{address:?}]\nmtu = {mtu}\n[[route]]\nprefix = {prefix:?}\n\
             via = {address:?}\ninterface = {name:?}\n[[pod]]\nname = {name:?}\n\
             netns = {name:?}\naddresses = [{address:?}]\n"
        );
        let _ = Config::parse(&text);
    }
}
