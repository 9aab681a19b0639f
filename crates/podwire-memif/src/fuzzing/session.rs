//! Our side once connected: an [`Interface`] built by the same setup code
//! a real server or client runs, driven in bursts, every burst checked
//! against what it delivered and what it published.

use super::Violation;
use super::peer::PeerMemory;
use crate::connection::Interface;
use crate::queue::QueueStats;
use crate::types::{Direction, RingSpec, Role};

/// Bytes of the pattern frames are cut from: the longest frame (a `u16`
/// length plus up to 32) fits.
const PATTERN_LEN: usize = u16::MAX as usize + 64;
/// Frames per transmit burst at most.
const MAX_BURST: u8 = 33;

/// A connected interface and what the harness knows of its rings.
#[derive(Debug)]
pub(super) struct Session {
    interface: Interface,
    role: Role,
    max_frame: usize,
    /// The ring of each receive queue, by queue.
    rx: Vec<Published>,
    /// The ring of each transmit queue, by queue.
    tx: Vec<Published>,
    /// Where received packets are copied to.
    scratch: Vec<u8>,
    /// The bytes frames are cut from (made at the first transmit).
    pattern: Vec<u8>,
}

/// A ring we write an index of, and the last value we were seen to publish
/// there (`None` while the peer's own writes hide it).
#[derive(Debug)]
struct Published {
    ring: RingSpec,
    last: Option<u16>,
}

impl Published {
    /// Takes note of the index around one of our bursts: `before` and
    /// `after` are what memory held. A change is ours (the peer does not
    /// run during a burst) and may move the index on by one ring at most.
    /// Returns the move that broke that, as `(from, to)`.
    fn observe(&mut self, before: u16, after: u16) -> Result<(), (u16, u16)> {
        if after != before {
            let size = 1u16 << self.ring.log2_size;
            if let Some(from) = self.last.filter(|&from| after.wrapping_sub(from) > size) {
                return Err((from, after));
            }
            self.last = Some(after);
        } else if self.last != Some(before) {
            // The peer wrote our index; whether we then stored the same
            // value again cannot be told.
            self.last = None;
        }
        Ok(())
    }
}

/// Which of our queues.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Side {
    Rx,
    Tx,
}

impl Session {
    /// The session of `interface`, whose queues are on `rings` (as the
    /// handshake announced them); `peer` is the peer's view of the memory.
    pub fn new(
        interface: Interface,
        rings: &[RingSpec],
        max_frame: usize,
        peer: &PeerMemory,
    ) -> Session {
        let role = interface.role();
        // The server receives from C2S rings, the client from S2C rings.
        let (rx_direction, tx_direction) = match role {
            Role::Server => (Direction::C2S, Direction::S2C),
            Role::Client => (Direction::S2C, Direction::C2S),
        };
        let of = |direction: Direction| -> Vec<Published> {
            let mut specs: Vec<RingSpec> = rings
                .iter()
                .filter(|spec| spec.direction == direction)
                .copied()
                .collect();
            specs.sort_by_key(|spec| spec.index);
            specs
                .into_iter()
                .map(|ring| Published {
                    ring,
                    last: peer.index(&ring, role),
                })
                .collect()
        };
        Session {
            rx: of(rx_direction),
            tx: of(tx_direction),
            interface,
            role,
            max_frame,
            scratch: Vec::new(),
            pattern: Vec::new(),
        }
    }

    /// The counters of every queue: receive, transmit.
    pub fn stats(&self) -> (Vec<QueueStats>, Vec<QueueStats>) {
        let rx = (0..self.interface.rx_queues())
            .filter_map(|q| self.interface.rx_stats(q).ok())
            .collect();
        let tx = (0..self.interface.tx_queues())
            .filter_map(|q| self.interface.tx_stats(q).ok())
            .collect();
        (rx, tx)
    }

