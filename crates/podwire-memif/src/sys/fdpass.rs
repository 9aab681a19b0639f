//! One memif control message over a `SOCK_SEQPACKET` socket, with at most
//! one file descriptor riding along as `SCM_RIGHTS`.
//!
//! Receiving uses `libc::recvmsg` and reads the control data itself rather
//! than through rustix's `RecvAncillaryBuffer`: that buffer turns every
//! `SCM_CREDENTIALS` message into a `UCred` whose `pid` is a non-zero type,
//! and the kernel reports pid 0 when the sender's process is not visible in
//! our pid namespace (a memif server in a pod without `hostPID`). Reading
//! that would be undefined behaviour; reading bytes is not.

use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use rustix::io::Errno;
use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};

use crate::types::MSG_SIZE;

/// What one receive produced.
#[derive(Debug)]
pub enum Received {
    /// A datagram. `len` is its real size, which may differ from
    /// [`MSG_SIZE`]: only the first `min(len, MSG_SIZE)` bytes were stored,
    /// and a memif peer refuses any other size.
    Message {
        /// Bytes the peer sent in this datagram.
        len: usize,
        /// The file descriptor attached to it, if any.
        fd: Option<OwnedFd>,
    },
    /// The peer closed the connection (or reset it, or sent an empty
    /// datagram, which no memif peer does and which `recv` cannot tell apart
    /// from the end of the connection).
    Closed,
}

/// Why a control message could not be sent or received. Each of these ends
/// the connection.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The peer's receive queue is full: it stopped reading.
    #[error(
        "the memif peer is not reading its control socket (our send would block): drop the \
         connection"
    )]
    PeerNotReading,
    /// `sendmsg` failed.
    #[error("cannot send a memif control message: {0}: drop the connection")]
    Send(Errno),
    /// `recvmsg` failed.
    #[error("cannot receive a memif control message: {0}: drop the connection")]
    Recv(Errno),
    /// The control data did not fit our buffer, sized for one descriptor and
    /// credentials; the kernel closed what did not fit, we closed the rest.
    #[error(
        "the memif peer attached more control data than one file descriptor and credentials \
         (MSG_CTRUNC); the descriptors were closed: drop the connection"
    )]
    ControlTruncated,
    /// A memif message carries at most one descriptor.
    #[error(
        "the memif peer attached {count} file descriptors to one message, where memif allows at \
         most one; they were closed: drop the connection"
    )]
    TooManyFds {
        /// How many arrived.
        count: usize,
    },
}

/// Sends `msg` as one datagram, with `fd` as `SCM_RIGHTS` when given.
/// Never blocks; never raises SIGPIPE when the peer has gone.
pub fn send_message(
    socket: BorrowedFd<'_>,
    msg: &[u8; MSG_SIZE],
    fd: Option<BorrowedFd<'_>>,
) -> Result<(), TransferError> {
    let fds: Vec<BorrowedFd<'_>> = fd.into_iter().collect();
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() {
        // Cannot fail: `space` is sized for exactly this one message.
        control.push(SendAncillaryMessage::ScmRights(&fds));
    }
    let flags = SendFlags::NOSIGNAL | SendFlags::DONTWAIT;
    loop {
        // A SEQPACKET datagram is sent whole or not at all.
        match rustix::net::sendmsg(socket, &[std::io::IoSlice::new(msg)], &mut control, flags) {
            Ok(_) => return Ok(()),
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => return Err(TransferError::PeerNotReading),
            Err(errno) => return Err(TransferError::Send(errno)),
        }
    }
}

