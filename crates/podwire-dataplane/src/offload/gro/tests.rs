//! Merging against packets built with etherparse: a large segment cut by the software GSO
//! and merged again comes back byte for byte; segments that must not be merged leave as
//! they came, in order.

use etherparse::{IpHeaders, IpNumber, Ipv4Header, Ipv4Options, PacketBuilder, TcpOptionElement};
use podwire_wire::ethernet::EthernetAddress;

use crate::buffer::{BufferIndex, BufferPool, GsoKind, OffloadInfo};
use crate::clock::Instant;
use crate::graph::{Context, Dispatch, Node};
use crate::interface::{IfIndex, InterfaceConfig, TxOffloads};
use crate::nodes::interface_output::InterfaceOutput;
use crate::offload::{Prepared, prepare};
use crate::state::WorkerState;
use crate::tables::{Tables, TablesBuilder};
use crate::trace::Trace;
use crate::tx::TxQueues;

const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 1];
const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 2];
const SRC4: [u8; 4] = [10, 0, 1, 2];
const DST4: [u8; 4] = [10, 0, 2, 3];
const SRC6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2];
const DST6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 3];
const MSS: usize = 1448;
const ALL: TxOffloads = TxOffloads {
    csum: true,
    tso4: true,
    tso6: true,
    uso: false,
};
/// Two interfaces whose devices take TSO, and one that takes nothing.
const TAP: IfIndex = IfIndex(0);
const OTHER_TAP: IfIndex = IfIndex(1);
const PLAIN: IfIndex = IfIndex(2);

fn tables() -> Tables {
    let mut b = TablesBuilder::new();
    for (name, offloads) in [
        ("tap", ALL),
        ("tap2", ALL),
        ("plain", TxOffloads::default()),
    ] {
        let mut config = InterfaceConfig::l3(name, EthernetAddress(MAC_A));
        config.offloads = offloads;
        b.add_interface(config).unwrap();
    }
    b.build(1)
}

/// A TCP segment's header fields the tests vary.
#[derive(Clone)]
struct Tcp {
    v6: bool,
    seq: u32,
    ident: u16,
    src_port: u16,
    flags: &'static str,
    timestamp: u32,
    ip_options: &'static [u8],
    more_fragments: bool,
}

impl Default for Tcp {
    fn default() -> Self {
        Tcp {
            v6: false,
            seq: 1_000_000,
            ident: 7,
            src_port: 40_000,
            flags: "",
            timestamp: 1,
            ip_options: &[],
            more_fragments: false,
        }
    }
}