    /// [`Op::Rx`](super::Op::Rx): receives a burst and checks every
    /// packet (1 to max-frame bytes, copied out whole) and the counters.
    pub fn rx(&mut self, peer: &PeerMemory, queue: u8, max: u8) -> Result<(), Violation> {
        let queue = pick(queue, self.interface.rx_queues());
        let before_stats = self.interface.rx_stats(queue).unwrap_or_default();
        let before = self.index(peer, Side::Rx, queue);
        let (max_frame, scratch) = (self.max_frame, &mut self.scratch);
        let mut seen = (0u64, 0u64);
        let mut bad = None;
        let delivered = self
            .interface
            .rx_burst(queue, usize::from(max), |packet| {
                let len = packet.len();
                scratch.resize(len + 1, 0);
                let copied = packet.copy_to(scratch);
                let problem = if !(1..=max_frame).contains(&len) {
                    Some(Violation::PacketLength {
                        queue,
                        len,
                        max_frame,
                    })
                } else if copied != len {
                    Some(Violation::Copy { queue, len, copied })
                } else {
                    None
                };
                bad = bad.take().or(problem);
                seen.0 += 1;
                seen.1 += len as u64;
            })
            .unwrap_or(0);
        if let Some(violation) = bad {
            return Err(violation);
        }
        let after_stats = self.interface.rx_stats(queue).unwrap_or_default();
        let counted = (
            after_stats.packets - before_stats.packets,
            after_stats.bytes - before_stats.bytes,
        );
        if counted != seen || seen.0 != delivered as u64 {
            return Err(Violation::RxCounters {
                queue,
                returned: delivered,
                seen,
                counted,
            });
        }
        self.observe(peer, Side::Rx, queue, before)
    }

    /// [`Op::Tx`](super::Op::Tx): sends a burst and checks what it says
    /// it took against the counters.
    pub fn tx(
        &mut self,
        peer: &PeerMemory,
        queue: u8,
        count: u8,
        len: u16,
    ) -> Result<(), Violation> {
        let queue = pick(queue, self.interface.tx_queues());
        let before = self.index(peer, Side::Tx, queue);
        if self.pattern.is_empty() {
            self.pattern = (0..PATTERN_LEN)
                .map(|i| (i as u32).wrapping_mul(31) as u8)
                .collect();
        }
        let frames: Vec<&[u8]> = (0..usize::from(count % MAX_BURST))
            .map(|i| &self.pattern[i..i + usize::from(len) + i])
            .collect();
        let before_stats = self.interface.tx_stats(queue).unwrap_or_default();
        let taken = self.interface.tx_burst(queue, &frames).unwrap_or(0);
        let after_stats = self.interface.tx_stats(queue).unwrap_or_default();
        if let Some(problem) =
            tx_problem(&frames, taken, self.max_frame, &before_stats, &after_stats)
        {
            return Err(Violation::TxCounters {
                queue,
                problem,
                offered: frames.len(),
                taken,
                sent: after_stats.packets - before_stats.packets,
                dropped: drops(&after_stats) - drops(&before_stats),
            });
        }
        self.observe(peer, Side::Tx, queue, before)
    }

    /// [`Op::Polling`](super::Op::Polling).
    pub fn polling(&mut self, queue: u8, on: bool) {
        let queue = pick(queue, self.interface.rx_queues());
        // Fails only for a queue that does not exist, which `pick` avoids.
        let _ = self.interface.set_polling(queue, on);
    }

    /// Our index on the ring of a queue, as memory holds it.
    fn index(&self, peer: &PeerMemory, side: Side, queue: u16) -> Option<u16> {
        let rings = match side {
            Side::Rx => &self.rx,
            Side::Tx => &self.tx,
        };
        peer.index(&rings.get(usize::from(queue))?.ring, self.role)
    }

    /// Checks how far a burst moved our index on the queue's ring.
    fn observe(
        &mut self,
        peer: &PeerMemory,
        side: Side,
        queue: u16,
        before: Option<u16>,
    ) -> Result<(), Violation> {
        let (Some(before), Some(after)) = (before, self.index(peer, side, queue)) else {
            return Ok(());
        };
        let rings = match side {
            Side::Rx => &mut self.rx,
            Side::Tx => &mut self.tx,
        };
        let Some(published) = rings.get_mut(usize::from(queue)) else {
            return Ok(());
        };
        published
            .observe(before, after)
            .map_err(|(from, to)| Violation::IndexJump {
                kind: match side {
                    Side::Rx => "receive",
                    Side::Tx => "transmit",
                },
                queue,
                from,
                to,
                size: 1 << published.ring.log2_size,
            })
    }
}

