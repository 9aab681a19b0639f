//! Test packets, built with etherparse alone: a large segment as a sender hands it to an
//! offload, and the segments a correct segmentation makes of it, by the rules of Linux's
//! GSO (sequence numbers advanced, FIN and PSH on the last segment only, CWR on the first
//! only, the IPv4 identification counted up per segment, every length and checksum for
//! the segment). Nothing here uses podwire's header code.

use etherparse::{
    EtherType, Ethernet2Header, IpNumber, Ipv4Header, Ipv6Header, TcpHeader, TcpOptionElement,
    UdpHeader,
};
use podwire_dataplane::buffer::{
    BUFFER_DATA_SIZE, BUFFER_HEADROOM, BufferIndex, BufferPool, GsoKind, OffloadInfo,
};
use podwire_dataplane::interface::TxOffloads;
use podwire_dataplane::offload::{self, OffloadError, Prepared};

/// What a test packet is: every header field a segmentation must keep or change.
#[derive(Clone, Debug)]
pub struct Spec {
    pub v6: bool,
    pub udp: bool,
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src4: [u8; 4],
    pub dst4: [u8; 4],
    pub src6: [u8; 16],
    pub dst6: [u8; 16],
    pub ttl: u8,
    pub ident: u16,
    pub dont_fragment: bool,
    /// IPv4 options (a multiple of 4 bytes).
    pub ip_options: Vec<u8>,
    pub tcp_options: Vec<TcpOptionElement>,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub window: u16,
    pub fin: bool,
    pub psh: bool,
    pub cwr: bool,
    pub ece: bool,
}

