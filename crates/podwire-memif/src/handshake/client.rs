//! The client's side of a connection: waits for HELLO, negotiates the
//! shape of the interface, then announces it one message per ACK.
//!
//! ```text
//! new ─HELLO─▶ Negotiated ─provide()─▶ INIT ─ACK─▶ ADD_REGION 0.. ─ACK─▶
//!   ADD_RING C2S 0.. ─ACK─▶ ADD_RING S2C 0.. ─ACK─▶ CONNECT ─CONNECTED─▶ connected
//! ```
//!
//! Between HELLO and `provide` the driver creates the regions and rings in
//! the negotiated shape. The handshake owns their fds from then on, lends
//! each to the socket layer with the message that carries it, and gives
//! them back with [`ClientHandshake::into_resources`]. The driver must not
//! touch the rings before CONNECTED (a DPDK server resets them at CONNECT).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use thiserror::Error;

use crate::handshake::{Refusal, RegionFds, RingFds};
use crate::msg::{Hello, Init, Message, Name, Secret};
use crate::types::{
    Direction, MAX_LOG2_RING_SIZE, MAX_REGION_INDEX, MAX_RING_INDEX, Mode, RegionSpec, RingSpec,
    VERSION,
};

/// A mistake of the caller: parameters no server could accept, or regions
/// and rings that do not match what was negotiated.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClientError {
    /// An interface needs at least one ring each way.
    #[error("no {0:?} rings requested: a memif interface needs at least one ring each way")]
    NoRings(Direction),
    /// More rings of a direction than memif allows.
    #[error("{count} {direction:?} rings requested, memif allows at most 256")]
    TooManyRings {
        /// The direction.
        direction: Direction,
        /// The count requested.
        count: u16,
    },
    /// Rings larger than memif allows.
    #[error("rings of 2^{0} slots requested, memif allows at most 2^14")]
    RingSizeTooLarge(u8),
    /// `provide` before HELLO was negotiated, or a second time.
    #[error("regions and rings are provided once, after the server's HELLO was negotiated")]
    NotNegotiated,
    /// Regions must be numbered 0, 1, 2, ... without gaps.
    #[error("region indices must be 0, 1, 2, ...: found {index} where {expected} belongs")]
    RegionIndex {
        /// The index found.
        index: u16,
        /// The index that belongs there.
        expected: usize,
    },
    /// No region, or more than the server accepts.
    #[error("{count} regions provided, the server accepts 1 to {max}")]
    RegionCount {
        /// The count provided.
        count: usize,
        /// The most the server accepts.
        max: u16,
    },
    /// The rings of a direction are not as many as negotiated.
    #[error("{count} {direction:?} rings provided, {negotiated} were negotiated")]
    RingCount {
        /// The direction.
        direction: Direction,
        /// The count provided.
        count: usize,
        /// The count negotiated.
        negotiated: u16,
    },
    /// Rings of a direction must be numbered 0, 1, 2, ... without gaps.
    #[error(
        "{direction:?} ring indices must be 0, 1, 2, ...: found {index} where {expected} belongs"
    )]
    RingIndex {
        /// The direction.
        direction: Direction,
        /// The index found.
        index: u16,
        /// The index that belongs there.
        expected: usize,
    },
    /// A ring's size is not the negotiated one.
    #[error("{direction:?} ring {index} has 2^{log2} slots, 2^{negotiated} were negotiated")]
    RingSize {
        /// The direction.
        direction: Direction,
        /// The ring's index.
        index: u16,
        /// Its log2 size.
        log2: u8,
        /// The negotiated log2 size.
        negotiated: u8,
    },
    /// A ring is not inside one of the provided regions.
    #[error("{direction:?} ring {index} is not inside region {region} as provided")]
    RingOutsideRegion {
        /// The direction.
        direction: Direction,
        /// The ring's index.
        index: u16,
        /// The region it names.
        region: u16,
    },
}

/// What the client wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientParams {
    /// The interface id on the server's socket.
    pub id: u32,
    /// The kind of frames.
    pub mode: Mode,
    /// The interface's secret, empty for none.
    pub secret: Secret,
    /// Our application's name (INIT).
    pub name: Name,
    /// Our interface's name (CONNECT).
    pub if_name: Name,
    /// C2S rings wanted (our transmit queues), 1 to 256.
    pub c2s_rings: u16,
    /// S2C rings wanted (our receive queues), 1 to 256.
    pub s2c_rings: u16,
    /// Slots per ring wanted, as log2, at most 14.
    pub log2_ring_size: u8,
}