/// What is wrong with a transmit burst's result, if anything. Every frame
/// taken was sent or dropped as unsendable (one counter each); a burst may
/// also count one drop for the bad posted buffer it stopped at. Empty
/// frames and frames over the max frame are never sent.
fn tx_problem(
    frames: &[&[u8]],
    taken: usize,
    max_frame: usize,
    before: &QueueStats,
    after: &QueueStats,
) -> Option<&'static str> {
    let sent = after.packets - before.packets;
    let dropped = drops(after) - drops(before);
    let Some(taken_frames) = frames.get(..taken) else {
        return Some("took more frames than it was offered");
    };
    let sendable: Vec<usize> = taken_frames
        .iter()
        .map(|f| f.len())
        .filter(|len| (1..=max_frame).contains(len))
        .collect();
    let outcomes = sent + dropped;
    if outcomes != taken as u64 && outcomes != taken as u64 + 1 {
        return Some("sent + dropped is neither the frames taken nor one more");
    }
    if sent > sendable.len() as u64 {
        return Some("sent more frames than were sendable");
    }
    if after.bytes - before.bytes > sendable.iter().sum::<usize>() as u64 {
        return Some("counted more bytes than the sendable frames hold");
    }
    let refused_index =
        after.bad_peer_index + after.ring_unusable > before.bad_peer_index + before.ring_unusable;
    if refused_index && (taken, sent) != (0, 0) {
        return Some("took frames in a burst it refused for a bad index");
    }
    None
}

/// All packet drops of a queue.
fn drops(s: &QueueStats) -> u64 {
    s.drops_bad_region
        + s.drops_overrun
        + s.drops_zero_length
        + s.drops_too_big
        + s.drops_truncated_chain
}

/// Queue `queue` modulo `count` (at least 1 once connected).
fn pick(queue: u8, count: u16) -> u16 {
    u16::from(queue) % count.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(log2_size: u8) -> RingSpec {
        RingSpec {
            direction: Direction::C2S,
            index: 0,
            region: 0,
            offset: 0,
            log2_size,
        }
    }

    #[test]
    fn an_index_may_move_on_by_a_ring_at_most_and_never_back() {
        let mut p = Published {
            ring: ring(3),
            last: Some(65_530),
        };
        assert_eq!(p.observe(65_530, 2), Ok(()), "8 on, across the wrap");
        assert_eq!(p.observe(2, 2), Ok(()), "nothing published");
        assert_eq!(p.observe(2, 11), Err((2, 11)), "9 on");
        assert_eq!(p.observe(2, 1), Err((2, 1)), "back");
    }

    #[test]
    fn an_index_the_peer_overwrote_is_checked_again_from_our_next_store() {
        let mut p = Published {
            ring: ring(3),
            last: Some(100),
        };
        // The peer wrote 500; we stored nothing, or 500 again.
        assert_eq!(p.observe(500, 500), Ok(()));
        assert_eq!(p.last, None);
        // Our next store moves on from our own count, unknown here.
        assert_eq!(p.observe(500, 108), Ok(()));
        assert_eq!(p.observe(108, 117), Err((108, 117)));
    }

    #[test]
    fn transmit_counters_must_account_for_every_frame_taken() {
        let (ten, none, twenty) = ([1u8; 10], [], [1u8; 20]);
        let frames: [&[u8]; 3] = [&ten, &none, &twenty];
        let before = QueueStats::default();
        let honest = QueueStats {
            packets: 1,
            bytes: 10,
            drops_zero_length: 1,
            drops_too_big: 1,
            ..before
        };
        assert_eq!(tx_problem(&frames, 3, 15, &before, &honest), None);
        let stalled = QueueStats {
            drops_bad_region: 1,
            ..honest
        };
        assert_eq!(tx_problem(&frames, 3, 15, &before, &stalled), None);
        let cases = [
            (4, honest, "took more frames than it was offered"),
            (
                3,
                QueueStats {
                    drops_too_big: 0,
                    ..honest
                },
                "sent + dropped is neither the frames taken nor one more",
            ),
            (
                3,
                QueueStats {
                    packets: 2,
                    drops_too_big: 0,
                    ..honest
                },
                "sent more frames than were sendable",
            ),
            (
                3,
                QueueStats {
                    bytes: 11,
                    ..honest
                },
                "counted more bytes than the sendable frames hold",
            ),
            (
                0,
                QueueStats {
                    packets: 0,
                    bytes: 0,
                    drops_zero_length: 0,
                    drops_too_big: 0,
                    bad_peer_index: 1,
                    ..honest
                },
                "",
            ),
        ];
        for (taken, after, expected) in cases {
            let problem = tx_problem(&frames, taken, 15, &before, &after).unwrap_or("");
            assert_eq!(problem, expected, "taken {taken}, {after:?}");
        }
        let refused_yet_sent = QueueStats {
            bad_peer_index: 1,
            ..honest
        };
        assert_eq!(
            tx_problem(&frames, 3, 15, &before, &refused_yet_sent),
            Some("took frames in a burst it refused for a bad index")
        );
    }
}
