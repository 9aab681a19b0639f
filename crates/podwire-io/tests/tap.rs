//! A tap set up the way a pod's eth0 is, exchanging frames with the pod's kernel (root).

mod common;

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{
    ETHERTYPE_ARP, TestNs, ethertype, ip, poller_for, root_or_skip, udp_in, unique, wait_for,
};
use podwire_dataplane::buffer::{GsoKind, OffloadInfo};
use podwire_dataplane::interface::TxOffloads;
use podwire_io::netlink::{Netlink, Route};
use podwire_io::poll::Poller;
use podwire_io::tap::{self, Tap, TapOptions};
use podwire_io::tx::TxStatus;
use podwire_io::vnet::{self, VNET_HDR_LEN};

const POD: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const GATEWAY: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);
const GATEWAY_MAC: [u8; 6] = [0x02, 0xfe, 0, 0, 0, 1];
const REMOTE: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);

/// An ARP request's (sender MAC, sender IP, target IP).
fn arp_request(frame: &[u8]) -> Option<([u8; 6], Ipv4Addr, Ipv4Addr)> {
    if ethertype(frame)? != ETHERTYPE_ARP || frame.get(20..22)? != [0, 1] {
        return None;
    }
    let sender_mac = frame.get(22..28)?.try_into().ok()?;
    let sender = <[u8; 4]>::try_from(frame.get(28..32)?).ok()?.into();
    let target = <[u8; 4]>::try_from(frame.get(38..42)?).ok()?.into();
    Some((sender_mac, sender, target))
}

/// The ARP reply "`GATEWAY` is at `GATEWAY_MAC`" to (`mac`, `ip`).
fn arp_reply(mac: [u8; 6], ip: Ipv4Addr) -> Vec<u8> {
    let mut frame = Vec::new();
    frame.extend(mac);
    frame.extend(GATEWAY_MAC);
    frame.extend(ETHERTYPE_ARP.to_be_bytes());
    frame.extend([0, 1, 0x08, 0x00, 6, 4, 0, 2]); // Ethernet/IPv4, reply
    frame.extend(GATEWAY_MAC);
    frame.extend(GATEWAY.octets());
    frame.extend(mac);
    frame.extend(ip.octets());
    frame
}

#[tokio::test]
async fn a_tap_moved_into_a_namespace_carries_frames_both_ways() {
    if !root_or_skip() {
        return;
    }
    let pod = TestNs::new();
    let name = unique("pwt");
    let tap = Tap::create(&name).unwrap();
    assert_eq!(tap.name(), name);

    let host = Netlink::connect().unwrap();
    assert!(host.link_index(&name).await.unwrap().is_some());
    host.move_to_netns(&name, &pod.ns).await.unwrap();
    assert_eq!(host.link_index(&name).await.unwrap(), None);

    // The pod's side, as podwire sets it up: eth0, a /32, a default route via a link-local
    // gateway that only the tap's far end (podwire) answers for.
    let nl = Netlink::connect_in(&pod.ns).unwrap();
    nl.rename(&name, "eth0").await.unwrap();
    nl.set_up("eth0").await.unwrap();
    nl.add_address("eth0", IpAddr::V4(POD), 32).await.unwrap();
    nl.add_route(&Route {
        gateway: Some(IpAddr::V4(GATEWAY)),
        dev: Some("eth0"),
        onlink: true,
        ..Route::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
    })
    .await
    .unwrap();
    let pod_mac = nl.mac("eth0").await.unwrap();

    // The pod sends a datagram off-link: its kernel first asks for the gateway's MAC.
    pod.ns
        .run_in(|| {
            let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
            socket.send_to(b"hello tap", (REMOTE, 9999))
        })
        .unwrap()
        .unwrap();
    let mut buf = [0u8; 2048];
    let request = wait_for(poller_for(&tap), "the pod's ARP request", || {
        loop {
            let len = tap.recv(&mut buf).unwrap()?;
            // Skip IPv6 chatter (router solicitations, MLD) until the ARP request comes.
            if let Some(request) = arp_request(&buf[..len]) {
                break Some(request);
            }
        }
    });
    assert_eq!(request, (pod_mac, POD, GATEWAY));

    // Answering it releases the queued datagram, addressed to the MAC we gave.
    assert_eq!(tap.send(&arp_reply(pod_mac, POD)).unwrap(), TxStatus::Sent);
    let frame = wait_for(poller_for(&tap), "the pod's datagram", || {
        loop {
            let len = tap.recv(&mut buf).unwrap()?;
            if udp_in(&buf[..len]).is_some() {
                break Some(buf[..len].to_vec());
            }
        }
    });
    assert_eq!(
        &frame[..6],
        GATEWAY_MAC,
        "sent to the MAC from our ARP reply"
    );
    assert_eq!(&frame[6..12], pod_mac);
    let (src, dst, port, payload) = udp_in(&frame).unwrap();
    assert_eq!(
        (src, dst, port, payload),
        (POD, REMOTE, 9999, &b"hello tap"[..])
    );

    // Closing the tap removes its netdev, wherever it is.
    drop(tap);
    assert_eq!(nl.link_index("eth0").await.unwrap(), None);
}

