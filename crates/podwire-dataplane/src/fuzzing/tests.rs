mod seeds;

use etherparse::SlicedPacket;
use podwire_wire::ethernet::EthernetAddress;
use proptest::prelude::*;

use super::network::*;
use super::*;
use seeds::*;

/// A frame handed to a device, as a seed's expectation names it: the
/// interface, the EtherType and the destination MAC.
type Leaving = (IfIndex, u16, EthernetAddress);

/// The frames handed to the devices, as [`Leaving`].
fn summary(outcome: &Outcome) -> Vec<Leaving> {
    outcome
        .sent
        .iter()
        .map(|s| {
            let eth = SlicedPacket::from_ethernet(&s.frame).expect("an Ethernet frame");
            match eth.link.and_then(|link| link.to_header()) {
                Some(etherparse::LinkHeader::Ethernet2(h)) => {
                    (s.interface, h.ether_type.0, EthernetAddress(h.destination))
                }
                other => panic!("not Ethernet II: {other:?}"),
            }
        })
        .collect()
}

const IPV4: u16 = 0x0800;
const ARP: u16 = 0x0806;
const IPV6: u16 = 0x86dd;

/// What each seed sends, in order.
fn expected_sent(seed: &str) -> Vec<Leaving> {
    match seed {
        "arp-request" => vec![(UPLINK, ARP, GATEWAY_MAC)],
        "ping4" => vec![(POD_A, IPV4, POD_A_MAC), (UPLINK, IPV4, ROUTER_MAC)],
        "ping6" => vec![(POD_A, IPV6, POD_A_MAC), (UPLINK, IPV6, ROUTER_MAC)],
        "neighbor-solicit" => vec![(UPLINK, IPV6, GATEWAY_MAC), (UPLINK, IPV6, GATEWAY_MAC)],
        "glean4" => vec![
            (UPLINK, ARP, EthernetAddress::BROADCAST),
            (UPLINK, IPV4, GATEWAY_MAC),
            (UPLINK, IPV4, GATEWAY_MAC),
        ],
        "glean6" => vec![
            (
                UPLINK,
                IPV6,
                EthernetAddress([0x33, 0x33, 0xff, 0, 0, 0xfe]),
            ),
            (UPLINK, IPV6, GATEWAY_MAC),
            (UPLINK, IPV6, GATEWAY_MAC),
        ],
        "routes" => [(POD_A, IPV4, POD_A_MAC); 4]
            .into_iter()
            .chain([(POD_A, IPV6, POD_A_MAC); 2])
            .collect(),
        "bridged" => vec![
            (BRIDGE_PORT_2, IPV4, HOST_2_MAC),
            (BRIDGE_PORT_3, IPV4, HOST_2_MAC),
            (BRIDGE_PORT_1, IPV4, HOST_1_MAC),
        ],
        "xconnect" => vec![(XCONNECT_B, IPV4, HOST_2_MAC)],
        "exhausted" => {
            // Each flood copies to the second port, while buffers last,
            // and sends the original to the third.
            let flood = |port| (port, IPV4, EthernetAddress::BROADCAST);
            std::iter::repeat_n(flood(BRIDGE_PORT_2), exhausted_copies())
                .chain(std::iter::repeat_n(
                    flood(BRIDGE_PORT_3),
                    EXHAUSTED_BROADCASTS,
                ))
                .collect()
        }
        other => panic!("no expectation for seed {other}"),
    }
}

/// The buffers the frames waiting in the `exhausted` seed leave free.
fn exhausted_copies() -> usize {
    FUZZ_BUFFERS as usize - EXHAUSTED_BROADCASTS - EXHAUSTED_UNREACHABLE
}

/// What each seed drops, as `node/reason count`, in pipeline order.
fn expected_drops(seed: &str) -> Vec<String> {
    let drops: &[&str] = match seed {
        "arp-request" | "ping4" | "ping6" | "neighbor-solicit" | "bridged" | "xconnect" => &[],
        "glean4" => &["arp-input/consumed 1"],
        "glean6" => &["ip6-ndp/consumed 1"],
        "routes" => &[
            "ip4-lookup/blackhole 1",
            "ip4-icmp-error/ttl-expired 1",
            "ip4-icmp-error/host-unreachable 1",
            "ip4-icmp-error/port-unreachable 1",
            "ip4-icmp-error/too-big 1",
            "ip4-rewrite/fragmentation-unsupported 1",
            "ip6-lookup/blackhole 1",
            "ip6-icmp-error/host-unreachable 1",
            "ip6-icmp-error/too-big 1",
        ],
        "exhausted" => {
            let lost = EXHAUSTED_BROADCASTS - exhausted_copies();
            return vec![
                format!("l2-input/flood-copy-failed {lost}"),
                format!("ip4-icmp-error/buffer-exhausted {EXHAUSTED_UNREACHABLE}"),
            ];
        }
        other => panic!("no expectation for seed {other}"),
    };
    drops.iter().map(|d| d.to_string()).collect()
}

