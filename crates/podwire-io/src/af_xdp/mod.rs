//! `AF_XDP` sockets on one queue of an existing kernel interface (an uplink, a veth), for
//! receiving and sending frames without the kernel's socket-buffer path.
//!
//! An AF_XDP socket receives only what an XDP program redirects to it through an `XSKMAP`.
//! [`AfXdp::open`] sets up all of it with system calls alone, with no BPF compiler or loader
//! library: the UMEM and its four rings (through `xdpilone`), the map, a five-instruction
//! program loaded with `bpf(2)` (see `bpf.rs`), attached to the interface with netlink in
//! native (driver) mode, or generic mode where the driver has none. The program redirects the
//! frames of the socket's queue and passes everything else to the kernel's stack; it is taken
//! off the interface when the port is dropped.
//!
//! The kernel picks zero-copy where the driver supports it and copy mode otherwise (veth,
//! virtio-net without it, generic mode). Either way this port copies each received frame
//! from the UMEM into a [`BufferPool`] buffer, and each sent frame into a UMEM frame: one
//! memcpy per frame and direction (about what `AF_PACKET`'s ring costs), in exchange for
//! frames that the data plane owns like any other and a UMEM that is never short of frames.
//!
//! Each refusal on the way (no AF_XDP in the kernel, no BPF, the driver, the queue) is an
//! [`Error`] variant that names the step and the reason, so the caller can log it and fall
//! back to [`AfPacket`](crate::af_packet::AfPacket).
//!
//! [`AfXdpRx`] and [`AfXdpTx`] make the halves a worker's ports
//! ([`RxPort`](crate::worker::RxPort), [`TxPort`](crate::worker::TxPort)).
//!
//! An interface in another network namespace is attached by opening the port inside that
//! namespace ([`NetNs::run_in`](crate::netns::NetNs::run_in)); the port is `Send` and can be
//! dropped from any thread.

mod attach;
mod bpf;
mod port;
mod rx;
mod tx;
mod umem;

use std::ffi::CString;
use std::fmt;
use std::io;
use std::mem::size_of;
use std::num::NonZeroU32;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::ptr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use podwire_dataplane::buffer::{BufferIndex, BufferPool};
use xdpilone::{IfInfo, Socket, SocketConfig, Umem, UmemConfig, User};

use crate::ifname::{self, InvalidIfName};
use crate::tx::FrameBatch;
use attach::Attachment;
use umem::UmemArea;

pub use attach::XdpMode;
pub use port::{AfXdpRx, AfXdpTx};
pub use rx::{AfXdpReceiver, RxBatch};
pub use tx::AfXdpSender;

/// Space the kernel keeps in front of a received frame in its UMEM frame
/// (`XDP_PACKET_HEADROOM`).
const XDP_PACKET_HEADROOM: u32 = 256;
/// How long [`bind`] retries a queue that is still taken, and its first pause.
const BIND_RETRY_LIMIT: Duration = Duration::from_secs(1);
const BIND_RETRY_FIRST_PAUSE: Duration = Duration::from_millis(1);
const SOL_XDP: libc::c_int = 283;
const XDP_OPTIONS: libc::c_int = 8;
const XDP_OPTIONS_ZEROCOPY: u32 = 1;

