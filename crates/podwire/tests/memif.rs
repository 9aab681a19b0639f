//! End-to-end: memif interfaces of a running `podwire daemon`. The network-function "pods" at
//! the other end are threads of this test using podwire-memif as clients: a tiny responder
//! (ARP, ICMP echo, UDP echo) for the routed and bridged cases, raw frame senders and
//! receivers for the cross-connect.

mod support;

use std::net::{Ipv4Addr, UdpSocket};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use etherparse::{
    ArpHardwareId, ArpOperation, ArpPacket, EtherType, Icmpv4Type, LinkSlice, NetSlice,
    PacketBuilder, SlicedPacket, TransportSlice,
};
use podwire_io::netns::NetNs;
use podwire_memif::connection::wait_readable;
use podwire_memif::{Client, InterfaceConfig};
use support::*;

/// How long a peer may take to connect or a frame to arrive before the test gives up: far
/// more than a working switch needs; only a broken one reaches it.
const PATIENCE: Duration = Duration::from_secs(10);

/// The MAC of the memif "pod".
const POD_MAC: [u8; 6] = [0x02, 0xcf, 0, 0, 0, 2];

/// A memif "pod" at `ip` that answers ARP for its address, ICMP echo and UDP (echoing the
/// datagram back), in a thread of the test, until dropped.
struct MemifPod {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MemifPod {
    fn start(socket: &Path, ip: Ipv4Addr) -> MemifPod {
        let stop = Arc::new(AtomicBool::new(false));
        let addr = socket.to_str().unwrap().parse().unwrap();
        let mut client =
            Client::connect_blocking(addr, InterfaceConfig::new(0), PATIENCE).expect("connect");
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                // Notice a lost server and reconnect; nothing else happens on the control side.
                client.poll(Instant::now());
                let Some(interface) = client.interface_mut() else {
                    let _ = client.wait(Duration::from_millis(20));
                    continue;
                };
                let _ = interface.drain_interrupt(0);
                let mut replies = Vec::new();
                let received = interface
                    .rx_burst(0, 64, |packet| {
                        let mut frame = vec![0; packet.len()];
                        packet.copy_to(&mut frame);
                        replies.extend(reply(&frame, ip));
                    })
                    .expect("queue 0");
                let frames: Vec<&[u8]> = replies.iter().map(Vec::as_slice).collect();
                interface.tx_burst(0, &frames).expect("queue 0");
                if received == 0 {
                    let interface = client.interface().expect("connected");
                    let mut fds = client.fds();
                    fds.push(interface.rx_interrupt_fd(0).expect("queue 0"));
                    let _ = wait_readable(&fds, Duration::from_millis(20));
                }
            }
        });
        MemifPod {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for MemifPod {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The memif pod's answer to `frame`, if it has one.
fn reply(frame: &[u8], ip: Ipv4Addr) -> Option<Vec<u8>> {
    let packet = SlicedPacket::from_ethernet(frame).ok()?;
    let Some(LinkSlice::Ethernet2(eth)) = &packet.link else {
        return None;
    };
    let mut out = Vec::new();
    match (&packet.net, &packet.transport) {
        (Some(NetSlice::Arp(arp)), _) => {
            let asked = arp.operation() == ArpOperation::REQUEST
                && arp.target_protocol_addr() == ip.octets();
            if !asked {
                return None;
            }
            let answer = ArpPacket::new(
                ArpHardwareId::ETHERNET,
                EtherType::IPV4,
                ArpOperation::REPLY,
                &POD_MAC,
                &ip.octets(),
                arp.sender_hw_addr(),
                arp.sender_protocol_addr(),
            )
            .ok()?;
            PacketBuilder::ethernet2(POD_MAC, eth.source())
                .arp(answer)
                .write(&mut out)
                .ok()?;
        }
        (Some(NetSlice::Ipv4(ipv4)), Some(transport)) => {
            let header = ipv4.header();
            if header.destination_addr() != ip {
                return None;
            }
            let back = PacketBuilder::ethernet2(POD_MAC, eth.source()).ipv4(
                header.destination(),
                header.source(),
                64,
            );
            match transport {
                TransportSlice::Icmpv4(icmp) => {
                    let Icmpv4Type::EchoRequest(echo) = icmp.icmp_type() else {
                        return None;
                    };
                    back.icmpv4_echo_reply(echo.id, echo.seq)
                        .write(&mut out, icmp.payload())
                        .ok()?;
                }
                TransportSlice::Udp(udp) => back
                    .udp(udp.destination_port(), udp.source_port())
                    .write(&mut out, udp.payload())
                    .ok()?,
                _ => return None,
            }
        }
        _ => return None,
    }
    Some(out)
}

/// A memif client driven by the test itself, to send and receive raw frames.
struct RawPeer {
    client: Client,
}

impl RawPeer {
    fn connect(socket: &Path) -> RawPeer {
        let addr = socket.to_str().unwrap().parse().unwrap();
        let client =
            Client::connect_blocking(addr, InterfaceConfig::new(0), PATIENCE).expect("connect");
        RawPeer { client }
    }

    fn send(&mut self, frames: &[Vec<u8>]) {
        let frames: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        let interface = self.client.interface_mut().expect("connected");
        assert_eq!(interface.tx_burst(0, &frames).unwrap(), frames.len());
    }

    /// The next `count` frames received (fewer if they do not come).
    fn receive(&mut self, count: usize) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        let give_up = Instant::now() + PATIENCE;
        while frames.len() < count && Instant::now() < give_up {
            let interface = self.client.interface_mut().expect("connected");
            let _ = interface.drain_interrupt(0);
            interface
                .rx_burst(0, count - frames.len(), |packet| {
                    let mut frame = vec![0; packet.len()];
                    packet.copy_to(&mut frame);
                    frames.push(frame);
                })
                .unwrap();
            let fd = interface.rx_interrupt_fd(0).unwrap();
            let _ = wait_readable(&[fd], Duration::from_millis(20));
        }
        frames
    }
}

/// An Ethernet frame of `len` bytes that no router would make: an experimental EtherType and
/// a patterned payload.
fn raw_frame(dst: [u8; 6], src: [u8; 6], len: usize, seed: u8) -> Vec<u8> {
    let mut frame = Vec::with_capacity(len);
    frame.extend_from_slice(&dst);
    frame.extend_from_slice(&src);
    frame.extend_from_slice(&[0x88, 0xb5]);
    frame.extend((frame.len()..len).map(|i| (i as u8).wrapping_mul(31) ^ seed));
    frame
}

fn ping(ns: &Netns, addr: &str) {
    let out = ns.run(&["ping", "-c", "3", "-i", "0.2", "-W", "2", addr]);
    assert!(
        out.status.success(),
        "ping {addr} from {} failed:\n{}",
        ns.name,
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Sends UDP datagrams of several sizes from `from` (its address `src`) to port 7 of `to`,
/// and checks each comes back unchanged.
fn udp_echo(from: &Netns, src: &str, to: &str) {
    let socket = NetNs::open(Path::new("/run/netns").join(&from.name))
        .expect("open the pod's namespace")
        .run_in(|| UdpSocket::bind((src, 0)))
        .expect("enter the pod's namespace")
        .expect("bind a UDP socket in the pod");
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    for (i, size) in [1usize, 100, 1400].into_iter().enumerate() {
        let data: Vec<u8> = (0..size).map(|j| (j + i) as u8).collect();
        socket.send_to(&data, (to, 7)).unwrap();
        let mut buf = [0u8; 2048];
        let (len, from_addr) = again_if_interrupted(|| socket.recv_from(&mut buf))
            .unwrap_or_else(|e| panic!("no UDP echo of {size} bytes from {to}: {e}"));
        assert_eq!(from_addr.to_string(), format!("{to}:7"));
        assert_eq!(&buf[..len], &data[..], "UDP echo of {size} bytes");
    }
}

/// Waits until `show interfaces` says `name` is `state` ("up" or "down"); returns its row.
fn wait_state(d: &Daemon, name: &str, state: &str) -> String {
    let give_up = Instant::now() + PATIENCE;
    loop {
        let table = d.ctl_ok(&["show", "interfaces"]);
        let row = table
            .lines()
            .find(|line| line.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row for {name}:\n{table}"))
            .to_owned();
        if row.split_whitespace().any(|word| word == state) {
            return row;
        }
        assert!(Instant::now() < give_up, "{name} not {state}:\n{table}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn memif_section(name: &str, socket: &Path, extra: &str) -> String {
    format!(
        "[[interface]]\nname = \"{name}\"\nkind = \"memif\"\nsocket = \"{}\"\n{extra}\n",
        socket.display()
    )
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("the socket file")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn a_memif_pod_reaches_a_tap_pod_and_back_and_survives_its_own_restart() {
    if !root_or_skip() {
        return;
    }
    let a = Netns::new("pa");
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("m0").join("memif.sock");
    let name = unique("mf");
    let cfg = pod(&unique("a"), &a, &["10.0.0.2"])
        + &memif_section(&name, &socket, "addresses = [\"10.0.1.1/24\"]");
    let mut d = Daemon::start(&cfg);
    assert_eq!(
        mode_of(&socket),
        0o600,
        "only the socket's owner may connect"
    );
    wait_state(&d, &name, "down");

    let pod = MemifPod::start(&socket, Ipv4Addr::new(10, 0, 1, 2));
    let row = wait_state(&d, &name, "up");
    assert!(
        row.contains("memif") && row.contains("podwire-memif"),
        "{row}"
    );
    ping(&a, "10.0.1.2");
    udp_echo(&a, "10.0.0.2", "10.0.1.2");
    ping(&a, "10.0.1.1");

    // The pod restarts: the switch sees it go and serves the new one.
    drop(pod);
    let row = wait_state(&d, &name, "down");
    assert!(row.contains("not connected"), "{row}");
    let _pod = MemifPod::start(&socket, Ipv4Addr::new(10, 0, 1, 2));
    wait_state(&d, &name, "up");
    ping(&a, "10.0.1.2");
    udp_echo(&a, "10.0.0.2", "10.0.1.2");

    assert!(d.stop(), "the daemon stops cleanly");
    assert!(gone(&socket), "the socket file goes with the daemon");
}

/// With two workers each memif is polled by its own, which sends out of the other's.
#[test]
fn cross_connected_memifs_pass_frames_unchanged_both_ways() {
    if !root_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (sock1, sock2): (PathBuf, PathBuf) =
        (dir.path().join("x1.sock"), dir.path().join("x2.sock"));
    let (m1, m2) = (unique("x"), unique("x"));
    let cfg = memif_section(
        &m1,
        &sock1,
        &format!("xconnect = \"{m2}\"\nsocket_mode = 0o660\nsocket_owner = {{ gid = 4321 }}"),
    ) + &memif_section(&m2, &sock2, "");
    let _d = Daemon::start_with_workers(2, &cfg);
    assert_eq!(mode_of(&sock1), 0o660);
    assert_eq!(std::fs::metadata(&sock1).unwrap().gid(), 4321);
    assert_eq!(mode_of(&sock2), 0o600);

    let (mut one, mut two) = (RawPeer::connect(&sock1), RawPeer::connect(&sock2));
    let (mac1, mac2) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let to_two = vec![
        raw_frame([0xff; 6], mac1, 60, 1),
        raw_frame(mac2, mac1, 1514, 2),
        // Longer than a pool buffer and a memif buffer: chained on both sides.
        raw_frame([2, 9, 9, 9, 9, 9], mac1, 5000, 3),
    ];
    one.send(&to_two);
    assert_eq!(two.receive(to_two.len()), to_two);
    let to_one = vec![
        raw_frame(mac1, mac2, 64, 4),
        raw_frame([0xff; 6], mac2, 9000, 5),
    ];
    two.send(&to_one);
    assert_eq!(one.receive(to_one.len()), to_one);
}

#[test]
fn a_bridge_domain_joins_a_memif_pod_and_a_tap_at_l2() {
    if !root_or_skip() {
        return;
    }
    let x = Netns::new("px");
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("b.sock");
    let tap = unique("pwb");
    let cfg = format!(
        "[[bridge_domain]]\nname = \"bd\"\n\n[[interface]]\nname = \"{tap}\"\nkind = \"tap\"\nnetns = \"{}\"\nbridge_domain = \"bd\"\n\n{}",
        x.name,
        memif_section(&unique("mb"), &socket, "bridge_domain = \"bd\"")
    );
    let _d = Daemon::start(&cfg);
    x.ok(&["ip", "addr", "add", "10.0.2.1/24", "dev", &tap]);
    let _pod = MemifPod::start(&socket, Ipv4Addr::new(10, 0, 2, 2));
    // ARP's broadcast is flooded to the memif; the answers go back to the MAC learned.
    ping(&x, "10.0.2.2");
    udp_echo(&x, "10.0.2.1", "10.0.2.2");
    let neighbors = x.ok(&["ip", "neigh", "show", "10.0.2.2"]);
    assert!(
        neighbors.contains("02:cf:00:00:00:02"),
        "the pod's own MAC, straight through the bridge:\n{neighbors}"
    );
}
