//! `AF_PACKET` sockets on existing kernel interfaces (uplinks, veths), receiving through a
//! memory-mapped `TPACKET_V3` ring and sending with `send`/`sendmmsg`.
//!
//! The socket sees every frame that arrives on the interface (promiscuous by default) but not
//! the frames sent through it (`PACKET_IGNORE_OUTGOING`), and its transmissions skip the
//! interface's qdisc (`PACKET_QDISC_BYPASS`): the data plane does its own queueing.
//!
//! Both ways frames carry a virtio-net header (`PACKET_VNET_HDR`), so that a large segment
//! crosses the kernel as one frame: a TCP segment of up to 64 KiB or a train of UDP datagrams
//! (USO) is handed to the kernel whole with what it asks for, and the kernel cuts it only where
//! a device cannot take it (in software, `validate_xmit_skb`); a veth carries it whole to its
//! peer, whose packet socket receives it whole with its header.
//!
//! An interface in another network namespace is attached by opening the socket inside that
//! namespace ([`NetNs::run_in`](crate::netns::NetNs::run_in)); an [`AfPacket`] is `Send`, so it
//! can be handed back to the caller and on to a worker thread.

mod block;
mod ring;
mod socket;

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use podwire_dataplane::buffer::OffloadInfo;
use podwire_dataplane::interface::TxOffloads;
use rustix::net::{AddressFamily, SocketFlags, SocketType};

use crate::ifname::{self, InvalidIfName};
use crate::tx::{FrameBatch, TxStatus};
use crate::vnet::{self, PACKET_VNET_HDR_LEN};
use block::{BlockCursor, VLAN_TAG_LEN};
use ring::Ring;
use socket::Receive;

pub use block::RxFrame;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The interface name is not valid.
    #[error(transparent)]
    InvalidName(#[from] InvalidIfName),
    /// The ring configuration cannot work.
    #[error("invalid AF_PACKET ring configuration: {0}")]
    InvalidConfig(String),
    /// The interface does not exist in the calling thread's network namespace.
    #[error(
        "interface {name} not found: {source}; an AF_PACKET socket attaches to an interface of \
         the calling thread's network namespace (open it with NetNs::run_in for another one)"
    )]
    NoSuchInterface {
        /// The interface name.
        name: String,
        /// Why the lookup failed.
        source: io::Error,
    },
    /// A step of setting up the socket failed.
    #[error(
        "cannot attach AF_PACKET to interface {name}: {step} failed: {source}; this needs \
         CAP_NET_RAW, and Linux 4.20 or later"
    )]
    Setup {
        /// The interface name.
        name: String,
        /// The step that failed.
        step: &'static str,
        /// Why it failed.
        source: io::Error,
    },
}

/// Result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Sizes and behavior of an [`AfPacket`] socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AfPacketConfig {
    /// Bytes per ring block: a multiple of the page size. Frames are packed into blocks, and
    /// a frame longer than a block's free space is truncated.
    pub block_size: u32,
    /// Blocks in the ring. `block_size * block_count` bytes are mapped and locked in the
    /// kernel; frames arriving while all blocks are with user space are dropped (and counted).
    pub block_count: u32,
    /// The frame size the kernel validates the ring against (`tp_frame_size`): a multiple of
    /// 16, at most `block_size`. `TPACKET_V3` packs frames at their real length, so this only
    /// has to be large enough for one frame's header.
    pub frame_size: u32,
    /// How long the kernel may keep filling a block before handing it over anyway: the
    /// latency bound at low packet rates. Counted in whole milliseconds; zero lets the kernel
    /// derive it from the link speed.
    pub block_timeout: Duration,
    /// Receive frames addressed to any MAC, not only the interface's own.
    pub promiscuous: bool,
    /// Ask for a virtio-net header with every frame received (`PACKET_VNET_HDR`), so that
    /// large segments (TSO or USO from a veth peer, GRO) come with their segment size and
    /// checksum state: see [`RxFrame::offload`]. (The sending side always has one.)
    pub vnet_hdr: bool,
}

impl Default for AfPacketConfig {
    /// 32 blocks of 128 KiB (4 MiB, some 25 000 small frames), 1 ms block timeout,
    /// promiscuous.
    fn default() -> Self {
        Self {
            block_size: 128 * 1024,
            block_count: 32,
            frame_size: 2048,
            block_timeout: Duration::from_millis(1),
            promiscuous: true,
            vnet_hdr: true,
        }
    }
}

