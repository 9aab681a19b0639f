//! `podwire memif reflect`: sends every received packet back on the queue it
//! came from, its addresses swapped so that it returns to its sender.

use std::time::Instant;

use podwire_memif::Interface;
use podwire_memif::types::Mode;
use podwire_wire::{ethernet, ipv4, ipv6};
use serde::Serialize;

use super::batch::Batch;
use super::driver::{Step, Tool};
use super::options::CommonArgs;
use super::receive::RX_BURST;
use super::report::Progress;

/// Options of `podwire memif reflect`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReflectArgs {
    /// The options every tool takes.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Send packets back untouched, instead of swapping the Ethernet
    /// addresses (IP addresses in ip mode).
    #[arg(long)]
    pub no_swap: bool,
}

/// What reflect counts.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ReflectCounters {
    /// Packets received.
    pub received: u64,
    /// Packets sent back.
    pub reflected: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Packets sent back unswapped: too short for the headers swapped.
    pub unswapped: u64,
    /// Times a transmit ring was full with packets waiting; reflect then
    /// stops reading that queue until there is room (back-pressure, no
    /// drops).
    pub ring_full: u64,
}

/// The reflector.
#[derive(Debug)]
pub struct Reflect {
    mode: Mode,
    swap: bool,
    count: Option<u64>,
    /// Packets to send back, per receive queue.
    queues: Vec<Batch>,
    counters: ReflectCounters,
}

impl Reflect {
    /// A reflector as `args` ask.
    pub fn new(args: &ReflectArgs) -> Reflect {
        Reflect {
            mode: args.common.mode.into(),
            swap: !args.no_swap,
            count: args.common.count,
            queues: Vec::new(),
            counters: ReflectCounters::default(),
        }
    }
}

impl Tool for Reflect {
    type Counters = ReflectCounters;
    const NAME: &'static str = "reflect";

    fn connected(&mut self, interface: &mut Interface, _: Instant) -> anyhow::Result<()> {
        // Packets of the last connection waiting to go back are dropped.
        self.queues = (0..interface.rx_queues())
            .map(|_| Batch::default())
            .collect();
        Ok(())
    }

    fn step(&mut self, interface: &mut Interface, _: Instant) -> anyhow::Result<Step> {
        let (mut moved, mut blocked) = (false, false);
        let tx_queues = interface.tx_queues().max(1);
        for (rx_queue, batch) in (0..).zip(&mut self.queues) {
            // The same queue, when the peer agreed as many each way.
            let tx_queue = rx_queue % tx_queues;
            if batch.is_empty() {
                let left = self.count.map_or(u64::MAX, |count| {
                    count.saturating_sub(self.counters.received)
                });
                let max = usize::try_from(left).unwrap_or(usize::MAX).min(RX_BURST);
                let got = interface.rx_burst(rx_queue, max, |packet| batch.push_packet(&packet))?;
                self.counters.received += got as u64;
                if self.swap {
                    let (mode, unswapped) = (self.mode, &mut self.counters.unswapped);
                    batch.for_each_pending(|frame| {
                        if !turn_around(mode, frame) {
                            *unswapped += 1;
                        }
                    });
                }
            }
            let bytes = batch.pending_bytes();
            let sent = batch.send(interface, tx_queue)?;
            self.counters.reflected += sent as u64;
            self.counters.bytes += (bytes - batch.pending_bytes()) as u64;
            moved |= sent > 0;
            if !batch.is_empty() {
                self.counters.ring_full += 1;
                blocked = true;
            }
        }
        Ok(Step::of(moved, blocked))
    }

    fn finished(&self) -> bool {
        self.count
            .is_some_and(|count| self.counters.reflected >= count)
    }

    fn progress(&self) -> Progress {
        Progress {
            packets: self.counters.reflected,
            drops: 0,
        }
    }

    fn details(&self) -> String {
        let c = &self.counters;
        format!(
            "received {} unswapped {} ring full {}",
            c.received, c.unswapped, c.ring_full
        )
    }

