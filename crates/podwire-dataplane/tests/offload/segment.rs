//! `offload::prepare` on buffer chains: the segments against packets built independently.

use podwire_dataplane::buffer::{BufferPool, GsoKind, OffloadInfo};
use podwire_dataplane::interface::TxOffloads;
use podwire_dataplane::offload::OffloadError;
use proptest::prelude::*;

use super::packets::{Out, Spec, chain, large, ones_sum, payload, prepare, timestamps};

const NONE: TxOffloads = TxOffloads {
    csum: false,
    tso4: false,
    tso6: false,
    uso: false,
};
const CSUM: TxOffloads = TxOffloads { csum: true, ..NONE };

/// Segments the large packet of `spec` with `len` payload bytes into `size`, in a chain
/// cut at `cuts`, for a device without offloads, and checks every segment byte for byte
/// against the independent ones; and that every buffer is back in the pool after.
fn check(spec: &Spec, len: usize, size: u16, cuts: &[usize]) -> Vec<Out> {
    let mut pool = BufferPool::new(4096);
    let data = payload(len);
    let bi = large(&mut pool, spec, &data, size, cuts);
    let out = prepare(&mut pool, bi, NONE).expect("segmented");
    let expected = spec.segments(&data, usize::from(size));
    assert_eq!(out.len(), expected.len(), "segments of {len} by {size}");
    for (i, (got, want)) in out.iter().zip(&expected).enumerate() {
        assert_eq!(
            got.bytes, *want,
            "segment {i} of {len} by {size}, cut at {cuts:?}"
        );
        assert_eq!(
            got.offload,
            OffloadInfo::default(),
            "segment {i} asks for nothing"
        );
    }
    assert_eq!(pool.available(), pool.capacity(), "every buffer is back");
    out
}

#[test]
fn a_64k_tcp4_segment_becomes_mss_sized_ones() {
    let out = check(&Spec::tcp4(), 65_000, 1448, &[]);
    assert_eq!(out.len(), 65_000usize.div_ceil(1448));
    assert!(
        out.iter().all(|o| o.buffers == 1),
        "each segment one buffer"
    );
}

#[test]
fn odd_sizes_and_a_short_final_segment() {
    for spec in [Spec::tcp4(), Spec::tcp6(), Spec::udp4(), Spec::udp6()] {
        for (len, size) in [
            (1, 1448),
            (1449, 1448),
            (2 * 1448, 1448),
            (5000, 1000),
            (4097, 7),
            (10, 1),
            (3000, 1),
            (65_000 - 80, 9000),
        ] {
            check(&spec, len, size, &[]);
        }
    }
}

#[test]
fn a_payload_of_exactly_one_segment_is_finished_in_place() {
    for spec in [Spec::tcp4(), Spec::tcp6(), Spec::udp4(), Spec::udp6()] {
        for len in [0, 1, 1000] {
            let out = check(&spec, len, 1000, &[]);
            assert_eq!(out.len(), 1);
        }
    }
}

#[test]
fn ipv4_options_and_tcp_timestamps_are_on_every_segment() {
    let spec = Spec {
        ip_options: vec![0x94, 0x04, 0, 0, 1, 1, 1, 0], // router alert, NOPs, end
        tcp_options: timestamps(),
        ..Spec::tcp4()
    };
    let out = check(&spec, 10_000, 1436, &[]);
    assert!(out.iter().all(|o| o.bytes[14] & 0x0f == 7), "IHL 7");
    let v6 = Spec {
        tcp_options: timestamps(),
        ..Spec::tcp6()
    };
    check(&v6, 10_000, 1428, &[]);
}