/// The frame of `tcp` carrying `payload`, with its checksums filled in.
fn frame(tcp: &Tcp, payload: &[u8]) -> Vec<u8> {
    let eth = PacketBuilder::ethernet2(MAC_A, MAC_B);
    let ip = if tcp.v6 {
        eth.ipv6(SRC6, DST6, 64)
    } else {
        let mut h = Ipv4Header::new(0, 64, IpNumber::TCP, SRC4, DST4).unwrap();
        h.identification = tcp.ident;
        h.dont_fragment = !tcp.more_fragments;
        h.more_fragments = tcp.more_fragments;
        h.options = Ipv4Options::try_from(tcp.ip_options).unwrap();
        eth.ip(IpHeaders::Ipv4(h, Default::default()))
    };
    let mut t = ip
        .tcp(tcp.src_port, 5201, tcp.seq, 512)
        .ack(99)
        .options(&[
            TcpOptionElement::Noop,
            TcpOptionElement::Noop,
            TcpOptionElement::Timestamp(tcp.timestamp, 5),
        ])
        .unwrap();
    for flag in tcp.flags.chars() {
        t = match flag {
            'P' => t.psh(),
            'F' => t.fin(),
            'S' => t.syn(),
            'R' => t.rst(),
            'U' => t.urg(1),
            other => panic!("flag {other}"),
        };
    }
    let mut out = Vec::new();
    t.write(&mut out, payload).unwrap();
    out
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Where the TCP header starts in a frame of `tcp`.
fn l4(tcp: &Tcp) -> usize {
    14 + if tcp.v6 {
        40
    } else {
        20 + tcp.ip_options.len()
    }
}

/// `frame` as a sender leaving its checksum to an offload writes it: the pseudo-header sum
/// in the checksum field (computed here from the addresses and the length alone).
fn partial(tcp: &Tcp, mut frame: Vec<u8>) -> Vec<u8> {
    let l4 = l4(tcp);
    let words: Vec<u8> = if tcp.v6 {
        [&SRC6[..], &DST6[..]].concat()
    } else {
        [&SRC4[..], &DST4[..]].concat()
    };
    let len = (frame.len() - l4) as u32;
    let mut sum: u32 = words
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum::<u32>()
        + 6
        + len;
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    frame[l4 + 16..l4 + 18].copy_from_slice(&(sum as u16).to_be_bytes());
    frame
}

/// A worker's pool and tables with the `interface-output` node.
struct Bench {
    pool: BufferPool,
    state: WorkerState,
    tables: Tables,
    tx: TxQueues,
    trace: Trace,
    node: InterfaceOutput,
}

impl Bench {
    fn new() -> Self {
        Bench {
            pool: BufferPool::new(512),
            state: WorkerState::default(),
            tables: tables(),
            tx: TxQueues::default(),
            trace: Trace::default(),
            node: InterfaceOutput::default(),
        }
    }

    fn packet(&mut self, tx_if: IfIndex, bytes: &[u8], offload: OffloadInfo) -> BufferIndex {
        let bi = self.pool.alloc_from(bytes).unwrap();
        self.pool.meta_mut(bi).tx_if = tx_if;
        self.pool.meta_mut(bi).offload = offload;
        bi
    }

    /// Runs `interface-output` on one vector of `packets`; what each interface got, in
    /// order, with what each packet asks of its device. Every buffer is back in the pool.
    fn output(&mut self, packets: &[BufferIndex]) -> Vec<(IfIndex, Vec<u8>, OffloadInfo)> {
        let mut cx = Context {
            pool: &mut self.pool,
            tables: &self.tables,
            state: &mut self.state,
            now: Instant::from_nanos(0),
            trace: &mut self.trace,
            tx: &mut self.tx,
        };
        self.node
            .process(&mut cx, packets, &mut Dispatch::default());
        let mut out = Vec::new();
        for tx_if in [TAP, OTHER_TAP, PLAIN] {
            for bi in self
                .tx
                .queue_mut(tx_if)
                .map(std::mem::take)
                .unwrap_or_default()
            {
                let mut bytes = Vec::new();
                self.pool.copy_to_vec(bi, &mut bytes);
                out.push((tx_if, bytes, self.pool.meta(bi).offload));
                self.pool.free(bi);
            }
        }
        assert_eq!(
            self.pool.available(),
            self.pool.capacity(),
            "no buffer lost"
        );
        out
    }

    /// Frames given as they are to `interface-output` toward `tx_if`.
    fn output_frames(&mut self, tx_if: IfIndex, frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let packets: Vec<BufferIndex> = frames
            .iter()
            .map(|f| self.packet(tx_if, f, OffloadInfo::default()))
            .collect();
        self.output(&packets)
            .into_iter()
            .map(|(_, bytes, _)| bytes)
            .collect()
    }
}

/// Cuts a large segment of `tcp` with `len` bytes of payload in software, then merges the
/// segments toward a TSO device: the large segment must come back as it was.
fn round_trip(tcp: &Tcp, len: usize) {
    let large = partial(tcp, frame(tcp, &payload(len)));
    let l4 = l4(tcp);
    let asks = OffloadInfo {
        needs_csum: true,
        csum_start: l4 as u16,
        csum_offset: 16,
        gso: if tcp.v6 { GsoKind::Tcp6 } else { GsoKind::Tcp4 },
        gso_size: MSS as u16,
        hdr_len: (l4 + 32) as u16,
    };
    let mut bench = Bench::new();
    let bi = bench.packet(TAP, &large, asks);
    let Ok(Prepared::Segments(mut cut)) = prepare(&mut bench.pool, bi, TxOffloads::default())
    else {
        panic!("a large segment is cut");
    };
    let mut segments = Vec::new();
    while let Some(segment) = cut.next_segment(&mut bench.pool) {
        segments.push(segment.unwrap());
    }
    assert_eq!(segments.len(), len.div_ceil(MSS));
    for &segment in &segments {
        // Complete segments, as another node (over VXLAN) sends them.
        assert!(!bench.pool.meta(segment).offload.asks_for_work());
    }
    let out = bench.output(&segments);
    assert_eq!(out.len(), 1, "one packet of {} segments", segments.len());
    let (tx_if, bytes, offload) = &out[0];
    assert_eq!(*tx_if, TAP);
    assert_eq!(offload, &asks);
    assert!(
        *bytes == large,
        "the merged segment differs from the original"
    );
    assert_eq!(bench.state.offload.merged, 1);
    assert_eq!(bench.state.offload.merged_segments, segments.len() as u64);
}

#[test]
fn segments_cut_from_a_large_one_merge_back_into_it() {
    for v6 in [false, true] {
        for flags in ["", "P"] {
            for len in [2 * MSS, 10 * MSS + 700, 44 * MSS] {
                round_trip(
                    &Tcp {
                        v6,
                        flags,
                        ..Tcp::default()
                    },
                    len,
                );
            }
        }
    }
}

/// `count` consecutive full segments of the flow of `tcp`, from its sequence number on.
fn run_of(tcp: &Tcp, count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let seg = Tcp {
                seq: tcp.seq + (i * MSS) as u32,
                ident: tcp.ident + i as u16,
                ..tcp.clone()
            };
            frame(&seg, &payload(MSS))
        })
        .collect()
}

