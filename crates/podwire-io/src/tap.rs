//! Tap devices: an Ethernet interface whose "wire" is a file descriptor held by podwire.
//!
//! The kernel end is a netdev named as asked, created in the calling thread's network namespace;
//! the caller moves it where it belongs (a pod's namespace, as `eth0`) with
//! [`Netlink::move_to_netns`](crate::netlink::Netlink::move_to_netns), or creates it there from
//! a thread in that namespace. The file descriptor keeps working wherever the netdev goes. By
//! default the device is not persistent: dropping the [`Tap`] closes the descriptor and the
//! kernel removes the netdev. A persistent tap ([`TapOptions::persist`]) outlives its
//! descriptor (a pod keeps its interface while the agent restarts); it is removed by deleting
//! the link, and a later [`Tap::create_with`] of the same name attaches to it again.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use podwire_dataplane::interface::TxOffloads;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::ifname::{self, InvalidIfName};
use crate::tx::{self, TxStatus};
use crate::vnet::VNET_HDR_LEN;

/// The tun/tap control device.
const TUN_DEVICE: &str = "/dev/net/tun";

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The requested interface name is not valid.
    #[error(transparent)]
    InvalidName(#[from] InvalidIfName),
    /// `/dev/net/tun` could not be opened.
    #[error(
        "cannot open {TUN_DEVICE}: {0}; load the tun module (`modprobe tun`), and in a container \
         make the device available"
    )]
    OpenTun(#[source] io::Error),
    /// The kernel refused to create (or attach to) the tap.
    #[error(
        "cannot create tap {name}: TUNSETIFF failed: {source}; EPERM means podwire lacks \
         CAP_NET_ADMIN; EBUSY that an interface named {name} exists (asked for exclusively) or \
         that another process holds it; EINVAL that an interface named {name} exists and is not \
         a tap, or is a tap with a different queue mode (multi-queue or not) than asked: delete \
         it (`ip link del {name}`) and let podwire make it again"
    )]
    Create {
        /// The requested interface name.
        name: String,
        /// Why the ioctl failed.
        source: io::Error,
    },
    /// An existing tap was attached to but kept flags other than those asked for.
    #[error(
        "tap {name} exists with flags {shown:#06x} and podwire asked for {wanted:#06x} \
         (0x4000: virtio-net header, 0x0100: multi-queue); the kernel keeps the flags of a \
         multi-queue tap while another queue is open: close that process's descriptors, or \
         delete the tap (`ip link del {name}`) and let podwire make it again"
    )]
    FlagsDiffer {
        /// The interface name.
        name: String,
        /// The flags asked for (`TUNSETIFF`).
        wanted: u16,
        /// The flags the kernel shows (`TUNGETIFF`).
        shown: u16,
    },
    /// Another queue was asked of a single-queue tap.
    #[error("tap {0} was not created multi-queue: it has one queue only")]
    NotMultiQueue(String),
    /// Offloads were asked of a tap without the virtio-net header.
    #[error("tap {0} has no virtio-net header (TapOptions::vnet_hdr): it cannot take offloads")]
    OffloadWithoutHeader(String),
    /// The kernel refused the offload settings.
    #[error("cannot set the offloads of tap {name}: TUNSETOFFLOAD failed: {source}")]
    Offload {
        /// The interface name.
        name: String,
        /// Why the ioctl failed.
        source: io::Error,
    },
}

/// Result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How to create a tap: an Ethernet tap without packet information (`IFF_TAP | IFF_NO_PI`),
/// with the options below.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TapOptions {
    /// Keep the netdev when the descriptor closes (`TUNSETPERSIST`).
    pub persist: bool,
    /// Fail if an interface of that name exists, instead of attaching to a persistent tap
    /// (`IFF_TUN_EXCL`): a new pod interface must never take over an old one.
    pub exclusive: bool,
    /// Every frame read or written carries a virtio-net header of
    /// [`VNET_HDR_LEN`](crate::vnet::VNET_HDR_LEN) bytes first (`IFF_VNET_HDR`), which says
    /// what checksum and segmentation work is left; needed for [`Tap::set_offload`].
    pub vnet_hdr: bool,
    /// The tap has several queues, one descriptor each (`IFF_MULTI_QUEUE`); more are opened
    /// with [`Tap::open_queue`]. The kernel spreads the frames it sends over the queues by
    /// flow.
    pub multi_queue: bool,
}

