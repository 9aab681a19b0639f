//! What podwire touches on the host: network namespaces, netlink, and the interface drivers
//! the data plane receives and sends frames through.
//!
//! * [`netns`]: handles to network namespaces, `ip netns`-compatible named namespaces, and
//!   [`NetNs::run_in`](netns::NetNs::run_in) to open sockets inside one (on a dedicated thread,
//!   never a tokio worker).
//! * [`netlink`]: an async facade over `rtnetlink` for links, addresses, routes and neighbors,
//!   addressed by interface name. [`sysctl`] holds the few per-interface settings that live in
//!   `/proc/sys` instead.
//! * [`tap`]: tap devices (the kernel end of a pod's `eth0`), with [`vnet`] the virtio-net
//!   header that carries checksum and segmentation offloads across them.
//! * [`af_packet`]: `AF_PACKET` sockets with a `TPACKET_V3` receive ring, for attaching existing
//!   kernel interfaces (uplinks, veths) without taking them from the kernel.
//! * [`af_xdp`]: `AF_XDP` sockets on one queue of a kernel interface, with the XDP program
//!   that feeds them, for uplinks faster than `AF_PACKET`.
//! * [`poll`]: epoll and an eventfd [`Waker`](poll::Waker), so an idle worker sleeps on its
//!   interfaces' file descriptors and the control plane can wake it.
//!
//! The drivers work on byte slices: the data plane hands them its own buffers. Every `unsafe`
//! block in this crate wraps one syscall or one access to kernel-shared memory and says why it
//! is sound.

pub mod af_packet;
pub mod af_xdp;
pub mod ifname;
pub mod netlink;
pub mod netns;
pub mod poll;
pub mod sysctl;
pub mod tap;
pub mod tx;
pub mod vnet;
pub mod worker;
