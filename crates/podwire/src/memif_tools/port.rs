//! The memif end a tool plays, server or client, behind one interface: open
//! it, move its control side on, reach the connected interface.

use std::os::fd::BorrowedFd;
use std::time::Instant;

use anyhow::Context;
use podwire_memif::{Client, Event, Interface, Server};
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;

use super::options::{CommonArgs, RoleArg};

/// A server serving one interface id, or a client of one.
pub enum Port {
    /// We listen; the peer connects.
    Server {
        /// The listening socket and its interface.
        server: Server,
        /// The one id it serves.
        id: u32,
    },
    /// We connect, and reconnect when the server comes back.
    Client(Client),
}

impl Port {
    /// Listens or prepares to connect, as `args` say; a client connects at
    /// the first [`poll`](Self::poll).
    pub fn open(args: &CommonArgs) -> anyhow::Result<Port> {
        let config = args.interface_config();
        let id = config.id;
        Ok(match args.role {
            RoleArg::Server => {
                let mut server = Server::bind(&args.socket, None)?;
                server.add_interface(config)?;
                Port::Server { server, id }
            }
            RoleArg::Client => Port::Client(
                Client::new(args.socket.clone(), config)
                    .with_context(|| format!("cannot make a memif client of {}", args.socket))?,
            ),
        })
    }

    /// What this end does, for people: `serving memif id 0 on PATH`.
    pub fn describe(&self) -> String {
        match self {
            Port::Server { server, id } => format!("serving memif id {id} on {}", server.addr()),
            Port::Client(client) => {
                let id = client.config().id;
                format!("connecting to memif id {id} on {}", client.addr())
            }
        }
    }

    /// The interface, while a peer is connected.
    pub fn interface(&self) -> Option<&Interface> {
        match self {
            Port::Server { server, id } => server.interface(*id),
            Port::Client(client) => client.interface(),
        }
    }

    /// The interface, while a peer is connected, to move packets.
    pub fn interface_mut(&mut self) -> Option<&mut Interface> {
        match self {
            Port::Server { server, id } => server.interface_mut(*id),
            Port::Client(client) => client.interface_mut(),
        }
    }

    /// Moves the control side on without blocking; what happened.
    pub fn poll(&mut self, now: Instant) -> Vec<Event> {
        match self {
            Port::Server { server, .. } => server.poll(now),
            Port::Client(client) => client.poll(now).into_iter().collect(),
        }
    }

    /// The control sockets to wait on.
    pub fn control_fds(&self) -> Vec<BorrowedFd<'_>> {
        match self {
            Port::Server { server, .. } => server.fds(),
            Port::Client(client) => client.fds(),
        }
    }

    /// When [`poll`](Self::poll) is due even if no socket stirs.
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        match self {
            Port::Server { server, .. } => server.next_deadline(),
            // A client between connections, with no socket and no date for
            // its next attempt, tries at once.
            Port::Client(client) if client.fds().is_empty() => {
                Some(client.next_deadline().unwrap_or(now))
            }
            Port::Client(client) => client.next_deadline(),
        }
    }

    /// Whether [`poll`](Self::poll) has something to do: a control socket
    /// is readable (a message, a connection, a hang-up) or a timer is due.
    pub fn control_due(&self, now: Instant) -> std::io::Result<bool> {
        if self.next_deadline(now).is_some_and(|due| due <= now) {
            return Ok(true);
        }
        let fds = self.control_fds();
        let mut polled: Vec<PollFd<'_>> = fds
            .iter()
            .map(|fd| PollFd::new(fd, PollFlags::IN))
            .collect();
        match poll(&mut polled, Some(&Timespec::default())) {
            Ok(ready) => Ok(ready > 0),
            Err(Errno::INTR) => Ok(false),
            Err(errno) => Err(errno.into()),
        }
    }
}