impl TapOptions {
    /// The `ifr_flags` for `TUNSETIFF`.
    fn ifr_flags(&self) -> libc::c_short {
        let mut flags = libc::IFF_TAP | libc::IFF_NO_PI;
        if self.exclusive {
            flags |= libc::IFF_TUN_EXCL;
        }
        if self.vnet_hdr {
            flags |= libc::IFF_VNET_HDR;
        }
        if self.multi_queue {
            flags |= libc::IFF_MULTI_QUEUE;
        }
        // Every flag fits in c_short (at most 0x0002 | 0x1000 | 0x4000 | 0x0100 | 0x8000, and
        // the kernel field is a short: 0x8000 is its sign bit, as in C).
        flags as libc::c_short
    }
}

/// The flags an attached tap must show (`TUNGETIFF`): what the frames look like.
const FORMAT_FLAGS: libc::c_int =
    libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_VNET_HDR | libc::IFF_MULTI_QUEUE;

/// How long attaching to a busy persistent tap is tried: a descriptor closed a moment ago
/// may live on in a child process until it execs.
const ATTACH_BUSY_TRIES: u32 = 25;
const ATTACH_BUSY_WAIT: std::time::Duration = std::time::Duration::from_millis(10);

/// An open tap device (one queue of it), non-blocking.
#[derive(Debug)]
pub struct Tap {
    fd: OwnedFd,
    name: String,
    /// The flags it was attached with, for more queues.
    flags: libc::c_short,
}

impl Tap {
    /// Creates the tap `name` with default options. See [`Tap::create_with`].
    pub fn create(name: &str) -> Result<Self> {
        Self::create_with(name, &TapOptions::default())
    }

    /// Creates the tap `name` in the calling thread's network namespace (or attaches to a
    /// persistent tap of that name, as the kernel does), with its descriptor non-blocking.
    ///
    /// Attaching to a persistent tap gives it the flags asked for now: Linux replaces the
    /// format flags of a single-queue tap on attach, so a tap an older podwire made without
    /// the virtio-net header is reopened with it. What the kernel cannot change (a
    /// multi-queue tap asked for as single-queue, or the reverse; a multi-queue tap another
    /// process still holds a queue of) is an error that says so, as is any other difference
    /// the attached tap shows.
    pub fn create_with(name: &str, options: &TapOptions) -> Result<Self> {
        let failed = |source| Error::Create {
            name: name.to_owned(),
            source,
        };
        let tap = Self::attach(name, options.ifr_flags())?;
        let shown = tun_get_flags(tap.fd.as_fd()).map_err(failed)?;
        let wanted = libc::c_int::from(options.ifr_flags()) & FORMAT_FLAGS;
        if shown & FORMAT_FLAGS != wanted {
            return Err(Error::FlagsDiffer {
                name: name.to_owned(),
                wanted: wanted as u16,
                shown: (shown & FORMAT_FLAGS) as u16,
            });
        }
        if options.vnet_hdr {
            tun_set_vnet_hdr_len(tap.fd.as_fd(), VNET_HDR_LEN).map_err(failed)?;
        }
        if options.persist {
            tun_set_persist(tap.fd.as_fd(), true).map_err(failed)?;
        }
        Ok(tap)
    }

    /// Opens `/dev/net/tun` and attaches it to the tap `name` with `flags`.
    fn attach(name: &str, flags: libc::c_short) -> Result<Self> {
        ifname::validate(name)?;
        let fd = rustix::fs::open(
            TUN_DEVICE,
            OFlags::RDWR | OFlags::CLOEXEC | OFlags::NONBLOCK,
            Mode::empty(),
        )
        .map_err(|e| Error::OpenTun(e.into()))?;
        let mut tries = ATTACH_BUSY_TRIES;
        loop {
            match tun_set_iff(fd.as_fd(), name, flags) {
                Ok(()) => break,
                // A persistent tap whose last descriptor was just closed may still be held:
                // a child process forked meanwhile keeps a copy until its exec closes it
                // (CLOEXEC). Exclusive creation's EBUSY means the name is taken: no retry.
                Err(e)
                    if e.raw_os_error() == Some(libc::EBUSY)
                        && flags & (libc::IFF_TUN_EXCL as libc::c_short) == 0
                        && tries > 1 =>
                {
                    tries -= 1;
                    std::thread::sleep(ATTACH_BUSY_WAIT);
                }
                Err(source) => {
                    return Err(Error::Create {
                        name: name.to_owned(),
                        source,
                    });
                }
            }
        }
        Ok(Self {
            fd,
            name: name.to_owned(),
            flags,
        })
    }