/// The interface's shape, agreed from our wishes and the server's HELLO:
/// create exactly these rings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// C2S rings to create.
    pub c2s: u16,
    /// S2C rings to create.
    pub s2c: u16,
    /// log2 of the slots of every ring.
    pub log2_ring_size: u8,
    /// How many regions the server accepts (1 to 256).
    pub max_regions: u16,
    /// The server application's name (HELLO).
    pub peer_name: Name,
}

/// A message to send, with the fd to attach to it (ADD_REGION, ADD_RING).
#[derive(Debug)]
pub struct Outgoing<'a> {
    /// The message.
    pub msg: Message,
    /// Its fd, lent by the handshake that owns it.
    pub fd: Option<BorrowedFd<'a>>,
}

/// What the driver does after a server message was accepted.
#[derive(Debug)]
pub enum ClientStep<'a> {
    /// HELLO was accepted: create regions and rings of this shape, then
    /// call [`ClientHandshake::provide`].
    Negotiated(Negotiated),
    /// An ACK was accepted: send this next.
    Send(Outgoing<'a>),
    /// The server accepted CONNECT: the link is up. Take the regions and
    /// rings back with [`ClientHandshake::into_resources`].
    Connected {
        /// The server's interface name.
        peer_if_name: Name,
    },
}

/// The client's handshake for one connection attempt.
#[derive(Debug)]
pub struct ClientHandshake {
    params: ClientParams,
    state: State,
    /// Provided regions, index `i` at position `i`.
    regions: RegionFds,
    /// Provided rings, C2S by index then S2C by index: the order they are
    /// announced in.
    rings: RingFds,
}

#[derive(Debug)]
enum State {
    AwaitHello,
    AwaitResources(Negotiated),
    /// The message at this position of the announcement was sent; its ACK
    /// is due. Position 0 is INIT, then the regions, then the rings.
    AwaitAck(usize),
    AwaitConnected,
    Connected,
    /// A message was refused: nothing more is accepted.
    Closed,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::AwaitHello => "awaiting HELLO",
            State::AwaitResources(_) => "creating regions and rings",
            State::AwaitAck(_) => "awaiting ACK",
            State::AwaitConnected => "awaiting CONNECTED",
            State::Connected => "connected",
            State::Closed => "closed",
        }
    }
}

impl ClientHandshake {
    /// A handshake for a freshly connected socket, waiting for HELLO.
    pub fn new(params: ClientParams) -> Result<ClientHandshake, ClientError> {
        for (direction, count) in [
            (Direction::C2S, params.c2s_rings),
            (Direction::S2C, params.s2c_rings),
        ] {
            if count == 0 {
                return Err(ClientError::NoRings(direction));
            }
            if count > MAX_RING_INDEX + 1 {
                return Err(ClientError::TooManyRings { direction, count });
            }
        }
        if params.log2_ring_size > MAX_LOG2_RING_SIZE {
            return Err(ClientError::RingSizeTooLarge(params.log2_ring_size));
        }
        Ok(ClientHandshake {
            params,
            state: State::AwaitHello,
            regions: Vec::new(),
            rings: Vec::new(),
        })
    }