/// The TCP sequence number of a frame of `tcp`'s layout.
fn seq(tcp: &Tcp, frame: &[u8]) -> u32 {
    let at = l4(tcp) + 4;
    u32::from_be_bytes(frame[at..at + 4].try_into().unwrap())
}

#[test]
fn segments_that_do_not_continue_a_merge_leave_as_they_came_in_order() {
    let base = Tcp::default();
    let next = |i: usize, change: &dyn Fn(&mut Tcp)| {
        let mut tcp = Tcp {
            seq: base.seq + (i * MSS) as u32,
            ident: base.ident + i as u16,
            ..base.clone()
        };
        change(&mut tcp);
        frame(&tcp, &payload(MSS))
    };
    let first = next(0, &|_| {});
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        (
            "a gap in the sequence",
            vec![first.clone(), next(2, &|_| {})],
        ),
        ("FIN", vec![first.clone(), next(1, &|t| t.flags = "F")]),
        ("SYN", vec![first.clone(), next(1, &|t| t.flags = "S")]),
        ("RST", vec![first.clone(), next(1, &|t| t.flags = "R")]),
        ("URG", vec![first.clone(), next(1, &|t| t.flags = "U")]),
        (
            "other TCP options",
            vec![first.clone(), next(1, &|t| t.timestamp = 2)],
        ),
        (
            "other IP options",
            vec![first.clone(), next(1, &|t| t.ip_options = &[1, 1, 1, 1])],
        ),
        (
            "another flow",
            vec![first.clone(), next(1, &|t| t.src_port = 40_001)],
        ),
        (
            "an IPv4 fragment",
            vec![first.clone(), next(1, &|t| t.more_fragments = true)],
        ),
        (
            "another IP version",
            vec![first.clone(), next(1, &|t| t.v6 = true)],
        ),
        (
            "a longer payload than the first",
            vec![frame(&base, &payload(MSS - 8)), {
                let tcp = Tcp {
                    seq: base.seq + (MSS - 8) as u32,
                    ..base.clone()
                };
                frame(&tcp, &payload(MSS))
            }],
        ),
        (
            "a first segment with PSH",
            vec![
                frame(
                    &Tcp {
                        flags: "P",
                        ..base.clone()
                    },
                    &payload(MSS),
                ),
                next(1, &|_| {}),
            ],
        ),
        (
            "a damaged checksum",
            vec![first.clone(), {
                let mut f = next(1, &|_| {});
                let last = f.len() - 1;
                f[last] ^= 0x40;
                f
            }],
        ),
    ];
    for (case, frames) in cases {
        let mut bench = Bench::new();
        let out = bench.output_frames(TAP, &frames);
        assert!(out == frames, "{case}: changed or reordered");
        assert_eq!(bench.state.offload.merged, 0, "{case}");
    }
}

