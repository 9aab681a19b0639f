//! The server role: one listening socket, many interfaces by id, each with
//! at most one client at a time.
//!
//! Every accepted connection gets HELLO at once and then runs its own
//! handshake, one reply per client message. At CONNECT the server checks
//! again that the id is still free (two clients may have raced through the
//! handshake for it), maps the client's regions, builds the queues and
//! answers CONNECTED; any failure answers DISCONNECT with the reason. A
//! connected client that says DISCONNECT, closes its socket or dies frees
//! the id for the next one.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use super::control::{self, Incoming, MESSAGE_BUDGET};
use super::link::Link;
use super::setup::server_interface;
use super::wait::wait_readable;
use super::{
    APP_NAME, ConfigError, DisconnectReason, Event, HANDSHAKE_TIMEOUT, Interface, InterfaceConfig,
    PeerInfo,
};
use crate::handshake::Refusal;
use crate::handshake::server::{
    Established, ServerHandshake, ServerInterface, ServerStep, connected,
};
use crate::msg::{Hello, Message, Name, Secret};
use crate::sys::{Conn, FileAccess, Listener, SocketAddr, SocketError};
use crate::types::MAX_LOG2_RING_SIZE;

/// Handshakes in progress at most; connections beyond are refused at once,
/// so a peer opening connections in a loop cannot exhaust our fds.
const MAX_PENDING: usize = 64;

/// What the server could not do.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listening socket could not be set up.
    #[error(transparent)]
    Socket(#[from] SocketError),
    /// The interface configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The id is taken on this socket.
    #[error(
        "interface {id} is already configured on the memif socket {addr}: remove it first, or \
         choose another id"
    )]
    DuplicateId {
        /// The id.
        id: u32,
        /// The server's socket.
        addr: SocketAddr,
    },
    /// The id is not configured.
    #[error("no interface {id} is configured on the memif socket {addr}")]
    NoSuchInterface {
        /// The id.
        id: u32,
        /// The server's socket.
        addr: SocketAddr,
    },
}

/// A memif server: a listening socket and the interfaces it serves.
///
/// ```no_run
/// # use std::time::{Duration, Instant};
/// use podwire_memif::{Event, InterfaceConfig, Server};
/// let mut server = Server::bind(&"/run/podwire/memif.sock".parse()?, None)?;
/// server.add_interface(InterfaceConfig::new(0))?;
/// loop {
///     server.wait(Duration::from_millis(100))?;
///     for event in server.poll(Instant::now()) {
///         println!("{event:?}");
///     }
///     if let Some(interface) = server.interface_mut(0) {
///         let mut frames = Vec::new();
///         interface.rx_burst(0, 32, |packet| {
///             let mut frame = vec![0; packet.len()];
///             packet.copy_to(&mut frame);
///             frames.push(frame);
///         })?;
///         let frames: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
///         interface.tx_burst(0, &frames)?; // echo
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Server {
    listener: Listener,
    hello: Hello,
    interfaces: BTreeMap<u32, Slot>,
    pending: Vec<Pending>,
    /// Events of calls between polls (a removed interface), handed out by
    /// the next poll.
    queued: Vec<Event>,
}

/// A configured interface and, while a client is connected, its link.
#[derive(Debug)]
struct Slot {
    config: InterfaceConfig,
    link: Option<Link>,
}

/// An accepted connection in its handshake.
#[derive(Debug)]
struct Pending {
    conn: Conn,
    handshake: ServerHandshake,
    deadline: Instant,
    /// The id INIT named, for the events.
    id: Option<u32>,
}

impl Server {
    /// Listens on `addr`. A path gets its parent directories created and a
    /// stale socket file replaced; `access` sets the socket file's
    /// permissions and owner before anyone can connect, so that only the
    /// intended pod can (`None` keeps the process umask's permissions; an
    /// abstract address has none and refuses `access`).
    pub fn bind(addr: &SocketAddr, access: Option<FileAccess>) -> Result<Server, ServerError> {
        Ok(Server {
            listener: Listener::bind(addr, access)?,
            hello: Hello::new(Name::from(APP_NAME)),
            interfaces: BTreeMap::new(),
            pending: Vec::new(),
            queued: Vec::new(),
        })
    }

