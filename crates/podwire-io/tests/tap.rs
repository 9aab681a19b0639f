//! A tap set up the way a pod's eth0 is, exchanging frames with the pod's kernel (root).

mod common;

use std::net::{IpAddr, Ipv4Addr, UdpSocket};

use common::{
    ETHERTYPE_ARP, TestNs, ethertype, poller_for, root_or_skip, udp_in, unique, wait_for,
};
use podwire_io::netlink::{Netlink, Route};
use podwire_io::tap::Tap;
use podwire_io::tx::TxStatus;

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