#[test]
fn flags_are_distributed_as_linux_does() {
    // FIN, PSH on the last; CWR on the first; ECE and ACK on every one. The segments are
    // compared whole in `check`; this reads the flags back to say it in one place.
    let out = check(&Spec::tcp4(), 3000, 1000, &[]);
    let flags: Vec<u8> = out.iter().map(|o| o.bytes[14 + 20 + 13]).collect();
    assert_eq!(
        flags,
        [0x80 | 0x40 | 0x10, 0x40 | 0x10, 0x40 | 0x10 | 0x08 | 0x01]
    );
    let plain = Spec {
        fin: false,
        psh: false,
        cwr: false,
        ece: false,
        ..Spec::tcp4()
    };
    let out = check(&plain, 3000, 1000, &[]);
    assert!(out.iter().all(|o| o.bytes[14 + 20 + 13] == 0x10));
}

#[test]
fn ipv4_identification_counts_up_per_segment_and_wraps() {
    for spec in [Spec::tcp4(), Spec::udp4()] {
        let out = check(&spec, 4000, 1000, &[]);
        let ids: Vec<u16> = out
            .iter()
            .map(|o| u16::from_be_bytes([o.bytes[18], o.bytes[19]]))
            .collect();
        assert_eq!(ids, [0xfffe, 0xffff, 0, 1]);
    }
}

#[test]
fn a_segment_larger_than_a_buffer_is_a_chain() {
    let spec = Spec::tcp4();
    let header = spec.header_len();
    let room = podwire_dataplane::buffer::BUFFER_DATA_SIZE - header;
    let out = check(&spec, 3 * room, room as u16, &[]);
    assert!(out.iter().all(|o| o.buffers == 1), "exactly a buffer each");
    let out = check(&spec, 3 * (room + 1) + 5, room as u16 + 1, &[]);
    assert_eq!(
        out.iter().map(|o| o.buffers).collect::<Vec<_>>(),
        [2, 2, 2, 1]
    );
    let out = check(&Spec::udp6(), 20_000, 9000, &[]);
    assert_eq!(out.iter().map(|o| o.buffers).collect::<Vec<_>>(), [5, 5, 2]);
}

#[test]
fn a_chain_cut_anywhere_in_the_payload_segments_the_same() {
    for spec in [Spec::tcp4(), Spec::udp6()] {
        let header = spec.header_len();
        let len = 100;
        for cut in header..header + len {
            check(&spec, len, 30, &[cut]);
            check(&spec, len, 30, &[cut, cut + 1]);
            check(&spec, len, 30, &[header, cut, cut + 7]);
        }
    }
}

#[test]
fn a_device_that_takes_checksums_gets_them_partial() {
    for spec in [Spec::tcp4(), Spec::tcp6(), Spec::udp4(), Spec::udp6()] {
        let mut pool = BufferPool::new(64);
        let data = payload(5000);
        let bi = large(&mut pool, &spec, &data, 1400, &[100, 3001]);
        let out = prepare(&mut pool, bi, CSUM).unwrap();
        let expected = spec.segments(&data, 1400);
        assert_eq!(out.len(), expected.len());
        for (i, (got, want)) in out.iter().zip(&expected).enumerate() {
            let (l4, at) = (spec.l4(), spec.l4() + spec.checksum_offset());
            assert_eq!(got.offload, spec.checksum_offload(), "{spec:?} segment {i}");
            let field = u16::from_be_bytes([got.bytes[at], got.bytes[at + 1]]);
            assert_eq!(
                field,
                spec.pseudo_sum(got.bytes.len() - l4),
                "pseudo-header sum"
            );
            // What the device does: the sum from csum_start on, complemented.
            let mut done = got.bytes.clone();
            let mut checksum = !ones_sum(&done[l4..]);
            if spec.udp && checksum == 0 {
                checksum = 0xffff;
            }
            done[at..at + 2].copy_from_slice(&checksum.to_be_bytes());
            assert_eq!(done, *want, "{spec:?} segment {i} once the device is done");
        }
        assert_eq!(pool.available(), pool.capacity());
    }
}

