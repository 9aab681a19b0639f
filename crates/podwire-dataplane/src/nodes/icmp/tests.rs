//! The error nodes when they cannot send: no address, no buffer, no
//! error code. (Echo and the errors themselves are tested with the
//! forwarding they belong to, in `ip4::tests` and `ip6::tests`.)

use core::net::Ipv4Addr;

use crate::interface::InterfaceConfig;
use crate::nodes::ip_common::harness::frames::{from_pod, udp4, udp6};
use crate::nodes::ip_common::harness::*;
use crate::tables::{Adjacency, TablesBuilder};

#[test]
fn without_an_ipv4_address_no_error_is_sent() {
    let mut b = TablesBuilder::new();
    let mut pod = InterfaceConfig::l3("pod-a", POD_IF_MAC);
    pod.ip6.push((GATEWAY6, 64));
    b.add_interface(pod).unwrap();
    b.add_route4(POD_IP4, 32, Adjacency::Attached { interface: POD_IF })
        .unwrap();
    let mut h = Harness::with_tables(b.build(1));
    h.receive(
        POD_IF,
        &udp4(from_pod(), POD_IP4, Ipv4Addr::new(10, 9, 0, 1), 64, 8),
    );
    h.run();
    assert_eq!(h.drops("ip4-icmp-error", "no-source-address"), 1);
    assert_eq!(h.queued(), 0);
    assert_eq!(h.pool.available(), HARNESS_BUFFERS as usize);
}

#[test]
fn an_exhausted_pool_drops_the_packet_without_an_error_and_without_a_leak() {
    for frame in [
        udp4(from_pod(), POD_IP4, Ipv4Addr::new(10, 9, 0, 1), 1, 8),
        udp6(from_pod(), POD_IP6, "fd20::1".parse().unwrap(), 1, 8),
    ] {
        let mut h = Harness::new();
        let held: Vec<_> = (1..HARNESS_BUFFERS)
            .map(|_| h.pool.alloc().unwrap())
            .collect();
        h.receive(POD_IF, &frame);
        h.run();
        assert_eq!(h.drops_named("buffer-exhausted"), 1);
        assert_eq!(h.queued(), 0);
        for bi in held {
            h.pool.free(bi);
        }
        assert_eq!(h.pool.available(), HARNESS_BUFFERS as usize);
    }
}

#[test]
fn a_packet_without_an_error_code_is_a_bug_counted() {
    for node in ["ip4-icmp-error", "ip6-icmp-error"] {
        let mut h = Harness::new();
        let bi = h.pool.alloc_from(&[0x45; 40]).unwrap();
        h.pool.meta_mut(bi).next_index = 0xdead_beef;
        let index = h.graph.node(node).unwrap();
        h.graph.enqueue(index, &[bi]);
        h.run();
        assert_eq!(h.drops(node, "bad-request"), 1);
        assert_eq!(h.pool.available(), HARNESS_BUFFERS as usize);
    }
}