/// Receives one datagram into `buf` without blocking: `Ok(None)` when none
/// is waiting. Credentials are ignored; every received descriptor is owned
/// (closed on drop) before anything else is decided, so none leaks.
pub fn recv_message(
    socket: BorrowedFd<'_>,
    buf: &mut [u8; MSG_SIZE],
) -> Result<Option<Received>, TransferError> {
    let mut control = [0u8; CONTROL_LEN];
    let (result, control_len, msg_flags) = loop {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: an all-zero msghdr is valid (null pointers, zero lengths);
        // the fields that matter are set right below.
        let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
        hdr.msg_iov = &mut iov;
        hdr.msg_iovlen = 1;
        hdr.msg_control = control.as_mut_ptr().cast();
        hdr.msg_controllen = CONTROL_LEN as _;
        // MSG_TRUNC makes the result the datagram's real size, so a
        // datagram larger than a memif message is reported as such.
        let flags = libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC | libc::MSG_TRUNC;
        // SAFETY: `hdr` points at one iovec covering `buf` and at `control`,
        // both live and exclusively borrowed for the duration of the call;
        // the kernel writes at most their stated lengths.
        let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut hdr, flags) };
        if n < 0 {
            let raw = std::io::Error::last_os_error().raw_os_error();
            match Errno::from_raw_os_error(raw.unwrap_or(libc::EIO)) {
                Errno::INTR => continue,
                errno => break (Err(errno), 0, 0),
            }
        }
        break (Ok(n as usize), hdr.msg_controllen as usize, hdr.msg_flags);
    };
    // Take ownership of the descriptors first, so every return path closes
    // the ones we do not keep.
    let mut fds = take_fds(&control[..control_len.min(CONTROL_LEN)]);
    let len = match result {
        Ok(len) => len,
        Err(Errno::AGAIN) => return Ok(None),
        Err(Errno::CONNRESET) => return Ok(Some(Received::Closed)),
        Err(errno) => return Err(TransferError::Recv(errno)),
    };
    if msg_flags & libc::MSG_CTRUNC != 0 {
        return Err(TransferError::ControlTruncated);
    }
    if fds.len() > 1 {
        return Err(TransferError::TooManyFds { count: fds.len() });
    }
    if len == 0 {
        return Ok(Some(Received::Closed));
    }
    Ok(Some(Received::Message { len, fd: fds.pop() }))
}

/// Bytes of a `cmsghdr` as the kernel writes it (the header padded to the
/// alignment of `long`), then the alignment of each message.
const CMSG_ALIGN: usize = size_of::<usize>();
const CMSG_HDR_LEN: usize = cmsg_align(size_of::<libc::cmsghdr>());

const fn cmsg_align(len: usize) -> usize {
    (len + CMSG_ALIGN - 1) & !(CMSG_ALIGN - 1)
}

/// Room for one `SCM_RIGHTS` descriptor and one `SCM_CREDENTIALS` (which
/// peers with `SO_PASSCRED` receive on every message), as
/// `CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct ucred))`.
const CONTROL_LEN: usize = CMSG_HDR_LEN
    + cmsg_align(size_of::<RawFd>())
    + CMSG_HDR_LEN
    + cmsg_align(size_of::<libc::ucred>());

/// The descriptors of every `SCM_RIGHTS` message in `control`, now owned.
fn take_fds(control: &[u8]) -> Vec<OwnedFd> {
    scm_rights(control)
        .map(|raw| {
            // SAFETY: `raw` comes from an SCM_RIGHTS message the kernel just
            // wrote: it installed that descriptor in our table for this
            // receive, and nothing else knows of it yet.
            unsafe { OwnedFd::from_raw_fd(raw) }
        })
        .collect()
}

/// The raw descriptor numbers in the `SCM_RIGHTS` messages of `control`.
/// Reads whole messages only: stops at anything malformed.
fn scm_rights(control: &[u8]) -> impl Iterator<Item = RawFd> + '_ {
    let mut rest = control;
    std::iter::from_fn(move || {
        loop {
            let (len, level, kind) = cmsg_header(rest)?;
            let data = rest.get(CMSG_HDR_LEN..len)?;
            rest = rest.get(cmsg_align(len)..).unwrap_or(&[]);
            if level == libc::SOL_SOCKET && kind == libc::SCM_RIGHTS {
                return Some(data);
            }
        }
    })
    .flat_map(|data| {
        data.chunks_exact(size_of::<RawFd>())
            .filter_map(|chunk| Some(RawFd::from_ne_bytes(chunk.try_into().ok()?)))
    })
}