#[test]
fn a_device_without_tso_gets_every_segment_alone() {
    let frames = run_of(&Tcp::default(), 4);
    let mut bench = Bench::new();
    assert!(bench.output_frames(PLAIN, &frames) == frames);
}

#[test]
fn interleaved_flows_merge_each_and_keep_their_order() {
    let a = Tcp::default();
    let b = Tcp {
        src_port: 40_001,
        seq: 77,
        ..Tcp::default()
    };
    let c = Tcp {
        v6: true,
        ..Tcp::default()
    };
    let (runs_a, runs_b, runs_c) = (run_of(&a, 6), run_of(&b, 6), run_of(&c, 6));
    let mut bench = Bench::new();
    let mut packets = Vec::new();
    for i in 0..6 {
        packets.push(bench.packet(TAP, &runs_a[i], OffloadInfo::default()));
        packets.push(bench.packet(TAP, &runs_b[i], OffloadInfo::default()));
        // The same flow toward another tap is another flow.
        packets.push(bench.packet(OTHER_TAP, &runs_a[i], OffloadInfo::default()));
        if i == 3 {
            // A pure ACK of flow c's stream ends its merge: what follows may not pass it.
            let ack = frame(
                &Tcp {
                    seq: c.seq + (3 * MSS) as u32,
                    ..c.clone()
                },
                &[],
            );
            packets.push(bench.packet(TAP, &ack, OffloadInfo::default()));
        }
        packets.push(bench.packet(TAP, &runs_c[i], OffloadInfo::default()));
    }
    let out = bench.output(&packets);
    let on = |tx_if| out.iter().filter(move |(i, _, _)| *i == tx_if);
    let lens: Vec<(usize, GsoKind)> = on(TAP).map(|(_, f, o)| (f.len(), o.gso)).collect();
    let a_len = l4(&a) + 32 + 6 * MSS;
    let c_len = l4(&c) + 32;
    assert_eq!(
        lens,
        [
            (a_len, GsoKind::Tcp4),
            (a_len, GsoKind::Tcp4),
            (c_len + 3 * MSS, GsoKind::Tcp6),
            (c_len, GsoKind::None),
            (c_len + 3 * MSS, GsoKind::Tcp6),
        ]
    );
    // Flow c: the ACK between its merges, sequence numbers rising.
    let c_seqs: Vec<u32> = on(TAP).skip(2).map(|(_, f, _)| seq(&c, f)).collect();
    let c0 = c.seq;
    let m = MSS as u32;
    assert_eq!(c_seqs, [c0, c0 + 3 * m, c0 + 3 * m]);
    let other: Vec<usize> = on(OTHER_TAP).map(|(_, f, _)| f.len()).collect();
    assert_eq!(other, [a_len]);
    assert_eq!(bench.state.offload.merged, 5);
    assert_eq!(bench.state.offload.merged_segments, 6 * 3 + 6);
}

#[test]
fn a_merge_stops_at_the_largest_packet_ip_carries() {
    let frames = run_of(&Tcp::default(), 50);
    let mut bench = Bench::new();
    let out = bench.output_frames(TAP, &frames);
    let total: usize = out.iter().map(|f| f.len() - (14 + 20 + 32)).sum();
    assert_eq!(total, 50 * MSS, "every byte leaves");
    assert!(out.len() >= 2);
    assert!(out.iter().all(|f| f.len() - 14 <= usize::from(u16::MAX)));
    let first: Vec<u32> = out.iter().map(|f| seq(&Tcp::default(), f)).collect();
    assert!(first.windows(2).all(|w| w[0] < w[1]), "in order: {first:?}");
}
