//! The kernel's way, measured on this machine: a client pod and a server pod joined through
//! three routers side by side, each a network namespace: one with no rules at all
//! (`plain`), one with kube-proxy's iptables rules, one with its nftables rules. The client
//! has an address per router and picks the router by the address it binds (policy
//! routing); the server answers on every endpoint address (a `local` route for the
//! endpoints' range) with a TCP listener on port 8080, and routes each client address back
//! through its router.
//!
//! A probe is one TCP connect from a fresh socket, timed from the call until the SYN-ACK
//! has come back: a new source port, so a new conntrack entry and the full rule walk, both
//! ways through the router. The three ways are probed in turn, one connect each, so that
//! they see the same machine at the same moments, and their difference is what the rules
//! (with conntrack and NAT) add.
//!
//! ```text
//!                 ┌ 10.200.0.1 plain    10.201.0.1 ┐
//! client 10.200.W.2 ─ 10.200.1.1 iptables 10.201.1.1 ─ server 10.201.W.2, local 10.128.0.0/12
//!                 └ 10.200.2.1 nftables 10.201.2.1 ┘
//! ```

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use podwire_io::netns::NetNs;
use rustix::net::sockopt::{self, Timeout};
use rustix::net::{AddressFamily, SocketType};

use super::workload::{ENDPOINT_NET, TARGET_PORT};
use crate::bench::process;
use crate::bench::samples::Samples;

/// The routers, in the order of [`Kernel::probe`]'s rounds.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Way {
    /// Forwarding, no rules (no conntrack either).
    Plain = 0,
    /// kube-proxy's iptables rules.
    Iptables = 1,
    /// kube-proxy's nftables rules.
    Nftables = 2,
}

/// Every way.
pub const WAYS: [Way; 3] = [Way::Plain, Way::Iptables, Way::Nftables];

impl Way {
    /// Its router's name.
    pub fn name(self) -> &'static str {
        match self {
            Way::Plain => "plain",
            Way::Iptables => "iptables",
            Way::Nftables => "nftables",
        }
    }

    /// The client's address on this way.
    fn client(self) -> Ipv4Addr {
        Ipv4Addr::new(10, 200, self as u8, 2)
    }
}

/// How long one `ip` or `sysctl` command may take.
const SETUP_LIMIT: Duration = Duration::from_secs(30);
/// How long one connect may wait for its SYN-ACK.
const CONNECT_LIMIT: Duration = Duration::from_secs(2);
/// A connect this long waited for TCP's first retransmission (after 1 s).
const RETRANSMITTED: Duration = Duration::from_millis(900);
/// Rounds of sockets made per visit to the client pod's namespace.
const SOCKET_BATCH: usize = 50;
/// Connections the server pod's kernel queues before its thread takes them.
const LISTEN_BACKLOG: i32 = 4096;
/// Rounds before the timed ones (neighbor resolution, caches).
const WARM_UP: usize = 20;

/// The pods and routers; deleted, with the server's thread stopped, on drop.
pub struct Kernel {
    namespaces: Vec<String>,
    client: Option<NetNs>,
    listener: Option<Listener>,
    prefix: String,
}