/// Errors of this module, one per step that the kernel or the driver may refuse.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The interface name is not valid.
    #[error(transparent)]
    InvalidName(#[from] InvalidIfName),
    /// The configuration cannot work.
    #[error("invalid AF_XDP configuration: {0}")]
    InvalidConfig(String),
    /// The interface does not exist in the calling thread's network namespace.
    #[error(
        "interface {name} not found: {source}; an AF_XDP socket attaches to an interface of \
         the calling thread's network namespace (open it with NetNs::run_in for another one)"
    )]
    NoSuchInterface {
        /// The interface name.
        name: String,
        /// Why the lookup failed.
        source: io::Error,
    },
    /// The kernel has no AF_XDP sockets.
    #[error(
        "this kernel cannot open AF_XDP sockets ({source}): it needs Linux 5.3 or later built \
         with CONFIG_XDP_SOCKETS; use AF_PACKET"
    )]
    Unsupported {
        /// The error of `socket(AF_XDP)`.
        source: io::Error,
    },
    /// Setting up the socket, its UMEM or its rings failed.
    #[error(
        "cannot set up an AF_XDP socket for {name} queue {queue}: {step} failed: {source}; this \
         needs CAP_NET_RAW (and CAP_IPC_LOCK, or a memlock limit above the UMEM's size)"
    )]
    Socket {
        /// The interface name.
        name: String,
        /// The queue.
        queue: u32,
        /// The step that failed.
        step: &'static str,
        /// Why it failed.
        source: io::Error,
    },
    /// The socket cannot be bound to the queue.
    #[error(
        "cannot bind an AF_XDP socket to {name} queue {queue}: {source}; the queue must exist \
         (see `ethtool -l {name}`) and have no other AF_XDP socket"
    )]
    Bind {
        /// The interface name.
        name: String,
        /// The queue.
        queue: u32,
        /// Why it failed.
        source: io::Error,
    },
    /// The `XSKMAP` could not be made or filled.
    #[error(
        "cannot set up the XSKMAP for {name}: {step} failed: {source}; BPF maps need CAP_BPF \
         and CAP_NET_ADMIN (or root) and a kernel built with CONFIG_BPF_SYSCALL"
    )]
    Map {
        /// The interface name.
        name: String,
        /// The step that failed.
        step: &'static str,
        /// Why it failed.
        source: io::Error,
    },
    /// The kernel refused the redirect program.
    #[error(
        "the kernel refused the XDP redirect program for {name}: {source}; BPF programs need \
         CAP_BPF and CAP_NET_ADMIN (or root) and Linux 5.3 or later; verifier: {verifier_log:?}"
    )]
    Program {
        /// The interface name.
        name: String,
        /// The error of `BPF_PROG_LOAD`.
        source: io::Error,
        /// What the verifier said, if anything.
        verifier_log: String,
    },
    /// No mode of attaching the program to the interface worked.
    #[error(
        "cannot attach the XDP redirect program to {name}: {}; an interface takes one XDP \
         program per mode (see `ip link show {name}`)",
        Refusals(refusals)
    )]
    Attach {
        /// The interface name.
        name: String,
        /// Each mode tried, in order, and why it was refused.
        refusals: Vec<Refusal>,
    },
}

/// Why the kernel refused to attach the program in one mode.
#[derive(Debug)]
pub struct Refusal {
    /// The mode tried.
    pub mode: XdpMode,
    /// The error of the netlink request.
    pub source: io::Error,
    /// The kernel's explanation (netlink extended ACK), or empty.
    pub message: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "in {}: {}", self.mode, self.source)?;
        if !self.message.is_empty() {
            write!(f, " ({})", self.message)?;
        }
        Ok(())
    }
}

/// The refusals of an [`Error::Attach`], separated by "; ".
struct Refusals<'a>(&'a [Refusal]);

impl fmt::Display for Refusals<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, refusal) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{refusal}")?;
        }
        Ok(())
    }
}

/// Result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Sizes and mode of an [`AfXdp`] port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AfXdpConfig {
    /// Bytes per UMEM frame: a power of two from 2048 to the page size. A received frame
    /// may be up to `frame_size - 256` bytes long (the kernel keeps 256 in front of it); a
    /// sent one up to `frame_size`.
    pub frame_size: u32,
    /// Frames for receiving, and the size of the fill and receive rings: a power of two.
    pub rx_frames: u32,
    /// Frames for sending, and the size of the transmit and completion rings: a power of two.
    pub tx_frames: u32,
    /// Where the XDP program runs; `None` tries native mode, then generic mode.
    pub mode: Option<XdpMode>,
}

impl Default for AfXdpConfig {
    /// 8192 receive and 2048 transmit frames of 2 KiB (20 MiB of UMEM), native mode if the
    /// driver has it. Unlike an `AF_PACKET` ring, which packs small frames, every frame takes
    /// a whole UMEM frame: 8192 of them hold some 10 ms of traffic at 0.8 Mpps, enough for a
    /// worker that is descheduled for a few milliseconds (2048 lost frames on a loaded
    /// two-core machine).
    fn default() -> Self {
        Self {
            frame_size: 2048,
            rx_frames: 8192,
            tx_frames: 2048,
            mode: None,
        }
    }
}

