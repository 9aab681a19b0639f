//! The server's side of one accepted connection: greets, identifies the
//! interface, collects the client's regions and rings with their fds, and
//! hands them over at CONNECT.
//!
//! ```text
//! new ─▶ HELLO sent ─INIT─▶ regions ─ADD_RING─▶ rings ─CONNECT─▶ connected
//!                           ↺ ADD_REGION         ↺ ADD_RING
//! ```
//!
//! Everything the client announces is checked against what we advertised
//! in HELLO and what the interface is configured for; regions and rings
//! must come in index order. The driver still has to map the regions and
//! check every ring (cookie, bounds against the real mapping) before it
//! answers CONNECTED: the announced sizes are only the client's word.

use std::os::fd::OwnedFd;

use crate::handshake::{Refusal, RegionFds, RingFds};
use crate::msg::{Hello, Init, Message, Name, Secret};
use crate::types::{
    Direction, MAX_LOG2_RING_SIZE, MAX_REGION_INDEX, MAX_RING_INDEX, Mode, RegionSpec, RingSpec,
    VERSION,
};

/// How the server is configured to serve one interface id; what the
/// driver's lookup answers for the id a client names in INIT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerInterface {
    /// The only mode accepted.
    pub mode: Mode,
    /// The secret a client must present; empty accepts any client.
    pub secret: Secret,
    /// Receive queues: at most this many C2S rings are accepted.
    pub rx_queues: u16,
    /// Transmit queues: at most this many S2C rings are accepted.
    pub tx_queues: u16,
    /// Largest log2 ring size accepted.
    pub max_log2_ring_size: u8,
}

/// Everything a client announced, handed over at CONNECT.
#[derive(Debug)]
pub struct Established {
    /// The interface id from INIT.
    pub id: u32,
    /// The mode agreed on (the interface's).
    pub mode: Mode,
    /// The client application's name (INIT).
    pub peer_name: Name,
    /// The client's interface name (CONNECT).
    pub peer_if_name: Name,
    /// The regions, index `i` at position `i`, each with its memfd.
    pub regions: RegionFds,
    /// The rings with their eventfds: C2S rings by index, then S2C rings
    /// by index.
    pub rings: RingFds,
}

/// What the driver does after a message was accepted.
#[derive(Debug)]
pub enum ServerStep {
    /// Send this (an ACK) and wait for the next message.
    Reply(Message),
    /// The client sent CONNECT: map the regions, check the rings, then
    /// send [`connected`] or a DISCONNECT.
    Connect(Established),
}

/// The CONNECTED message that completes the handshake, naming our
/// interface.
pub fn connected(our_if_name: Name) -> Message {
    Message::Connected {
        if_name: our_if_name,
    }
}

/// The server's handshake for one accepted connection.
#[derive(Debug)]
pub struct ServerHandshake {
    /// What we advertised, and therefore enforce.
    hello: Hello,
    state: State,
}

#[derive(Debug)]
enum State {
    AwaitInit,
    /// INIT accepted; regions come next.
    Regions(Session),
    /// At least one ring was announced; no more regions.
    Rings(Session),
    Connected,
    /// A message was refused: nothing more is accepted.
    Closed,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::AwaitInit => "awaiting INIT",
            State::Regions(_) => "adding regions",
            State::Rings(_) => "adding rings",
            State::Connected => "connected",
            State::Closed => "closed",
        }
    }
}

/// What INIT identified and what the client has announced since.
#[derive(Debug)]
struct Session {
    id: u32,
    interface: ServerInterface,
    peer_name: Name,
    regions: RegionFds,
    rings: RingFds,
}

impl ServerHandshake {
    /// A handshake for a just-accepted connection, and the HELLO to send
    /// at once. The limits in `hello` are enforced on top of each
    /// interface's own; [`Hello::new`] advertises the protocol's maxima.
    pub fn new(hello: Hello) -> (ServerHandshake, Message) {
        let handshake = ServerHandshake {
            hello,
            state: State::AwaitInit,
        };
        (handshake, Message::Hello(hello))
    }

    /// Takes the client's next message, with the fd that came with it (an
    /// fd on a message that carries none is closed). `lookup` finds the
    /// interface INIT names, or refuses it (unknown id, already
    /// connected).
    ///
    /// After a refusal the handshake accepts nothing more: send the
    /// refusal's [`Refusal::disconnect_message`] and close.
    pub fn on_message(
        &mut self,
        msg: Message,
        fd: Option<OwnedFd>,
        lookup: &dyn Fn(u32) -> Result<ServerInterface, Refusal>,
    ) -> Result<ServerStep, Refusal> {
        let state = std::mem::replace(&mut self.state, State::Closed);
        let (state, step) = self.advance(state, msg, fd, lookup)?;
        self.state = state;
        Ok(step)
    }

