//! Software segmentation rate: a 64 KiB TCP segment (over IPv4, its checksum left to the
//! offload) cut into 1448-byte segments in new buffers, for a device that takes no
//! offloads (every checksum computed) and for one that takes checksums. Throughput is
//! the payload segmented per second; criterion prints it in bytes per second (×8 for
//! bit/s).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use etherparse::PacketBuilder;
use podwire_dataplane::buffer::{BufferPool, GsoKind, OffloadInfo};
use podwire_dataplane::interface::TxOffloads;
use podwire_dataplane::offload::{Prepared, prepare};

const PAYLOAD: usize = 65_000;
const MSS: u16 = 1448;

fn large_segment() -> Vec<u8> {
    let payload: Vec<u8> = (0..PAYLOAD).map(|i| (i * 31) as u8).collect();
    let mut frame = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(40000, 5201, 1, 512)
        .ack(1)
        .write(&mut frame, &payload)
        .unwrap();
    frame
}

/// Times `iters` segmentations of `frame` for `device`; building the large packet in the
/// pool is not timed.
fn segment(pool: &mut BufferPool, frame: &[u8], device: TxOffloads, iters: u64) -> Duration {
    let mut spent = Duration::ZERO;
    for _ in 0..iters {
        let bi = pool.alloc_from(frame).unwrap();
        pool.meta_mut(bi).offload = OffloadInfo {
            needs_csum: true,
            csum_start: 34,
            csum_offset: 16,
            gso: GsoKind::Tcp4,
            gso_size: MSS,
            hdr_len: 54,
        };
        let start = Instant::now();
        match prepare(pool, bi, device).unwrap() {
            Prepared::Segments(mut segments) => {
                while let Some(seg) = segments.next_segment(pool) {
                    pool.free(black_box(seg.unwrap()));
                }
            }
            Prepared::Whole(bi) | Prepared::Finished(bi) => pool.free(bi),
        }
        spent += start.elapsed();
    }
    spent
}

fn bench(c: &mut Criterion) {
    let frame = large_segment();
    let mut pool = BufferPool::new(256);
    let mut group = c.benchmark_group("gso_tcp4_64k_to_1448");
    group.throughput(Throughput::Bytes(PAYLOAD as u64));
    for (name, device) in [
        ("checksums", TxOffloads::default()),
        (
            "partial",
            TxOffloads {
                csum: true,
                ..TxOffloads::default()
            },
        ),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| segment(&mut pool, &frame, device, iters))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
