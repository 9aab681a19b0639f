use core::net::{Ipv4Addr, Ipv6Addr};

use podwire_wire::ethernet::EthernetAddress;

use super::*;
use crate::interface::InterfaceConfig;
use crate::tables::TablesBuilder;

const UPLINK: IfIndex = IfIndex(0);
const MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 0x22]);

fn v4(last: u8) -> NextHop {
    (UPLINK, IpAddr::V4(Ipv4Addr::new(192, 168, 1, last)))
}

fn v6(last: u16) -> NextHop {
    (
        UPLINK,
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, last)),
    )
}

fn at(millis: u64) -> Instant {
    Instant::from_nanos(millis * 1_000_000)
}

/// Tables of one interface, the uplink, at `generation`.
fn tables(generation: u64) -> Tables {
    let mut b = TablesBuilder::new();
    let uplink = InterfaceConfig::l3("up0", EthernetAddress([2, 0, 0, 0, 0, 1]));
    assert_eq!(b.add_interface(uplink).unwrap(), UPLINK);
    b.build(generation)
}

/// A packet of `len` bytes.
fn packet(pool: &mut BufferPool, len: usize) -> BufferIndex {
    pool.alloc_from(&vec![0x45; len]).unwrap()
}

#[test]
fn a_next_hop_holds_three_packets_in_the_order_they_came() {
    let mut pool = BufferPool::new(64);
    let mut pending = PendingTable::default();
    let packets: Vec<BufferIndex> = (0..4).map(|_| packet(&mut pool, 100)).collect();
    for (n, &bi) in packets[..3].iter().enumerate() {
        assert_eq!(pending.hold(v4(1), bi, &pool, at(0)), Ok(n + 1));
    }
    assert_eq!(
        pending.hold(v4(1), packets[3], &pool, at(0)),
        Err(HoldError::NextHopFull)
    );
    assert!(pending.is_waiting(v4(1)));
    assert!(!pending.is_waiting(v4(2)));
    assert_eq!(pending.len(), 3);
    assert_eq!(pending.hand_back(v4(1)), packets[..3]);
    assert!(!pending.is_waiting(v4(1)));
}

#[test]
fn a_next_hop_holds_at_most_64_kib() {
    let mut pool = BufferPool::new(512);
    let mut pending = PendingTable::default();
    let large = packet(&mut pool, HOLD_BYTES - 100);
    let small = packet(&mut pool, 200);
    let too_large = packet(&mut pool, HOLD_BYTES + 1);
    assert_eq!(
        pending.hold(v4(1), too_large, &pool, at(0)),
        Err(HoldError::NextHopFull)
    );
    assert!(!pending.is_waiting(v4(1)), "no wait starts for nothing");
    assert_eq!(pending.hold(v4(1), large, &pool, at(0)), Ok(1));
    assert_eq!(
        pending.hold(v4(1), small, &pool, at(0)),
        Err(HoldError::NextHopFull)
    );
    assert_eq!(pending.hold(v4(2), small, &pool, at(0)), Ok(1));
}

#[test]
fn held_packets_take_at_most_an_eighth_of_the_buffers() {
    let mut pool = BufferPool::new(64);
    let mut pending = PendingTable::default();
    let share = pool.capacity() / HOLD_POOL_SHARE;
    // A chained packet of three buffers, then single buffers to the share.
    let chained = packet(&mut pool, 3 * crate::buffer::BUFFER_DATA_SIZE);
    assert_eq!(pending.hold(v4(0), chained, &pool, at(0)), Ok(1));
    for i in 1..=(share - 3) as u8 {
        let bi = packet(&mut pool, 60);
        assert_eq!(pending.hold(v4(i), bi, &pool, at(0)), Ok(1));
    }
    let one_more = packet(&mut pool, 60);
    assert_eq!(
        pending.hold(v4(100), one_more, &pool, at(0)),
        Err(HoldError::TableFull)
    );
    // Handing packets back frees their share.
    pending.hand_back(v4(0));
    assert_eq!(pending.hold(v4(100), one_more, &pool, at(0)), Ok(1));
}

#[test]
fn at_most_256_next_hops_wait() {
    let mut pool = BufferPool::new(4096);
    let mut pending = PendingTable::default();
    for i in 0..HOLD_NEIGHBORS as u16 {
        let bi = packet(&mut pool, 60);
        assert_eq!(pending.hold(v6(i), bi, &pool, at(0)), Ok(1));
    }
    let bi = packet(&mut pool, 60);
    assert_eq!(
        pending.hold(v6(999), bi, &pool, at(0)),
        Err(HoldError::TableFull)
    );
    assert_eq!(
        pending.hold(v6(0), bi, &pool, at(0)),
        Ok(2),
        "one already waiting may"
    );
}