/// `cmsg_len`, `cmsg_level` and `cmsg_type` of the message at the start of
/// `control`, if a whole header is there and its length is plausible.
fn cmsg_header(control: &[u8]) -> Option<(usize, i32, i32)> {
    const LEN: usize = size_of::<usize>();
    const INT: usize = size_of::<i32>();
    let len = usize::from_ne_bytes(control.get(..LEN)?.try_into().ok()?);
    let level = i32::from_ne_bytes(control.get(LEN..LEN + INT)?.try_into().ok()?);
    let kind = i32::from_ne_bytes(control.get(LEN + INT..LEN + 2 * INT)?.try_into().ok()?);
    (CMSG_HDR_LEN..=control.len())
        .contains(&len)
        .then_some((len, level, kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A control message as the kernel lays it out.
    fn cmsg(level: i32, kind: i32, data: &[u8]) -> Vec<u8> {
        let len = CMSG_HDR_LEN + data.len();
        let mut out = Vec::new();
        out.extend_from_slice(&len.to_ne_bytes());
        out.extend_from_slice(&level.to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.resize(CMSG_HDR_LEN, 0);
        out.extend_from_slice(data);
        out.resize(cmsg_align(len), 0);
        out
    }

    fn fd_bytes(fds: &[RawFd]) -> Vec<u8> {
        fds.iter().flat_map(|fd| fd.to_ne_bytes()).collect()
    }

    #[test]
    fn control_room_matches_cmsg_space() {
        // SAFETY: CMSG_SPACE only computes a size.
        let expected = unsafe {
            libc::CMSG_SPACE(size_of::<RawFd>() as u32)
                + libc::CMSG_SPACE(size_of::<libc::ucred>() as u32)
        };
        assert_eq!(CONTROL_LEN, expected as usize);
    }

    #[test]
    fn finds_rights_after_credentials_and_skips_other_kinds() {
        let mut control = cmsg(libc::SOL_SOCKET, libc::SCM_CREDENTIALS, &[7u8; 12]);
        control.extend(cmsg(
            libc::SOL_SOCKET,
            libc::SCM_RIGHTS,
            &fd_bytes(&[11, 12]),
        ));
        control.extend(cmsg(libc::SOL_IP, libc::SCM_RIGHTS, &fd_bytes(&[13])));
        control.extend(cmsg(libc::SOL_SOCKET, libc::SCM_RIGHTS, &fd_bytes(&[14])));
        assert_eq!(scm_rights(&control).collect::<Vec<_>>(), vec![11, 12, 14]);
    }

    #[test]
    fn stops_at_a_header_claiming_more_than_is_there() {
        let mut control = cmsg(libc::SOL_SOCKET, libc::SCM_RIGHTS, &fd_bytes(&[21]));
        let mut bad = cmsg(libc::SOL_SOCKET, libc::SCM_RIGHTS, &fd_bytes(&[22]));
        bad[..size_of::<usize>()].copy_from_slice(&1000usize.to_ne_bytes());
        control.extend(bad);
        assert_eq!(scm_rights(&control).collect::<Vec<_>>(), vec![21]);
        let mut short = cmsg(libc::SOL_SOCKET, libc::SCM_RIGHTS, &fd_bytes(&[23]));
        short[..size_of::<usize>()].copy_from_slice(&3usize.to_ne_bytes());
        assert_eq!(scm_rights(&short).count(), 0);
    }

    proptest! {
        #[test]
        fn any_control_bytes_parse_without_panic(control in proptest::collection::vec(any::<u8>(), 0..200)) {
            // Each descriptor comes from inside the buffer, whole.
            prop_assert!(scm_rights(&control).count() <= control.len() / size_of::<RawFd>());
        }
    }
}