#[test]
fn an_idle_tap_has_nothing_to_read() {
    if !root_or_skip() {
        return;
    }
    let pod = TestNs::new();
    let tap = pod.ns.run_in(|| Tap::create("idle0")).unwrap().unwrap();
    let mut buf = [0u8; 2048];
    assert_eq!(
        tap.recv(&mut buf).unwrap(),
        None,
        "down, so nothing arrives"
    );
}

/// Every offload a tap takes.
const ALL: TxOffloads = TxOffloads {
    csum: true,
    tso4: true,
    tso6: true,
    uso: true,
};

/// Sets `eth0` in `pod` up with the address `cidr`.
fn eth0_up(pod: &TestNs, cidr: &str) {
    ip(&["-n", &pod.name, "link", "set", "eth0", "up"]);
    ip(&["-n", &pod.name, "addr", "add", cidr, "dev", "eth0"]);
}

fn vnet_options() -> TapOptions {
    let mut options = TapOptions::default();
    options.vnet_hdr = true;
    options
}

/// A tap with the virtio-net header and every offload the kernel takes, as `eth0` of `ns` with
/// `addr4`/24 and `addr6`/64 (no DAD: the addresses are usable at once).
async fn offloading_tap(ns: &TestNs, addr4: Ipv4Addr, addr6: Ipv6Addr) -> (Tap, TxOffloads) {
    let name = unique("pwo");
    let tap = ns
        .ns
        .run_in(|| Tap::create_with(&name, &vnet_options()))
        .unwrap()
        .unwrap();
    let accepted = tap.set_offload(ALL).unwrap();
    let nl = Netlink::connect_in(&ns.ns).unwrap();
    nl.rename(&name, "eth0").await.unwrap();
    ip(&["-n", &ns.name, "link", "set", "eth0", "mtu", "1500"]);
    podwire_io::sysctl::disable_ipv6_dad(&ns.ns, "eth0").unwrap();
    nl.set_up("eth0").await.unwrap();
    nl.add_address("eth0", IpAddr::V4(addr4), 24).await.unwrap();
    nl.add_address("eth0", IpAddr::V6(addr6), 64).await.unwrap();
    (tap, accepted)
}

/// What a relay saw going one way.
#[derive(Default, Debug, Clone, Copy)]
struct Seen {
    largest_frame: usize,
    largest_gso_size: u16,
    frames: u64,
}

/// A wire between two taps in user space: every frame read from one (header included) is
/// decoded into the data plane's terms, encoded again and written to the other, as podwire
/// does. Runs until `stop`; returns what it saw from `a` to `b`.
fn relay(a: Arc<Tap>, b: Arc<Tap>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Seen> {
    std::thread::spawn(move || {
        let mut poller = Poller::new().unwrap();
        poller.add(&*a, 0).unwrap();
        poller.add(&*b, 1).unwrap();
        let mut ready = Vec::new();
        let mut frame = vec![0u8; 70_000];
        let mut seen = Seen::default();
        while !stop.load(Ordering::Relaxed) {
            poller
                .wait(Some(Duration::from_millis(20)), &mut ready)
                .unwrap();
            ready.clear();
            for (from, to, forward) in [(&a, &b, true), (&b, &a, false)] {
                loop {
                    let mut header = [0u8; VNET_HDR_LEN];
                    let mut bufs = [IoSliceMut::new(&mut header), IoSliceMut::new(&mut frame)];
                    let Some(len) = from.recv_vectored(&mut bufs).unwrap() else {
                        break;
                    };
                    let len = len - VNET_HDR_LEN;
                    let info = vnet::decode(&header, &frame[..len], len)
                        .unwrap_or_else(|e| panic!("the kernel's header {header:?}: {e}"));
                    if forward {
                        seen.frames += 1;
                        seen.largest_frame = seen.largest_frame.max(len);
                        seen.largest_gso_size = seen.largest_gso_size.max(info.gso_size);
                    }
                    let header = vnet::encode(&info, &frame[..len]);
                    // Written in two pieces, as a chain would be.
                    let (first, rest) = frame[..len].split_at(len.min(2048));
                    let pieces = [
                        IoSlice::new(&header),
                        IoSlice::new(first),
                        IoSlice::new(rest),
                    ];
                    // A full queue drops the frame, as a link would; TCP sends it again.
                    let _ = to.send_vectored(&pieces).unwrap();
                }
            }
        }
        seen
    })
}

/// Sends `bytes` over TCP from `client` to `server_addr` (listening in `server`) and returns
/// what the server read.
fn tcp_transfer(client: &TestNs, server: &TestNs, server_addr: IpAddr, bytes: &[u8]) -> Vec<u8> {
    let listener = server
        .ns
        .run_in(move || TcpListener::bind((server_addr, 5201)))
        .unwrap()
        .unwrap();
    let reader = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        stream.read_to_end(&mut got).unwrap();
        got
    });
    let mut stream = client
        .ns
        .run_in(move || TcpStream::connect_timeout(&(server_addr, 5201).into(), common::PATIENCE))
        .unwrap()
        .unwrap();
    stream.write_all(bytes).unwrap();
    drop(stream);
    reader.join().unwrap()
}

