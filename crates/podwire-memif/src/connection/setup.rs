//! The shared memory and queues of a connection: the client creates them
//! when HELLO has fixed the shape, the server maps what the client handed
//! over when CONNECT arrives. Both end in an [`Interface`].

use std::os::fd::OwnedFd;

use super::{Interface, InterfaceConfig, InterfaceError, PeerInfo};
use crate::handshake::client::{ClientError, Negotiated};
use crate::handshake::server::Established;
use crate::handshake::{RegionFds, RingFds};
use crate::queue::{QueueError, RxQueue, TxQueue};
use crate::shm::{Layout, LayoutError, Region, RegionError, Regions};
use crate::sys::{EventFd, EventFdError};
use crate::types::{Direction, Role};

/// Why the memory or the queues of a connection could not be set up. The
/// connection is closed with this text as the reason.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The client's layout for the negotiated shape is impossible.
    #[error("cannot lay out the interface's memory: {0}")]
    Layout(#[from] LayoutError),
    /// A ring's eventfd could not be created.
    #[error(transparent)]
    EventFd(#[from] EventFdError),
    /// What we created does not suit the server (too many regions for it).
    #[error("the server cannot take this interface's memory: {0}")]
    Provide(#[from] ClientError),
    /// A region the client handed over cannot be mapped.
    #[error("region {index}: {source}")]
    Region {
        /// Its index.
        index: u16,
        /// Why.
        source: RegionError,
    },
    /// The interface could not set its queues up.
    #[error(transparent)]
    Interface(#[from] InterfaceError),
    /// A ring is not usable where the client put it.
    #[error("{direction:?} ring {index}: {source}")]
    Queue {
        /// Its direction.
        direction: Direction,
        /// Its index.
        index: u16,
        /// Why.
        source: QueueError,
    },
}

/// A client's memory, created for the negotiated shape: kept mapped while
/// the handshake hands the fds to the server, then given to the interface.
#[derive(Debug)]
pub(crate) struct ClientMemory {
    layout: Layout,
    regions: Regions,
}

impl ClientMemory {
    /// Creates and initialises the regions and rings of the shape HELLO
    /// negotiated, and an eventfd per ring; returns the fds to announce.
    pub(crate) fn create(
        config: &InterfaceConfig,
        negotiated: &Negotiated,
    ) -> Result<(ClientMemory, RegionFds, RingFds), SetupError> {
        let layout = config.layout(negotiated.c2s, negotiated.s2c, negotiated.log2_ring_size)?;
        let (regions, fds) = layout.create_regions()?;
        let region_fds = layout.regions().into_iter().zip(fds).collect();
        let ring_fds = layout
            .rings()
            .map(|spec| Ok((spec, OwnedFd::from(EventFd::new()?))))
            .collect::<Result<_, SetupError>>()?;
        Ok((ClientMemory { layout, regions }, region_fds, ring_fds))
    }

    /// The client's interface, once the server answered CONNECTED: queues
    /// on the rings this memory holds, with the eventfds announced.
    pub(crate) fn into_interface(
        self,
        config: &InterfaceConfig,
        rings: RingFds,
        peer: PeerInfo,
    ) -> Result<Interface, SetupError> {
        let ClientMemory { layout, regions } = self;
        let (mut rx, mut tx) = (Vec::new(), Vec::new());
        for (spec, fd) in rings {
            let queue_error = queue_error(spec.direction, spec.index);
            match spec.direction {
                Direction::C2S => tx.push(
                    TxQueue::client(&regions, &layout, spec.index, fd, config.max_frame)
                        .map_err(queue_error)?,
                ),
                Direction::S2C => rx.push(
                    RxQueue::client(&regions, &layout, spec.index, fd, config.max_frame)
                        .map_err(queue_error)?,
                ),
            }
        }
        Ok(Interface::new(config, Role::Client, peer, regions, rx, tx)?)
    }
}

/// The server's interface from what the client announced: maps every
/// region under the interface's seal policy, then checks every ring
/// (inside its region, cookie) as it builds its queue.
pub(crate) fn server_interface(
    established: Established,
    config: &InterfaceConfig,
    peer: PeerInfo,
) -> Result<Interface, SetupError> {
    let mut regions = Regions::new();
    for (spec, fd) in &established.regions {
        let region_error = |source| SetupError::Region {
            index: spec.index,
            source,
        };
        let region =
            Region::map_with_policy(fd, spec.size, config.seal_policy).map_err(region_error)?;
        regions.push(region).map_err(region_error)?;
    }
    let (mut rx, mut tx) = (Vec::new(), Vec::new());
    for (spec, fd) in established.rings {
        let queue_error = queue_error(spec.direction, spec.index);
        match spec.direction {
            Direction::C2S => {
                rx.push(RxQueue::server(&regions, spec, fd, config.max_frame).map_err(queue_error)?)
            }
            Direction::S2C => {
                tx.push(TxQueue::server(&regions, spec, fd, config.max_frame).map_err(queue_error)?)
            }
        }
    }
    Ok(Interface::new(config, Role::Server, peer, regions, rx, tx)?)
}

fn queue_error(direction: Direction, index: u16) -> impl Fn(QueueError) -> SetupError {
    move |source| SetupError::Queue {
        direction,
        index,
        source,
    }
}