impl AfPacketConfig {
    /// The `PACKET_RX_RING` request for this configuration, after checking it against the
    /// kernel's rules so that a mistake is reported by name rather than as EINVAL.
    fn ring_request(&self, page_size: usize) -> Result<libc::tpacket_req3> {
        let invalid = |reason: String| Err(Error::InvalidConfig(reason));
        let Self {
            block_size,
            block_count,
            frame_size,
            ..
        } = *self;
        if block_size == 0 || block_size as usize % page_size != 0 {
            return invalid(format!(
                "block_size {block_size} must be a non-zero multiple of the page size \
                 ({page_size})"
            ));
        }
        if block_count == 0 {
            return invalid("block_count must be at least 1".into());
        }
        let min_frame = libc::TPACKET3_HDRLEN + VLAN_TAG_LEN;
        if frame_size as usize % libc::TPACKET_ALIGNMENT != 0
            || (frame_size as usize) < min_frame
            || frame_size > block_size
        {
            return invalid(format!(
                "frame_size {frame_size} must be a multiple of {} between {min_frame} and \
                 block_size ({block_size})",
                libc::TPACKET_ALIGNMENT
            ));
        }
        let frame_count = (block_size / frame_size).checked_mul(block_count);
        let mapped = (block_size as usize).checked_mul(block_count as usize);
        let (Some(frame_count), Some(_)) = (frame_count, mapped) else {
            return invalid(format!(
                "block_size {block_size} × block_count {block_count} is too large"
            ));
        };
        let timeout_ms = u32::try_from(self.block_timeout.as_millis()).unwrap_or(u32::MAX);
        Ok(libc::tpacket_req3 {
            tp_block_size: block_size,
            tp_block_nr: block_count,
            tp_frame_size: frame_size,
            tp_frame_nr: frame_count,
            tp_retire_blk_tov: timeout_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        })
    }
}

/// Counters of an [`AfPacket`] socket since the previous [`AfPacket::stats`] call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AfPacketStats {
    /// Frames that reached the socket, including the dropped ones.
    pub packets: u32,
    /// Frames dropped because the ring was full.
    pub drops: u32,
    /// Times the ring was found full (the queue froze until user space released a block).
    pub freeze_queue_count: u32,
}

/// An `AF_PACKET` socket bound to one interface, with a `TPACKET_V3` receive ring. Its
/// descriptor is non-blocking and becomes readable when a block is ready (see
/// [`crate::poll::Poller`]).
#[derive(Debug)]
pub struct AfPacket {
    // Field order: the ring is unmapped before the socket closes.
    ring: Ring,
    /// Where the walk through the current block stands, when a batch ended inside it.
    cursor: Option<BlockCursor>,
    socket: OwnedFd,
    /// Sends on the interface (see [`AfPacket::sender`]).
    tx: OwnedFd,
    ifname: String,
    vnet_hdr: bool,
}

impl AfPacket {
    /// Attaches to interface `ifname` of the calling thread's network namespace.
    pub fn open(ifname: &str, config: &AfPacketConfig) -> Result<Self> {
        ifname::validate(ifname)?;
        let request = config.ring_request(rustix::param::page_size())?;
        let step = |step| {
            move |source: io::Error| Error::Setup {
                name: ifname.to_owned(),
                step,
                source,
            }
        };
        // Protocol 0: nothing is received until `bind` names the protocol and the interface,
        // so no frame of another interface slips in while the ring is being set up.
        let socket = rustix::net::socket_with(
            AddressFamily::PACKET,
            SocketType::RAW,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )
        .map_err(|e| step("socket(AF_PACKET)")(e.into()))?;
        let ifindex = rustix::net::netdevice::name_to_index(&socket, ifname).map_err(|e| {
            Error::NoSuchInterface {
                name: ifname.to_owned(),
                source: e.into(),
            }
        })?;
        let fd = socket.as_fd();
        let on: libc::c_int = 1;
        let version = libc::tpacket_versions::TPACKET_V3 as libc::c_int;
        socket::set_packet_option(fd, libc::PACKET_VERSION, &version)
            .map_err(step("PACKET_VERSION TPACKET_V3"))?;
        // Headroom in front of every frame, so an offloaded VLAN tag can be put back in place.
        let reserve = VLAN_TAG_LEN as libc::c_uint;
        socket::set_packet_option(fd, libc::PACKET_RESERVE, &reserve)
            .map_err(step("PACKET_RESERVE"))?;
        if config.vnet_hdr {
            // Before the ring: the kernel sizes frames with the header.
            socket::set_packet_option(fd, libc::PACKET_VNET_HDR, &on)
                .map_err(step("PACKET_VNET_HDR"))?;
        }
        socket::set_packet_option(fd, libc::PACKET_RX_RING, &request)
            .map_err(step("PACKET_RX_RING"))?;
        let ring = Ring::map(
            fd,
            request.tp_block_size as usize,
            request.tp_block_nr as usize,
        )
        .map_err(step("mmap of the ring"))?;
        socket::set_packet_option(fd, libc::PACKET_IGNORE_OUTGOING, &on)
            .map_err(step("PACKET_IGNORE_OUTGOING"))?;
        socket::set_packet_option(fd, libc::PACKET_QDISC_BYPASS, &on)
            .map_err(step("PACKET_QDISC_BYPASS"))?;
        if config.promiscuous {
            let membership = libc::packet_mreq {
                mr_ifindex: ifindex as libc::c_int,
                mr_type: libc::PACKET_MR_PROMISC as libc::c_ushort,
                mr_alen: 0,
                mr_address: [0; 8],
            };
            socket::set_packet_option(fd, libc::PACKET_ADD_MEMBERSHIP, &membership)
                .map_err(step("PACKET_ADD_MEMBERSHIP promiscuous"))?;
        }
        let tx = open_sender(ifindex).map_err(step("the sending socket"))?;
        socket::bind_to_interface(fd, ifindex, Receive::All).map_err(step("bind"))?;
        Ok(Self {
            ring,
            cursor: None,
            socket,
            tx,
            ifname: ifname.to_owned(),
            vnet_hdr: config.vnet_hdr,
        })
    }

