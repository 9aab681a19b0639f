//! The raw `AF_PACKET` calls rustix does not cover, each wrapped in a small safe function:
//! `SOL_PACKET` socket options, binding to an interface, and `sendmmsg` over a fixed array,
//! each frame behind its virtio-net header (rustix's `sendmmsg` wants one ancillary buffer per
//! message, which cannot be laid out without allocating).

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr;

use rustix::io::Errno;

use crate::tx::{self, FrameBatch};
use crate::vnet::PACKET_VNET_HDR_LEN;

/// Sets `SOL_PACKET` option `name` to `value`. `T` is the C type the kernel expects for that
/// option (`c_int`, `tpacket_req3`, `packet_mreq`, ...).
pub(super) fn set_packet_option<T: Copy>(
    socket: BorrowedFd<'_>,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` points to a live, initialized `T` of `size_of::<T>()` bytes, which the
    // kernel only reads.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_PACKET,
            name,
            ptr::from_ref(value).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Reads `PACKET_STATISTICS` for a `TPACKET_V3` socket (which resets the kernel's counters).
pub(super) fn packet_statistics(socket: BorrowedFd<'_>) -> io::Result<libc::tpacket_stats_v3> {
    let mut stats = libc::tpacket_stats_v3 {
        tp_packets: 0,
        tp_drops: 0,
        tp_freeze_q_cnt: 0,
    };
    let mut len = size_of::<libc::tpacket_stats_v3>() as libc::socklen_t;
    // SAFETY: `stats` and `len` are live and writable; `len` tells the kernel how many bytes
    // it may write into `stats`.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            ptr::from_mut(&mut stats).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(stats)
}

/// `SOL_PACKET` option: join a fanout group (`<linux/if_packet.h>`).
const PACKET_FANOUT: libc::c_int = 18;
/// Fanout by the flow's symmetric hash: both directions of a flow reach the same socket.
const PACKET_FANOUT_HASH: u32 = 0;
/// The kernel chooses an unused group id (read back with `getsockopt`).
const PACKET_FANOUT_FLAG_UNIQUEID: u32 = 0x2000;

/// Makes the bound `socket` the first of a new fanout group by flow hash, with an id the
/// kernel chooses (unique in the network namespace); returns the id, for [`join_fanout`].
pub(super) fn new_fanout(socket: BorrowedFd<'_>) -> io::Result<u16> {
    let arg = (PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_UNIQUEID) << 16;
    set_packet_option(socket, PACKET_FANOUT, &arg)?;
    let mut value: u32 = 0;
    let mut len = size_of::<u32>() as libc::socklen_t;
    // SAFETY: `value` and `len` are live and writable; `len` tells the kernel how many bytes
    // it may write into `value`.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_PACKET,
            PACKET_FANOUT,
            ptr::from_mut(&mut value).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // The id in the low 16 bits, the type and flags above.
    Ok(value as u16)
}

/// Adds the bound `socket` (bound to the same interface) to fanout group `id` (see
/// [`new_fanout`]).
pub(super) fn join_fanout(socket: BorrowedFd<'_>, id: u16) -> io::Result<()> {
    let arg = u32::from(id) | (PACKET_FANOUT_HASH << 16);
    set_packet_option(socket, PACKET_FANOUT, &arg)
}

/// What a bound packet socket receives.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Receive {
    /// Frames of every protocol (`ETH_P_ALL`).
    All,
    /// Nothing: a socket that only sends.
    Nothing,
}

/// Binds `socket` to interface `ifindex`; with [`Receive::All`] this is the moment the socket
/// starts receiving.
pub(super) fn bind_to_interface(
    socket: BorrowedFd<'_>,
    ifindex: u32,
    receive: Receive,
) -> io::Result<()> {
    let protocol = match receive {
        Receive::All => libc::ETH_P_ALL as u16,
        Receive::Nothing => 0,
    };
    let address = libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as libc::c_ushort,
        sll_protocol: protocol.to_be(),
        sll_ifindex: ifindex as libc::c_int,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 0,
        sll_addr: [0; 8],
    };
    // SAFETY: `address` is a live `sockaddr_ll` and the length passed is its size.
    let rc = unsafe {
        libc::bind(
            socket.as_raw_fd(),
            ptr::from_ref(&address).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// How many frames one `sendmmsg` call carries.
const FRAMES_PER_CALL: usize = 64;
/// How many pieces one `sendmmsg` call carries: each frame's virtio-net header and 4
/// buffers of chained frames per frame, on average, before a call is cut short.
const PIECES_PER_CALL: usize = 5 * FRAMES_PER_CALL;

/// Sends the frames of `batch` on the bound, non-blocking `socket`, which has
/// `PACKET_VNET_HDR` on, with `sendmmsg`, in order: each frame `i` gathered from `header(i)`
/// (its virtio-net header) and its pieces. Returns how many the kernel accepted. Stops early
/// at a full queue. A failure after some frames went out is reported as the short count (the
/// condition recurs on the next send); a failure on the first frame is an error, and so is a
/// frame of more pieces than one call carries.
pub(super) fn send_frames<B: FrameBatch + ?Sized>(
    socket: BorrowedFd<'_>,
    batch: &B,
    header: impl Fn(usize) -> [u8; PACKET_VNET_HDR_LEN],
) -> io::Result<usize> {
    let total = batch.frames();
    let mut sent = 0;
    while sent < total {
        // The headers of the frames this call may carry, written before any iovec points
        // at them.
        let mut headers = [[0u8; PACKET_VNET_HDR_LEN]; FRAMES_PER_CALL];
        let candidates = (total - sent).min(FRAMES_PER_CALL);
        for (k, h) in headers[..candidates].iter_mut().enumerate() {
            *h = header(sent + k);
        }
        let mut iovecs = [libc::iovec {
            iov_base: ptr::null_mut(),
            iov_len: 0,
        }; PIECES_PER_CALL];
        // SAFETY: `mmsghdr` is a C struct of integers and pointers; all zeroes is a valid,
        // empty message (null pointers with zero lengths, no flags).
        let mut messages: [libc::mmsghdr; FRAMES_PER_CALL] = unsafe { std::mem::zeroed() };
        // Fill the messages' pieces first: a message points into `iovecs` only once they are
        // all written.
        let mut spans = [(0usize, 0usize); FRAMES_PER_CALL];
        let (mut count, mut used) = (0, 0);
        while count < candidates {
            let start = used;
            let pieces = std::iter::once(&headers[count][..]).chain(batch.pieces(sent + count));
            let mut fits = true;
            for piece in pieces {
                let Some(iovec) = iovecs.get_mut(used) else {
                    fits = false;
                    break;
                };
                // The kernel only reads through iov_base; the pointer is mutable by C's
                // signature.
                iovec.iov_base = piece.as_ptr().cast_mut().cast();
                iovec.iov_len = piece.len();
                used += 1;
            }
            if !fits {
                if count == 0 {
                    // Alone in a call and still too many pieces.
                    return if sent > 0 {
                        Ok(sent)
                    } else {
                        Err(io::Error::from_raw_os_error(libc::EMSGSIZE))
                    };
                }
                break;
            }
            spans[count] = (start, used - start);
            count += 1;
        }
        // One pointer for every message: borrowing `iovecs` again per message would not.
        let base = iovecs.as_mut_ptr();
        for (message, &(start, len)) in messages.iter_mut().zip(&spans[..count]) {
            message.msg_hdr.msg_iov = base.wrapping_add(start);
            message.msg_hdr.msg_iovlen = len;
        }
        // SAFETY: the first `count` messages each point at their own run of iovecs in
        // `iovecs`, which point into `headers` and the pieces of frames of `batch`; all of
        // them live, unchanged, until the call returns. The kernel reads them and writes only
        // `msg_len` of each message.
        let rc = unsafe {
            libc::sendmmsg(
                socket.as_raw_fd(),
                messages.as_mut_ptr(),
                count as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if rc < 0 {
            let error = io::Error::last_os_error();
            let errno = Errno::from_raw_os_error(error.raw_os_error().unwrap_or(0));
            return if sent > 0 || tx::is_queue_full(errno) {
                Ok(sent)
            } else {
                Err(error)
            };
        }
        let accepted = rc as usize;
        sent += accepted;
        if accepted < count {
            break;
        }
    }
    Ok(sent)
}
