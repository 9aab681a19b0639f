//! The client role: one interface, connecting to a server and connecting
//! again whenever the connection is lost, for as long as the client lives.
//!
//! ```text
//! Waiting ─connect─▶ Handshaking ─CONNECTED─▶ Connected
//!    ▲  └─fails: retry in 1 s   │ refused/timeout   │ DISCONNECT/EOF
//!    └──────────────────────────┴───────────────────┘
//! ```
//!
//! Memory is created when HELLO has fixed the shape, handed to the server
//! with the lock-step announcement, and touched (receive buffers posted)
//! only after CONNECTED: a DPDK server resets the rings when it connects.

use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use super::control::{self, Incoming, MESSAGE_BUDGET};
use super::link::Link;
use super::setup::{ClientMemory, SetupError};
use super::wait::wait_readable;
use super::{
    APP_NAME, ConfigError, Event, HANDSHAKE_TIMEOUT, Interface, InterfaceConfig, PeerInfo,
    RECONNECT_FIRST, RECONNECT_PERIOD,
};
use crate::handshake::Refusal;
use crate::handshake::client::{ClientHandshake, ClientParams, ClientStep, Outgoing};
use crate::msg::{Name, Secret};
use crate::sys::{AddrError, Conn, SocketAddr};

/// Why a client could not be made, or could not connect.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The interface configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The socket address is unusable.
    #[error(transparent)]
    Address(#[from] AddrError),
    /// The handshake failed, e.g. the server refused our secret.
    #[error("memif interface {id} on {addr} was refused: {reason}")]
    Refused {
        /// The interface id.
        id: u32,
        /// The server's socket.
        addr: SocketAddr,
        /// The server's reason, or ours.
        reason: String,
    },
    /// No connection within the time given.
    #[error(
        "memif interface {id} on {addr}: not connected after {waited:?} (last problem: {last}); \
         is a server serving this id there?"
    )]
    Timeout {
        /// The interface id.
        id: u32,
        /// The server's socket.
        addr: SocketAddr,
        /// How long we tried.
        waited: Duration,
        /// The last connection failure, if any.
        last: String,
    },
    /// Waiting on the socket failed.
    #[error("cannot wait for the memif socket: {0}")]
    Wait(std::io::Error),
}

/// A memif client: one interface on a server's socket.
///
/// Poll it (see [`connection`](crate::connection)) and it connects, and
/// after losing its server connects again, waiting from [`RECONNECT_FIRST`]
/// doubling up to [`RECONNECT_PERIOD`] between attempts, until the server is back. [`Client::connect_blocking`] does the first
/// connection for simple applications.
#[derive(Debug)]
pub struct Client {
    addr: SocketAddr,
    config: InterfaceConfig,
    state: State,
    /// The last reason a connection failed, for people and error messages.
    last_error: Option<String>,
    /// How long to wait after the next failed attempt.
    retry: Duration,
}

#[derive(Debug)]
enum State {
    /// Not connected; the next attempt is due then (`None`: at once).
    Waiting(Option<Instant>),
    Handshaking(Box<Handshake>),
    Connected(Link),
}

/// A connection in its handshake.
#[derive(Debug)]
struct Handshake {
    conn: Conn,
    handshake: ClientHandshake,
    /// Created when HELLO arrives.
    memory: Option<ClientMemory>,
    /// The server application's name (HELLO).
    server_name: Name,
    deadline: Instant,
}

/// How far a handshake got in one poll.
enum Progress {
    Waiting,
    Connected { peer_if_name: Name },
}

impl Client {
    /// A client for `config` on the server at `addr`. It does not connect
    /// before the first [`poll`](Self::poll).
    pub fn new(addr: SocketAddr, config: InterfaceConfig) -> Result<Client, ConnectError> {
        addr.validate()?;
        config.validate()?;
        Ok(Client {
            addr,
            config,
            state: State::Waiting(None),
            last_error: None,
            retry: RECONNECT_FIRST,
        })
    }