    /// Takes the server's next message. After a refusal the handshake
    /// accepts nothing more: send the refusal's
    /// [`Refusal::disconnect_message`] (if any) and close.
    pub fn on_message(&mut self, msg: Message) -> Result<ClientStep<'_>, Refusal> {
        match (std::mem::replace(&mut self.state, State::Closed), msg) {
            (State::AwaitHello, Message::Hello(hello)) => {
                let negotiated = self.negotiate(&hello)?;
                self.state = State::AwaitResources(negotiated);
                Ok(ClientStep::Negotiated(negotiated))
            }
            (State::AwaitAck(sent), Message::Ack) => {
                let next = sent + 1;
                self.state = if next == self.connect_position() {
                    State::AwaitConnected
                } else {
                    State::AwaitAck(next)
                };
                Ok(ClientStep::Send(self.outgoing(next)))
            }
            (State::AwaitConnected, Message::Connected { if_name }) => {
                self.state = State::Connected;
                Ok(ClientStep::Connected {
                    peer_if_name: if_name,
                })
            }
            (state, msg) => Err(Refusal::unexpected(&msg, state.name())),
        }
    }

    /// Hands over the regions and rings created for the negotiated shape
    /// (in any order) and returns INIT, the first message to send. On an
    /// error nothing is kept (the fds are closed) and `provide` may be
    /// called again with new ones.
    pub fn provide(
        &mut self,
        mut regions: RegionFds,
        mut rings: RingFds,
    ) -> Result<Outgoing<'_>, ClientError> {
        let State::AwaitResources(negotiated) = self.state else {
            return Err(ClientError::NotNegotiated);
        };
        regions.sort_by_key(|(region, _)| region.index);
        rings.sort_by_key(|(ring, _)| (ring.direction, ring.index));
        check_regions(&regions, &negotiated)?;
        check_rings(&rings, &regions, &negotiated)?;
        self.regions = regions;
        self.rings = rings;
        self.state = State::AwaitAck(0);
        Ok(self.outgoing(0))
    }

    /// Gives back the regions and rings provided (none before
    /// [`provide`](Self::provide)): once connected, to run the interface.
    pub fn into_resources(self) -> (RegionFds, RingFds) {
        (self.regions, self.rings)
    }

    fn negotiate(&self, hello: &Hello) -> Result<Negotiated, Refusal> {
        if hello.min_version > VERSION || hello.max_version < VERSION {
            return Err(Refusal::IncompatibleVersion {
                min: hello.min_version,
                max: hello.max_version,
            });
        }
        // The server advertises highest indices; counts are one more.
        let count = |max_index: u16, wanted: u16| {
            if max_index < wanted {
                max_index + 1
            } else {
                wanted
            }
        };
        Ok(Negotiated {
            c2s: count(hello.max_c2s_ring, self.params.c2s_rings),
            s2c: count(hello.max_s2c_ring, self.params.s2c_rings),
            log2_ring_size: hello.max_log2_ring_size.min(self.params.log2_ring_size),
            max_regions: hello.max_region.min(MAX_REGION_INDEX) + 1,
            peer_name: hello.name,
        })
    }

    /// The position of CONNECT in the announcement.
    fn connect_position(&self) -> usize {
        1 + self.regions.len() + self.rings.len()
    }

    /// The message at `position` of the announcement: INIT, the regions,
    /// the rings, CONNECT.
    fn outgoing(&self, position: usize) -> Outgoing<'_> {
        let Some(after_init) = position.checked_sub(1) else {
            let p = &self.params;
            return Outgoing {
                msg: Message::Init(Init {
                    version: VERSION,
                    id: p.id,
                    mode: p.mode,
                    secret: p.secret,
                    name: p.name,
                }),
                fd: None,
            };
        };
        if let Some((region, fd)) = self.regions.get(after_init) {
            return Outgoing {
                msg: Message::AddRegion(*region),
                fd: Some(fd.as_fd()),
            };
        }
        if let Some((ring, fd)) = self.rings.get(after_init - self.regions.len()) {
            return Outgoing {
                msg: Message::AddRing {
                    ring: *ring,
                    private_hdr_size: 0,
                },
                fd: Some(fd.as_fd()),
            };
        }
        Outgoing {
            msg: Message::Connect {
                if_name: self.params.if_name,
            },
            fd: None,
        }
    }
}

/// Checks sorted regions: 0, 1, 2, ..., as many as the server accepts.
fn check_regions(
    regions: &[(RegionSpec, OwnedFd)],
    negotiated: &Negotiated,
) -> Result<(), ClientError> {
    if regions.is_empty() || regions.len() > usize::from(negotiated.max_regions) {
        return Err(ClientError::RegionCount {
            count: regions.len(),
            max: negotiated.max_regions,
        });
    }
    for (expected, (region, _)) in regions.iter().enumerate() {
        if usize::from(region.index) != expected {
            return Err(ClientError::RegionIndex {
                index: region.index,
                expected,
            });
        }
    }
    Ok(())
}

/// Checks sorted rings: the negotiated count each way, numbered 0, 1, 2,
/// ..., of the negotiated size, each inside a provided region.
fn check_rings(
    rings: &[(RingSpec, OwnedFd)],
    regions: &[(RegionSpec, OwnedFd)],
    negotiated: &Negotiated,
) -> Result<(), ClientError> {
    for (direction, wanted) in [
        (Direction::C2S, negotiated.c2s),
        (Direction::S2C, negotiated.s2c),
    ] {
        let of_direction = rings.iter().filter(|(ring, _)| ring.direction == direction);
        let count = of_direction.clone().count();
        if count != usize::from(wanted) {
            return Err(ClientError::RingCount {
                direction,
                count,
                negotiated: wanted,
            });
        }
        for (expected, (ring, _)) in of_direction.enumerate() {
            if usize::from(ring.index) != expected {
                return Err(ClientError::RingIndex {
                    direction,
                    index: ring.index,
                    expected,
                });
            }
            if ring.log2_size != negotiated.log2_ring_size {
                return Err(ClientError::RingSize {
                    direction,
                    index: ring.index,
                    log2: ring.log2_size,
                    negotiated: negotiated.log2_ring_size,
                });
            }
            let inside = regions
                .get(usize::from(ring.region))
                .is_some_and(|(region, _)| u64::from(ring.offset) + ring.bytes() <= region.size);
            if !inside {
                return Err(ClientError::RingOutsideRegion {
                    direction,
                    index: ring.index,
                    region: ring.region,
                });
            }
        }
    }
    Ok(())
}
