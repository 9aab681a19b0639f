//! The test stream: UDP-in-IPv4 (in Ethernet frames, or bare in ip mode)
//! whose payload starts with a stamp, a magic, the flow and the sequence
//! number. `gen` writes it from a template; `sink` (and `gen`, reading back
//! what a reflector returns) reads and checks it.

use podwire_memif::queue::DEFAULT_MAX_FRAME;
use podwire_memif::types::Mode;
use podwire_wire::checksum::{update_bytes, update_u16};
use podwire_wire::{
    EtherType, EthernetAddress, EthernetRepr, IpProtocol, Ipv4Addr, Ipv4Repr, ethernet, ipv4, udp,
};

/// The first four payload bytes of every frame of the stream ("pwmf").
pub const MAGIC: u32 = 0x7077_6d66;
/// Bytes of the stamp: magic, flow (u32), sequence number (u64), big-endian.
pub const STAMP_LEN: usize = 16;
/// Where the flow starts in the stamp; the sequence number follows it.
const FLOW_AT: usize = 4;

/// Which frame of which flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The flow, 0 to `--flows - 1`; its frames have source port
    /// `--src-port + flow`.
    pub flow: u32,
    /// The frame's number in its flow, from 0.
    pub seq: u64,
}

impl Stamp {
    /// The flow and the sequence number as on the wire (the stamp after
    /// the magic).
    fn bytes(self) -> [u8; STAMP_LEN - FLOW_AT] {
        let mut bytes = [0; STAMP_LEN - FLOW_AT];
        bytes[..4].copy_from_slice(&self.flow.to_be_bytes());
        bytes[4..].copy_from_slice(&self.seq.to_be_bytes());
        bytes
    }
}

/// The headers and the size of the stream's frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSpec {
    /// Ethernet frames, or bare IPv4 packets.
    pub mode: Mode,
    /// Ethernet source (ethernet mode).
    pub src_mac: EthernetAddress,
    /// Ethernet destination (ethernet mode).
    pub dst_mac: EthernetAddress,
    /// IPv4 source.
    pub src_ip: Ipv4Addr,
    /// IPv4 destination.
    pub dst_ip: Ipv4Addr,
    /// UDP source port of flow 0; flow `f` uses `src_port + f` (wrapping).
    pub src_port: u16,
    /// UDP destination port.
    pub dst_port: u16,
    /// Bytes per frame (Ethernet header included in ethernet mode).
    pub size: usize,
}

/// Why the stream cannot be built as asked.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// No room for the headers and the stamp.
    #[error(
        "--size {size} is too small: {mode:?} frames of the test stream need at least {min} \
         bytes (headers and the {STAMP_LEN}-byte stamp)"
    )]
    TooSmall {
        /// The size asked for.
        size: usize,
        /// The frames' mode.
        mode: Mode,
        /// The smallest size.
        min: usize,
    },
    /// Bigger than a memif queue sends.
    #[error(
        "--size {size} is too big: memif queues send frames of at most {DEFAULT_MAX_FRAME} bytes"
    )]
    TooBig {
        /// The size asked for.
        size: usize,
    },
    /// The headers could not be written (a bug: the sizes were checked).
    #[error("cannot build the test stream's headers: {0}")]
    Headers(#[from] podwire_wire::Error),
}

/// Why a received frame is not a good frame of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Not UDP in IPv4, or no magic: some other traffic.
    Foreign,
    /// An IPv4 or UDP checksum does not match: corrupted on the way.
    BadChecksum,
}

/// Where the IPv4 header starts in a frame of `mode`.
fn ip_offset(mode: Mode) -> usize {
    match mode {
        Mode::Ethernet => ethernet::HEADER_LEN,
        Mode::Ip | Mode::PuntInject => 0,
    }
}

/// A frame of flow 0 with sequence number 0, from which every other frame
/// is written with a copy and an incremental checksum update.
#[derive(Debug, Clone)]
pub struct Template {
    frame: Vec<u8>,
    /// Where the UDP header starts.
    udp_at: usize,
    /// The source port of flow 0.
    src_port: u16,
}