#[tokio::test]
async fn large_tcp_segments_cross_taps_with_their_virtio_net_header() {
    if !root_or_skip() {
        return;
    }
    let (left, right) = (TestNs::new(), TestNs::new());
    let v4 = |host| Ipv4Addr::new(10, 78, 0, host);
    let v6 = |host| Ipv6Addr::new(0xfd00, 78, 0, 0, 0, 0, 0, host);
    let (a, accepted) = offloading_tap(&left, v4(1), v6(1)).await;
    let (b, _) = offloading_tap(&right, v4(2), v6(2)).await;
    assert!(
        accepted.csum && accepted.tso4 && accepted.tso6,
        "{accepted:?}"
    );
    let (a, b) = (Arc::new(a), Arc::new(b));
    let stop = Arc::new(AtomicBool::new(false));
    let wire = relay(a.clone(), b.clone(), stop.clone());

    let data: Vec<u8> = (0..256 * 1024u32)
        .map(|i| (i * 7 + i / 251) as u8)
        .collect();
    let got4 = tcp_transfer(&left, &right, IpAddr::V4(v4(2)), &data);
    let got6 = tcp_transfer(&left, &right, IpAddr::V6(v6(2)), &data);
    stop.store(true, Ordering::Relaxed);
    let seen = wire.join().unwrap();

    assert!(
        got4 == data,
        "IPv4: {} bytes arrived, not the ones sent",
        got4.len()
    );
    assert!(
        got6 == data,
        "IPv6: {} bytes arrived, not the ones sent",
        got6.len()
    );
    assert!(seen.largest_gso_size > 0, "no large segment came: {seen:?}");
    assert!(
        seen.largest_frame > 1514,
        "no frame above the MTU: {seen:?}"
    );
}

#[test]
fn a_large_udp_segment_written_to_a_tap_arrives_as_datagrams() {
    if !root_or_skip() {
        return;
    }
    let pod = TestNs::new();
    let tap = pod
        .ns
        .run_in(|| Tap::create_with("eth0", &vnet_options()))
        .unwrap()
        .unwrap();
    let accepted = tap.set_offload(ALL).unwrap();
    ip(&[
        "-n",
        &pod.name,
        "link",
        "set",
        "eth0",
        "address",
        "02:00:00:00:00:09",
    ]);
    eth0_up(&pod, "10.79.0.2/24");
    let socket = pod
        .ns
        .run_in(|| UdpSocket::bind((Ipv4Addr::new(10, 79, 0, 2), 7000)))
        .unwrap()
        .unwrap();
    socket.set_nonblocking(true).unwrap();

    // 3 × 1000 bytes and 500 more, as one UDP datagram asking to be cut into 1000-byte
    // datagrams when the kernel takes USO (6.2 on), else a TCP-less check of the checksum
    // offload alone: one datagram whose checksum the kernel is told is still to be done.
    let payload: Vec<u8> = (0..3500u32).map(|i| (i % 253) as u8).collect();
    let gso = accepted.uso;
    let one = if gso { &payload[..] } else { &payload[..1000] };
    let mut frame = common::udp_frame(
        [0x02, 0, 0, 0, 0, 9],
        [0x02, 0, 0, 0, 0, 8],
        Ipv4Addr::new(10, 79, 0, 1),
        Ipv4Addr::new(10, 79, 0, 2),
        7000,
        one,
    );
    // The pseudo-header sum, folded and not complemented, in the checksum field.
    let udp_len = (8 + one.len()) as u32;
    let mut sum: u32 = [[10u8, 79], [0, 1], [10, 79], [0, 2]]
        .iter()
        .map(|w| u32::from(u16::from_be_bytes(*w)))
        .sum::<u32>()
        + 17
        + udp_len;
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    frame[40..42].copy_from_slice(&(sum as u16).to_be_bytes());
    let info = OffloadInfo {
        needs_csum: true,
        csum_start: 34,
        csum_offset: 6,
        gso: if gso { GsoKind::Udp } else { GsoKind::None },
        gso_size: if gso { 1000 } else { 0 },
        hdr_len: if gso { 42 } else { 0 },
    };
    let header = vnet::encode(&info, &frame);
    let (first, rest) = frame.split_at(100);
    let pieces = [
        IoSlice::new(&header),
        IoSlice::new(first),
        IoSlice::new(rest),
    ];
    assert_eq!(tap.send_vectored(&pieces).unwrap(), TxStatus::Sent);

    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let expected = if gso { 4 } else { 1 };
    wait_for(poller_for(&socket), "the datagrams", || {
        while let Ok(len) = socket.recv(&mut buf) {
            got.push(buf[..len].to_vec());
        }
        (got.len() >= expected).then_some(())
    });
    let want: Vec<Vec<u8>> = one.chunks(1000).map(<[u8]>::to_vec).collect();
    assert_eq!(got, want, "USO taken: {gso}");
}