impl AfXdpConfig {
    /// Checks the configuration against the kernel's rules, so that a mistake is reported by
    /// name rather than as `EINVAL` from some later step.
    fn check(&self, page_size: usize) -> Result<()> {
        let invalid = |reason: String| Err(Error::InvalidConfig(reason));
        let Self {
            frame_size,
            rx_frames,
            tx_frames,
            ..
        } = *self;
        if !frame_size.is_power_of_two() || frame_size < 2048 || frame_size as usize > page_size {
            return invalid(format!(
                "frame_size {frame_size} must be a power of two from 2048 to the page size \
                 ({page_size})"
            ));
        }
        for (name, count) in [("rx_frames", rx_frames), ("tx_frames", tx_frames)] {
            if !count.is_power_of_two() {
                return invalid(format!("{name} {count} must be a power of two"));
            }
        }
        let total = rx_frames
            .checked_add(tx_frames)
            .and_then(|frames| (frames as usize).checked_mul(frame_size as usize))
            .filter(|&bytes| bytes <= isize::MAX as usize);
        if total.is_none() {
            return invalid(format!(
                "{rx_frames} + {tx_frames} frames of {frame_size} bytes are too many"
            ));
        }
        Ok(())
    }

    /// The longest frame the port can receive.
    pub fn max_rx_frame(&self) -> usize {
        (self.frame_size - XDP_PACKET_HEADROOM) as usize
    }

    /// The default configuration with UMEM frames that hold received frames of `max_frame`
    /// bytes (an interface's MTU and its Ethernet header): frames of 2 KiB, or of a page for
    /// longer ones, with as many fewer frames as keep the UMEM's size. A frame that needs
    /// more than a page is refused: AF_XDP receives a frame into one UMEM frame.
    pub fn for_frames(max_frame: usize) -> Result<Self> {
        Self::for_frames_with_page(max_frame, rustix::param::page_size())
    }

    fn for_frames_with_page(max_frame: usize, page_size: usize) -> Result<Self> {
        let base = Self::default();
        let page = u32::try_from(page_size).unwrap_or(u32::MAX);
        let frame_size = [base.frame_size, page]
            .into_iter()
            .find(|&size| size.saturating_sub(XDP_PACKET_HEADROOM) as usize >= max_frame)
            .ok_or_else(|| {
                Error::InvalidConfig(format!(
                    "frames of {max_frame} bytes do not fit a UMEM frame, which holds at most \
                     {} bytes here (a page less the kernel's headroom); lower the MTU",
                    page.saturating_sub(XDP_PACKET_HEADROOM)
                ))
            })?;
        let fewer = |frames: u32| (frames / (frame_size / base.frame_size)).max(MIN_FRAMES);
        Ok(Self {
            frame_size,
            rx_frames: fewer(base.rx_frames),
            tx_frames: fewer(base.tx_frames),
            ..base
        })
    }
}

/// The fewest receive or transmit frames [`AfXdpConfig::for_frames`] gives a port.
const MIN_FRAMES: u32 = 512;

/// How an [`AfXdp`] port ended up attached.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct AfXdpMode {
    /// Where the redirect program runs.
    pub xdp: XdpMode,
    /// Whether the driver reads and writes the UMEM itself (zero-copy) rather than the kernel
    /// copying frames in and out of it (copy mode).
    pub zero_copy: bool,
}

impl fmt::Display for AfXdpMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let copy = if self.zero_copy {
            "zero-copy"
        } else {
            "copy mode"
        };
        write!(f, "{}, {copy}", self.xdp)
    }
}

/// The kernel's counters of an AF_XDP socket since it was opened (`XDP_STATISTICS`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct AfXdpStats {
    /// Frames redirected to the socket but dropped for other reasons than the two below
    /// (e.g. longer than a UMEM frame).
    pub rx_dropped: u64,
    /// Frames dropped because the receive ring was full.
    pub rx_ring_full: u64,
    /// Times a frame found the fill ring empty (and was dropped).
    pub rx_fill_ring_empty: u64,
    /// Invalid descriptors in the fill ring.
    pub rx_invalid_descs: u64,
    /// Invalid descriptors in the transmit ring.
    pub tx_invalid_descs: u64,
    /// Times the kernel found the transmit ring empty when woken.
    pub tx_ring_empty: u64,
}

/// An AF_XDP socket on one queue of an interface, with its XDP program attached: the
/// receiving half ([`AfXdpReceiver`], which the descriptor belongs to) and the sending half
/// ([`AfXdpSender`]); [`split`](Self::split) separates them for two owners.
#[derive(Debug)]
pub struct AfXdp {
    rx: AfXdpReceiver,
    tx: AfXdpSender,
}

