//! The fuzz input's format: records of a frame and what the worker does
//! around it (see the [fuzzing](super) module's table).

use std::time::Duration;

use crate::interface::IfIndex;
use crate::neighbor::NEIGHBOR_LIFETIME;

use super::network;

/// Bytes of a record before its frame.
const HEAD_LEN: usize = 4;

/// One frame of the input, and what the worker does around it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// The interface it is received on.
    pub rx_if: IfIndex,
    /// Whether the packet trace follows it (the nodes' notes run too).
    pub traced: bool,
    /// How far the clock moves before it arrives.
    pub step: Step,
    /// What the worker does once it is received.
    pub then: Then,
    /// The checksums filled in before it is received.
    pub fill: Fill,
    /// The frame, Ethernet header first.
    pub frame: &'a [u8],
}

impl<'a> Record<'a> {
    /// The record at the start of `data` and the bytes after it; `None`
    /// when `data` does not hold a whole record head.
    pub fn decode(data: &'a [u8]) -> Option<(Record<'a>, &'a [u8])> {
        let (&[control, flags, len_hi, len_lo], rest) = data.split_first_chunk::<HEAD_LEN>()?;
        let len = usize::from(u16::from_be_bytes([len_hi, len_lo])).min(rest.len());
        let (frame, rest) = rest.split_at(len);
        let record = Record {
            rx_if: IfIndex(u16::from((control & 0x0f) % network::RX_INTERFACES)),
            then: Then::from_bits(control >> 4),
            step: Step::from_bits(control >> 6),
            traced: flags & 0x01 != 0,
            fill: Fill {
                ip4_header: flags & 0x02 != 0,
                icmp: flags & 0x04 != 0,
            },
            frame,
        };
        Some((record, rest))
    }

    /// Appends the record to `out`, as [`Record::decode`] reads it. A frame
    /// longer than 65535 bytes is cut to that; an interface index past
    /// [`network::MISSING`] wraps around.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let len = u16::try_from(self.frame.len()).unwrap_or(u16::MAX);
        let control = (self.rx_if.0 % u16::from(network::RX_INTERFACES)) as u8
            | ((self.then as u8) << 4)
            | ((self.step as u8) << 6);
        let flags = u8::from(self.traced)
            | (u8::from(self.fill.ip4_header) << 1)
            | (u8::from(self.fill.icmp) << 2);
        out.extend_from_slice(&[control, flags]);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.frame[..usize::from(len)]);
    }
}

/// What the worker does after receiving a record's frame.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Then {
    /// Nothing yet: the frame waits to go through the graph in one vector
    /// with the frames after it.
    Wait = 0,
    /// Runs the graph; what it queued for output stays queued.
    Run = 1,
    /// Runs the graph and hands the output queues to the devices.
    RunAndSend = 2,
    /// Runs, sends, and does the worker's housekeeping between vectors:
    /// ages the MAC tables and expires neighbors.
    RunSendAndAge = 3,
}

impl Then {
    fn from_bits(bits: u8) -> Self {
        match bits & 0b11 {
            0 => Then::Wait,
            1 => Then::Run,
            2 => Then::RunAndSend,
            _ => Then::RunSendAndAge,
        }
    }
}

/// How far the clock moves before a record's frame arrives.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Step {
    /// Not at all: the same instant as the frame before.
    None = 0,
    /// 600 ms: two such steps pass the interval between two requests for
    /// the same next hop.
    Short = 1,
    /// Past the bridge domain's [`network::MAC_AGE`]: learned MACs go stale.
    Long = 2,
    /// Past [`NEIGHBOR_LIFETIME`]: learned neighbors expire.
    Expire = 3,
}

impl Step {
    fn from_bits(bits: u8) -> Self {
        match bits & 0b11 {
            0 => Step::None,
            1 => Step::Short,
            2 => Step::Long,
            _ => Step::Expire,
        }
    }

    /// How far the clock moves.
    pub fn duration(self) -> Duration {
        match self {
            Step::None => Duration::ZERO,
            Step::Short => Duration::from_millis(600),
            Step::Long => network::MAC_AGE + Duration::from_secs(1),
            Step::Expire => NEIGHBOR_LIFETIME + Duration::from_secs(1),
        }
    }
}

/// Checksums filled in a record's frame before it is received, so that a
/// fuzzer's changes to a header get past the nodes that verify them.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Fill {
    /// The IPv4 header checksum, of an IPv4 frame.
    pub ip4_header: bool,
    /// The ICMP checksum of an IPv4 frame, or the ICMPv6 one of an IPv6
    /// frame.
    pub icmp: bool,
}