    /// A client that is connected when this returns, or the reason it is
    /// not after `timeout` (or at the first refusal: a wrong secret does
    /// not get better by trying again). Keep polling it afterwards, to
    /// notice a lost server and reconnect.
    pub fn connect_blocking(
        addr: SocketAddr,
        config: InterfaceConfig,
        timeout: Duration,
    ) -> Result<Client, ConnectError> {
        let mut client = Client::new(addr, config)?;
        // `None`: a timeout beyond what an Instant holds, i.e. never.
        let deadline = Instant::now().checked_add(timeout);
        loop {
            let now = Instant::now();
            match client.poll(now) {
                Some(Event::Connected { .. }) => return Ok(client),
                Some(Event::Refused { reason, .. }) => {
                    return Err(ConnectError::Refused {
                        id: client.config.id,
                        addr: client.addr,
                        reason,
                    });
                }
                Some(Event::Disconnected { .. }) | None => {}
            }
            if deadline.is_some_and(|deadline| now >= deadline) {
                return Err(ConnectError::Timeout {
                    id: client.config.id,
                    waited: timeout,
                    last: client.last_error.unwrap_or_else(|| "none".into()),
                    addr: client.addr,
                });
            }
            let wake = [client.next_deadline(), deadline]
                .into_iter()
                .flatten()
                .min();
            let pause = wake.map_or(Duration::MAX, |wake| wake.saturating_duration_since(now));
            client.wait(pause).map_err(ConnectError::Wait)?;
        }
    }

    /// Does everything due at `now` without blocking: connects when an
    /// attempt is due, moves the handshake on (or abandons it after
    /// [`HANDSHAKE_TIMEOUT`]), notices a lost server. Returns what
    /// happened, if anything.
    pub fn poll(&mut self, now: Instant) -> Option<Event> {
        loop {
            match &mut self.state {
                State::Waiting(due) => {
                    if due.is_some_and(|due| now < due) {
                        return None;
                    }
                    self.start(now);
                    if matches!(self.state, State::Waiting(_)) {
                        return None;
                    }
                }
                State::Handshaking(handshake) => {
                    return match handshake.advance(&self.config, now) {
                        Ok(Progress::Waiting) => None,
                        Ok(Progress::Connected { peer_if_name }) => self.finish(now, peer_if_name),
                        Err(reason) => Some(self.fail(now, reason)),
                    };
                }
                State::Connected(link) => {
                    let reason = link.check()?;
                    self.last_error = Some(reason.to_string());
                    // Try again at once: the server may have restarted.
                    self.state = State::Waiting(None);
                    return Some(Event::Disconnected {
                        id: self.config.id,
                        reason,
                    });
                }
            }
        }
    }

    /// The interface, while connected.
    pub fn interface(&self) -> Option<&Interface> {
        match &self.state {
            State::Connected(link) => Some(link.interface()),
            _ => None,
        }
    }

    /// The interface, while connected, to move packets.
    pub fn interface_mut(&mut self) -> Option<&mut Interface> {
        match &mut self.state {
            State::Connected(link) => Some(link.interface_mut()),
            _ => None,
        }
    }

    /// Whether the interface is up.
    pub fn is_connected(&self) -> bool {
        matches!(self.state, State::Connected(_))
    }

