//! Traffic of the Service tests, all in this process: backends that answer every request
//! with their name and the source address they saw, and clients, each socket opened inside
//! the namespace it belongs to (on a dedicated thread, as `setns` wants) and then used from
//! the test's thread.
//!
//! The protocol, over TCP and UDP alike: the client sends a token (a line over TCP, a
//! datagram over UDP); the backend answers `NAME SOURCE TOKEN`. The token lets a UDP client
//! tell the answer to its last request from a late answer to an earlier one.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use podwire_io::netns::NetNs;

use super::super::{Netns, again_if_interrupted};

// The lab's server threads, as `podwire bench cluster` runs them.
// The cluster tests load it a second time, with the whole lab (support/cluster.rs).
#[allow(clippy::duplicate_mod)]
#[path = "../../../src/bench/cluster/lab/traffic/server_threads.rs"]
mod server_threads;

use server_threads::ServerThreads;

/// How long a client waits to connect, and for each answer. Generous: a first packet may
/// wait for neighbor resolution, and a lost TCP SYN is sent again after a second.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a UDP client sends a request again when no answer came (datagrams may be lost
/// while a neighbor is resolved).
const UDP_ATTEMPTS: u32 = 5;

/// How long a UDP client waits for one answer before it sends again.
const UDP_WAIT: Duration = Duration::from_secs(1);

/// How often the backend's threads look at their stop flag.
const SERVER_TICK: Duration = Duration::from_millis(50);

/// Runs `f` inside `ns` (on a fresh thread that entered it), or here when `ns` is `None`
/// (the test's own namespace, where the host tap lives).
fn in_netns<R: Send>(ns: Option<&Netns>, f: impl FnOnce() -> R + Send) -> R {
    match ns {
        None => f(),
        Some(ns) => NetNs::open_named(&ns.name)
            .unwrap_or_else(|e| panic!("cannot open network namespace {}: {e}", ns.name))
            .run_in(f)
            .unwrap_or_else(|e| panic!("cannot enter network namespace {}: {e}", ns.name)),
    }
}

/// What a backend answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The backend's name.
    pub backend: String,
    /// The source address and port the backend saw.
    pub source: SocketAddr,
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (saw {})", self.backend, self.source)
    }
}

/// Parses `NAME SOURCE TOKEN`; the token must be `token`.
fn parse_answer(text: &str, token: &str) -> io::Result<Answer> {
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the backend's answer {text:?} is not \"NAME SOURCE {token}\""),
        )
    };
    let mut words = text.split_whitespace();
    let (Some(backend), Some(source), Some(got)) = (words.next(), words.next(), words.next())
    else {
        return Err(bad());
    };
    if got != token {
        return Err(bad());
    }
    Ok(Answer {
        backend: backend.to_owned(),
        source: source.parse().map_err(|_| bad())?,
    })
}

/// A fresh token for one request.
fn token() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("t{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A TCP and UDP server on one port in a namespace, answering with its name and the source
/// it saw; stopped on drop.
pub struct Backend {
    /// Its name, as it answers.
    pub name: String,
    /// Its port (TCP and UDP).
    pub port: u16,
    threads: ServerThreads,
}

impl Backend {
    /// Listens on TCP and UDP `port` of every address of `ns`, answering as `name`.
    pub fn start(ns: &Netns, name: &str, port: u16) -> Backend {
        let (tcp, udp) = in_netns(Some(ns), || {
            (
                TcpListener::bind(("0.0.0.0", port)),
                UdpSocket::bind(("0.0.0.0", port)),
            )
        });
        let what = |e| format!("cannot listen on port {port} in {}: {e}", ns.name);
        let tcp = tcp.unwrap_or_else(|e| panic!("TCP: {}", what(e)));
        let udp = udp.unwrap_or_else(|e| panic!("UDP: {}", what(e)));
        tcp.set_nonblocking(true).expect("a non-blocking listener");
        udp.set_read_timeout(Some(SERVER_TICK))
            .expect("a UDP read timeout");
        let threads = ServerThreads::default();
        let (accept_name, accepting) = (name.to_owned(), threads.clone());
        threads.spawn(move || accept_loop(tcp, &accept_name, &accepting));
        let (udp_name, stop) = (name.to_owned(), threads.stop.clone());
        threads.spawn(move || udp_loop(udp, &udp_name, &stop));
        Backend {
            name: name.to_owned(),
            port,
            threads,
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.threads.stop_and_join();
    }
}

fn accept_loop(listener: TcpListener, name: &str, threads: &ServerThreads) {
    while !threads.stopping() {
        match listener.accept() {
            Ok((stream, peer)) => {
                let (name, stop) = (name.to_owned(), Arc::clone(&threads.stop));
                threads.spawn(move || serve_connection(stream, peer, &name, &stop));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(SERVER_TICK),
            Err(_) => std::thread::sleep(SERVER_TICK),
        }
    }
}

/// Answers each line of one connection until the client closes it or the backend stops.
fn serve_connection(mut stream: TcpStream, peer: SocketAddr, name: &str, stop: &AtomicBool) {
    // An accepted socket may inherit the listener's non-blocking mode on some systems.
    if stream.set_nonblocking(false).is_err() || stream.set_read_timeout(Some(SERVER_TICK)).is_err()
    {
        return;
    }
    let mut pending = Vec::new();
    let mut buf = [0u8; 512];
    while !stop.load(Ordering::Relaxed) {
        match again_if_interrupted(|| stream.read(&mut buf)) {
            Ok(0) => return,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(_) => return,
        }
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let token = String::from_utf8_lossy(&line).trim().to_owned();
            if stream
                .write_all(format!("{name} {peer} {token}\n").as_bytes())
                .is_err()
            {
                return;
            }
        }
    }
}

fn udp_loop(socket: UdpSocket, name: &str, stop: &AtomicBool) {
    let mut buf = [0u8; 512];
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, peer)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let token = String::from_utf8_lossy(&buf[..n]).trim().to_owned();
        let _ = socket.send_to(format!("{name} {peer} {token}").as_bytes(), peer);
    }
}

