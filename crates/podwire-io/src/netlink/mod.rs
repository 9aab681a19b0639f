//! An async facade over `rtnetlink`: links, addresses, routes and neighbors of one network
//! namespace, addressed by interface name.
//!
//! A [`Netlink`] is bound to the namespace its socket was opened in ([`Netlink::connect`] for
//! the caller's, [`Netlink::connect_in`] for another), and its connection runs as a task on the
//! tokio runtime that connected it; the task ends when the last clone of the `Netlink` is
//! dropped. Errors name the interface, address or route they are about.

mod ip;
mod link;

use std::io;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};

use rtnetlink::sys::TokioSocket;
use rustix::net::{AddressFamily, SocketFlags, SocketType};

use crate::ifname::InvalidIfName;
use crate::netns::{self, NetNs};

pub use ip::Route;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The netlink socket could not be opened.
    #[error("cannot open a netlink socket: {0}")]
    Socket(#[source] io::Error),
    /// `connect` was called outside a tokio runtime.
    #[error(
        "netlink must be connected from inside a tokio runtime, which runs its connection task"
    )]
    NoRuntime,
    /// The target namespace could not be entered.
    #[error(transparent)]
    Namespace(#[from] netns::Error),
    /// An interface name is not valid.
    #[error(transparent)]
    InvalidName(#[from] InvalidIfName),
    /// No interface has this name in the connection's namespace.
    #[error(
        "interface {name} does not exist in this network namespace; check the name and the \
         namespace (`ip link`, `ip -n NS link`)"
    )]
    NoSuchLink {
        /// The name looked up.
        name: String,
    },
    /// The interface's hardware address is not an Ethernet MAC address.
    #[error("interface {name} has a {len}-byte hardware address, not a 6-byte Ethernet MAC")]
    NotEthernet {
        /// The interface.
        name: String,
        /// The length of its hardware address (0 if it has none).
        len: usize,
    },
    /// The route cannot be expressed (before asking the kernel).
    #[error("route {dst}/{prefix_len} is invalid: {reason}")]
    InvalidRoute {
        /// The route's destination.
        dst: std::net::IpAddr,
        /// The route's prefix length.
        prefix_len: u8,
        /// What is wrong with it.
        reason: String,
    },
    /// The kernel refused a request (or the connection failed).
    #[error("{action} failed: {}", describe(source))]
    Request {
        /// What was being done, naming the interface/address.
        action: String,
        /// The error reported by rtnetlink.
        source: rtnetlink::Error,
    },
}

impl Error {
    /// The errno the kernel answered with, for a refused request (e.g. `libc::EEXIST`).
    pub fn errno(&self) -> Option<i32> {
        match self {
            Self::Request { source, .. } => kernel_errno(source),
            _ => None,
        }
    }
}

/// Result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A connection to the routing netlink of one network namespace. Cheap to clone; clones share
/// the connection.
#[derive(Debug, Clone)]
pub struct Netlink {
    handle: rtnetlink::Handle,
}

impl Netlink {
    /// Connects to the calling thread's network namespace. Must be called inside a tokio
    /// runtime.
    pub fn connect() -> Result<Self> {
        Self::from_socket(open_route_socket().map_err(Error::Socket)?)
    }

    /// Connects to the network namespace `ns`: the socket is opened inside it on a dedicated
    /// thread (see [`NetNs::run_in`]), then driven by a task on the current tokio runtime.
    /// Must be called inside a tokio runtime; it blocks briefly for the thread.
    pub fn connect_in(ns: &NetNs) -> Result<Self> {
        let socket = ns.run_in(open_route_socket)?.map_err(Error::Socket)?;
        Self::from_socket(socket)
    }

    /// Wraps a routing netlink socket and spawns its connection task.
    fn from_socket(socket: OwnedFd) -> Result<Self> {
        // Checked first: `TokioSocket::from_raw_fd` panics outside a runtime.
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        // SAFETY: `socket` is an open netlink socket that nothing else owns; `into_raw_fd`
        // hands its ownership to the TokioSocket, which closes it when dropped.
        let socket = unsafe { TokioSocket::from_raw_fd(socket.into_raw_fd()) };
        let (connection, handle, _unsolicited) = rtnetlink::from_socket(socket);
        runtime.spawn(connection);
        Ok(Self { handle })
    }
}

/// Opens a `NETLINK_ROUTE` socket in the calling thread's network namespace, which is where it
/// will operate for its whole life.
fn open_route_socket() -> io::Result<OwnedFd> {
    Ok(rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        // Protocol 0 is NETLINK_ROUTE (rustix has no constant for a zero protocol).
        None,
    )?)
}

/// Builds the error for a refused request; `action` says what was being done.
fn request_failed(action: String) -> impl FnOnce(rtnetlink::Error) -> Error {
    move |source| Error::Request { action, source }
}

/// The kernel's errno in a netlink error answer.
fn kernel_errno(error: &rtnetlink::Error) -> Option<i32> {
    match error {
        rtnetlink::Error::NetlinkError(message) => Some(message.raw_code().abs()),
        _ => None,
    }
}

/// A person-readable reason for a failed request: the kernel's errno as text, with a hint for
/// the usual suspects.
fn describe(error: &rtnetlink::Error) -> String {
    let Some(errno) = kernel_errno(error) else {
        return error.to_string();
    };
    let text = io::Error::from_raw_os_error(errno);
    let hint = match errno {
        libc::EPERM => "; podwire needs CAP_NET_ADMIN in this network namespace",
        libc::EEXIST => "; it already exists",
        libc::ENODEV => "; the interface does not exist (any more)",
        libc::EBUSY => "; the interface is busy (renaming needs it down)",
        _ => "",
    };
    format!("{text}{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtnetlink::packet_core::ErrorMessage;
    use std::num::NonZeroI32;

    fn nack(errno: i32) -> rtnetlink::Error {
        let mut message = ErrorMessage::default();
        message.code = NonZeroI32::new(-errno);
        rtnetlink::Error::NetlinkError(message)
    }

    #[test]
    fn refused_requests_name_the_action_and_the_errno() {
        let err = request_failed("setting the MTU of eth0 to 9000".into())(nack(libc::EPERM));
        assert_eq!(err.errno(), Some(libc::EPERM));
        let text = err.to_string();
        assert!(
            text.starts_with("setting the MTU of eth0 to 9000 failed: "),
            "{text}"
        );
        assert!(text.contains("CAP_NET_ADMIN"), "{text}");
    }

    #[test]
    fn other_errors_have_no_errno() {
        let err = request_failed("x".into())(rtnetlink::Error::RequestFailed);
        assert_eq!(err.errno(), None);
        assert_eq!(Error::NoRuntime.errno(), None);
    }

    #[test]
    fn connecting_outside_a_runtime_is_an_error_not_a_panic() {
        assert!(matches!(Netlink::connect(), Err(Error::NoRuntime)));
    }
}
