//! Traffic between the lab's pods, all in this process, each socket opened inside the
//! namespace it belongs to: a server that names itself and echoes, connections to it, and
//! probers that send a numbered packet every millisecond and note when each answer came
//! back, which shows how long forwarding stopped.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::Context;
use rustix::event::{PollFd, PollFlags, Timespec};

use super::pod::Pod;

mod server_threads;

use server_threads::ServerThreads;

/// How often the server's and the probers' threads look at their stop flag.
const TICK: Duration = Duration::from_millis(50);
/// How long a connection waits for an answer before it counts as gone.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// A server on one port of a pod, every address, TCP and UDP: a TCP client first gets the
/// server's name and a newline, then its own bytes back; a UDP datagram comes back as it
/// went. Stopped on drop.
pub struct PodServer {
    threads: ServerThreads,
}

impl PodServer {
    /// Listens on `port` of `pod` as `name`.
    pub fn start(pod: &Pod, name: &str, port: u16) -> anyhow::Result<PodServer> {
        // `[::]` with IPV6_V6ONLY off (Linux's default): IPv4 clients too.
        let any = SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
        let (tcp, udp) = pod.run_in(|| (TcpListener::bind(any), UdpSocket::bind(any)))?;
        let what = || format!("cannot listen on port {port} in pod {}", pod.name);
        let tcp = tcp.with_context(what)?;
        let udp = udp.with_context(what)?;
        udp.set_read_timeout(Some(TICK))?;
        let threads = ServerThreads::default();
        let (greeting, accepting) = (format!("{name}\n"), threads.clone());
        threads.spawn(move || accept_loop(&tcp, &greeting, &accepting));
        let stop = threads.stop.clone();
        threads.spawn(move || udp_echo(&udp, &stop));
        Ok(PodServer { threads })
    }
}

impl Drop for PodServer {
    fn drop(&mut self) {
        self.threads.stop_and_join();
    }
}

fn accept_loop(listener: &TcpListener, greeting: &str, threads: &ServerThreads) {
    while !threads.stopping() {
        // Waits for a client or the tick: a client is served at once, the flag seen soon.
        if !readable(listener, TICK) {
            continue;
        }
        let Ok((stream, _)) = listener.accept() else {
            continue;
        };
        let (greeting, stop) = (greeting.to_owned(), threads.stop.clone());
        threads.spawn(move || serve(stream, &greeting, &stop));
    }
}

/// Greets one client, then echoes until it closes or the server stops.
fn serve(mut stream: TcpStream, greeting: &str, stop: &AtomicBool) {
    if stream.set_read_timeout(Some(TICK)).is_err()
        || stream.write_all(greeting.as_bytes()).is_err()
    {
        return;
    }
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e) if quiet(&e) => continue,
            Err(_) => return,
        }
    }
}

fn udp_echo(socket: &UdpSocket, stop: &AtomicBool) {
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        if let Ok((n, peer)) = socket.recv_from(&mut buf) {
            let _ = socket.send_to(&buf[..n], peer);
        }
    }
}

/// Whether a socket error only means "nothing yet": a timeout or a signal.
fn quiet(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// An open TCP connection to a [`PodServer`].
pub struct TcpConn {
    reader: BufReader<TcpStream>,
    /// The name of the server that answered.
    pub server: String,
    sent: u64,
}

impl TcpConn {
    /// Connects from `pod` to `to`, giving up after `timeout`, and reads the server's name.
    pub fn open(pod: &Pod, to: SocketAddr, timeout: Duration) -> anyhow::Result<TcpConn> {
        pod.run_in(|| TcpConn::open_here(to, timeout))?
            .with_context(|| format!("pod {} cannot talk to {to}", pod.name))
    }

    /// [`TcpConn::open`] from the namespace of the calling thread (a thread that runs inside
    /// a pod, see [`Pod::run_in`]).
    pub fn open_here(to: SocketAddr, timeout: Duration) -> io::Result<TcpConn> {
        let stream = TcpStream::connect_timeout(&to, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        let mut reader = BufReader::new(stream);
        let mut server = String::new();
        reader.read_line(&mut server)?;
        if !server.ends_with('\n') {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        server.pop();
        Ok(TcpConn {
            reader,
            server,
            sent: 0,
        })
    }

    /// Sends eight bytes and waits (up to [`ANSWER_TIMEOUT`]) for them to come back.
    pub fn echo(&mut self) -> io::Result<()> {
        self.reader
            .get_ref()
            .set_read_timeout(Some(ANSWER_TIMEOUT))?;
        let word = self.sent.to_be_bytes();
        self.sent += 1;
        self.reader.get_mut().write_all(&word)?;
        let mut back = [0u8; 8];
        self.reader.read_exact(&mut back)?;
        if back != word {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("sent {word:?}, got {back:?} back"),
            ));
        }
        Ok(())
    }
}

/// An answer of a prober: which packet (or word) came back, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// Its number: the n-th sent, from 0.
    pub seq: u64,
    /// When it came back.
    pub at: Instant,
}