#[test]
fn each_seed_sends_and_drops_what_its_name_says() {
    for (name, data) in seeds() {
        let outcome = check_frames(&data).unwrap_or_else(|v| panic!("seed {name}: {v}"));
        assert_eq!(summary(&outcome), expected_sent(name), "seed {name}");
        let drops: Vec<String> = outcome
            .drops
            .iter()
            .map(|d| format!("{}/{} {}", d.node, d.reason.name, d.count))
            .collect();
        assert_eq!(drops, expected_drops(name), "seed {name}");
    }
}

#[test]
fn the_committed_seeds_are_the_generated_ones() {
    let dir = seed_dir();
    let rewrite = std::env::var_os("PODWIRE_WRITE_SEEDS").is_some_and(|v| v == "1");
    if rewrite {
        std::fs::create_dir_all(&dir).expect("the seed directory can be made");
    }
    for (name, data) in seeds() {
        let path = dir.join(name);
        if rewrite {
            std::fs::write(&path, &data).expect("the seed can be written");
            continue;
        }
        let committed = std::fs::read(&path).unwrap_or_default();
        assert!(
            committed == data,
            "{} differs from what its generator makes: rewrite the seeds with \
             PODWIRE_WRITE_SEEDS=1 cargo test -p podwire-dataplane the_committed_seeds",
            path.display()
        );
    }
}

#[test]
fn every_file_of_the_seed_corpus_keeps_the_invariants() {
    let entries = std::fs::read_dir(seed_dir()).expect("the seed corpus is there");
    let mut count = 0;
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        let data = std::fs::read(&path).expect("a seed is readable");
        if let Err(violation) = check_frames(&data) {
            panic!("{}: {violation}", path.display());
        }
        count += 1;
    }
    assert!(count >= seeds().len(), "only {count} seeds in the corpus");
}

#[test]
fn records_round_trip_and_a_short_tail_is_cut() {
    let frame = [7u8; 20];
    let record = Record {
        rx_if: XCONNECT_B,
        traced: true,
        step: Step::Long,
        then: Then::RunSendAndAge,
        fill: Fill {
            ip4_header: false,
            icmp: true,
        },
        frame: &frame,
    };
    let mut data = Vec::new();
    record.encode(&mut data);
    // Interface 9 wraps to 0; run; fill the IPv4 header checksum only.
    data.extend_from_slice(&[0x19, 0x02, 0x00, 0x09, 1, 2]);
    let (decoded, rest) = Record::decode(&data).expect("a whole record");
    assert_eq!(decoded, record);
    let (tail, rest) = Record::decode(rest).expect("a record head");
    assert_eq!(
        tail.frame,
        &[1, 2],
        "the last frame is cut to what is there"
    );
    let ip4_header_only = Fill {
        ip4_header: true,
        icmp: false,
    };
    assert_eq!(
        (tail.rx_if, tail.then, tail.step, tail.traced, tail.fill),
        (UPLINK, Then::Run, Step::None, false, ip4_header_only)
    );
    assert!(rest.is_empty());
    assert_eq!(Record::decode(&[0, 0, 0]), None, "no whole head");
}

#[test]
fn filled_checksums_get_a_changed_header_past_the_nodes() {
    let pod_a = (POD_A_MAC, switch_mac(POD_A));
    let mut ping4 = echo4(pod_a, POD_A_IP4, POD_GATEWAY4);
    ping4[14 + 8] = 9; // the TTL: the header checksum breaks
    ping4[14 + 20 + 4] ^= 0xff; // the echo identifier: the ICMP checksum breaks
    let mut ping6 = echo6(pod_a, POD_A_LL6, POD_GATEWAY6);
    ping6[14 + 40 + 4] ^= 0xff;
    let sent = |fill, frame: &[u8]| {
        let mut data = Vec::new();
        let (rx_if, step, then, traced) = (POD_A, Step::None, Then::RunAndSend, false);
        Record {
            rx_if,
            traced,
            step,
            then,
            fill,
            frame,
        }
        .encode(&mut data);
        check_frames(&data).expect("the invariants hold").sent.len()
    };
    let both = Fill {
        ip4_header: true,
        icmp: true,
    };
    let header_only = Fill {
        ip4_header: true,
        icmp: false,
    };
    assert_eq!(sent(Fill::default(), &ping4), 0, "bad header checksum");
    assert_eq!(sent(header_only, &ping4), 0, "bad ICMP checksum");
    assert_eq!(sent(both, &ping4), 1, "answered");
    assert_eq!(sent(Fill::default(), &ping6), 0, "bad ICMPv6 checksum");
    assert_eq!(sent(both, &ping6), 1, "answered");
}

