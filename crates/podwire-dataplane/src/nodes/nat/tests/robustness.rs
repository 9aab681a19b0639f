//! Any packet, any quote: accounted for, never a panic.

use super::*;

/// An IP header from pod A to `dst` (a Service address or not), of the version `v6` says,
/// for `payload_len` bytes of `protocol`; the IPv4 checksum left to the caller.
fn ip_header(v6: bool, protocol: u8, to_service: bool, payload_len: usize) -> Vec<u8> {
    if v6 {
        let dst = if to_service { VIP6 } else { OUTSIDE6 };
        let mut ip = vec![0x60, 0, 0, 0];
        ip.extend_from_slice(&(payload_len as u16).to_be_bytes());
        ip.extend_from_slice(&[protocol, 64]);
        ip.extend_from_slice(&POD_IP6.octets());
        ip.extend_from_slice(&dst.octets());
        ip
    } else {
        let dst = if to_service { VIP4 } else { OUTSIDE4 };
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&(20 + payload_len as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 0, 0, 0, 64, protocol, 0, 0]);
        ip.extend_from_slice(&POD_IP4.octets());
        ip.extend_from_slice(&dst.octets());
        ip
    }
}

proptest! {
    /// Whatever follows a valid IP header, the nodes account for the packet and never panic.
    #[test]
    fn any_packet_to_a_service_or_outside_is_accounted_for(
        v6 in any::<bool>(),
        protocol in prop::sample::select(vec![1u8, 6, 17, 58, 132, 44, 0, 99]),
        to_service in any::<bool>(),
        payload in proptest::collection::vec(any::<u8>(), 0..120),
    ) {
        let mut h = harness(true);
        let ip = ip_header(v6, protocol, to_service, payload.len());
        let mut f = raw(from_pod(), &[ip, payload].concat());
        if !v6 {
            refill_ip4_checksum(&mut f);
        }
        prop_assert_eq!(h.receive_and_account(POD_IF, &f), Ok(()));
    }

    /// Parsing and translating an ICMP error quoting anything never panics.
    #[test]
    fn translating_any_quote_never_panics(
        v6 in any::<bool>(),
        kind in prop::sample::select(vec![1u8, 2, 3, 4, 11, 12]),
        protocol in prop::sample::select(vec![1u8, 6, 17, 58, 132, 44, 0]),
        tail in proptest::collection::vec(any::<u8>(), 0..60),
        cut in any::<prop::sample::Index>(),
    ) {
        let inner = [ip_header(v6, protocol, true, tail.len()), tail].concat();
        let inner = &inner[..cut.index(inner.len() + 1)];
        let icmp = if v6 { 58 } else { 1 };
        let mut bytes = ip_header(v6, icmp, false, 8 + inner.len());
        bytes.extend_from_slice(&[kind, 0, 0, 0, 0, 0, 0, 0]);
        bytes.extend_from_slice(inner);
        let (a, b): (IpAddr, IpAddr) = if v6 {
            (POD_IP6.into(), VIP6.into())
        } else {
            (POD_IP4.into(), VIP4.into())
        };
        match parse(&bytes, v6) {
            Parsed::Packet { headers, .. } => {
                let _ = translate(&mut bytes, &headers, ((a, 1), (b, 2)), false);
            }
            Parsed::Error { icmp, quoted_at, quoted } => {
                let to = ((a, 1), (b, 2));
                prop_assert!(translate_error(&mut bytes, v6, icmp, quoted_at, &quoted, to).is_ok());
            }
            Parsed::Opaque(_) => {}
        }
    }
}
