//! The map against a binary search over all the segments, at and around every segment's
//! first port, for few and many segments.

use proptest::prelude::*;

use super::*;

/// The table of `port` straight from the segments: that of the last one starting at or
/// before it.
fn model(segments: &[(u16, u32)], port: u16) -> u32 {
    let after = segments.partition_point(|&(start, _)| start <= port);
    segments[after - 1].1
}

/// Segments starting at 0 and at each of `starts`, each with a table of its own.
fn segments(mut starts: Vec<u16>) -> Vec<(u16, u32)> {
    starts.push(0);
    starts.sort_unstable();
    starts.dedup();
    (100u32..)
        .zip(starts)
        .map(|(table, start)| (start, table))
        .collect()
}

/// Checks the map at every first port, the ports next to it, and both ends.
fn check(segments: &[(u16, u32)]) {
    let map = PortMap::new(segments.to_vec());
    let mut ports = vec![0, u16::MAX];
    for &(start, _) in segments {
        ports.extend([start.saturating_sub(1), start, start.saturating_add(1)]);
    }
    for port in ports {
        assert_eq!(map.get(port), Some(model(segments, port)), "port {port}");
    }
}

#[test]
fn one_segment_holds_every_port() {
    let map = PortMap::new(vec![(0, 7)]);
    assert_eq!(map.blocks.len(), 2, "one block");
    assert_eq!(map.get(0), Some(7));
    assert_eq!(map.get(u16::MAX), Some(7));
}

#[test]
fn a_segment_per_port_has_a_block_per_four() {
    let every: Vec<u16> = (1..=u16::MAX).collect();
    let all = segments(every);
    check(&all);
    assert_eq!(PortMap::new(all).blocks.len(), (1 << 14) + 1);
}

#[test]
fn a_segment_starting_at_the_last_port_holds_it_alone() {
    check(&segments(vec![u16::MAX]));
    check(&segments(vec![80, 81, u16::MAX - 1, u16::MAX]));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn ports_answer_as_the_segments(
        starts in proptest::collection::vec(
            prop_oneof![any::<u16>(), 8000u16..8100, Just(u16::MAX)], 0..3000),
    ) {
        check(&segments(starts));
    }
}
