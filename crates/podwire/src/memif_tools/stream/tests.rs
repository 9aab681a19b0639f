use etherparse::{NetSlice, SlicedPacket, TransportSlice};

use super::*;

fn spec(mode: Mode, size: usize) -> StreamSpec {
    StreamSpec {
        mode,
        src_mac: EthernetAddress([2, 0, 0, 0, 0, 1]),
        dst_mac: EthernetAddress([2, 0, 0, 0, 0, 2]),
        src_ip: Ipv4Addr::new(10, 0, 0, 1),
        dst_ip: Ipv4Addr::new(10, 0, 0, 2),
        src_port: 65_534,
        dst_port: 9,
        size,
    }
}

fn frame(template: &Template, stamp: Stamp) -> Vec<u8> {
    let mut out = vec![0; template.len() + 10];
    let len = template.write(stamp, &mut out).unwrap();
    out.truncate(len);
    out
}

/// The headers etherparse reads, with checksums it computes itself.
fn check_with_etherparse(sliced: SlicedPacket<'_>, source_port: u16, size: usize) -> Vec<u8> {
    let Some(NetSlice::Ipv4(ip)) = sliced.net else {
        panic!("not IPv4");
    };
    let header = ip.header().to_header();
    assert_eq!(header.source, [10, 0, 0, 1]);
    assert_eq!(header.destination, [10, 0, 0, 2]);
    assert_eq!(header.header_checksum, header.calc_header_checksum());
    assert_eq!(usize::from(header.total_len), size);
    let Some(TransportSlice::Udp(udp)) = sliced.transport else {
        panic!("not UDP");
    };
    assert_eq!(
        (udp.source_port(), udp.destination_port()),
        (source_port, 9)
    );
    let expected = udp
        .to_header()
        .calc_checksum_ipv4(&header, udp.payload())
        .unwrap();
    assert_eq!(
        udp.checksum(),
        expected,
        "incrementally updated UDP checksum"
    );
    udp.payload().to_vec()
}

#[test]
fn ethernet_frames_are_what_etherparse_expects_with_the_stamp_in_front() {
    let template = Template::new(&spec(Mode::Ethernet, 64)).unwrap();
    assert_eq!(template.len(), 64);
    let stamp = Stamp {
        flow: 3,
        seq: 0x0102_0304_0506_0708,
    };
    let bytes = frame(&template, stamp);
    let sliced = SlicedPacket::from_ethernet(&bytes).unwrap();
    let Some(etherparse::LinkSlice::Ethernet2(ethernet)) = &sliced.link else {
        panic!("not Ethernet");
    };
    assert_eq!(ethernet.source(), [2, 0, 0, 0, 0, 1]);
    assert_eq!(ethernet.destination(), [2, 0, 0, 0, 0, 2]);
    // Flow 3 of source port 65534 wraps around to port 1.
    let payload = check_with_etherparse(sliced, 1, 64 - 14);
    assert_eq!(payload[..4], *b"pwmf");
    assert_eq!(payload[4..8], 3u32.to_be_bytes());
    assert_eq!(payload[8..16], stamp.seq.to_be_bytes());
    assert!(payload[16..].iter().all(|&b| b == 0));
    assert_eq!(read_stamp(Mode::Ethernet, &bytes), Ok(stamp));
}

#[test]
fn ip_mode_packets_have_no_ethernet_header() {
    let template = Template::new(&spec(Mode::Ip, 100)).unwrap();
    let stamp = Stamp { flow: 0, seq: 7 };
    let bytes = frame(&template, stamp);
    assert_eq!(bytes.len(), 100);
    check_with_etherparse(SlicedPacket::from_ip(&bytes).unwrap(), 65_534, 100);
    assert_eq!(read_stamp(Mode::Ip, &bytes), Ok(stamp));
    // The same bytes are no Ethernet frame of the stream.
    assert_eq!(read_stamp(Mode::Ethernet, &bytes), Err(Rejection::Foreign));
}

#[test]
fn every_stamp_gets_a_right_checksum() {
    let template = Template::new(&spec(Mode::Ethernet, 61)).unwrap();
    for (flow, seq) in [
        (0, 0),
        (1, 1),
        (65_535, u64::MAX),
        (70_000, 1 << 40),
        (9, 0xffff),
    ] {
        let stamp = Stamp { flow, seq };
        let bytes = frame(&template, stamp);
        assert_eq!(read_stamp(Mode::Ethernet, &bytes), Ok(stamp), "{stamp:?}");
        let port = 65_534u16.wrapping_add(flow as u16);
        check_with_etherparse(SlicedPacket::from_ethernet(&bytes).unwrap(), port, 61 - 14);
    }
}

#[test]
fn sizes_outside_the_headers_and_memifs_limit_are_refused() {
    let error = Template::new(&spec(Mode::Ethernet, 57))
        .unwrap_err()
        .to_string();
    assert!(error.contains("at least 58"), "{error}");
    let error = Template::new(&spec(Mode::Ip, 43)).unwrap_err().to_string();
    assert!(error.contains("at least 44"), "{error}");
    assert!(Template::new(&spec(Mode::Ethernet, 9216)).is_ok());
    let error = Template::new(&spec(Mode::Ethernet, 9217))
        .unwrap_err()
        .to_string();
    assert!(error.contains("at most 9216"), "{error}");
}

#[test]
fn a_short_output_buffer_gets_nothing() {
    let template = Template::new(&spec(Mode::Ethernet, 64)).unwrap();
    assert_eq!(
        template.write(Stamp { flow: 0, seq: 0 }, &mut [0; 63]),
        None
    );
}

#[test]
fn damaged_or_foreign_frames_are_told_apart() {
    let template = Template::new(&spec(Mode::Ethernet, 80)).unwrap();
    let good = frame(&template, Stamp { flow: 1, seq: 2 });

    let mut payload_bit = good.clone();
    payload_bit[70] ^= 1;
    assert_eq!(
        read_stamp(Mode::Ethernet, &payload_bit),
        Err(Rejection::BadChecksum)
    );

    let mut ip_bit = good.clone();
    ip_bit[22] ^= 1; // TTL
    assert_eq!(
        read_stamp(Mode::Ethernet, &ip_bit),
        Err(Rejection::BadChecksum)
    );

    let mut magic = good.clone();
    magic[42] ^= 0xff;
    magic[40..42].copy_from_slice(&[0, 0]); // no UDP checksum: only the magic is wrong
    assert_eq!(read_stamp(Mode::Ethernet, &magic), Err(Rejection::Foreign));

    let mut arp = good.clone();
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    assert_eq!(read_stamp(Mode::Ethernet, &arp), Err(Rejection::Foreign));

    for len in 0..good.len() {
        let cut = &good[..len];
        assert!(
            read_stamp(Mode::Ethernet, cut).is_err(),
            "cut to {len} bytes"
        );
    }
}