#[test]
fn a_device_that_takes_the_segmentation_gets_the_packet_whole() {
    let spec = Spec::tcp4();
    let mut pool = BufferPool::new(64);
    let data = payload(20_000);
    let bi = large(&mut pool, &spec, &data, 1448, &[]);
    let before = pool.meta(bi).offload;
    let tso4 = TxOffloads {
        csum: true,
        tso4: true,
        ..NONE
    };
    let out = prepare(&mut pool, bi, tso4).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].offload, before);
    assert_eq!(out[0].bytes, spec.partial(&data));
}

#[test]
fn a_checksum_left_to_the_device_is_completed_over_a_chain_cut_anywhere() {
    for spec in [Spec::tcp4(), Spec::udp4(), Spec::tcp6(), Spec::udp6()] {
        let data = payload(301);
        let whole = spec.partial(&data);
        let mut pool = BufferPool::new(16);
        for cut in spec.header_len()..whole.len() {
            for cuts in [vec![cut], vec![cut, cut + 1], vec![cut, cut + 2]] {
                let bi = chain(&mut pool, &whole, &cuts);
                pool.meta_mut(bi).offload = spec.checksum_offload();
                let out = prepare(&mut pool, bi, NONE).unwrap();
                assert_eq!(out.len(), 1);
                assert_eq!(out[0].bytes, spec.packet(&data), "{spec:?} cut at {cuts:?}");
                assert!(!out[0].offload.needs_csum);
                // A device that takes checksums is left the work.
                let bi = chain(&mut pool, &whole, &cuts);
                pool.meta_mut(bi).offload.needs_csum = true;
                let out = prepare(&mut pool, bi, CSUM).unwrap();
                assert_eq!(out[0].bytes, whole);
                assert!(out[0].offload.needs_csum);
            }
        }
        assert_eq!(pool.available(), pool.capacity());
    }
}

/// Prepares the large packet of `spec` after `spoil` changed its offload state or bytes,
/// and says why it was refused, checking that nothing leaked.
fn refused(
    spec: &Spec,
    cuts: &[usize],
    spoil: impl FnOnce(&mut OffloadInfo, &mut Vec<u8>),
) -> OffloadError {
    let mut pool = BufferPool::new(64);
    let data = payload(5000);
    let mut bytes = spec.partial(&data);
    let mut info = spec.large_offload(1000);
    spoil(&mut info, &mut bytes);
    let bi = chain(&mut pool, &bytes, cuts);
    pool.meta_mut(bi).offload = info;
    let error = match podwire_dataplane::offload::prepare(&mut pool, bi, NONE) {
        Ok(_) => panic!("{spec:?} with {info:?} was not refused"),
        Err(e) => e,
    };
    pool.free(bi);
    assert_eq!(pool.available(), pool.capacity());
    error
}

#[test]
fn what_cannot_be_segmented_is_refused_and_said_why() {
    let tcp4 = Spec::tcp4();
    assert_eq!(
        refused(&tcp4, &[], |info, _| info.gso_size = 0),
        OffloadError::ZeroSize
    );
    for (spec, wrong) in [
        (Spec::tcp4(), GsoKind::Tcp6),
        (Spec::tcp6(), GsoKind::Tcp4),
        (Spec::udp4(), GsoKind::Tcp4),
        (Spec::tcp4(), GsoKind::Udp),
    ] {
        assert_eq!(
            refused(&spec, &[], |info, _| info.gso = wrong),
            OffloadError::KindMismatch(wrong)
        );
    }
    for cut in [10, 14, 20, 34, 40, 53] {
        assert_eq!(
            refused(&tcp4, &[cut], |_, _| {}),
            OffloadError::HeadersOutsideFirstBuffer,
            "cut at {cut}"
        );
    }
    // The IP length says more than there is.
    assert_eq!(
        refused(&tcp4, &[], |_, bytes| bytes.truncate(3000)),
        OffloadError::Truncated
    );
    // ICMP is not segmented.
    assert_eq!(
        refused(&tcp4, &[], |_, bytes| bytes[14 + 9] = 1),
        OffloadError::NotTcpOrUdp
    );
    // Nor a fragment.
    assert_eq!(
        refused(&tcp4, &[], |_, bytes| bytes[14 + 6] |= 0x20),
        OffloadError::NotTcpOrUdp
    );
    // A checksum asked for outside the packet's first buffer.
    assert!(matches!(
        refused(&tcp4, &[100], |info, _| {
            info.gso = GsoKind::None;
            info.csum_offset = 200;
        }),
        OffloadError::ChecksumOutside { .. }
    ));
}