    /// Hands up to `max` received frames to `f`, in arrival order, and returns how many. Blocks
    /// whose frames have all been handed out go back to the kernel; a batch may end inside a
    /// block and the next call continues there. Returns 0 when nothing is waiting.
    pub fn rx_batch(&mut self, max: usize, mut f: impl FnMut(RxFrame<'_>)) -> usize {
        let mut seen = 0;
        while seen < max {
            let Some(block) = self.ring.current_block() else {
                break;
            };
            let vnet_hdr = self.vnet_hdr;
            let cursor = self
                .cursor
                .get_or_insert_with(|| BlockCursor::start(block, vnet_hdr));
            while seen < max {
                let Some(frame) = cursor.next(block) else {
                    break;
                };
                f(frame);
                seen += 1;
            }
            if !cursor.is_finished() {
                break;
            }
            self.cursor = None;
            self.ring.release_current();
        }
        seen
    }

    /// Attaches `count` sockets (at least one) to interface `ifname` that share its frames by
    /// flow (`PACKET_FANOUT_HASH`, a hash both directions of a flow have): one per worker,
    /// each with its own ring. One socket alone is [`AfPacket::open`]'s.
    pub fn open_fanout(ifname: &str, config: &AfPacketConfig, count: usize) -> Result<Vec<Self>> {
        let first = Self::open(ifname, config)?;
        let mut sockets = Vec::with_capacity(count.max(1));
        if count > 1 {
            let failed = |source| Error::Setup {
                name: ifname.to_owned(),
                step: "PACKET_FANOUT",
                source,
            };
            let id = socket::new_fanout(first.socket.as_fd()).map_err(failed)?;
            for _ in 1..count {
                let more = Self::open(ifname, config)?;
                socket::join_fanout(more.socket.as_fd(), id).map_err(failed)?;
                sockets.push(more);
            }
        }
        sockets.insert(0, first);
        Ok(sockets)
    }

    /// The kernel's counters since the previous call (reading them resets them).
    pub fn stats(&self) -> io::Result<AfPacketStats> {
        let stats = socket::packet_statistics(self.socket.as_fd())?;
        Ok(AfPacketStats {
            packets: stats.tp_packets,
            drops: stats.tp_drops,
            freeze_queue_count: stats.tp_freeze_q_cnt,
        })
    }
}

impl AfPacket {
    /// A handle that sends on this interface from any thread, while the
    /// ring stays with the one worker that receives.
    pub fn sender(&self) -> Result<AfPacketSender> {
        let socket = self.tx.try_clone().map_err(|source| Error::Setup {
            name: self.ifname.clone(),
            step: "dup of the sending socket",
            source,
        })?;
        Ok(AfPacketSender { socket })
    }
}

/// Opens the socket an [`AfPacket`] sends with, in the calling thread's namespace (the
/// interface's). A socket of its own rather than the receiving one, whose virtio-net header
/// is a choice of its configuration: this one always has it (`PACKET_VNET_HDR`), so every
/// frame sent is preceded by one. Bound with protocol 0 it receives nothing, so it needs no
/// ring.
fn open_sender(ifindex: u32) -> io::Result<OwnedFd> {
    let socket = rustix::net::socket_with(
        AddressFamily::PACKET,
        SocketType::RAW,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    let on: libc::c_int = 1;
    socket::set_packet_option(socket.as_fd(), libc::PACKET_QDISC_BYPASS, &on)?;
    socket::set_packet_option(socket.as_fd(), libc::PACKET_VNET_HDR, &on)?;
    socket::bind_to_interface(socket.as_fd(), ifindex, Receive::Nothing)?;
    Ok(socket)
}

/// The sending side of an [`AfPacket`], shareable between threads.
///
/// Every frame goes out behind a virtio-net header ([`PACKET_VNET_HDR_LEN`] bytes, gathered
/// in front of the frame's pieces, not copied into it): all zeroes for an ordinary frame, or
/// what the packet asks the device for ([`AfPacketSender::send_batch_offloaded`]).
#[derive(Debug)]
pub struct AfPacketSender {
    socket: OwnedFd,
}

/// The virtio-net header of a frame that asks for nothing.
const NO_OFFLOAD: [u8; PACKET_VNET_HDR_LEN] = [0; PACKET_VNET_HDR_LEN];

impl AfPacketSender {
    /// What the kernel finishes for frames sent with their [`OffloadInfo`]
    /// ([`send_batch_offloaded`](Self::send_batch_offloaded)), whatever the interface: checksums,
    /// TCP segmentation over IPv4 and IPv6, UDP segmentation. What the device itself cannot do
    /// the kernel does in software on the way out (`validate_xmit_skb`), once per large
    /// segment rather than once per system call. A UDP train may hold at most 64 datagrams
    /// (the kernel's `UDP_MAX_SEGMENTS`; 128 on newer kernels): a longer one is refused.
    pub const OFFLOADS: TxOffloads = TxOffloads {
        csum: true,
        tso4: true,
        tso6: true,
        uso: true,
    };

    /// [`Self::OFFLOADS`]: what the interface's `InterfaceConfig::offloads` may say.
    pub fn offloads(&self) -> TxOffloads {
        Self::OFFLOADS
    }

    /// Sends one frame (Ethernet header onwards) out of the interface.
    /// [`TxStatus::QueueFull`] when the device queue is full; errors are for frames the device
    /// cannot take (e.g. longer than its MTU: `EMSGSIZE`) and for a device that went away.
    pub fn send(&self, frame: &[u8]) -> io::Result<TxStatus> {
        match self.send_batch(&[frame][..])? {
            1 => Ok(TxStatus::Sent),
            _ => Ok(TxStatus::QueueFull),
        }
    }

    /// Sends `frames` in order with as few system calls as possible (`sendmmsg`, each frame
    /// gathered from its pieces); returns how many were sent. Fewer than all means the queue
    /// filled up (or a later frame failed; that error is then reported by the next send).
    pub fn send_batch<B: FrameBatch + ?Sized>(&self, frames: &B) -> io::Result<usize> {
        socket::send_frames(self.socket.as_fd(), frames, |_| NO_OFFLOAD)
    }

    /// As [`send_batch`](Self::send_batch), each frame `i` with what it asks the device for,
    /// `offload(i)`: a checksum to finish, a large segment to cut (see [`Self::OFFLOADS`]).
    /// Offsets count from the frame's first byte; its headers are in its first piece.
    pub fn send_batch_offloaded<B: FrameBatch + ?Sized>(
        &self,
        frames: &B,
        offload: impl Fn(usize) -> OffloadInfo,
    ) -> io::Result<usize> {
        socket::send_frames(self.socket.as_fd(), frames, |i| {
            let head = frames.pieces(i).next().unwrap_or_default();
            let header = vnet::encode(&offload(i), head);
            let mut short = NO_OFFLOAD;
            short.copy_from_slice(&header[..PACKET_VNET_HDR_LEN]);
            short
        })
    }
}

impl AsFd for AfPacket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: usize = 4096;

    fn check(config: AfPacketConfig) -> Result<libc::tpacket_req3> {
        config.ring_request(PAGE)
    }

    #[test]
    fn the_default_ring_is_valid_and_counts_its_frames() {
        let request = check(AfPacketConfig::default()).unwrap();
        assert_eq!(request.tp_block_size, 128 * 1024);
        assert_eq!(request.tp_block_nr, 32);
        assert_eq!(request.tp_frame_nr, 64 * 32);
        assert_eq!(request.tp_retire_blk_tov, 1);
    }

    #[test]
    fn configurations_the_kernel_would_refuse_are_named() {
        let base = AfPacketConfig::default();
        let bad = [
            AfPacketConfig {
                block_size: 1000,
                ..base
            },
            AfPacketConfig {
                block_size: 0,
                ..base
            },
            AfPacketConfig {
                block_count: 0,
                ..base
            },
            AfPacketConfig {
                frame_size: 2047,
                ..base
            },
            AfPacketConfig {
                frame_size: 16,
                ..base
            },
            AfPacketConfig {
                frame_size: 256 * 1024,
                ..base
            },
            AfPacketConfig {
                block_size: 1 << 31,
                block_count: u32::MAX,
                frame_size: 16 * 6,
                ..base
            },
        ];
        for config in bad {
            assert!(
                matches!(check(config), Err(Error::InvalidConfig(_))),
                "{config:?} should be refused"
            );
        }
    }

    #[test]
    fn an_afpacket_can_be_handed_to_another_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<AfPacket>();
    }
}