/// What a prober saw.
#[derive(Debug, Clone)]
pub struct ProbeReport {
    /// Packets (UDP) or 8-byte words (TCP) sent.
    pub sent: u64,
    /// The answers, in the order they came.
    pub arrivals: Vec<Arrival>,
    /// Why it stopped early (TCP: the connection broke), if it did.
    pub error: Option<String>,
}

impl ProbeReport {
    /// How many came back.
    pub fn answered(&self) -> u64 {
        self.arrivals.len() as u64
    }

    /// How many never came back.
    pub fn lost(&self) -> u64 {
        self.sent.saturating_sub(self.answered())
    }

    /// The longest time between two answers: how long forwarding stopped, give or take the
    /// interval.
    pub fn longest_gap(&self) -> Duration {
        self.arrivals
            .windows(2)
            .map(|w| w[1].at - w[0].at)
            .max()
            .unwrap_or_default()
    }
}

/// What the prober's threads share.
#[derive(Default)]
struct Shared {
    sending: AtomicBool,
    receiving: AtomicBool,
    sent: AtomicU64,
    arrivals: Mutex<Vec<Arrival>>,
    error: Mutex<Option<String>>,
}

impl Shared {
    fn fail(&self, why: String) {
        self.error.lock().unwrap().get_or_insert(why);
        self.sending.store(false, Ordering::Relaxed);
        self.receiving.store(false, Ordering::Relaxed);
    }
}

/// Sends a numbered packet (UDP) or word (TCP) to a [`PodServer`] every `interval` and
/// notes when each comes back, until stopped.
pub struct Prober {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl Prober {
    /// UDP datagrams from `pod` to `to`.
    pub fn udp(pod: &Pod, to: SocketAddr, interval: Duration) -> anyhow::Result<Prober> {
        let any: SocketAddr = if to.is_ipv6() {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        } else {
            ([0, 0, 0, 0], 0).into()
        };
        let socket = pod
            .run_in(|| {
                let socket = UdpSocket::bind(any)?;
                socket.connect(to)?;
                Ok::<_, io::Error>(socket)
            })?
            .with_context(|| format!("pod {} cannot open a UDP socket to {to}", pod.name))?;
        socket.set_read_timeout(Some(TICK))?;
        let receiving = socket.try_clone()?;
        Ok(Prober::run(
            interval,
            move |word| match socket.send(word) {
                // An ICMP error (a port not yet served) comes back on a connected socket as
                // the next send's error: it is a loss like any other, not the end.
                Err(e) if e.kind() != io::ErrorKind::ConnectionRefused => Err(e),
                _ => Ok(()),
            },
            move |buf| loop {
                match receiving.recv(buf) {
                    Ok(n) => return Ok(buf[..n].try_into().ok().map(u64::from_be_bytes)),
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
                    Err(e) => return Err(e),
                }
            },
        ))
    }

    /// Words over one TCP connection from `pod` to `to`.
    pub fn tcp(pod: &Pod, to: SocketAddr, interval: Duration) -> anyhow::Result<Prober> {
        let conn = TcpConn::open(pod, to, ANSWER_TIMEOUT)?;
        let mut reader = conn.reader;
        reader.get_ref().set_read_timeout(Some(TICK))?;
        let mut writer = reader.get_ref().try_clone()?;
        // A partial word read before a timeout is kept for the next read.
        let mut partial = Vec::with_capacity(8);
        Ok(Prober::run(
            interval,
            move |word| writer.write_all(word),
            move |buf| {
                let n = reader.read(&mut buf[..8 - partial.len()])?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                partial.extend_from_slice(&buf[..n]);
                let word = <[u8; 8]>::try_from(partial.as_slice()).ok();
                if word.is_some() {
                    partial.clear();
                }
                Ok(word.map(u64::from_be_bytes))
            },
        ))
    }