    /// Opens one more queue of a tap created with [`TapOptions::multi_queue`], in the calling
    /// thread's network namespace (where the tap is now). Its frames have the same format;
    /// offloads and persistence are the device's, already set.
    pub fn open_queue(&self) -> Result<Self> {
        if i32::from(self.flags) & libc::IFF_MULTI_QUEUE == 0 {
            return Err(Error::NotMultiQueue(self.name.clone()));
        }
        // Another queue of the same device: never exclusive.
        Self::attach(
            &self.name,
            self.flags & !(libc::IFF_TUN_EXCL as libc::c_short),
        )
    }

    /// The interface name of the kernel end (as created; a later rename is not tracked).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether frames carry a virtio-net header ([`TapOptions::vnet_hdr`]).
    pub fn has_vnet_hdr(&self) -> bool {
        i32::from(self.flags) & libc::IFF_VNET_HDR != 0
    }

    /// Tells the kernel which offloads podwire finishes for frames it reads (`TUNSETOFFLOAD`):
    /// with `csum`, the kernel may hand over frames whose checksum is still to be computed;
    /// with `tso4`/`tso6`/`uso` (each needs `csum`), TCP and UDP segments up to 64 KiB. The
    /// kernel takes the same from frames podwire writes. Returns what the kernel accepted: USO
    /// is asked for only when wanted and dropped silently by kernels before 6.2, which refuse
    /// it. Needs [`TapOptions::vnet_hdr`]: without the header there is no way to say what is
    /// left to do.
    pub fn set_offload(&self, wanted: TxOffloads) -> Result<TxOffloads> {
        if !self.has_vnet_hdr() {
            return Err(Error::OffloadWithoutHeader(self.name.clone()));
        }
        let failed = |source| Error::Offload {
            name: self.name.clone(),
            source,
        };
        if !wanted.csum {
            tun_set_offload(self.fd.as_fd(), 0).map_err(failed)?;
            return Ok(TxOffloads::default());
        }
        let mut flags = libc::TUN_F_CSUM;
        if wanted.tso4 {
            flags |= libc::TUN_F_TSO4;
        }
        if wanted.tso6 {
            flags |= libc::TUN_F_TSO6;
        }
        if wanted.tso4 || wanted.tso6 {
            flags |= libc::TUN_F_TSO_ECN;
        }
        let mut accepted = TxOffloads {
            csum: true,
            tso4: wanted.tso4,
            tso6: wanted.tso6,
            uso: wanted.uso,
        };
        let uso = libc::TUN_F_USO4 | libc::TUN_F_USO6;
        match tun_set_offload(
            self.fd.as_fd(),
            if wanted.uso { flags | uso } else { flags },
        ) {
            Ok(()) => {}
            // An unknown flag: a kernel without USO (before 6.2).
            Err(e) if wanted.uso && e.raw_os_error() == Some(libc::EINVAL) => {
                tun_set_offload(self.fd.as_fd(), flags).map_err(failed)?;
                accepted.uso = false;
            }
            Err(e) => return Err(failed(e)),
        }
        Ok(accepted)
    }

    /// Reads one frame (Ethernet header onwards) into `buf`: `Ok(Some(len))`, or `Ok(None)`
    /// when no frame is waiting. `buf` should hold MTU + 18 bytes (header and a VLAN tag);
    /// the kernel cuts longer frames to `buf`'s length. For a tap without the virtio-net
    /// header.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        would_block(rustix::io::retry_on_intr(|| {
            rustix::io::read(&self.fd, &mut *buf)
        }))
    }

    /// Reads one frame (after its virtio-net header, when the tap has one) across `bufs`, in
    /// order: `Ok(Some(len))` with `len` the length of the header and frame, which is more
    /// than `bufs` hold when the kernel had to cut the frame; `Ok(None)` when no frame is
    /// waiting.
    pub fn recv_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<Option<usize>> {
        would_block(rustix::io::retry_on_intr(|| {
            rustix::io::readv(&self.fd, &mut *bufs)
        }))
    }

    /// Writes one frame (Ethernet header onwards), which the kernel receives on the tap's
    /// netdev. [`TxStatus::QueueFull`] when the kernel has no room for it now (the tap's send
    /// buffer is exhausted); errors are reserved for frames the kernel rejects (too short, too
    /// long) and for a broken device. For a tap without the virtio-net header.
    pub fn send(&self, frame: &[u8]) -> io::Result<TxStatus> {
        tx::classify(rustix::io::retry_on_intr(|| {
            rustix::io::write(&self.fd, frame)
        }))
    }

    /// Writes one frame gathered from `pieces` (its virtio-net header first, when the tap has
    /// one), as [`Tap::send`]. A header the kernel finds inconsistent with the frame is
    /// refused with `EINVAL`.
    pub fn send_vectored(&self, pieces: &[IoSlice<'_>]) -> io::Result<TxStatus> {
        tx::classify(rustix::io::retry_on_intr(|| {
            rustix::io::writev(&self.fd, pieces)
        }))
    }
}

