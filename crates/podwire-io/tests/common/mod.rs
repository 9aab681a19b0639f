//! Shared pieces of the root tests: the root check, unique names, namespaces that clean up
//! after themselves, the `ip` tool, waiting on descriptors, and hand-built frames.
#![allow(dead_code)] // each test binary uses its own subset

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use podwire_io::af_packet::{AfPacket, AfPacketConfig};
use podwire_io::netlink::Netlink;
use podwire_io::netns::NetNs;
use podwire_io::poll::Poller;

/// How long a test waits for traffic before it gives up. Not an assertion about speed: it
/// only keeps a broken implementation from hanging the run.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Whether this root test should run: `false` (with a note) if PODWIRE_SKIP_ROOT_TESTS=1, a
/// failure with the reason if we are not root.
pub fn root_or_skip() -> bool {
    if std::env::var_os("PODWIRE_SKIP_ROOT_TESTS").is_some_and(|v| v == "1") {
        eprintln!("skipped: PODWIRE_SKIP_ROOT_TESTS=1");
        return false;
    }
    assert!(
        rustix::process::geteuid().is_root(),
        "this test creates network namespaces, interfaces and raw sockets and must run as root; \
         set PODWIRE_SKIP_ROOT_TESTS=1 to skip it"
    );
    true
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name unique to this process and call: `prefix`, pid in hex, counter. With a prefix of up
/// to 4 bytes it fits an interface name (15 bytes).
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{:x}x{n}", std::process::id())
}

/// A named network namespace that is deleted when the test ends, however it ends.
pub struct TestNs {
    pub name: String,
    pub ns: NetNs,
}

impl TestNs {
    pub fn new() -> Self {
        let name = unique("podwire-test-");
        let ns = NetNs::create_named(&name).expect("create test namespace");
        Self { name, ns }
    }
}

impl Drop for TestNs {
    fn drop(&mut self) {
        if let Err(e) = NetNs::delete_named(&self.name) {
            eprintln!("cleanup: {e}");
        }
    }
}

/// Two namespaces joined by a veth: `a` holds the end `va`, `b` the end `vb`.
pub struct Pair {
    pub a: TestNs,
    pub b: TestNs,
    pub mac_a: [u8; 6],
    pub mac_b: [u8; 6],
}

/// A [`Pair`] with both ends up. With `addresses` (A, B), `va` has A/24 and `vb` B/24, and
/// each side knows the other's MAC (permanent neighbors, so no ARP gets in the way of exact
/// counts); without, the kernels have no address on either end.
pub async fn veth_pair(addresses: Option<(Ipv4Addr, Ipv4Addr)>) -> Pair {
    let (a, b) = (TestNs::new(), TestNs::new());
    let nl_a = Netlink::connect_in(&a.ns).unwrap();
    let nl_b = Netlink::connect_in(&b.ns).unwrap();
    nl_a.create_veth("va", "vb").await.unwrap();
    nl_a.move_to_netns("vb", &b.ns).await.unwrap();
    if let Some((addr_a, addr_b)) = addresses {
        nl_a.add_address("va", IpAddr::V4(addr_a), 24)
            .await
            .unwrap();
        nl_b.add_address("vb", IpAddr::V4(addr_b), 24)
            .await
            .unwrap();
    }
    nl_a.set_up("va").await.unwrap();
    nl_b.set_up("vb").await.unwrap();
    let (mac_a, mac_b) = (nl_a.mac("va").await.unwrap(), nl_b.mac("vb").await.unwrap());
    if let Some((addr_a, addr_b)) = addresses {
        nl_a.add_neighbor("va", IpAddr::V4(addr_b), mac_b)
            .await
            .unwrap();
        nl_b.add_neighbor("vb", IpAddr::V4(addr_a), mac_a)
            .await
            .unwrap();
    }
    Pair { a, b, mac_a, mac_b }
}

/// The error `open` fails with in a fresh namespace, where no interface but `lo` exists.
pub fn failure_in_fresh_ns<T: std::fmt::Debug + Send, E: Send>(
    open: impl FnOnce() -> Result<T, E> + Send,
) -> E {
    TestNs::new().ns.run_in(open).unwrap().unwrap_err()
}

/// An AF_PACKET socket on `dev` in `ns`, with the default configuration.
pub fn open_packet(ns: &TestNs, dev: &'static str) -> AfPacket {
    ns.ns
        .run_in(move || AfPacket::open(dev, &AfPacketConfig::default()))
        .unwrap()
        .unwrap()
}

/// Runs `ip ARGS…` and returns its output; fails the test if `ip` fails.
pub fn ip(args: &[&str]) -> String {
    let output = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        output.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("ip prints UTF-8")
}

/// A poller watching `fd`, for [`wait_for`]. (It watches the open file, without borrowing
/// `fd`, so the closure given to `wait_for` may use `fd` mutably.)
pub fn poller_for(fd: impl AsFd) -> Poller {
    let poller = Poller::new().unwrap();
    poller.add(fd, 0).unwrap();
    poller
}

/// Calls `poll` until it returns `Some`, sleeping on `poller` in between; fails the test after
/// [`PATIENCE`] with `what` in the message.
pub fn wait_for<T>(mut poller: Poller, what: &str, mut poll: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    let mut ready = Vec::new();
    loop {
        if let Some(found) = poll() {
            return found;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "gave up waiting for {what}");
        poller.wait(Some(left), &mut ready).unwrap();
    }
}

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;

pub fn ethertype(frame: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(frame.get(12..14)?.try_into().ok()?))
}

/// UDP inside an untagged IPv4 Ethernet frame: (source, destination, destination port,
/// payload).
pub fn udp_in(frame: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr, u16, &[u8])> {
    if ethertype(frame)? != ETHERTYPE_IPV4 {
        return None;
    }
    let ip = frame.get(14..)?;
    let header_len = usize::from(ip.first()? & 0x0f) * 4;
    if *ip.get(9)? != 17 {
        return None;
    }
    let src = Ipv4Addr::from(<[u8; 4]>::try_from(ip.get(12..16)?).ok()?);
    let dst = Ipv4Addr::from(<[u8; 4]>::try_from(ip.get(16..20)?).ok()?);
    let udp = ip.get(header_len..)?;
    let port = u16::from_be_bytes(udp.get(2..4)?.try_into().ok()?);
    let udp_len = usize::from(u16::from_be_bytes(udp.get(4..6)?.try_into().ok()?));
    Some((src, dst, port, udp.get(8..udp_len)?))
}

/// An Ethernet frame carrying an IPv4/UDP datagram (UDP checksum 0: "not computed", which
/// IPv4 allows).
pub fn udp_frame(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    port: u16,
    payload: &[u8],
) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let total_len = 20 + udp_len;
    let mut frame = Vec::with_capacity(14 + total_len);
    frame.extend(dst_mac);
    frame.extend(src_mac);
    frame.extend(ETHERTYPE_IPV4.to_be_bytes());
    let mut ip = vec![0x45, 0];
    ip.extend((total_len as u16).to_be_bytes());
    ip.extend([0, 0, 0x40, 0, 64, 17, 0, 0]); // id, DF, TTL, UDP, checksum (below)
    ip.extend(src.octets());
    ip.extend(dst.octets());
    let checksum = internet_checksum(&ip);
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());
    frame.extend(ip);
    frame.extend(40_000u16.to_be_bytes());
    frame.extend(port.to_be_bytes());
    frame.extend((udp_len as u16).to_be_bytes());
    frame.extend([0, 0]);
    frame.extend(payload);
    frame
}

fn internet_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