    /// Serves `config.id` from now on.
    pub fn add_interface(&mut self, config: InterfaceConfig) -> Result<(), ServerError> {
        config.validate()?;
        if self.interfaces.contains_key(&config.id) {
            return Err(ServerError::DuplicateId {
                id: config.id,
                addr: self.addr().clone(),
            });
        }
        let slot = Slot { config, link: None };
        self.interfaces.insert(slot.config.id, slot);
        Ok(())
    }

    /// Stops serving `id` and returns its configuration. A connected
    /// client is told (DISCONNECT) and the next poll reports it
    /// disconnected.
    pub fn remove_interface(&mut self, id: u32) -> Result<InterfaceConfig, ServerError> {
        let slot = self
            .interfaces
            .remove(&id)
            .ok_or_else(|| ServerError::NoSuchInterface {
                id,
                addr: self.addr().clone(),
            })?;
        if let Some(link) = slot.link {
            let reason = format!("interface {id} was removed from the server");
            link.close(&reason);
            self.queued.push(Event::Disconnected {
                id,
                reason: DisconnectReason::Local(reason),
            });
        }
        Ok(slot.config)
    }

    /// Does everything due without blocking: accepts connections, moves
    /// each handshake on, drops handshakes older than
    /// [`HANDSHAKE_TIMEOUT`] at `now`, and notices clients that left.
    pub fn poll(&mut self, now: Instant) -> Vec<Event> {
        let mut events = std::mem::take(&mut self.queued);
        // Departures first: a client restarting at once finds its id free.
        for (&id, slot) in &mut self.interfaces {
            let Some(reason) = slot.link.as_mut().and_then(Link::check) else {
                continue;
            };
            slot.link = None;
            events.push(Event::Disconnected { id, reason });
        }
        self.accept(now, &mut events);
        self.drive_handshakes(now, &mut events);
        events
    }

    /// The connected interface `id`, if a client is connected.
    pub fn interface(&self, id: u32) -> Option<&Interface> {
        self.interfaces.get(&id)?.link.as_ref().map(Link::interface)
    }

    /// The connected interface `id`, to move packets.
    pub fn interface_mut(&mut self, id: u32) -> Option<&mut Interface> {
        self.interfaces
            .get_mut(&id)?
            .link
            .as_mut()
            .map(Link::interface_mut)
    }

    /// Every connected interface.
    pub fn interfaces_mut(&mut self) -> impl Iterator<Item = &mut Interface> {
        self.interfaces
            .values_mut()
            .filter_map(|slot| slot.link.as_mut().map(Link::interface_mut))
    }

    /// The configurations served, by id.
    pub fn configs(&self) -> impl Iterator<Item = &InterfaceConfig> {
        self.interfaces.values().map(|slot| &slot.config)
    }