    fn advance(
        &self,
        state: State,
        msg: Message,
        fd: Option<OwnedFd>,
        lookup: &dyn Fn(u32) -> Result<ServerInterface, Refusal>,
    ) -> Result<(State, ServerStep), Refusal> {
        let ack = ServerStep::Reply(Message::Ack);
        match (state, msg) {
            (State::AwaitInit, Message::Init(init)) => {
                Ok((State::Regions(identify(&init, lookup)?), ack))
            }
            (State::Regions(mut session), Message::AddRegion(region)) => {
                session.add_region(region, fd, self.max_region())?;
                Ok((State::Regions(session), ack))
            }
            (
                State::Regions(mut session) | State::Rings(mut session),
                Message::AddRing {
                    ring,
                    private_hdr_size,
                },
            ) => {
                session.add_ring(ring, private_hdr_size, fd, &self.hello)?;
                Ok((State::Rings(session), ack))
            }
            (State::Regions(session) | State::Rings(session), Message::Connect { if_name }) => {
                Ok((
                    State::Connected,
                    ServerStep::Connect(session.establish(if_name)?),
                ))
            }
            (state, msg) => Err(Refusal::unexpected(&msg, state.name())),
        }
    }

    /// The highest region index accepted.
    fn max_region(&self) -> u16 {
        self.hello.max_region.min(MAX_REGION_INDEX)
    }
}

/// Checks INIT against the interface it names.
fn identify(
    init: &Init,
    lookup: &dyn Fn(u32) -> Result<ServerInterface, Refusal>,
) -> Result<Session, Refusal> {
    if init.version != VERSION {
        return Err(Refusal::IncompatibleVersion {
            min: init.version,
            max: init.version,
        });
    }
    let interface = lookup(init.id)?;
    if init.mode != interface.mode {
        return Err(Refusal::ModeMismatch {
            ours: interface.mode,
            theirs: init.mode,
        });
    }
    if !interface.secret.is_empty() {
        if init.secret.is_empty() {
            return Err(Refusal::SecretRequired);
        }
        if init.secret != interface.secret {
            return Err(Refusal::IncorrectSecret);
        }
    }
    Ok(Session {
        id: init.id,
        interface,
        peer_name: init.name,
        regions: Vec::new(),
        rings: Vec::new(),
    })
}

impl Session {
    fn add_region(
        &mut self,
        region: RegionSpec,
        fd: Option<OwnedFd>,
        max_region: u16,
    ) -> Result<(), Refusal> {
        let fd = fd.ok_or(Refusal::MissingRegionFd)?;
        if usize::from(region.index) != self.regions.len() {
            return Err(Refusal::UnexpectedRegionIndex {
                got: region.index,
                expected: self.regions.len(),
            });
        }
        if region.index > max_region {
            return Err(Refusal::TooManyRegions {
                index: region.index,
                max: max_region,
            });
        }
        if region.size == 0 {
            return Err(Refusal::EmptyRegion {
                index: region.index,
            });
        }
        self.regions.push((region, fd));
        Ok(())
    }

    fn add_ring(
        &mut self,
        ring: RingSpec,
        private_hdr_size: u16,
        fd: Option<OwnedFd>,
        hello: &Hello,
    ) -> Result<(), Refusal> {
        let fd = fd.ok_or(Refusal::MissingRingFd)?;
        if private_hdr_size != 0 {
            return Err(Refusal::PrivateHeaders);
        }
        let expected = self.ring_count(ring.direction);
        if usize::from(ring.index) != expected {
            return Err(Refusal::UnexpectedRingIndex {
                direction: ring.direction,
                got: ring.index,
                expected,
            });
        }
        let (queues, max_index) = match ring.direction {
            Direction::C2S => (self.interface.rx_queues, hello.max_c2s_ring),
            Direction::S2C => (self.interface.tx_queues, hello.max_s2c_ring),
        };
        let limit = u32::from(queues).min(u32::from(max_index.min(MAX_RING_INDEX)) + 1);
        if u32::from(ring.index) >= limit {
            return Err(Refusal::RingIndexOutOfRange {
                direction: ring.direction,
                index: ring.index,
                limit,
            });
        }
        let max_log2 = self
            .interface
            .max_log2_ring_size
            .min(hello.max_log2_ring_size)
            .min(MAX_LOG2_RING_SIZE);
        if ring.log2_size > max_log2 {
            return Err(Refusal::RingSizeTooLarge {
                log2: ring.log2_size,
                max: max_log2,
            });
        }
        let Some((region, _)) = self.regions.get(usize::from(ring.region)) else {
            return Err(Refusal::UnknownRegion {
                direction: ring.direction,
                index: ring.index,
                region: ring.region,
            });
        };
        // Checked again by the driver against the real mapping; this catches
        // a client that contradicts itself, with a clearer reason.
        if u64::from(ring.offset) + ring.bytes() > region.size {
            return Err(Refusal::RingOutsideRegion {
                direction: ring.direction,
                index: ring.index,
                region: ring.region,
                offset: ring.offset,
                size: region.size,
            });
        }
        self.rings.push((ring, fd));
        Ok(())
    }

    fn ring_count(&self, direction: Direction) -> usize {
        self.rings
            .iter()
            .filter(|(ring, _)| ring.direction == direction)
            .count()
    }

    fn establish(mut self, peer_if_name: Name) -> Result<Established, Refusal> {
        if self.regions.is_empty() {
            return Err(Refusal::NoRegions);
        }
        for direction in [Direction::C2S, Direction::S2C] {
            if self.ring_count(direction) == 0 {
                return Err(Refusal::NoRings(direction));
            }
        }
        self.rings
            .sort_by_key(|(ring, _)| (ring.direction, ring.index));
        Ok(Established {
            id: self.id,
            mode: self.interface.mode,
            peer_name: self.peer_name,
            peer_if_name,
            regions: self.regions,
            rings: self.rings,
        })
    }
}