impl Spec {
    pub fn tcp4() -> Self {
        Spec {
            v6: false,
            udp: false,
            src_mac: [0x0a, 0, 0, 0, 0, 2],
            dst_mac: [2, 0, 0, 0, 0, 0xa0],
            src4: [10, 0, 0, 2],
            dst4: [10, 0, 0, 3],
            src6: [0xfd, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            dst6: [0xfd, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3],
            ttl: 64,
            ident: 0xfffe,
            dont_fragment: true,
            ip_options: Vec::new(),
            tcp_options: Vec::new(),
            src_port: 40000,
            dst_port: 5201,
            seq: 1_000_000,
            ack: 77,
            window: 512,
            fin: true,
            psh: true,
            cwr: true,
            ece: true,
        }
    }

    pub fn tcp6() -> Self {
        Spec {
            v6: true,
            // Wraps within the packet.
            seq: u32::MAX - 1000,
            ..Spec::tcp4()
        }
    }

    pub fn udp4() -> Self {
        Spec {
            udp: true,
            ..Spec::tcp4()
        }
    }

    pub fn udp6() -> Self {
        Spec {
            v6: true,
            udp: true,
            ..Spec::tcp4()
        }
    }

    /// The segmentation this packet asks for.
    pub fn gso_kind(&self) -> GsoKind {
        match (self.udp, self.v6) {
            (true, _) => GsoKind::Udp,
            (false, false) => GsoKind::Tcp4,
            (false, true) => GsoKind::Tcp6,
        }
    }

    /// Where the transport header starts.
    pub fn l4(&self) -> usize {
        14 + if self.v6 {
            40
        } else {
            20 + self.ip_options.len()
        }
    }

    /// Where the payload starts.
    pub fn header_len(&self) -> usize {
        self.packet(&[]).len()
    }

    /// Where the transport checksum is, from the transport header.
    pub fn checksum_offset(&self) -> usize {
        if self.udp { 6 } else { 16 }
    }

    /// The offload state of this packet with its transport checksum left to the device.
    pub fn checksum_offload(&self) -> OffloadInfo {
        OffloadInfo {
            needs_csum: true,
            csum_start: self.l4() as u16,
            csum_offset: self.checksum_offset() as u16,
            ..OffloadInfo::default()
        }
    }

    /// The offload state of this packet as a large one: its checksum left to the device,
    /// to be cut into segments of `size` bytes of payload.
    pub fn large_offload(&self, size: u16) -> OffloadInfo {
        OffloadInfo {
            gso: self.gso_kind(),
            gso_size: size,
            hdr_len: self.header_len() as u16,
            ..self.checksum_offload()
        }
    }

    /// The packet carrying `payload`, its checksums filled in.
    pub fn packet(&self, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let ether_type = if self.v6 {
            EtherType::IPV6
        } else {
            EtherType::IPV4
        };
        Ethernet2Header {
            source: self.src_mac,
            destination: self.dst_mac,
            ether_type,
        }
        .write(&mut out)
        .unwrap();
        let protocol = if self.udp {
            IpNumber::UDP
        } else {
            IpNumber::TCP
        };
        let mut tcp = TcpHeader::new(self.src_port, self.dst_port, self.seq, self.window);
        tcp.acknowledgment_number = self.ack;
        tcp.ack = true;
        tcp.fin = self.fin;
        tcp.psh = self.psh;
        tcp.cwr = self.cwr;
        tcp.ece = self.ece;
        tcp.set_options(&self.tcp_options).unwrap();
        let l4_len = if self.udp { 8 } else { tcp.header_len() } + payload.len();
        if self.v6 {
            let ip = Ipv6Header {
                traffic_class: 0,
                flow_label: Default::default(),
                payload_length: l4_len as u16,
                next_header: protocol,
                hop_limit: self.ttl,
                source: self.src6,
                destination: self.dst6,
            };
            ip.write(&mut out).unwrap();
            if self.udp {
                UdpHeader::with_ipv6_checksum(self.src_port, self.dst_port, &ip, payload)
                    .unwrap()
                    .write(&mut out)
                    .unwrap();
            } else {
                tcp.checksum = tcp.calc_checksum_ipv6(&ip, payload).unwrap();
                tcp.write(&mut out).unwrap();
            }
        } else {
            let mut ip = Ipv4Header::new(0, self.ttl, protocol, self.src4, self.dst4).unwrap();
            ip.identification = self.ident;
            ip.dont_fragment = self.dont_fragment;
            ip.options = self.ip_options.as_slice().try_into().unwrap();
            ip.set_payload_len(l4_len).unwrap();
            ip.write(&mut out).unwrap();
            if self.udp {
                UdpHeader::with_ipv4_checksum(self.src_port, self.dst_port, &ip, payload)
                    .unwrap()
                    .write(&mut out)
                    .unwrap();
            } else {
                tcp.checksum = tcp.calc_checksum_ipv4(&ip, payload).unwrap();
                tcp.write(&mut out).unwrap();
            }
        }
        out.extend_from_slice(payload);
        out
    }

    /// The packet carrying `payload` as a sender leaves it to a checksum offload: the
    /// transport checksum field holding the sum of the pseudo-header.
    pub fn partial(&self, payload: &[u8]) -> Vec<u8> {
        let mut p = self.packet(payload);
        let at = self.l4() + self.checksum_offset();
        let pseudo = self.pseudo_sum(p.len() - self.l4());
        p[at..at + 2].copy_from_slice(&pseudo.to_be_bytes());
        p
    }

    /// The sum of the pseudo-header for `l4_len` bytes of transport header and payload,
    /// by the textbook loop.
    pub fn pseudo_sum(&self, l4_len: usize) -> u16 {
        let protocol = if self.udp { 17u8 } else { 6 };
        let mut bytes = Vec::new();
        if self.v6 {
            bytes.extend_from_slice(&self.src6);
            bytes.extend_from_slice(&self.dst6);
            bytes.extend_from_slice(&(l4_len as u32).to_be_bytes());
            bytes.extend_from_slice(&[0, 0, 0, protocol]);
        } else {
            bytes.extend_from_slice(&self.src4);
            bytes.extend_from_slice(&self.dst4);
            bytes.extend_from_slice(&[0, protocol]);
            bytes.extend_from_slice(&(l4_len as u16).to_be_bytes());
        }
        ones_sum(&bytes)
    }

    /// The segments of `size` payload bytes a correct segmentation makes of
    /// `self.packet(payload)`.
    pub fn segments(&self, payload: &[u8], size: usize) -> Vec<Vec<u8>> {
        let chunks: Vec<&[u8]> = if payload.is_empty() {
            vec![&[]]
        } else {
            payload.chunks(size).collect()
        };
        let n = chunks.len();
        chunks
            .iter()
            .enumerate()
            .map(|(i, chunk)| {
                let (first, last) = (i == 0, i + 1 == n);
                Spec {
                    ident: self.ident.wrapping_add(i as u16),
                    seq: self.seq.wrapping_add((i * size) as u32),
                    fin: self.fin && last,
                    psh: self.psh && last,
                    cwr: self.cwr && first,
                    ..self.clone()
                }
                .packet(chunk)
            })
            .collect()
    }
}

/// The one's-complement sum of `bytes`, 16 bits at a time (RFC 1071).
pub fn ones_sum(bytes: &[u8]) -> u16 {
    let mut acc: u32 = 0;
    for pair in bytes.chunks(2) {
        acc += u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]));
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// A payload whose bytes say where they are.
pub fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 251 + 7) as u8).collect()
}