#[test]
fn two_queues_of_a_multi_queue_tap_both_receive() {
    if !root_or_skip() {
        return;
    }
    let pod = TestNs::new();
    let mut options = vnet_options();
    options.multi_queue = true;
    let (first, second) = pod
        .ns
        .run_in(|| {
            let first = Tap::create_with("eth0", &options)?;
            let second = first.open_queue()?;
            Ok::<_, tap::Error>((first, second))
        })
        .unwrap()
        .unwrap();
    eth0_up(&pod, "10.80.0.2/24");
    // Datagrams of 64 flows to the subnet's broadcast address (no ARP needed): the kernel
    // picks a queue by flow hash, so both get some.
    pod.ns
        .run_in(|| {
            for port in 0..64u16 {
                let socket = UdpSocket::bind((Ipv4Addr::new(10, 80, 0, 2), 20_000 + port))?;
                socket.set_broadcast(true)?;
                socket.send_to(b"flow", (Ipv4Addr::new(10, 80, 0, 255), 9))?;
            }
            Ok::<_, std::io::Error>(())
        })
        .unwrap()
        .unwrap();
    let mut buf = [0u8; 2048];
    for (i, queue) in [&first, &second].into_iter().enumerate() {
        wait_for(
            poller_for(queue),
            &format!("a datagram on queue {i}"),
            || {
                loop {
                    let mut bufs = [IoSliceMut::new(&mut buf)];
                    let len = queue.recv_vectored(&mut bufs).unwrap()?;
                    if udp_in(&buf[VNET_HDR_LEN..len]).is_some_and(|(_, _, port, _)| port == 9) {
                        break Some(());
                    }
                }
            },
        );
    }
    let single = pod
        .ns
        .run_in(|| Tap::create_with("eth0", &vnet_options()))
        .unwrap();
    let err = single.unwrap_err().to_string();
    assert!(err.contains("queue mode"), "{err}");
}

#[test]
fn a_persistent_tap_made_without_the_header_is_reopened_with_it() {
    if !root_or_skip() {
        return;
    }
    let pod = TestNs::new();
    let mut old = TapOptions::default();
    old.persist = true;
    pod.ns
        .run_in(|| drop(Tap::create_with("eth0", &old).unwrap()))
        .unwrap();
    let mut new = vnet_options();
    new.persist = true;
    let tap = pod
        .ns
        .run_in(|| Tap::create_with("eth0", &new))
        .unwrap()
        .unwrap();
    assert!(tap.has_vnet_hdr());
    tap.set_offload(TxOffloads {
        csum: true,
        ..TxOffloads::default()
    })
    .unwrap();
    eth0_up(&pod, "10.81.0.2/24");
    pod.ns
        .run_in(|| {
            let socket = UdpSocket::bind((Ipv4Addr::new(10, 81, 0, 2), 0))?;
            socket.set_broadcast(true)?;
            socket.send_to(b"with a header", (Ipv4Addr::new(10, 81, 0, 255), 9))
        })
        .unwrap()
        .unwrap();
    let mut header = [0u8; VNET_HDR_LEN];
    let mut frame = [0u8; 2048];
    wait_for(poller_for(&tap), "the datagram, after a header", || {
        loop {
            let mut bufs = [IoSliceMut::new(&mut header), IoSliceMut::new(&mut frame)];
            let len = tap.recv_vectored(&mut bufs).unwrap()? - VNET_HDR_LEN;
            if let Some((_, _, 9, payload)) = udp_in(&frame[..len]) {
                assert_eq!(payload, b"with a header");
                break Some(());
            }
        }
    });
    ip(&["-n", &pod.name, "link", "del", "eth0"]);
}