    /// Runs `send` every `interval` on one thread and `receive` (the number of an answer
    /// that came, if one did) on another.
    fn run(
        interval: Duration,
        mut send: impl FnMut(&[u8]) -> io::Result<()> + Send + 'static,
        mut receive: impl FnMut(&mut [u8]) -> io::Result<Option<u64>> + Send + 'static,
    ) -> Prober {
        let shared = Arc::new(Shared::default());
        shared.sending.store(true, Ordering::Relaxed);
        shared.receiving.store(true, Ordering::Relaxed);
        let sender = {
            let shared = shared.clone();
            thread::spawn(move || {
                let start = Instant::now();
                let mut n: u64 = 0;
                while shared.sending.load(Ordering::Relaxed) {
                    if let Err(e) = send(&n.to_be_bytes()) {
                        shared.fail(format!("sending failed: {e}"));
                        return;
                    }
                    n += 1;
                    shared.sent.store(n, Ordering::Relaxed);
                    // On a schedule, not a sleep after each send: a late wake-up does not
                    // slow the rate down.
                    let next =
                        start + interval.saturating_mul(u32::try_from(n).unwrap_or(u32::MAX));
                    thread::sleep(next.saturating_duration_since(Instant::now()));
                }
            })
        };
        let receiver = {
            let shared = shared.clone();
            thread::spawn(move || {
                let mut buf = [0u8; 2048];
                while shared.receiving.load(Ordering::Relaxed) {
                    match receive(&mut buf) {
                        Ok(Some(seq)) => shared.arrivals.lock().unwrap().push(Arrival {
                            seq,
                            at: Instant::now(),
                        }),
                        Ok(None) => {}
                        Err(e) if quiet(&e) => {}
                        Err(e) => shared.fail(format!("receiving failed: {e}")),
                    }
                }
            })
        };
        Prober {
            shared,
            threads: vec![sender, receiver],
        }
    }

    /// How many were sent so far: the number the next one gets.
    pub fn sent(&self) -> u64 {
        self.shared.sent.load(Ordering::Relaxed)
    }

    /// How many answers came back so far.
    pub fn answered(&self) -> u64 {
        self.shared.arrivals.lock().unwrap().len() as u64
    }

    /// How many answers came back to packets numbered `seq` or later: with `seq` the first
    /// sent after forwarding stopped, whether it works again.
    pub fn answered_from(&self, seq: u64) -> usize {
        let arrivals = self.shared.arrivals.lock().unwrap();
        arrivals.iter().filter(|a| a.seq >= seq).count()
    }

    /// Stops sending, waits up to `grace` for what is still on its way, and reports.
    pub fn stop(mut self, grace: Duration) -> ProbeReport {
        self.shared.sending.store(false, Ordering::Relaxed);
        let deadline = Instant::now() + grace;
        while self.shared.receiving.load(Ordering::Relaxed)
            && self.answered() < self.sent()
            && Instant::now() < deadline
        {
            thread::sleep(Duration::from_millis(5));
        }
        self.join();
        let shared = &self.shared;
        ProbeReport {
            sent: shared.sent.load(Ordering::Relaxed),
            arrivals: std::mem::take(&mut *shared.arrivals.lock().unwrap()),
            error: shared.error.lock().unwrap().clone(),
        }
    }
}

impl Prober {
    /// Stops both threads and waits for them.
    fn join(&mut self) {
        self.shared.sending.store(false, Ordering::Relaxed);
        self.shared.receiving.store(false, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.join();
    }
}

/// Whether `socket` has something to read (a listener: a client) within `timeout`.
fn readable(socket: &impl AsFd, timeout: Duration) -> bool {
    let timeout = Timespec {
        tv_sec: timeout.as_secs() as i64,
        tv_nsec: i64::from(timeout.subsec_nanos()),
    };
    let mut fds = [PollFd::new(socket, PollFlags::IN)];
    matches!(rustix::event::poll(&mut fds, Some(&timeout)), Ok(n) if n > 0)
}