/// `EAGAIN` is "nothing to read".
fn would_block(result: rustix::io::Result<usize>) -> io::Result<Option<usize>> {
    match result {
        Ok(len) => Ok(Some(len)),
        Err(Errno::AGAIN) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl AsFd for Tap {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// `ioctl(TUNSETIFF)`: turns an open `/dev/net/tun` descriptor into the device `name`.
/// `name` must have passed [`ifname::validate`], so it fits `ifr_name` with its NUL.
fn tun_set_iff(fd: BorrowedFd<'_>, name: &str, flags: libc::c_short) -> io::Result<()> {
    // SAFETY: `ifreq` is a C struct of byte arrays, integers and a union of such; all zeroes is
    // a valid value of it (an empty name, zero flags).
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, &src) in req.ifr_name.iter_mut().zip(name.as_bytes()) {
        *dst = src as libc::c_char;
    }
    req.ifr_ifru.ifru_flags = flags;
    // SAFETY: TUNSETIFF reads and writes one `struct ifreq`; `req` is one, NUL-terminated
    // (validated names are shorter than IFNAMSIZ) and alive for the whole call. `fd` is open.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut req) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `ioctl(TUNSETPERSIST)`: whether the netdev outlives the descriptors attached to it.
fn tun_set_persist(fd: BorrowedFd<'_>, persist: bool) -> io::Result<()> {
    // SAFETY: TUNSETPERSIST takes its argument by value (an int flag), reads no memory; `fd`
    // is an open tun descriptor attached to a device by TUNSETIFF.
    let rc = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TUNSETPERSIST,
            libc::c_ulong::from(persist),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `ioctl(TUNGETIFF)`: the flags of the device the descriptor is attached to.
fn tun_get_flags(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    // SAFETY: all zeroes is a valid `ifreq` (see tun_set_iff).
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    // SAFETY: TUNGETIFF writes one `struct ifreq` (name and flags) into `req`, which is one and
    // alive for the whole call; `fd` is attached to a device.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNGETIFF, &mut req) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: TUNGETIFF filled in `ifru_flags`; every bit pattern is a valid c_short.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    // The kernel's flags are an unsigned short: 0x8000 is not a sign.
    Ok(libc::c_int::from(flags as u16))
}

/// `ioctl(TUNSETVNETHDRSZ)`: the length of the virtio-net header on every frame.
fn tun_set_vnet_hdr_len(fd: BorrowedFd<'_>, len: usize) -> io::Result<()> {
    // The header is 12 bytes: it fits.
    let len = len as libc::c_int;
    // SAFETY: TUNSETVNETHDRSZ reads one int through the pointer, which points at `len`, alive
    // for the whole call; `fd` is attached to a device.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETVNETHDRSZ, &len) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `ioctl(TUNSETOFFLOAD)`: the `TUN_F_*` offloads the device's reader finishes.
fn tun_set_offload(fd: BorrowedFd<'_>, flags: libc::c_uint) -> io::Result<()> {
    // SAFETY: TUNSETOFFLOAD takes its argument by value (the flags), reads no memory; `fd` is
    // attached to a device.
    let rc = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TUNSETOFFLOAD,
            libc::c_ulong::from(flags),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_are_refused_before_touching_the_kernel() {
        let err = Tap::create("a-name-far-too-long").unwrap_err();
        assert!(matches!(err, Error::InvalidName(_)));
        assert!(err.to_string().contains("a-name-far-too-long"));
    }

    #[test]
    fn default_taps_are_plain_ethernet_without_packet_info() {
        let flags = TapOptions::default().ifr_flags();
        assert_eq!(flags, 0x1002);
        let exclusive = TapOptions {
            exclusive: true,
            ..TapOptions::default()
        };
        assert_eq!(exclusive.ifr_flags() as u16, 0x9002);
        let offloading = TapOptions {
            vnet_hdr: true,
            multi_queue: true,
            ..TapOptions::default()
        };
        assert_eq!(offloading.ifr_flags(), 0x5102);
    }
}