/// `bytes` as a chain of buffers cut at `cuts` (increasing offsets), and wherever a piece
/// would not fit a buffer.
pub fn chain(pool: &mut BufferPool, bytes: &[u8], cuts: &[usize]) -> BufferIndex {
    let mut bounds = vec![0];
    bounds.extend(cuts.iter().copied().filter(|&c| c > 0 && c < bytes.len()));
    bounds.push(bytes.len());
    bounds.dedup();
    let mut head: Option<BufferIndex> = None;
    for piece in bounds.windows(2) {
        for part in bytes[piece[0]..piece[1]].chunks(BUFFER_DATA_SIZE) {
            let bi = pool.alloc().unwrap();
            pool.raw_mut(bi)[BUFFER_HEADROOM..BUFFER_HEADROOM + part.len()].copy_from_slice(part);
            pool.set_data(bi, BUFFER_HEADROOM, part.len());
            match head {
                Some(h) => pool.append(h, bi),
                None => head = Some(bi),
            }
        }
    }
    head.unwrap_or_else(|| pool.alloc_from(&[]).unwrap())
}

/// What left: a packet's bytes, what it asks of its device, how many buffers it took.
#[derive(Debug)]
pub struct Out {
    pub bytes: Vec<u8>,
    pub offload: OffloadInfo,
    pub buffers: usize,
}

/// Takes packet `bi` off the pool.
pub fn take(pool: &mut BufferPool, bi: BufferIndex) -> Out {
    let mut bytes = Vec::new();
    pool.copy_to_vec(bi, &mut bytes);
    let out = Out {
        bytes,
        offload: pool.meta(bi).offload,
        buffers: pool.chain(bi).count(),
    };
    pool.free(bi);
    out
}

/// Prepares packet `bi` for a device that takes `device` and takes what comes out off
/// the pool.
pub fn prepare(
    pool: &mut BufferPool,
    bi: BufferIndex,
    device: TxOffloads,
) -> Result<Vec<Out>, OffloadError> {
    match offload::prepare(pool, bi, device)? {
        Prepared::Whole(bi) | Prepared::Finished(bi) => Ok(vec![take(pool, bi)]),
        Prepared::Segments(mut segments) => {
            let mut out = Vec::new();
            while let Some(made) = segments.next_segment(pool) {
                out.push(take(pool, made?));
            }
            assert_eq!(out.len(), segments.segments());
            Ok(out)
        }
    }
}

/// The large packet of `spec` carrying `payload`, as a sender hands it over: its checksum
/// left to the offload, cut into `size`, in a chain cut at `cuts`.
pub fn large(
    pool: &mut BufferPool,
    spec: &Spec,
    payload: &[u8],
    size: u16,
    cuts: &[usize],
) -> BufferIndex {
    let bi = chain(pool, &spec.partial(payload), cuts);
    pool.meta_mut(bi).offload = spec.large_offload(size);
    bi
}

/// The timestamp option Linux puts on every segment, padded as Linux pads it.
pub fn timestamps() -> Vec<TcpOptionElement> {
    vec![
        TcpOptionElement::Noop,
        TcpOptionElement::Noop,
        TcpOptionElement::Timestamp(0x0102_0304, 0x0a0b_0c0d),
    ]
}