/// What both halves of a port use; dropped with the last of them. Field order is drop
/// order: the program comes off the interface first, the UMEM goes last.
struct Shared {
    pub(super) attachment: Attachment,
    _map: OwnedFd,
    /// Kept for the kernel's statistics.
    pub(super) user: User,
    /// The socket (a duplicate of xdpilone's descriptor): polled for readability, kicked to
    /// send.
    pub(super) socket: OwnedFd,
    pub(super) area: UmemArea,
    pub(super) ifname: String,
    pub(super) queue: u32,
    pub(super) zero_copy: bool,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("ifname", &self.ifname)
            .field("queue", &self.queue)
            .field("mode", &self.attachment.mode())
            .field("zero_copy", &self.zero_copy)
            .finish_non_exhaustive()
    }
}

impl AfXdp {
    /// Opens an AF_XDP socket on queue `queue` of interface `ifname` of the calling thread's
    /// network namespace and attaches the program that redirects that queue's frames to it.
    pub fn open(ifname: &str, queue: u32, config: &AfXdpConfig) -> Result<Self> {
        ifname::validate(ifname)?;
        config.check(rustix::param::page_size())?;
        let name = ifname.to_owned();
        let step = |step| {
            let name = name.clone();
            move |source: io::Error| Error::Socket {
                name,
                queue,
                step,
                source,
            }
        };
        // Declared first, dropped last: the sockets below are gone before it is unmapped.
        let area = UmemArea::map(config.frame_size, config.rx_frames + config.tx_frames)
            .map_err(step("mmap of the UMEM"))?;
        let mut info = IfInfo::invalid();
        let c_name = CString::new(ifname).map_err(|_| InvalidIfName { name: name.clone() })?;
        info.from_name(&c_name)
            .map_err(|e| Error::NoSuchInterface {
                name: name.clone(),
                source: errno(e),
            })?;
        info.set_queue(queue);
        let umem_config = UmemConfig {
            fill_size: config.rx_frames,
            complete_size: config.tx_frames,
            frame_size: config.frame_size,
            headroom: 0,
            flags: 0,
        };
        // SAFETY: the area is page-aligned (a fresh mapping), as long as registered, and stays
        // mapped until after every socket and ring made from this Umem is closed: `area` is
        // dropped after them here, and after them in `Shared`.
        let umem = unsafe { Umem::new(umem_config, area.as_raw()) }.map_err(|e| {
            let source = errno(e);
            if source.raw_os_error() == Some(libc::EAFNOSUPPORT) {
                Error::Unsupported { source }
            } else {
                step("socket(AF_XDP) and UMEM registration")(source)
            }
        })?;
        let socket = Socket::with_shared(&info, &umem)
            .map_err(|e| step("reading the socket's namespace")(errno(e)))?;
        let device = umem
            .fq_cq(&socket)
            .map_err(|e| step("the fill and completion rings")(errno(e)))?;
        // Neither XDP_COPY nor XDP_ZEROCOPY: the kernel uses zero-copy where the driver has it
        // and copy mode otherwise.
        let user = umem
            .rx_tx(
                &socket,
                &SocketConfig {
                    rx_size: NonZeroU32::new(config.rx_frames),
                    tx_size: NonZeroU32::new(config.tx_frames),
                    bind_flags: SocketConfig::XDP_BIND_NEED_WAKEUP,
                },
            )
            .map_err(|e| step("the receive and transmit rings")(errno(e)))?;
        let rx_ring = user
            .map_rx()
            .map_err(|e| step("mmap of the receive ring")(errno(e)))?;
        let tx_ring = user
            .map_tx()
            .map_err(|e| step("mmap of the transmit ring")(errno(e)))?;
        let (mut fill, completion) = device.into_parts();
        // Every receive frame goes to the fill ring (it has room for all of them) before the
        // socket is bound, so the first frames find room.
        let frame_size = u64::from(config.frame_size);
        let mut recycle: Vec<u64> = (0..u64::from(config.rx_frames))
            .map(|frame| frame * frame_size)
            .collect();
        rx::refill(&mut fill, &mut recycle);
        bind(&umem, &user).map_err(|source| Error::Bind {
            name: name.clone(),
            queue,
            source,
        })?;
        let xsk = duplicate(&user).map_err(step("dup of the socket"))?;
        let zero_copy = is_zero_copy(xsk.as_fd()).map_err(step("getsockopt(XDP_OPTIONS)"))?;

        let (map, attachment) =
            redirect_queue(&name, info.ifindex(), queue, xsk.as_fd(), config.mode)?;

        let shared = Arc::new(Shared {
            attachment,
            _map: map,
            user,
            socket: xsk,
            area,
            ifname: name,
            queue,
            zero_copy,
        });
        let rx = AfXdpReceiver {
            ring: rx_ring,
            fill,
            recycle,
            shared: Arc::clone(&shared),
        };
        let tx = AfXdpSender {
            ring: tx_ring,
            completion,
            free: (u64::from(config.rx_frames)..u64::from(config.rx_frames + config.tx_frames))
                .map(|frame| frame * frame_size)
                .collect(),
            shared,
        };
        Ok(Self { rx, tx })
    }