impl Kernel {
    /// Creates the namespaces `pwsvc-RUN-{client,server,plain,iptables,nftables}`.
    pub fn create(run: &str) -> anyhow::Result<Kernel> {
        let prefix = format!("pwsvc-{run}");
        let mut kernel = Kernel {
            namespaces: Vec::new(),
            client: None,
            listener: None,
            prefix,
        };
        let (client, server) = (kernel.netns("client"), kernel.netns("server"));
        let endpoints = format!("{}/{}", ENDPOINT_NET.0, ENDPOINT_NET.1);
        for netns in [&client, &server] {
            kernel.create_netns(netns)?;
        }
        let mut commands: Vec<Vec<String>> = vec![
            ip(&client, "link set lo up"),
            ip(&server, "link set lo up"),
            ip(&server, &format!("route add local {endpoints} dev lo")),
        ];
        for way in WAYS {
            let router = kernel.netns(way.name());
            kernel.create_netns(&router)?;
            let (w, name) = (way as u8, way.name());
            let table = 100 + u16::from(w);
            commands.extend([
                ip(
                    &client,
                    &format!("link add to-{name} type veth peer name client netns {router}"),
                ),
                ip(
                    &router,
                    &format!("link add server type veth peer name from-{name} netns {server}"),
                ),
                ip(
                    &client,
                    &format!("address add {}/24 dev to-{name}", way.client()),
                ),
                ip(&router, &format!("address add 10.200.{w}.1/24 dev client")),
                ip(&router, &format!("address add 10.201.{w}.1/24 dev server")),
                ip(
                    &server,
                    &format!("address add 10.201.{w}.2/24 dev from-{name}"),
                ),
                ip(&router, "link set lo up"),
                ip(&client, &format!("link set to-{name} up")),
                ip(&router, "link set client up"),
                ip(&router, "link set server up"),
                ip(&server, &format!("link set from-{name} up")),
                ip(
                    &client,
                    &format!("rule add from {} table {table}", way.client()),
                ),
                ip(
                    &client,
                    &format!("route add default via 10.200.{w}.1 table {table}"),
                ),
                ip(&router, &format!("route add {endpoints} via 10.201.{w}.2")),
                ip(
                    &server,
                    &format!("route add 10.200.{w}.0/24 via 10.201.{w}.1"),
                ),
            ]);
        }
        for args in &commands {
            let mut command = Command::new("ip");
            command.args(args);
            process::run(command, b"", SETUP_LIMIT).context("wiring the kernel's pods")?;
        }
        for way in WAYS {
            let router = kernel.netns(way.name());
            process::run(
                process::in_netns(&router, &["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]),
                b"",
                SETUP_LIMIT,
            )
            .with_context(|| format!("turning on forwarding in {router}"))?;
        }
        kernel.client = Some(NetNs::open_named(&client).context("opening the client pod")?);
        let server_ns = NetNs::open_named(&server).context("opening the server pod")?;
        kernel.listener = Some(Listener::start(&server_ns)?);
        println!(
            "kernel: client pod {client} → routers {0}-plain, {0}-iptables, {0}-nftables → \
             server pod {server}, which answers on every endpoint address ({endpoints})",
            kernel.prefix
        );
        Ok(kernel)
    }

    fn netns(&self, role: &str) -> String {
        format!("{}-{role}", self.prefix)
    }

    fn create_netns(&mut self, name: &str) -> anyhow::Result<()> {
        NetNs::create_named(name)
            .with_context(|| format!("cannot create network namespace {name}"))?;
        self.namespaces.push(name.to_owned());
        Ok(())
    }

    /// Runs `program` in `way`'s router with `input` on its standard input (a ruleset
    /// loader); returns how long it took, its start included.
    pub fn load(
        &self,
        way: Way,
        program: &[&str],
        input: &str,
        limit: Duration,
    ) -> anyhow::Result<Duration> {
        let start = Instant::now();
        process::run(
            process::in_netns(&self.netns(way.name()), program),
            input.as_bytes(),
            limit,
        )
        .with_context(|| format!("loading the {} rules", way.name()))?;
        Ok(start.elapsed())
    }

    /// Runs `nft -f -` in the nftables router with `input`, as kube-proxy runs it (one
    /// process per transaction); how long it took from the start of the process to its
    /// exit.
    pub fn nft(&self, input: &str) -> anyhow::Result<Duration> {
        // nsenter enters the namespace and execs nft: less in the way than `ip netns exec`,
        // which also remounts /sys.
        let netns = format!("--net=/run/netns/{}", self.netns(Way::Nftables.name()));
        let start = Instant::now();
        let mut child = Command::new("nsenter")
            .args([netns.as_str(), "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start nsenter nft")?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(input.as_bytes())
                .context("cannot write nft's input")?;
        }
        let out = child.wait_with_output().context("waiting for nft")?;
        let took = start.elapsed();
        if !out.status.success() {
            bail!(
                "nft -f - failed ({}): {}\ninput:\n{input}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim_end()
            );
        }
        Ok(took)
    }

    /// For each round, one connect through each way to that way's target, the ways in
    /// turn, after a few untimed rounds; the times of each way.
    pub fn probe(&self, rounds: &[[SocketAddrV4; 3]]) -> anyhow::Result<[Samples; 3]> {
        let client = self.client.as_ref().context("the client pod is gone")?;
        let warm: Vec<[SocketAddrV4; 3]> = rounds.iter().cycle().take(WARM_UP).copied().collect();
        connect_rounds(client, &warm)?;
        let samples = connect_rounds(client, rounds)?.map(Samples::new);
        for (way, s) in WAYS.iter().zip(&samples) {
            let late = s.above(RETRANSMITTED);
            if late > 0 {
                println!(
                    "  note: {late} connects through the {} router waited for a retransmitted \
                     SYN (a SYN or its SYN-ACK was lost); they are in its figures",
                    way.name()
                );
            }
        }
        Ok(samples)
    }
}

impl Drop for Kernel {
    fn drop(&mut self) {
        self.listener.take();
        self.client.take();
        for netns in self.namespaces.drain(..) {
            if let Err(e) = NetNs::delete_named(&netns) {
                println!("  warning: {e}");
            }
        }
        println!("kernel: pods and routers deleted");
    }
}

/// `ip -n NETNS ARGS…`, the arguments split at spaces.
fn ip(netns: &str, args: &str) -> Vec<String> {
    ["-n", netns]
        .into_iter()
        .chain(args.split(' '))
        .map(str::to_owned)
        .collect()
}

/// Connects through each way to its target of each round, from fresh sockets made in
/// `client`; the time of each connect, by way.
fn connect_rounds(
    client: &NetNs,
    rounds: &[[SocketAddrV4; 3]],
) -> anyhow::Result<[Vec<Duration>; 3]> {
    let mut times: [Vec<Duration>; 3] = Default::default();
    for chunk in rounds.chunks(SOCKET_BATCH) {
        let sockets = client
            .run_in(|| {
                (0..chunk.len())
                    .map(|_| WAYS.map(|way| client_socket(way.client())))
                    .map(|[a, b, c]| Ok([a?, b?, c?]))
                    .collect::<std::io::Result<Vec<[OwnedFd; 3]>>>()
            })
            .context("cannot enter the client pod")?
            .context("cannot make a socket in the client pod")?;
        for (round, targets) in sockets.into_iter().zip(chunk) {
            for ((socket, target), way) in round.into_iter().zip(targets).zip(WAYS) {
                let start = Instant::now();
                let connected = rustix::net::connect(&socket, target);
                let took = start.elapsed();
                connected.with_context(|| {
                    format!(
                        "connect to {target} through the {} router failed after {took:?}",
                        way.name()
                    )
                })?;
                times[way as usize].push(took);
            }
        }
    }
    Ok(times)
}

/// A TCP socket bound to `source` (which picks its router) that gives up connecting after
/// [`CONNECT_LIMIT`] and resets the connection when closed (no TIME_WAIT piling up).
fn client_socket(source: Ipv4Addr) -> std::io::Result<OwnedFd> {
    let socket = rustix::net::socket(AddressFamily::INET, SocketType::STREAM, None)?;
    sockopt::set_socket_timeout(&socket, Timeout::Send, Some(CONNECT_LIMIT))?;
    sockopt::set_socket_linger(&socket, Some(Duration::ZERO))?;
    rustix::net::bind(&socket, &SocketAddrV4::new(source, 0))?;
    Ok(socket)
}

/// The server pod's listener on every endpoint address, port 8080, and the thread that
/// takes its connections (the kernel answers the SYN; the thread keeps the backlog empty).
struct Listener {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    fn start(server: &NetNs) -> anyhow::Result<Listener> {
        let listener = server
            .run_in(listening_socket)
            .context("cannot enter the server pod")?
            .context("cannot listen on port 8080 in the server pod")?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("pwsvc-server".into())
            .spawn(move || {
                let tick = rustix::event::Timespec {
                    tv_sec: 0,
                    tv_nsec: 20_000_000,
                };
                while !stopped.load(Ordering::Relaxed) {
                    let mut fds = [rustix::event::PollFd::new(
                        &listener,
                        rustix::event::PollFlags::IN,
                    )];
                    if rustix::event::poll(&mut fds, Some(&tick)).is_err() {
                        continue;
                    }
                    // Taken and closed at once: only the handshake is measured.
                    while rustix::net::accept(&listener).is_ok() {}
                }
            })
            .context("cannot start the server pod's thread")?;
        Ok(Listener {
            stop,
            thread: Some(thread),
        })
    }
}

/// A non-blocking TCP socket listening on port 8080 of every address, with a backlog deep
/// enough that no SYN is dropped while the thread that empties it waits for a core.
fn listening_socket() -> std::io::Result<OwnedFd> {
    let socket = rustix::net::socket_with(
        AddressFamily::INET,
        SocketType::STREAM,
        rustix::net::SocketFlags::NONBLOCK,
        None,
    )?;
    sockopt::set_socket_reuseaddr(&socket, true)?;
    rustix::net::bind(
        &socket,
        &SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, TARGET_PORT),
    )?;
    rustix::net::listen(&socket, LISTEN_BACKLOG)?;
    Ok(socket)
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
