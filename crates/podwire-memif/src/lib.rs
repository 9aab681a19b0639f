//! podwire-memif: memif, the shared-memory packet interface of FD.io VPP,
//! libmemif and DPDK's `net_memif`, in both roles. Usable on its own by a
//! network-function application: it is podwire's libmemif.
//!
//! # Using it
//!
//! A [`Server`] listens on a unix socket (a path, or an abstract name
//! written `@NAME`) and serves interfaces by id; a [`Client`] connects to
//! one id. Both are driven without blocking: call `poll(now)` when one of
//! their `fds()` is readable or their `next_deadline()` has come, and act
//! on the [`Event`]s. Once connected, an [`Interface`] moves packets in
//! bursts over its queues. A client reconnects by itself when its server
//! restarts; a server serves the next client when one goes.
//!
//! ```
//! use std::time::Instant;
//! use podwire_memif::{Client, Event, InterfaceConfig, Server};
//!
//! let addr: podwire_memif::sys::SocketAddr =
//!     format!("@podwire-doc-{}", std::process::id()).parse()?;
//! let mut server = Server::bind(&addr, None)?;
//! server.add_interface(InterfaceConfig::new(0))?;
//! let mut client = Client::new(addr, InterfaceConfig::new(0))?;
//!
//! // One thread plays both ends here; usually they are two processes.
//! let now = Instant::now();
//! while !client.is_connected() {
//!     server.poll(now);
//!     if let Some(Event::Refused { reason, .. }) = client.poll(now) {
//!         panic!("refused: {reason}");
//!     }
//! }
//! server.poll(now); // sees the client connected
//!
//! let sent = client.interface_mut().unwrap().tx_burst(0, &[b"hello"])?;
//! assert_eq!(sent, 1);
//! let mut got = Vec::new();
//! server.interface_mut(0).unwrap().rx_burst(0, 32, |packet| {
//!     let mut frame = vec![0; packet.len()];
//!     packet.copy_to(&mut frame);
//!     got.push(frame);
//! })?;
//! assert_eq!(got, [b"hello"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Zero copy, as libmemif's `memif_buffer_alloc`/`memif_tx_burst` and
//! `memif_rx_burst`/`memif_refill_queue`: [`Interface::tx_reserve`] hands
//! out free buffers in shared memory ([`SharedBufMut`], written through
//! volatile, bounds-checked copies), [`TxReservation::commit`] sends the
//! frames written there (one buffer each); dropping the reservation sends
//! nothing. [`Interface::rx_peek`] hands each received packet as a
//! [`SharedBuf`] read in place at any offset (a chained packet is one
//! handle over its segments), then releases its slots. A client whose
//! buffers lie in a region of their own
//! ([`shm::BufferPlacement::OwnRegion`]) is the usual partner.
//!
//! ```
//! # use std::time::Instant;
//! # use podwire_memif::{Client, InterfaceConfig, Server};
//! # let addr: podwire_memif::sys::SocketAddr =
//! #     format!("@podwire-doc-zc-{}", std::process::id()).parse()?;
//! # let mut server = Server::bind(&addr, None)?;
//! # server.add_interface(InterfaceConfig::new(0))?;
//! # let mut client = Client::new(addr, InterfaceConfig::new(0))?;
//! # while !client.is_connected() {
//! #     server.poll(Instant::now());
//! #     client.poll(Instant::now());
//! # }
//! # server.poll(Instant::now());
//! let tx = client.interface_mut().unwrap();
//! let reservation = tx.tx_reserve(0, 2)?;
//! assert_eq!(reservation.len(), 2);
//! let frame = reservation.buffer(0).unwrap();
//! frame.write(0, b"in place")?; // straight into shared memory
//! frame.fill(8, 4, b'!')?;
//! assert_eq!(reservation.commit(&[12]), 1); // buffer 1 stays unsent
//!
//! let rx = server.interface_mut(0).unwrap();
//! rx.rx_peek(0, 32, |packet| {
//!     let mut tail = [0; 4];
//!     packet.read(8, &mut tail).unwrap(); // only the bytes wanted
//!     assert_eq!((packet.len(), &tail), (12, b"!!!!"));
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Waiting: in interrupt mode (the default) each receive queue's
//! [`Interface::rx_interrupt_fd`] becomes readable when the peer sends;
//! sleep on it (poll(2), epoll), then
//! [`drain_interrupt`](Interface::drain_interrupt) and receive until the
//! queue is empty. A busy-polling application sets
//! [`InterfaceConfig::polling`] (or [`Interface::set_polling`]) so the
//! peer stops signalling. Simple applications can use
//! [`Client::connect_blocking`] and `wait` instead of an event loop (see
//! `examples/`).
//!
//! Access: a path socket's permissions decide who may connect; give
//! [`Server::bind`] a [`sys::FileAccess`] (e.g. mode `0o600` owned by the
//! pod's uid) so that only the intended pod can. A server with a secret
//! refuses clients that do not know it. A server maps a client's memory
//! only if it is sealed against shrinking, unless told otherwise
//! ([`InterfaceConfig::seal_policy`]).
//!
//! # Layers
//!
//! Each usable and tested on its own:
//! - [`types`]: the protocol's constants and shared types.
//! - [`msg`]: the 128-byte control messages, parsed and emitted.
//! - [`handshake`]: the control-channel state machines of both roles, with
//!   no I/O (messages and file descriptors in, messages and actions out).
//! - [`shm`]: shared memory (regions, rings, descriptors) touched only
//!   through volatile and atomic accesses, every peer-given value checked.
//! - [`queue`]: the ring protocol of both directions: bursts of packets in
//!   and out, chained buffers, interrupts.
//! - [`sys`]: the control sockets (paths and abstract names), message and
//!   descriptor passing, eventfds: the only I/O of the control path.
//! - [`connection`]: the roles over real sockets, and the API above.
//! - [`fuzzing`]: a hostile peer against both roles, for fuzz targets and
//!   tests.
//!
//! A peer may be malicious: nothing it sends makes this crate read or
//! write outside its own mappings, or panic.

pub mod connection;
pub mod fuzzing;
pub mod handshake;
pub mod msg;
pub mod queue;
pub mod shm;
pub mod sys;
pub mod types;

pub use connection::{
    Client, ConnectError, DisconnectReason, Event, Interface, InterfaceConfig, InterfaceError,
    PeerInfo, Server, ServerError,
};
pub use queue::{BufferError, Packet, QueueStats, SharedBuf, SharedBufMut, TxReservation};