    /// Receives up to `max` frames into buffers of `pool`; see [`AfXdpReceiver::receive`].
    pub fn receive(
        &mut self,
        pool: &mut BufferPool,
        max: usize,
        out: &mut Vec<BufferIndex>,
    ) -> RxBatch {
        self.rx.receive(pool, max, out)
    }

    /// Sends `frames`; see [`AfXdpSender::send_batch`].
    pub fn send_batch<B: FrameBatch + ?Sized>(&mut self, frames: &B) -> io::Result<usize> {
        self.tx.send_batch(frames)
    }

    /// The kernel's counters of the socket.
    pub fn stats(&self) -> io::Result<AfXdpStats> {
        self.rx.stats()
    }

    /// How the port is attached.
    pub fn mode(&self) -> AfXdpMode {
        self.rx.mode()
    }

    /// Separates the halves, for a receiving worker and the senders. The program stays on the
    /// interface until both are dropped.
    pub fn split(self) -> (AfXdpReceiver, AfXdpSender) {
        (self.rx, self.tx)
    }
}

impl AsFd for AfXdp {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.rx.as_fd()
    }
}

/// Puts the bound socket `xsk` into a new `XSKMAP` and attaches the program that redirects
/// queue `queue` of interface `ifindex` through it; returns the map and the attachment.
fn redirect_queue(
    name: &str,
    ifindex: u32,
    queue: u32,
    xsk: BorrowedFd<'_>,
    mode: Option<XdpMode>,
) -> Result<(OwnedFd, Attachment)> {
    let map_step = |step| {
        move |source| Error::Map {
            name: name.to_owned(),
            step,
            source,
        }
    };
    let map = bpf::create_xskmap(queue.saturating_add(1))
        .map_err(map_step("BPF_MAP_CREATE of an XSKMAP"))?;
    bpf::insert_socket(map.as_fd(), queue, xsk)
        .map_err(map_step("BPF_MAP_UPDATE_ELEM with the socket"))?;
    let program = bpf::load_redirect_program(map.as_fd()).map_err(|e| Error::Program {
        name: name.to_owned(),
        source: e.source,
        verifier_log: e.verifier_log,
    })?;
    let attachment = attach_program(name, ifindex, program, mode)?;
    Ok((map, attachment))
}

/// Attaches `program` to interface `ifindex` in `mode`, or native mode and then generic mode
/// when `mode` is `None`.
fn attach_program(
    name: &str,
    ifindex: u32,
    program: OwnedFd,
    mode: Option<XdpMode>,
) -> Result<Attachment> {
    let modes = match mode {
        Some(mode) => vec![mode],
        None => vec![XdpMode::Native, XdpMode::Generic],
    };
    let mut refusals = Vec::new();
    for mode in modes {
        let attempt = program
            .try_clone()
            .map_err(attach::AttachError::from)
            .and_then(|program| Attachment::attach(ifindex, program, mode));
        match attempt {
            Ok(attachment) => {
                if !refusals.is_empty() {
                    tracing::info!(
                        interface = name,
                        refused = %Refusals(&refusals),
                        "AF_XDP program attached in {mode}"
                    );
                }
                return Ok(attachment);
            }
            Err(e) => refusals.push(Refusal {
                mode,
                source: e.source,
                message: e.message,
            }),
        }
    }
    Err(Error::Attach {
        name: name.to_owned(),
        refusals,
    })
}

/// Binds the socket to its queue. The kernel lets go of a closed socket's queue from a work
/// queue, a moment after the close: a port reopened at once (a restart) can find its queue
/// still taken, so `EBUSY` is retried for a short while.
fn bind(umem: &Umem, user: &User) -> io::Result<()> {
    let mut pause = BIND_RETRY_FIRST_PAUSE;
    let deadline = Instant::now() + BIND_RETRY_LIMIT;
    loop {
        match umem.bind(user).map_err(errno) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause *= 2;
            }
            result => return result,
        }
    }
}

