use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;

/// The counters after these sequence numbers of flow 0 arrive.
fn after(seqs: &[u64]) -> CheckCounters {
    let mut checker = StreamChecker::new(Mode::Ethernet);
    for &seq in seqs {
        checker.record(Stamp { flow: 0, seq });
    }
    *checker.counters()
}

#[test]
fn an_orderly_stream_is_all_valid() {
    let c = after(&[0, 1, 2, 3]);
    assert_eq!(
        (c.valid, c.lost, c.duplicates, c.reordered, c.flows),
        (4, 0, 0, 0, 1)
    );
}

#[test]
fn gaps_count_as_lost_until_the_frames_arrive_late() {
    let c = after(&[0, 3, 4]);
    assert_eq!((c.lost, c.reordered), (2, 0));
    let c = after(&[0, 3, 4, 2]);
    assert_eq!((c.lost, c.reordered), (1, 1));
    let c = after(&[0, 3, 4, 2, 1]);
    assert_eq!((c.lost, c.reordered, c.duplicates), (0, 2, 0));
}

#[test]
fn frames_missing_from_the_start_are_lost() {
    assert_eq!(after(&[5]).lost, 5);
}

#[test]
fn repeats_are_duplicates_in_or_out_of_order() {
    let c = after(&[0, 1, 1, 0, 3, 2, 2]);
    assert_eq!((c.duplicates, c.reordered, c.lost), (3, 1, 0));
}

#[test]
fn frames_older_than_the_window_are_stale() {
    // After WINDOW + 5 the window is 6 ..= WINDOW + 5: 4 is outside, 6 inside.
    let c = after(&[0, WINDOW + 5, 4, 6]);
    assert_eq!((c.stale, c.reordered), (1, 1));
    assert_eq!(c.lost, WINDOW + 4 - 1);
}

#[test]
fn a_jump_beyond_the_window_forgets_what_it_skipped() {
    // 1 arrived before the jump; after it, 1 is stale and 2 * WINDOW - 1 late.
    let c = after(&[0, 1, 3 * WINDOW, 3 * WINDOW - 1, 1]);
    assert_eq!((c.reordered, c.stale, c.duplicates), (1, 1, 0));
}

#[test]
fn flows_are_checked_apart() {
    let mut checker = StreamChecker::new(Mode::Ethernet);
    for (flow, seq) in [(0, 0), (1, 0), (0, 1), (1, 1), (2, 1)] {
        checker.record(Stamp { flow, seq });
    }
    let c = checker.counters();
    assert_eq!((c.flows, c.lost, c.duplicates), (3, 1, 0));
}

#[test]
fn hostile_numbers_neither_panic_nor_allocate_without_bound() {
    let mut checker = StreamChecker::new(Mode::Ethernet);
    for (flow, seq) in [
        (u32::MAX, 0),
        (0, u64::MAX),
        (0, u64::MAX),
        (0, 0),
        (1, u64::MAX - 1),
    ] {
        checker.record(Stamp { flow, seq });
    }
    let c = checker.counters();
    assert_eq!(c.untracked, 1);
    assert_eq!(c.flows, 2);
    assert!(checker.flows.len() <= 2);
    assert_eq!(c.stale, 1);
}

#[test]
fn frames_are_checked_end_to_end() {
    use super::super::stream::{StreamSpec, Template};
    use podwire_wire::{EthernetAddress, Ipv4Addr};
    let template = Template::new(&StreamSpec {
        mode: Mode::Ethernet,
        src_mac: EthernetAddress([2, 0, 0, 0, 0, 1]),
        dst_mac: EthernetAddress([2, 0, 0, 0, 0, 2]),
        src_ip: Ipv4Addr::new(10, 0, 0, 1),
        dst_ip: Ipv4Addr::new(10, 0, 0, 2),
        src_port: 1000,
        dst_port: 9,
        size: 64,
    })
    .unwrap();
    let mut checker = StreamChecker::new(Mode::Ethernet);
    let mut buf = [0; 64];
    for seq in [0, 2, 1] {
        template.write(Stamp { flow: 0, seq }, &mut buf).unwrap();
        checker.inspect(&buf);
    }
    buf[63] ^= 1;
    checker.inspect(&buf);
    checker.inspect(b"not a frame");
    let c = checker.counters();
    assert_eq!(
        (c.valid, c.reordered, c.lost, c.bad_checksum, c.foreign),
        (3, 1, 0, 1, 1)
    );
}

proptest! {
    /// Against a model that remembers every number: a stream of frames of
    /// one flow, each dropped, repeated or displaced by less than the
    /// window, is counted exactly.
    #[test]
    fn counts_match_a_model_that_remembers_everything(
        n in 1u64..600,
        fates in proptest::collection::vec((0u8..10, 0usize..40), 600),
    ) {
        let mut arrivals: Vec<u64> = Vec::new();
        for seq in 0..n {
            let (fate, shift) = fates[seq as usize];
            match fate {
                0 => {} // lost
                1 => { arrivals.push(seq); arrivals.push(seq); } // duplicated
                2 => { let at = arrivals.len().saturating_sub(shift); arrivals.insert(at, seq); } // late
                _ => arrivals.push(seq),
            }
        }
        let c = after(&arrivals);
        let mut seen = BTreeSet::new();
        let (mut duplicates, mut reordered, mut highest) = (0, 0, None::<u64>);
        for &seq in &arrivals {
            if !seen.insert(seq) {
                duplicates += 1;
            } else if highest.is_some_and(|h| seq < h) {
                reordered += 1;
            }
            highest = highest.max(Some(seq));
        }
        let top = highest.map_or(0, |h| h + 1);
        let lost = top - seen.len() as u64;
        prop_assert_eq!(c.valid, arrivals.len() as u64);
        prop_assert_eq!(c.duplicates, duplicates);
        prop_assert_eq!(c.reordered, reordered);
        prop_assert_eq!(c.lost, lost);
        prop_assert_eq!(c.stale, 0);
    }
}