#[test]
fn a_wait_expires_a_second_after_its_first_packet() {
    let mut pool = BufferPool::new(64);
    let mut pending = PendingTable::default();
    let (first, second) = (packet(&mut pool, 60), packet(&mut pool, 60));
    pending.hold(v4(1), first, &pool, at(0)).unwrap();
    pending.hold(v4(1), second, &pool, at(900)).unwrap();
    assert!(pending.take_expired(v4(1), at(999)).is_empty());
    assert_eq!(pending.take_expired(v4(1), at(1000)), [first, second]);
    assert!(pending.is_empty());
}

#[test]
fn handed_back_packets_are_told_apart_by_family() {
    let mut pool = BufferPool::new(64);
    let mut pending = PendingTable::default();
    let (a, b, c) = (
        packet(&mut pool, 60),
        packet(&mut pool, 60),
        packet(&mut pool, 60),
    );
    pending.hold(v4(1), a, &pool, at(0)).unwrap();
    pending.hold(v4(1), b, &pool, at(0)).unwrap();
    pending.hold(v6(1), c, &pool, at(0)).unwrap();
    pending.hand_back(v4(1));
    pending.hand_back(v6(1));
    assert_eq!(pending.len(), 3, "handed back, not yet taken back");
    assert_eq!(pending.iter().count(), 3);
    assert_eq!(pending.take_handed_back(Family::V6, a), None);
    assert_eq!(pending.take_handed_back(Family::V4, c), None);
    assert_eq!(pending.take_handed_back(Family::V4, b), Some(v4(1)));
    assert_eq!(pending.take_handed_back(Family::V4, a), Some(v4(1)));
    assert_eq!(pending.take_handed_back(Family::V4, a), None, "taken once");
    assert_eq!(pending.take_handed_back(Family::V6, c), Some(v6(1)));
    assert!(pending.is_empty());
}

#[test]
fn a_next_hop_is_due_when_learned_gone_or_late() {
    let mut pool = BufferPool::new(64);
    let mut pending = PendingTable::default();
    let mut neighbors = NeighborTable::default();
    let tables = tables(1);
    for (i, next_hop) in [v4(1), v4(2), v6(3)].into_iter().enumerate() {
        let bi = packet(&mut pool, 60);
        let now = at(100 * i as u64);
        pending.hold(next_hop, bi, &pool, now).unwrap();
    }
    let gone = (IfIndex(7), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
    let bi = packet(&mut pool, 60);
    pending.hold(gone, bi, &pool, at(300)).unwrap();

    let mut due = pending.due(&neighbors, &tables, at(10));
    assert_eq!(due, [gone], "its interface does not exist");
    pending.hand_back(gone);
    assert!(pending.due(&neighbors, &tables, at(20)).is_empty());

    neighbors.learn(v4(2).0, v4(2).1, MAC, at(30));
    assert_eq!(pending.due(&neighbors, &tables, at(30)), [v4(2)], "learned");
    pending.hand_back(v4(2));

    assert!(pending.due(&neighbors, &tables, at(999)).is_empty());
    assert_eq!(pending.due(&neighbors, &tables, at(1000)), [v4(1)], "late");
    pending.hand_back(v4(1));
    assert!(pending.due(&neighbors, &tables, at(1100)).is_empty());
    due = pending.due(&neighbors, &tables, at(1200));
    assert_eq!(due, [v6(3)]);
}

#[test]
fn new_tables_are_looked_at_even_before_a_deadline() {
    let mut pool = BufferPool::new(64);
    let mut pending = PendingTable::default();
    let neighbors = NeighborTable::default();
    let bi = packet(&mut pool, 60);
    pending.hold(v4(1), bi, &pool, at(0)).unwrap();
    assert!(pending.due(&neighbors, &tables(1), at(10)).is_empty());
    // The control plane now knows the next hop's MAC.
    let mut b = TablesBuilder::new();
    b.add_interface(InterfaceConfig::l3(
        "up0",
        EthernetAddress([2, 0, 0, 0, 0, 1]),
    ))
    .unwrap();
    b.add_neighbor(UPLINK, v4(1).1, MAC);
    assert_eq!(pending.due(&neighbors, &b.build(2), at(20)), [v4(1)]);
}
