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

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::ifname::{self, InvalidIfName};
use crate::tx::{self, TxStatus};

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
         CAP_NET_ADMIN, EBUSY or EINVAL that an interface named {name} exists and is not a tap \
         podwire can attach to"
    )]
    Create {
        /// The requested interface name.
        name: String,
        /// Why the ioctl failed.
        source: io::Error,
    },
}

/// Result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How to create a tap: always a plain Ethernet tap without packet information
/// (`IFF_TAP | IFF_NO_PI`); offloads (`IFF_VNET_HDR`) and multiple queues (`IFF_MULTI_QUEUE`)
/// will be options here, so callers that use [`TapOptions::default`] keep compiling.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TapOptions {
    /// Keep the netdev when the descriptor closes (`TUNSETPERSIST`).
    pub persist: bool,
    /// Fail if an interface of that name exists, instead of attaching to a persistent tap
    /// (`IFF_TUN_EXCL`): a new pod interface must never take over an old one.
    pub exclusive: bool,
}

impl TapOptions {
    /// The `ifr_flags` for `TUNSETIFF`.
    fn ifr_flags(&self) -> libc::c_short {
        let mut flags = libc::IFF_TAP | libc::IFF_NO_PI;
        if self.exclusive {
            flags |= libc::IFF_TUN_EXCL;
        }
        // Every flag fits in c_short (at most 0x0002 | 0x1000 | 0x8000, and the kernel field
        // is a short: 0x8000 is its sign bit, as in C).
        flags as libc::c_short
    }
}

/// An open tap device, non-blocking.
#[derive(Debug)]
pub struct Tap {
    fd: OwnedFd,
    name: String,
}

impl Tap {
    /// Creates the tap `name` with default options. See [`Tap::create_with`].
    pub fn create(name: &str) -> Result<Self> {
        Self::create_with(name, &TapOptions::default())
    }

    /// Creates the tap `name` in the calling thread's network namespace (or attaches to a
    /// persistent tap of that name, as the kernel does), with its descriptor non-blocking.
    pub fn create_with(name: &str, options: &TapOptions) -> Result<Self> {
        ifname::validate(name)?;
        let fd = rustix::fs::open(
            TUN_DEVICE,
            OFlags::RDWR | OFlags::CLOEXEC | OFlags::NONBLOCK,
            Mode::empty(),
        )
        .map_err(|e| Error::OpenTun(e.into()))?;
        tun_set_iff(fd.as_fd(), name, options.ifr_flags()).map_err(|source| Error::Create {
            name: name.to_owned(),
            source,
        })?;
        if options.persist {
            tun_set_persist(fd.as_fd(), true).map_err(|source| Error::Create {
                name: name.to_owned(),
                source,
            })?;
        }
        Ok(Self {
            fd,
            name: name.to_owned(),
        })
    }

    /// The interface name of the kernel end (as created; a later rename is not tracked).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads one frame (Ethernet header onwards) into `buf`: `Ok(Some(len))`, or `Ok(None)`
    /// when no frame is waiting. `buf` should hold MTU + 18 bytes (header and a VLAN tag);
    /// the kernel cuts longer frames to `buf`'s length.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match rustix::io::retry_on_intr(|| rustix::io::read(&self.fd, &mut *buf)) {
            Ok(len) => Ok(Some(len)),
            Err(Errno::AGAIN) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes one frame (Ethernet header onwards), which the kernel receives on the tap's
    /// netdev. [`TxStatus::QueueFull`] when the kernel has no room for it now (the tap's send
    /// buffer is exhausted); errors are reserved for frames the kernel rejects (too short, too
    /// long) and for a broken device.
    pub fn send(&self, frame: &[u8]) -> io::Result<TxStatus> {
        tx::classify(rustix::io::retry_on_intr(|| {
            rustix::io::write(&self.fd, frame)
        }))
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
    }
}