    fn counters(&self) -> ReflectCounters {
        self.counters
    }
}

/// Swaps a frame's Ethernet addresses (ethernet mode) or a packet's IP
/// addresses (ip mode) in place, so that it goes back where it came from;
/// false if it is too short for that (or not IP). Swapping IP addresses
/// keeps every checksum right: a one's-complement sum does not depend on
/// the order of the words it adds.
pub fn turn_around(mode: Mode, frame: &mut [u8]) -> bool {
    match mode {
        Mode::Ethernet => {
            let Ok(mut frame) = ethernet::Frame::new_checked(frame) else {
                return false;
            };
            let (src, dst) = (frame.src_addr(), frame.dst_addr());
            frame.set_src_addr(dst);
            frame.set_dst_addr(src);
            true
        }
        Mode::Ip | Mode::PuntInject => match frame.first().map(|byte| byte >> 4) {
            Some(4) => {
                let Ok(mut packet) = ipv4::Packet::new_checked(frame) else {
                    return false;
                };
                let (src, dst) = (packet.src_addr(), packet.dst_addr());
                packet.set_src_addr(dst);
                packet.set_dst_addr(src);
                true
            }
            Some(6) => {
                let Ok(mut packet) = ipv6::Packet::new_checked(frame) else {
                    return false;
                };
                let (src, dst) = (packet.src_addr(), packet.dst_addr());
                packet.set_src_addr(dst);
                packet.set_dst_addr(src);
                true
            }
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use etherparse::{PacketBuilder, SlicedPacket, TransportSlice};

    use super::*;

    fn udp_frame() -> Vec<u8> {
        let mut frame = Vec::new();
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(1000, 2000)
            .write(&mut frame, b"payload")
            .unwrap();
        frame
    }

    #[test]
    fn ethernet_frames_get_their_macs_swapped_and_nothing_else() {
        let mut frame = udp_frame();
        let original = frame.clone();
        assert!(turn_around(Mode::Ethernet, &mut frame));
        assert_eq!(frame[..6], original[6..12]);
        assert_eq!(frame[6..12], original[..6]);
        assert_eq!(frame[12..], original[12..]);
    }

    #[test]
    fn ip_packets_get_their_addresses_swapped_with_checksums_still_right() {
        let mut packet = udp_frame()[14..].to_vec();
        assert!(turn_around(Mode::Ip, &mut packet));
        let sliced = SlicedPacket::from_ip(&packet).unwrap();
        let Some(etherparse::NetSlice::Ipv4(ip)) = sliced.net else {
            panic!("not IPv4");
        };
        let header = ip.header().to_header();
        assert_eq!(
            (header.source, header.destination),
            ([10, 0, 0, 2], [10, 0, 0, 1])
        );
        assert_eq!(header.header_checksum, header.calc_header_checksum());
        let Some(TransportSlice::Udp(udp)) = sliced.transport else {
            panic!("not UDP");
        };
        let expected = udp
            .to_header()
            .calc_checksum_ipv4(&header, udp.payload())
            .unwrap();
        assert_eq!(udp.checksum(), expected);
    }

    #[test]
    fn ipv6_packets_are_turned_around_too() {
        let mut packet = Vec::new();
        PacketBuilder::ipv6([1; 16], [2; 16], 64)
            .udp(1, 2)
            .write(&mut packet, b"x")
            .unwrap();
        assert!(turn_around(Mode::Ip, &mut packet));
        assert_eq!(packet[8..24], [2; 16]);
        assert_eq!(packet[24..40], [1; 16]);
    }

    #[test]
    fn runts_and_non_ip_go_back_unchanged() {
        let mut runt = [1u8; 10];
        assert!(!turn_around(Mode::Ethernet, &mut runt));
        assert_eq!(runt, [1; 10]);
        let mut junk = [0x10u8; 40];
        assert!(!turn_around(Mode::Ip, &mut junk));
    }
}