    /// The control socket to wait on, while there is one: poll when it is
    /// readable.
    pub fn fds(&self) -> Vec<BorrowedFd<'_>> {
        match &self.state {
            State::Waiting(_) => Vec::new(),
            State::Handshaking(handshake) => vec![handshake.conn.as_fd()],
            State::Connected(link) => vec![link.fd()],
        }
    }

    /// When the next poll is due even if no fd becomes readable: the next
    /// connection attempt, or the handshake's timeout.
    pub fn next_deadline(&self) -> Option<Instant> {
        match &self.state {
            State::Waiting(due) => *due,
            State::Handshaking(handshake) => Some(handshake.deadline),
            State::Connected(_) => None,
        }
    }

    /// Blocks until the control socket is readable or `timeout` passes
    /// (just sleeps while there is no socket).
    pub fn wait(&self, timeout: Duration) -> std::io::Result<()> {
        wait_readable(&self.fds(), timeout)
    }

    /// Why the last connection failed or ended, if one did.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// The server's socket.
    pub fn addr(&self) -> &SocketAddr {
        &self.addr
    }

    /// The interface's configuration.
    pub fn config(&self) -> &InterfaceConfig {
        &self.config
    }

    /// Connects; on failure the next attempt is due a period later.
    fn start(&mut self, now: Instant) {
        let params = ClientParams {
            id: self.config.id,
            mode: self.config.mode,
            secret: Secret::from(self.config.secret.as_deref().unwrap_or_default()),
            name: Name::from(APP_NAME),
            if_name: Name::from(self.config.name.as_str()),
            c2s_rings: self.config.tx_queues,
            s2c_rings: self.config.rx_queues,
            log2_ring_size: self.config.log2_ring_size,
        };
        let started = ClientHandshake::new(params)
            .map_err(|e| e.to_string())
            .and_then(|handshake| {
                let conn = Conn::connect(&self.addr).map_err(|e| e.to_string())?;
                Ok((conn, handshake))
            });
        self.state = match started {
            Ok((conn, handshake)) => State::Handshaking(Box::new(Handshake {
                conn,
                handshake,
                memory: None,
                server_name: Name::EMPTY,
                deadline: now + HANDSHAKE_TIMEOUT,
            })),
            Err(reason) => {
                tracing::debug!(addr = %self.addr, %reason, "memif client cannot connect yet");
                self.last_error = Some(reason);
                State::Waiting(Some(now + self.backoff()))
            }
        };
    }

    /// The wait before the next attempt, doubled for the one after.
    fn backoff(&mut self) -> Duration {
        let wait = self.retry;
        self.retry = (wait * 2).min(RECONNECT_PERIOD);
        wait
    }

    /// CONNECTED: builds the interface and brings it up.
    fn finish(&mut self, now: Instant, peer_if_name: Name) -> Option<Event> {
        let State::Handshaking(handshake) =
            std::mem::replace(&mut self.state, State::Waiting(None))
        else {
            return None;
        };
        let Handshake {
            conn,
            handshake,
            memory,
            server_name,
            ..
        } = *handshake;
        let peer = PeerInfo {
            name: server_name.to_string(),
            if_name: peer_if_name.to_string(),
            credentials: conn.peer_credentials().ok(),
        };
        let (_region_fds, rings) = handshake.into_resources();
        let interface = memory
            .ok_or_else(|| "CONNECTED before HELLO".to_owned())
            .and_then(|memory| {
                memory
                    .into_interface(&self.config, rings, peer.clone())
                    .map_err(|e| e.to_string())
            });
        match interface {
            Ok(interface) => {
                self.state = State::Connected(Link::new(conn, interface));
                self.last_error = None;
                self.retry = RECONNECT_FIRST;
                Some(Event::Connected {
                    id: self.config.id,
                    peer,
                })
            }
            Err(reason) => {
                control::disconnect(&conn, &reason);
                Some(self.fail(now, reason))
            }
        }
    }

    /// The handshake failed: try again a period later.
    fn fail(&mut self, now: Instant, reason: String) -> Event {
        tracing::debug!(addr = %self.addr, %reason, "memif client handshake failed");
        self.last_error = Some(reason.clone());
        self.state = State::Waiting(Some(now + self.backoff()));
        Event::Refused {
            id: Some(self.config.id),
            reason,
        }
    }
}

impl Handshake {
    /// Takes the server's messages (one expected) and answers each.
    fn advance(&mut self, config: &InterfaceConfig, now: Instant) -> Result<Progress, String> {
        for _ in 0..MESSAGE_BUDGET {
            let msg = match control::receive(&self.conn) {
                Ok(None) => break,
                // An fd on a server message means nothing: closed on drop.
                Ok(Some(Incoming::Message(msg, _))) => msg,
                Ok(Some(Incoming::Closed)) => {
                    return Err("the server closed the connection during the handshake".into());
                }
                Err(error) => return Err(self.refuse(error.to_string())),
            };
            let outgoing = match self.handshake.on_message(msg) {
                Ok(ClientStep::Send(outgoing)) => outgoing,
                Ok(ClientStep::Negotiated(negotiated)) => {
                    self.server_name = negotiated.peer_name;
                    let (memory, regions, rings) = ClientMemory::create(config, &negotiated)
                        .map_err(|e| self.refuse(e.to_string()))?;
                    self.memory = Some(memory);
                    match self.handshake.provide(regions, rings) {
                        Ok(outgoing) => outgoing,
                        Err(error) => return Err(refuse(&self.conn, SetupError::from(error))),
                    }
                }
                Ok(ClientStep::Connected { peer_if_name }) => {
                    return Ok(Progress::Connected { peer_if_name });
                }
                Err(Refusal::PeerDisconnected { reason, .. }) => {
                    return Err(format!("the server refused: {reason}"));
                }
                Err(refusal) => return Err(refuse(&self.conn, refusal)),
            };
            send(&self.conn, &outgoing)?;
        }
        if now >= self.deadline {
            let reason = format!(
                "the server did not complete the handshake within {} s",
                HANDSHAKE_TIMEOUT.as_secs()
            );
            return Err(self.refuse(reason));
        }
        Ok(Progress::Waiting)
    }

    fn refuse(&self, reason: String) -> String {
        refuse(&self.conn, reason)
    }
}

fn send(conn: &Conn, outgoing: &Outgoing<'_>) -> Result<(), String> {
    control::send(conn, &outgoing.msg, outgoing.fd).map_err(|e| e.to_string())
}

/// Sends DISCONNECT with `reason` and hands its text back.
fn refuse(conn: &Conn, reason: impl ToString) -> String {
    let reason = reason.to_string();
    control::disconnect(conn, &reason);
    reason
}