#[test]
fn a_pool_that_cannot_hold_the_segments_refuses_them_whole() {
    let spec = Spec::tcp4();
    let mut pool = BufferPool::new(12);
    let data = payload(10_000);
    let bi = large(&mut pool, &spec, &data, 1000, &[]);
    assert_eq!(pool.available(), 7);
    let result = podwire_dataplane::offload::prepare(&mut pool, bi, NONE);
    assert_eq!(result.err(), Some(OffloadError::NoBuffers { needed: 10 }));
    pool.free(bi);
    assert_eq!(pool.available(), 12);
}

fn any_spec() -> impl Strategy<Value = Spec> {
    (
        0..4usize,
        any::<u32>(),
        any::<u16>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(kind, seq, ident, fin, psh, cwr, options)| {
            let base = [Spec::tcp4(), Spec::tcp6(), Spec::udp4(), Spec::udp6()][kind].clone();
            Spec {
                seq,
                ident,
                fin,
                psh,
                cwr,
                tcp_options: if options { timestamps() } else { Vec::new() },
                ip_options: if options && !base.v6 {
                    vec![1, 1, 1, 0]
                } else {
                    Vec::new()
                },
                ..base
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_size_segments_like_the_reference(
        spec in any_spec(),
        size in 1usize..3000,
        segments in 1usize..40,
        extra in 0usize..3000,
        cuts in proptest::collection::vec(0usize..70_000, 0..6),
    ) {
        let len = (size * (segments - 1) + extra % size + 1).min(60_000);
        let mut cuts: Vec<usize> = cuts
            .into_iter()
            .map(|c| spec.header_len() + c % (len + 1))
            .collect();
        cuts.sort_unstable();
        check(&spec, len, size as u16, &cuts);
    }

    #[test]
    fn any_bytes_and_offload_state_never_panic_nor_leak(
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
        ethertype in prop_oneof![Just([0x08u8, 0x00]), Just([0x86, 0xdd]), any::<[u8; 2]>()],
        version_and_protocol in any::<(u8, u8)>(),
        needs_csum in any::<bool>(),
        gso in prop_oneof![Just(GsoKind::None), Just(GsoKind::Tcp4), Just(GsoKind::Tcp6), Just(GsoKind::Udp)],
        gso_size in any::<u16>(),
        csum_start in 0u16..400,
        csum_offset in 0u16..64,
        cut in 0usize..400,
    ) {
        let mut bytes = bytes;
        if bytes.len() > 14 + 40 {
            bytes[12..14].copy_from_slice(&ethertype);
            bytes[14] = version_and_protocol.0;
            bytes[14 + 9] = version_and_protocol.1;
            bytes[14 + 6] = version_and_protocol.1;
        }
        let mut pool = BufferPool::new(512);
        let bi = chain(&mut pool, &bytes, &[cut]);
        pool.meta_mut(bi).offload = OffloadInfo {
            needs_csum,
            csum_start,
            csum_offset,
            gso,
            gso_size: gso_size % 2000,
            hdr_len: 0,
        };
        match prepare(&mut pool, bi, NONE) {
            Ok(out) => prop_assert!(!out.is_empty()),
            Err(_) => pool.free(bi),
        }
        prop_assert_eq!(pool.available(), pool.capacity());
    }
}