impl Template {
    /// The template of the stream `spec` describes.
    pub fn new(spec: &StreamSpec) -> Result<Template, StreamError> {
        let ip_at = ip_offset(spec.mode);
        let udp_at = ip_at + ipv4::HEADER_LEN;
        let min = udp_at + udp::HEADER_LEN + STAMP_LEN;
        if spec.size < min {
            return Err(StreamError::TooSmall {
                size: spec.size,
                mode: spec.mode,
                min,
            });
        }
        if spec.size > DEFAULT_MAX_FRAME {
            return Err(StreamError::TooBig { size: spec.size });
        }
        let mut frame = vec![0; spec.size];
        if spec.mode == Mode::Ethernet {
            let ethernet = EthernetRepr {
                src_addr: spec.src_mac,
                dst_addr: spec.dst_mac,
                ethertype: EtherType::IPV4,
            };
            ethernet.emit(&mut ethernet::Frame::new_unchecked(&mut frame[..]))?;
        }
        let datagram_len = spec.size - udp_at;
        let ip = Ipv4Repr {
            src_addr: spec.src_ip,
            dst_addr: spec.dst_ip,
            protocol: IpProtocol::UDP,
            payload_len: datagram_len,
            ttl: 64,
            dscp_ecn: 0,
        };
        ip.emit(&mut ipv4::Packet::new_unchecked(&mut frame[ip_at..]))?;
        let mut datagram = udp::Packet::new_unchecked(&mut frame[udp_at..]);
        datagram.set_src_port(spec.src_port);
        datagram.set_dst_port(spec.dst_port);
        // At most 9216 - 34 bytes (checked above).
        datagram.set_len(datagram_len as u16);
        datagram.payload_mut()[..FLOW_AT].copy_from_slice(&MAGIC.to_be_bytes());
        datagram.fill_checksum_v4(spec.src_ip, spec.dst_ip);
        Ok(Template {
            frame,
            udp_at,
            src_port: spec.src_port,
        })
    }

    /// Bytes per frame.
    pub fn len(&self) -> usize {
        self.frame.len()
    }

    /// Writes the frame of `stamp` into the front of `out`; returns its
    /// length, or `None` if `out` is too short.
    pub fn write(&self, stamp: Stamp, out: &mut [u8]) -> Option<usize> {
        let len = self.len();
        let out = out.get_mut(..len)?;
        out.copy_from_slice(&self.frame);
        let mut datagram = udp::Packet::new_unchecked(out.get_mut(self.udp_at..)?);
        // Flow numbers beyond 65535 wrap around the port range.
        let port = self.src_port.wrapping_add(stamp.flow as u16);
        datagram.set_src_port(port);
        let fields = stamp.bytes();
        datagram
            .payload_mut()
            .get_mut(FLOW_AT..STAMP_LEN)?
            .copy_from_slice(&fields);
        // The template has port `src_port` and a zero flow and sequence.
        datagram.update_checksum(|sum| {
            let sum = update_u16(sum, self.src_port, port);
            update_bytes(sum, &[0; STAMP_LEN - FLOW_AT], &fields)
        });
        Some(len)
    }
}

/// Reads the stamp of a received frame, after checking that it is a frame
/// of the stream, whole and with the right checksums.
pub fn read_stamp(mode: Mode, frame: &[u8]) -> Result<Stamp, Rejection> {
    match mode {
        Mode::Ethernet => {
            let frame = ethernet::Frame::new_checked(frame).map_err(|_| Rejection::Foreign)?;
            if frame.ethertype() != EtherType::IPV4 {
                return Err(Rejection::Foreign);
            }
            read_ip_stamp(frame.payload())
        }
        Mode::Ip | Mode::PuntInject => read_ip_stamp(frame),
    }
}

/// [`read_stamp`] from the IPv4 header on.
fn read_ip_stamp(packet: &[u8]) -> Result<Stamp, Rejection> {
    let ip = ipv4::Packet::new_checked(packet).map_err(|_| Rejection::Foreign)?;
    if ip.protocol() != IpProtocol::UDP || ip.is_fragment() {
        return Err(Rejection::Foreign);
    }
    if !ip.verify_checksum() {
        return Err(Rejection::BadChecksum);
    }
    let datagram = udp::Packet::new_checked(ip.payload()).map_err(|_| Rejection::Foreign)?;
    if !datagram.verify_checksum_v4(ip.src_addr(), ip.dst_addr()) {
        return Err(Rejection::BadChecksum);
    }
    let payload = datagram.payload();
    let magic = field(payload, 0).map(u32::from_be_bytes);
    if magic != Some(MAGIC) {
        return Err(Rejection::Foreign);
    }
    let flow = field(payload, FLOW_AT).map(u32::from_be_bytes);
    let seq = field(payload, FLOW_AT + 4).map(u64::from_be_bytes);
    match (flow, seq) {
        (Some(flow), Some(seq)) => Ok(Stamp { flow, seq }),
        _ => Err(Rejection::Foreign),
    }
}

/// The `N` bytes at `at`, if there are that many.
fn field<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..)?.first_chunk().copied()
}

#[cfg(test)]
mod tests;
