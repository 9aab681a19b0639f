//! Attaching an XDP program to an interface, and taking it off again, with one `RTM_SETLINK`
//! request carrying `IFLA_XDP` (as `ip link set dev X xdp fd N` does).
//!
//! The request goes through a netlink socket of our own, opened when the program is attached:
//! a netlink socket stays in the network namespace it was created in, so the program can be
//! taken off the interface from any thread, whichever namespace that thread is in.

use std::fmt;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::ptr;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload, NlaBuffer,
    NlasIterator,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{LinkAttribute, LinkMessage, LinkXdp};
use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

/// Where on the receive path the program runs.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum XdpMode {
    /// In the driver, before any socket buffer exists (`XDP_FLAGS_DRV_MODE`; "xdp" in
    /// `ip link`). Needs driver support: most NIC drivers, veth, virtio-net.
    Native,
    /// In the generic receive path, after the socket buffer is built
    /// (`XDP_FLAGS_SKB_MODE`; "xdpgeneric"). Works on every device, more slowly.
    Generic,
}

impl XdpMode {
    fn flag(self) -> u32 {
        match self {
            XdpMode::Generic => XDP_FLAGS_SKB_MODE,
            XdpMode::Native => XDP_FLAGS_DRV_MODE,
        }
    }
}

impl fmt::Display for XdpMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            XdpMode::Native => "native (driver) mode",
            XdpMode::Generic => "generic (skb) mode",
        })
    }
}

/// Fail rather than replace a program someone else attached.
const XDP_FLAGS_UPDATE_IF_NOEXIST: u32 = 1 << 0;
const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
/// Act only if the attached program is the one named by `IFLA_XDP_EXPECTED_FD`.
const XDP_FLAGS_REPLACE: u32 = 1 << 4;

const SOL_NETLINK: libc::c_int = 270;
/// Ask for the kernel's explanation (extended ACK) with an error.
const NETLINK_EXT_ACK: libc::c_int = 11;
/// Leave the request out of the error reply, so the attributes that follow are easy to find.
const NETLINK_CAP_ACK: libc::c_int = 10;
/// The extended-ACK attribute carrying the kernel's message.
const NLMSGERR_ATTR_MSG: u16 = 1;
/// Size of `struct nlmsghdr`, the echoed request header in a capped error reply.
const NLMSG_HDR_LEN: usize = 16;

/// Why the kernel refused to attach (or detach) the program.
#[derive(Debug)]
pub(super) struct AttachError {
    /// The errno of the netlink request (or of the socket that carries it).
    pub(super) source: io::Error,
    /// The kernel's own explanation (netlink extended ACK), or empty.
    pub(super) message: String,
}

impl From<io::Error> for AttachError {
    fn from(source: io::Error) -> Self {
        Self {
            source,
            message: String::new(),
        }
    }
}

/// A program attached to an interface by us; taken off the interface on drop.
#[derive(Debug)]
pub(super) struct Attachment {
    netlink: OwnedFd,
    ifindex: u32,
    mode: XdpMode,
    program: OwnedFd,
}

impl Attachment {
    /// Attaches `program` to interface `ifindex` of the calling thread's namespace, unless the
    /// interface already has an XDP program in that mode.
    pub(super) fn attach(
        ifindex: u32,
        program: OwnedFd,
        mode: XdpMode,
    ) -> Result<Self, AttachError> {
        let netlink = open_netlink()?;
        set_xdp(
            netlink.as_fd(),
            ifindex,
            program.as_raw_fd(),
            XDP_FLAGS_UPDATE_IF_NOEXIST | mode.flag(),
            None,
        )?;
        Ok(Self {
            netlink,
            ifindex,
            mode,
            program,
        })
    }

    /// The mode the program runs in.
    pub(super) fn mode(&self) -> XdpMode {
        self.mode
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        // Only if our program is still the one attached: never take off someone else's.
        let detached = set_xdp(
            self.netlink.as_fd(),
            self.ifindex,
            -1,
            XDP_FLAGS_REPLACE | self.mode.flag(),
            Some(self.program.as_fd()),
        );
        if let Err(e) = detached {
            tracing::warn!(
                ifindex = self.ifindex,
                error = %e.source,
                kernel = e.message,
                "could not take the AF_XDP redirect program off the interface"
            );
        }
    }
}