/// An open TCP connection to a backend (through a Service or not).
pub struct TcpConn {
    stream: TcpStream,
    /// Where it connected to.
    pub to: SocketAddr,
}

impl TcpConn {
    /// Connects from `ns` (the test's own namespace when `None`) to `to`.
    pub fn connect(ns: Option<&Netns>, to: SocketAddr) -> io::Result<TcpConn> {
        TcpConn::connect_within(ns, to, CLIENT_TIMEOUT)
    }

    /// [`TcpConn::connect`], giving up on connecting after `timeout` (`TimedOut`); the
    /// answers may still take the usual time.
    pub fn connect_within(
        ns: Option<&Netns>,
        to: SocketAddr,
        timeout: Duration,
    ) -> io::Result<TcpConn> {
        let stream = in_netns(ns, || TcpStream::connect_timeout(&to, timeout))?;
        stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
        stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
        Ok(TcpConn { stream, to })
    }

    /// Sends one request on this connection and reads the answer.
    pub fn ask(&mut self) -> io::Result<Answer> {
        let token = token();
        self.stream.write_all(format!("{token}\n").as_bytes())?;
        let mut answer = Vec::new();
        let mut byte = [0u8; 1];
        while answer.last() != Some(&b'\n') {
            match again_if_interrupted(|| self.stream.read(&mut byte))? {
                0 => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("{} closed the connection without answering", self.to),
                    ));
                }
                _ => answer.push(byte[0]),
            }
        }
        parse_answer(&String::from_utf8_lossy(&answer), &token)
    }

    /// This end's address.
    pub fn local(&self) -> SocketAddr {
        self.stream
            .local_addr()
            .expect("a connected socket's address")
    }
}

/// One request over a fresh TCP connection (a fresh source port) from `ns` to `to`.
pub fn tcp_ask(ns: Option<&Netns>, to: SocketAddr) -> io::Result<Answer> {
    TcpConn::connect(ns, to)?.ask()
}

/// A UDP socket of a client, bound to a fresh port in its namespace.
pub struct UdpClient {
    socket: UdpSocket,
}

impl UdpClient {
    /// A socket in `ns` (the test's own namespace when `None`).
    pub fn bind(ns: Option<&Netns>) -> UdpClient {
        let socket = in_netns(ns, || UdpSocket::bind("0.0.0.0:0"))
            .unwrap_or_else(|e| panic!("cannot bind a UDP socket: {e}"));
        socket
            .set_read_timeout(Some(UDP_WAIT))
            .expect("a UDP read timeout");
        UdpClient { socket }
    }

    /// Sends a request to `to` and waits for its answer, sending again a few times when
    /// none comes; answers to earlier requests are skipped.
    pub fn ask(&self, to: SocketAddr) -> io::Result<Answer> {
        let token = token();
        let mut buf = [0u8; 512];
        let mut last = io::Error::from(io::ErrorKind::TimedOut);
        for _ in 0..UDP_ATTEMPTS {
            self.socket.send_to(token.as_bytes(), to)?;
            // Until this attempt times out: an answer with another token is a late one.
            loop {
                match again_if_interrupted(|| self.socket.recv_from(&mut buf)) {
                    Ok((n, _)) => {
                        if let Ok(answer) =
                            parse_answer(&String::from_utf8_lossy(&buf[..n]), &token)
                        {
                            return Ok(answer);
                        }
                    }
                    Err(e) => {
                        last = e;
                        break;
                    }
                }
            }
        }
        Err(last)
    }
}

/// One request from a fresh UDP socket (a fresh source port) in `ns` to `to`.
pub fn udp_ask(ns: Option<&Netns>, to: SocketAddr) -> io::Result<Answer> {
    UdpClient::bind(ns).ask(to)
}

/// One request from a fresh *connected* UDP socket in `ns` to `to`: unlike [`udp_ask`], an
/// ICMP port unreachable coming back shows as `ConnectionRefused` (Linux reports ICMP errors
/// on connected UDP sockets only).
pub fn udp_ask_connected(ns: Option<&Netns>, to: SocketAddr) -> io::Result<Answer> {
    let socket = in_netns(ns, || {
        let socket = UdpSocket::bind("0.0.0.0:0")?;
        socket.connect(to)?;
        Ok::<_, io::Error>(socket)
    })?;
    socket.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    let token = token();
    socket.send(token.as_bytes())?;
    let mut buf = [0u8; 512];
    let n = again_if_interrupted(|| socket.recv(&mut buf))?;
    parse_answer(&String::from_utf8_lossy(&buf[..n]), &token)
}
