//! Both handshakes in memory: against each other with real fds, and each
//! against scripted peers for every refusal.

use std::os::fd::OwnedFd;

use rustix::event::{EventfdFlags, eventfd};

use super::client::{ClientParams, Negotiated, Outgoing};
use super::server::ServerInterface;
use super::{RegionFds, RingFds};
use crate::msg::{Hello, Init, Message, Name, Secret};
use crate::types::{DEFAULT_BUFFER_SIZE, Direction, Mode, RegionSpec, RingSpec, VERSION};

mod client;
mod fuzz;
mod pair;
mod server;

const ID: u32 = 7;
/// Big enough for every ring the scripted clients announce in region 0.
const REGION_SIZE: u64 = 1 << 20;

/// A non-blocking eventfd, as a client creates for each ring.
fn eventfd_() -> OwnedFd {
    eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK).expect("eventfd")
}

/// A file of `size` bytes standing in for a region's memfd.
fn region_file(size: u64) -> OwnedFd {
    let file = tempfile::tempfile().expect("temp file");
    file.set_len(size).expect("set_len");
    file.into()
}

fn iface() -> ServerInterface {
    ServerInterface {
        mode: Mode::Ethernet,
        secret: Secret::EMPTY,
        rx_queues: 2,
        tx_queues: 2,
        max_log2_ring_size: 14,
    }
}

fn hello() -> Hello {
    Hello::new(Name::from("podwire-test"))
}

/// Sends a message the way the socket layer does: through the codec, the
/// fd duplicated as SCM_RIGHTS would.
fn transmit(out: &Outgoing<'_>) -> (Message, Option<OwnedFd>) {
    let msg = Message::parse(&out.msg.emit()).expect("our own message parses");
    let fd = out.fd.map(|fd| fd.try_clone_to_owned().expect("dup"));
    (msg, fd)
}

fn through_codec(msg: Message) -> Message {
    Message::parse(&msg.emit()).expect("our own message parses")
}

fn params() -> ClientParams {
    ClientParams {
        id: ID,
        mode: Mode::Ethernet,
        secret: Secret::EMPTY,
        name: Name::from("client-app"),
        if_name: Name::from("memif-c0"),
        c2s_rings: 2,
        s2c_rings: 3,
        log2_ring_size: 10,
    }
}

/// Regions and rings of the negotiated shape, libmemif style: region 0
/// holds the rings, region 1 the packet buffers.
fn resources(n: &Negotiated) -> (RegionFds, RingFds) {
    let ring_count = u32::from(n.c2s) + u32::from(n.s2c);
    let ring_bytes = RingSpec {
        direction: Direction::C2S,
        index: 0,
        region: 0,
        offset: 0,
        log2_size: n.log2_ring_size,
    }
    .bytes();
    let rings_size = ring_bytes * u64::from(ring_count);
    let buffers_size =
        u64::from(DEFAULT_BUFFER_SIZE) * (1u64 << n.log2_ring_size) * u64::from(ring_count);
    let regions = vec![
        (
            RegionSpec {
                index: 0,
                size: rings_size,
            },
            region_file(rings_size),
        ),
        (
            RegionSpec {
                index: 1,
                size: buffers_size,
            },
            region_file(buffers_size),
        ),
    ];
    let specs = (0..n.c2s)
        .map(|i| (Direction::C2S, i))
        .chain((0..n.s2c).map(|i| (Direction::S2C, i)));
    let rings = specs
        .enumerate()
        .map(|(position, (direction, index))| {
            let offset = u32::try_from(ring_bytes * position as u64).expect("small region");
            let spec = RingSpec {
                direction,
                index,
                region: 0,
                offset,
                log2_size: n.log2_ring_size,
            };
            (spec, eventfd_())
        })
        .collect();
    (regions, rings)
}

/// The INIT of a scripted client.
fn init() -> Init {
    Init {
        version: VERSION,
        id: ID,
        mode: Mode::Ethernet,
        secret: Secret::EMPTY,
        name: Name::from("scripted"),
    }
}

/// A ring of 2^10 slots at the start of region 0.
fn ring_spec(direction: Direction, index: u16) -> RingSpec {
    RingSpec {
        direction,
        index,
        region: 0,
        offset: 0,
        log2_size: 10,
    }
}