/// A `NETLINK_ROUTE` socket in the calling thread's namespace that reports errors with the
/// kernel's message.
fn open_netlink() -> io::Result<OwnedFd> {
    let socket = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        None,
    )?;
    for option in [NETLINK_EXT_ACK, NETLINK_CAP_ACK] {
        let on: libc::c_int = 1;
        // SAFETY: `on` is a live c_int and the length passed is its size; the kernel only
        // reads it.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                SOL_NETLINK,
                option,
                ptr::from_ref(&on).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        // Older kernels lack these: the request still works, only without the message.
        if rc < 0 {
            tracing::debug!(option, error = %io::Error::last_os_error(), "netlink option");
        }
    }
    Ok(socket)
}

/// Sends one `RTM_SETLINK` with `IFLA_XDP` and waits for its acknowledgement.
fn set_xdp(
    netlink: BorrowedFd<'_>,
    ifindex: u32,
    program_fd: i32,
    flags: u32,
    expected: Option<BorrowedFd<'_>>,
) -> Result<(), AttachError> {
    let mut xdp = vec![LinkXdp::Fd(program_fd), LinkXdp::Flags(flags)];
    if let Some(expected) = expected {
        xdp.push(LinkXdp::ExpectedFd(expected.as_raw_fd() as u32));
    }
    let mut link = LinkMessage::default();
    link.header.index = ifindex;
    link.attributes.push(LinkAttribute::Xdp(xdp));
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_ACK;
    header.sequence_number = 1;
    let mut request = NetlinkMessage::new(
        header,
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::SetLink(link)),
    );
    request.finalize();
    let mut bytes = vec![0; request.buffer_len()];
    request.serialize(&mut bytes);
    rustix::net::sendto(
        netlink,
        &bytes,
        SendFlags::empty(),
        &SocketAddrNetlink::new(0, 0),
    )
    .map_err(io::Error::from)?;

    let mut reply = vec![0u8; 8192];
    loop {
        let (len, _) = rustix::io::retry_on_intr(|| {
            rustix::net::recv(netlink, &mut reply[..], RecvFlags::empty())
        })
        .map_err(io::Error::from)?;
        let message = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&reply[..len])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        if message.header.sequence_number != 1 {
            continue;
        }
        let NetlinkPayload::Error(error) = message.payload else {
            continue;
        };
        return match error.code {
            None => Ok(()),
            Some(_) => Err(AttachError {
                source: error.to_io(),
                message: extended_ack_message(&error.header),
            }),
        };
    }
}

/// The kernel's message in a capped error reply: the attributes after the echoed header.
fn extended_ack_message(payload: &[u8]) -> String {
    let Some(attributes) = payload.get(NLMSG_HDR_LEN..) else {
        return String::new();
    };
    NlasIterator::new(attributes)
        .filter_map(Result::ok)
        .find(|nla: &NlaBuffer<&[u8]>| nla.kind() == NLMSGERR_ATTR_MSG)
        .map(|nla| {
            let text = nla.value();
            let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
            String::from_utf8_lossy(&text[..end]).into_owned()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernels_message_is_found_after_the_echoed_header() {
        let mut payload = vec![0u8; NLMSG_HDR_LEN];
        // An unrelated attribute (NLMSGERR_ATTR_OFFS, 4 bytes), then the message, padded.
        payload.extend([8, 0, 2, 0, 1, 2, 3, 4]);
        let text = b"native XDP not supported\0";
        payload.extend(((4 + text.len()) as u16).to_ne_bytes());
        payload.extend(NLMSGERR_ATTR_MSG.to_ne_bytes());
        payload.extend(text);
        payload.resize(payload.len().next_multiple_of(4), 0);
        assert_eq!(extended_ack_message(&payload), "native XDP not supported");
        assert_eq!(extended_ack_message(&payload[..NLMSG_HDR_LEN]), "");
        assert_eq!(extended_ack_message(&[]), "");
    }
}
