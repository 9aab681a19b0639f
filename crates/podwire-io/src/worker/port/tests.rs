//! The tap's receive side against the kernel (root): large segments land in pool buffers
//! whole, and no buffer is lost: the spare buffers a tap keeps between reads go back to the
//! pool when it is released, by hand or by the worker that lets it go.

use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use podwire_dataplane::buffer::GsoKind;
use podwire_dataplane::interface::{IfIndex, TxOffloads};
use podwire_dataplane::publish::TablePublisher;
use podwire_dataplane::tables::Tables;

use super::*;
use crate::netns::NetNs;
use crate::tap::TapOptions;
use crate::worker::{WorkerConfig, Workers};

/// `UDP_SEGMENT` of `linux/udp.h`: a socket option asking the kernel to send each write as
/// datagrams of this many bytes, as one large segment when the device takes USO.
const UDP_SEGMENT: libc::c_int = 103;

/// A named network namespace, deleted when the test ends however it ends.
struct TestNs {
    name: String,
    ns: NetNs,
}

impl TestNs {
    fn new() -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        assert!(
            rustix::process::geteuid().is_root(),
            "this test creates a network namespace and a tap: run it as root"
        );
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("pwrx{:x}x{n}", std::process::id());
        let ns = NetNs::create_named(&name).expect("a network namespace");
        TestNs { name, ns }
    }

    fn ip(&self, args: &[&str]) {
        let status = Command::new("ip")
            .args(["-n", &self.name])
            .args(args)
            .status()
            .expect("iproute2's ip");
        assert!(status.success(), "ip -n {} {args:?} failed", self.name);
    }
}

impl Drop for TestNs {
    fn drop(&mut self) {
        let _ = NetNs::delete_named(&self.name);
    }
}

/// A tap with the virtio-net header as `eth0` of a namespace at 10.81.0.2/24, which knows
/// 10.81.0.1 as a neighbor; the tap and a UDP socket on 10.81.0.2 that sends each write to
/// 10.81.0.1 as one large segment of 1000-byte datagrams.
fn uso_sender(ns: &TestNs) -> (Arc<Tap>, UdpSocket) {
    let options = TapOptions {
        vnet_hdr: true,
        ..TapOptions::default()
    };
    let tap = ns
        .ns
        .run_in(|| Tap::create_with("eth0", &options))
        .unwrap()
        .unwrap();
    let all = TxOffloads {
        csum: true,
        tso4: true,
        tso6: true,
        uso: true,
    };
    let accepted = tap.set_offload(all).unwrap();
    assert!(
        accepted.uso,
        "this kernel's tap takes no USO (Linux 6.2 on)"
    );
    ns.ip(&["link", "set", "eth0", "up"]);
    ns.ip(&["addr", "add", "10.81.0.2/24", "dev", "eth0"]);
    let neighbor = ["10.81.0.1", "lladdr", "02:00:00:00:00:01", "dev", "eth0"];
    ns.ip(&[&["neigh", "add"][..], &neighbor, &["nud", "permanent"]].concat());
    let socket = ns
        .ns
        .run_in(|| UdpSocket::bind((Ipv4Addr::new(10, 81, 0, 2), 7000)))
        .unwrap()
        .unwrap();
    let size: libc::c_int = 1000;
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a live c_int; the descriptor
    // is the socket's own, open for the call.
    let set = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_UDP,
            UDP_SEGMENT,
            (&raw const size).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(set, 0, "UDP_SEGMENT: {}", std::io::Error::last_os_error());
    socket.connect((Ipv4Addr::new(10, 81, 0, 1), 7001)).unwrap();
    (Arc::new(tap), socket)
}