    /// The sockets to wait on (listener and control connections): poll
    /// when one is readable. The set changes with every poll.
    pub fn fds(&self) -> Vec<BorrowedFd<'_>> {
        let pending = self.pending.iter().map(|p| p.conn.as_fd());
        let links = self
            .interfaces
            .values()
            .filter_map(|slot| slot.link.as_ref().map(Link::fd));
        std::iter::once(self.listener.as_fd())
            .chain(pending)
            .chain(links)
            .collect()
    }

    /// When the next poll is due even if no fd becomes readable (the
    /// oldest handshake's timeout).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.iter().map(|p| p.deadline).min()
    }

    /// Blocks until one of [`fds`](Self::fds) is readable or `timeout`
    /// passes (whichever is first; a signal may end it earlier).
    pub fn wait(&self, timeout: Duration) -> std::io::Result<()> {
        wait_readable(&self.fds(), timeout)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> &SocketAddr {
        self.listener.addr()
    }

    fn accept(&mut self, now: Instant, events: &mut Vec<Event>) {
        loop {
            let conn = match self.listener.accept() {
                Ok(Some(conn)) => conn,
                Ok(None) => return,
                Err(error) => {
                    events.push(refused(None, error.to_string()));
                    return;
                }
            };
            if self.pending.len() >= MAX_PENDING {
                let reason = "too many memif handshakes in progress: try again later";
                control::disconnect(&conn, reason);
                events.push(refused(None, reason.to_owned()));
                continue;
            }
            let (handshake, hello) = ServerHandshake::new(self.hello);
            match control::send(&conn, &hello, None) {
                Ok(()) => self.pending.push(Pending {
                    conn,
                    handshake,
                    deadline: now + HANDSHAKE_TIMEOUT,
                    id: None,
                }),
                Err(error) => events.push(refused(None, error.to_string())),
            }
        }
    }

    fn drive_handshakes(&mut self, now: Instant, events: &mut Vec<Event>) {
        for mut pending in std::mem::take(&mut self.pending) {
            match self.advance(&mut pending, now) {
                Ok(None) => self.pending.push(pending),
                Ok(Some(established)) => events.push(self.attach(established, pending.conn)),
                Err(reason) => events.push(refused(pending.id, reason)),
            }
        }
    }

    /// Takes the client's messages (one expected) and answers each. Returns
    /// what CONNECT established, or why the connection was closed.
    fn advance(&self, pending: &mut Pending, now: Instant) -> Result<Option<Established>, String> {
        let lookup = |id| self.lookup(id);
        for _ in 0..MESSAGE_BUDGET {
            let (msg, fd) = match control::receive(&pending.conn) {
                Ok(None) => break,
                Ok(Some(Incoming::Message(msg, fd))) => (msg, fd),
                Ok(Some(Incoming::Closed)) => {
                    return Err("the client closed the connection during the handshake".into());
                }
                Err(error) => return Err(refuse(&pending.conn, error.to_string())),
            };
            if let Message::Init(init) = &msg {
                pending.id = Some(init.id);
            }
            match pending.handshake.on_message(msg, fd, &lookup) {
                Ok(ServerStep::Reply(reply)) => {
                    control::send(&pending.conn, &reply, None).map_err(|e| e.to_string())?;
                }
                Ok(ServerStep::Connect(established)) => return Ok(Some(established)),
                Err(refusal) => {
                    if let Some(msg) = refusal.disconnect_message() {
                        // Best effort: we close either way.
                        let _ = control::send(&pending.conn, &msg, None);
                    }
                    return Err(refusal.to_string());
                }
            }
        }
        if now >= pending.deadline {
            let reason = format!(
                "the client did not complete the handshake within {} s",
                HANDSHAKE_TIMEOUT.as_secs()
            );
            return Err(refuse(&pending.conn, reason));
        }
        Ok(None)
    }

    /// What INIT may connect to: a configured id without a client.
    fn lookup(&self, id: u32) -> Result<ServerInterface, Refusal> {
        let slot = self
            .interfaces
            .get(&id)
            .ok_or(Refusal::UnmatchedId { id })?;
        if slot.link.is_some() {
            return Err(Refusal::AlreadyConnected { id });
        }
        let config = &slot.config;
        Ok(ServerInterface {
            mode: config.mode,
            secret: Secret::from(config.secret.as_deref().unwrap_or_default()),
            rx_queues: config.rx_queues,
            tx_queues: config.tx_queues,
            max_log2_ring_size: MAX_LOG2_RING_SIZE,
        })
    }

    /// CONNECT: checks the id is still free, maps the client's memory,
    /// answers CONNECTED and brings the interface up.
    fn attach(&mut self, established: Established, conn: Conn) -> Event {
        let id = established.id;
        let deny = |reason: String| refused(Some(id), refuse(&conn, reason));
        let slot = match self.interfaces.get_mut(&id) {
            Some(slot) if slot.link.is_some() => {
                return deny(Refusal::AlreadyConnected { id }.to_string());
            }
            Some(slot) => slot,
            // Removed while the client was in its handshake.
            None => return deny(Refusal::UnmatchedId { id }.to_string()),
        };
        let peer = PeerInfo {
            name: established.peer_name.to_string(),
            if_name: established.peer_if_name.to_string(),
            credentials: conn.peer_credentials().ok(),
        };
        let interface = match server_interface(established, &slot.config, peer.clone()) {
            Ok(interface) => interface,
            Err(error) => return deny(error.to_string()),
        };
        let reply = connected(Name::from(slot.config.name.as_str()));
        if let Err(error) = control::send(&conn, &reply, None) {
            return refused(Some(id), error.to_string());
        }
        slot.link = Some(Link::new(conn, interface));
        Event::Connected { id, peer }
    }
}

fn refused(id: Option<u32>, reason: String) -> Event {
    Event::Refused { id, reason }
}

/// Sends DISCONNECT with `reason` and hands the reason back.
fn refuse(conn: &Conn, reason: String) -> String {
    control::disconnect(conn, &reason);
    reason
}