#[test]
fn a_buffer_neither_free_nor_queued_is_a_violation() {
    let mut worker = Worker::new(network::tables()).expect("the graph wires");
    worker.check_buffers().expect("a fresh pool is whole");
    let _lost = worker.engine.pool.alloc().expect("a free buffer");
    assert_eq!(
        worker.check_buffers(),
        Err(Violation::Buffers {
            free: FUZZ_BUFFERS as usize - 1,
            queued: 0,
            held: 0,
            capacity: FUZZ_BUFFERS as usize
        })
    );
}

#[test]
fn routed_interfaces_may_send_only_their_own_frames() {
    let tables = tables();
    let to_pod = (switch_mac(POD_A), POD_A_MAC);
    let ok = udp4(to_pod, POD_GATEWAY4, POD_A_IP4);
    assert_eq!(check_sent(tables, POD_A, &ok), Ok(()));
    let problem = |interface, frame: &[u8]| match check_sent(tables, interface, frame) {
        Err(Violation::BadFrame { problem, .. }) => problem,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        problem(POD_B, &ok),
        "not from the interface's MAC",
        "pod-a's MAC on pod-b"
    );
    assert_eq!(problem(POD_A, &ok[..10]), "shorter than an Ethernet header");
    assert_eq!(problem(MISSING, &ok), "the interface does not exist");
    let mut vlan = ok.clone();
    vlan[12..14].copy_from_slice(&[0x81, 0x00]);
    assert_eq!(problem(POD_A, &vlan), "neither IPv4, IPv6 nor ARP");
    let mut jumbo = udp4((switch_mac(UPLINK), ROUTER_MAC), UPLINK_IP4, ROUTER_IP4);
    jumbo.resize(14 + usize::from(UPLINK_MTU) + 1, 0);
    assert_eq!(
        problem(UPLINK, &jumbo),
        "longer than the interface's MTU allows"
    );
    assert_eq!(
        check_sent(tables, BRIDGE_PORT_1, &jumbo),
        Ok(()),
        "bridge ports send frames as they came"
    );
}

/// Frames worth feeding, each with the interface it was made for: the
/// seeds' frames with a few bytes changed, cut short or not (the records'
/// [`Fill`] mends checksums, or not), or padded past a buffer; and noise.
fn arbitrary_frame() -> impl Strategy<Value = (IfIndex, Vec<u8>)> {
    let valid: Vec<(IfIndex, Vec<u8>)> = seeds()
        .iter()
        .flat_map(|(_, data)| {
            let mut frames = Vec::new();
            let mut rest = data.as_slice();
            while let Some((record, after)) = Record::decode(rest) {
                frames.push((record.rx_if, record.frame.to_vec()));
                rest = after;
            }
            frames
        })
        .collect();
    let mutated = (
        prop::sample::select(valid.clone()),
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        any::<prop::sample::Index>(),
        any::<bool>(),
    )
        .prop_map(|((rx_if, mut frame), changes, cut_at, cut)| {
            for (at, value) in changes {
                let i = at.index(frame.len());
                frame[i] = value;
            }
            if cut {
                frame.truncate(cut_at.index(frame.len() + 1));
            }
            (rx_if, frame)
        });
    // Longer than a buffer: the rest is chained.
    let jumbo = (prop::sample::select(valid), any::<u8>(), 2000..9000usize).prop_map(
        |((rx_if, mut frame), byte, len)| {
            frame.resize(len, byte);
            (rx_if, frame)
        },
    );
    let noise = (
        (0..u16::from(RX_INTERFACES)).prop_map(IfIndex),
        proptest::collection::vec(any::<u8>(), 0..200),
    );
    prop_oneof![5 => mutated, 2 => jumbo, 2 => noise]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever sequence of frames arrives, on whichever interface, at
    /// whatever pace, the invariants hold.
    #[test]
    fn any_frames_keep_the_invariants(
        records in proptest::collection::vec(
            (any::<u8>(), any::<u8>(), any::<bool>(), arbitrary_frame()),
            1..24,
        ),
    ) {
        let mut data = Vec::new();
        for (control, flags, elsewhere, (made_for, frame)) in &records {
            let head = [*control, *flags, 0, 0];
            let (record, _) = Record::decode(&head).expect("a whole head");
            let rx_if = if *elsewhere { record.rx_if } else { *made_for };
            Record { rx_if, frame, ..record }.encode(&mut data);
        }
        check_frames(&data).map_err(|v| TestCaseError::fail(v.to_string()))?;
    }
}