/// Receives from `port` until a UDP frame comes (the kernel also sends router
/// solicitations and the like, freed here); fails after a few seconds without one.
fn receive_udp(
    port: &mut TapPort,
    pool: &mut BufferPool,
    counters: &mut PortCounters,
) -> BufferIndex {
    let mut out = Vec::new();
    for _ in 0..500 {
        port.receive(pool, 64, &mut out, counters);
        let mut found = None;
        for bi in out.drain(..) {
            let head = pool.data(bi);
            let udp = head.len() > 23 && head[12..14] == [0x08, 0x00] && head[23] == 17;
            match (udp, found) {
                (true, None) => found = Some(bi),
                _ => pool.free(bi),
            }
        }
        if let Some(bi) = found {
            return bi;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("no UDP frame came out of the tap: {counters:?}");
}

#[test]
fn a_large_segment_is_read_straight_into_a_chain_and_release_gives_back_the_spares() {
    let ns = TestNs::new();
    let (tap, socket) = uso_sender(&ns);
    let payload: Vec<u8> = (0..60_000u32).map(|i| (i % 251) as u8).collect();
    socket.send(&payload).unwrap();

    let mut pool = BufferPool::new(256);
    let mut port = TapPort::new(tap);
    let mut counters = PortCounters::default();
    let bi = receive_udp(&mut port, &mut pool, &mut counters);
    assert_eq!(
        pool.available() + pool.chain(bi).count() + TAP_RX_BUFFERS,
        pool.capacity(),
        "only the frame's buffers and one read's worth of spares are out of the pool"
    );
    assert!(
        port.spare.is_sorted(),
        "spares in index order, for a read without sorting: {:?}",
        port.spare
    );
    let info = pool.meta(bi).offload;
    assert_eq!((info.gso, info.gso_size), (GsoKind::Udp, 1000), "{info:?}");
    let headers = 14 + 20 + 8;
    assert_eq!(pool.total_length(bi), headers + payload.len());
    assert_eq!(
        pool.chain(bi).count(),
        (headers + payload.len()).div_ceil(BUFFER_DATA_SIZE)
    );
    let mut frame = Vec::new();
    pool.copy_to_vec(bi, &mut frame);
    assert!(
        frame[headers..] == payload[..],
        "the payload arrived changed"
    );
    assert_eq!(frame[0..6], [0x02, 0, 0, 0, 0, 1], "to the neighbor's MAC");
    pool.free(bi);
    port.release(&mut pool);
    assert_eq!(pool.available(), pool.capacity());
    assert_eq!(counters.rx_drops, 0, "{counters:?}");
}

#[test]
fn a_pool_too_small_for_a_read_leaves_the_frame_in_the_kernel_and_keeps_no_buffer() {
    let ns = TestNs::new();
    let (tap, socket) = uso_sender(&ns);
    socket.send(&[7u8; 3000]).unwrap();
    let mut port = TapPort::new(tap);
    let mut counters = PortCounters::default();

    let mut small = BufferPool::new(TAP_RX_BUFFERS as u32 - 1);
    let mut out = Vec::new();
    port.receive(&mut small, 64, &mut out, &mut counters);
    assert!(out.is_empty());
    assert_eq!(counters.rx_drops, 1, "the lack of buffers is counted");
    assert_eq!(small.available(), small.capacity(), "no buffer kept");

    let mut pool = BufferPool::new(256);
    let bi = receive_udp(&mut port, &mut pool, &mut counters);
    assert_eq!(pool.total_length(bi), 14 + 20 + 8 + 3000);
    pool.free(bi);
    port.release(&mut pool);
    assert_eq!(pool.available(), pool.capacity());
}

#[test]
fn a_tap_port_removed_from_its_worker_leaves_the_pool_as_it_found_it() {
    let ns = TestNs::new();
    let (tap, socket) = uso_sender(&ns);
    let publisher = TablePublisher::new(Tables::default());
    let config = WorkerConfig {
        buffers: 512,
        ..WorkerConfig::default()
    };
    let workers = Workers::start(1, config, &publisher).unwrap();
    let snapshot = || workers.snapshot().unwrap().remove(0);
    let before = snapshot().buffers_free;

    let index = IfIndex(1);
    workers.attach(index, Box::new(TapPort::new(tap.clone())), tap);
    // Frames until the worker has read some (the tables route nothing: it drops them).
    let received = (0..500).any(|_| {
        socket.send(&[7u8; 3000]).unwrap();
        std::thread::sleep(Duration::from_millis(10));
        snapshot()
            .ports
            .get(index.as_usize())
            .is_some_and(|c| c.rx_packets > 0)
    });
    assert!(received, "the worker read nothing from the tap");
    assert!(
        snapshot().buffers_free < before,
        "the attached tap keeps spare buffers"
    );

    workers.detach(index);
    assert_eq!(
        snapshot().buffers_free,
        before,
        "the removed tap gave its buffers back"
    );
    workers.stop();
}