/// An owned duplicate of the socket's descriptor.
fn duplicate(user: &User) -> io::Result<OwnedFd> {
    // SAFETY: `user` keeps the descriptor open for the duration of this borrow; it is only
    // duplicated, never closed through the borrow.
    let fd = unsafe { BorrowedFd::borrow_raw(user.as_raw_fd()) };
    fd.try_clone_to_owned()
}

/// Whether the bound socket runs in zero-copy mode (`XDP_OPTIONS`).
fn is_zero_copy(socket: BorrowedFd<'_>) -> io::Result<bool> {
    let mut flags: u32 = 0;
    let mut len = size_of::<u32>() as libc::socklen_t;
    // SAFETY: `flags` and `len` are live and writable; `len` tells the kernel how many bytes it
    // may write into `flags` (struct xdp_options is one u32).
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            SOL_XDP,
            XDP_OPTIONS,
            ptr::from_mut(&mut flags).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(flags & XDP_OPTIONS_ZEROCOPY != 0)
}

/// xdpilone's errno as an `io::Error` (it is negative in some of its paths).
fn errno(e: xdpilone::Errno) -> io::Error {
    io::Error::from_raw_os_error(e.get_raw().abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: usize = 4096;

    #[test]
    fn the_default_configuration_is_valid() {
        AfXdpConfig::default().check(PAGE).unwrap();
        assert_eq!(AfXdpConfig::default().max_rx_frame(), 1792);
    }

    #[test]
    fn frames_longer_than_two_kib_get_page_sized_umem_frames() {
        let standard = AfXdpConfig::for_frames_with_page(1518, PAGE).unwrap();
        assert_eq!(standard, AfXdpConfig::default());
        let longer = AfXdpConfig::for_frames_with_page(1793, PAGE).unwrap();
        assert_eq!((longer.frame_size, longer.rx_frames), (4096, 4096));
        assert_eq!(longer.tx_frames, 1024);
        longer.check(PAGE).unwrap();
        assert_eq!(longer.max_rx_frame(), 3840);
        let big_pages = AfXdpConfig::for_frames_with_page(9018, 65_536).unwrap();
        assert_eq!(big_pages.rx_frames, 512, "never fewer than 512");
        big_pages.check(65_536).unwrap();
        let jumbo = AfXdpConfig::for_frames_with_page(9018, PAGE).unwrap_err();
        assert!(matches!(jumbo, Error::InvalidConfig(_)), "{jumbo}");
        assert!(jumbo.to_string().contains("9018 bytes"), "{jumbo}");
    }

    #[test]
    fn configurations_the_kernel_would_refuse_are_named() {
        let base = AfXdpConfig::default();
        let bad = [
            AfXdpConfig {
                frame_size: 1024,
                ..base
            },
            AfXdpConfig {
                frame_size: 3000,
                ..base
            },
            AfXdpConfig {
                frame_size: 8192,
                ..base
            },
            AfXdpConfig {
                rx_frames: 0,
                ..base
            },
            AfXdpConfig {
                tx_frames: 1000,
                ..base
            },
            AfXdpConfig {
                rx_frames: 1 << 31,
                tx_frames: 1 << 31,
                ..base
            },
        ];
        for config in bad {
            assert!(
                matches!(config.check(PAGE), Err(Error::InvalidConfig(_))),
                "{config:?} should be refused"
            );
        }
    }

    #[test]
    fn a_refused_attach_says_what_was_tried_and_why() {
        let err = Error::Attach {
            name: "eth0".into(),
            refusals: vec![
                Refusal {
                    mode: XdpMode::Native,
                    source: io::Error::from_raw_os_error(libc::EOPNOTSUPP),
                    message: "native XDP not supported".into(),
                },
                Refusal {
                    mode: XdpMode::Generic,
                    source: io::Error::from_raw_os_error(libc::EBUSY),
                    message: String::new(),
                },
            ],
        };
        let text = err.to_string();
        assert!(text.contains("eth0"), "{text}");
        assert!(text.contains("native (driver) mode"), "{text}");
        assert!(text.contains("(native XDP not supported)"), "{text}");
        assert!(text.contains("generic (skb) mode"), "{text}");
    }

    #[test]
    fn the_halves_can_be_handed_to_other_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<AfXdpReceiver>();
        assert_send::<AfXdpSender>();
        assert_send::<AfXdp>();
    }
}
