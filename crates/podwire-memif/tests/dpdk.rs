//! Interop with DPDK's `net_memif` through `dpdk-testpmd` 22.11 (Debian
//! package `dpdk-dev`), in both roles: our server with a testpmd client,
//! our client with a testpmd server. testpmd runs in interactive mode,
//! driven through a pipe (see `dpdk_support`), and every count is exact:
//! what one side says it sent, the other received.
//!
//! The tests need root (testpmd's runtime files) and fail, rather than
//! skip, without it or without testpmd; `PODWIRE_SKIP_DPDK_TESTS=1` or
//! `PODWIRE_SKIP_ROOT_TESTS=1` skips them.

mod dpdk_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dpdk_support::ours::{self, OurEnd, Tally};
use dpdk_support::stats::{Counters, PortStats};
use dpdk_support::testpmd::{MemifPort, Options, Testpmd};
use podwire_memif::shm::SealPolicy;
use podwire_memif::sys::SocketAddr;
use podwire_memif::{Client, Event, InterfaceConfig, Server};

/// The interface id both sides use.
const ID: u32 = 0;

/// The length of testpmd's txonly frames (its `--txpkts` default).
const TXONLY_FRAME: usize = 64;

/// How long testpmd may take to count the last frames we sent.
const COUNT_TIMEOUT: Duration = Duration::from_secs(30);

/// A test's own socket directory.
fn socket_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("cannot create a temporary directory");
    let path = dir.path().join("memif.sock");
    (dir, path)
}

/// testpmd and our side, linked by memif. Fields drop in order: testpmd
/// quits first, then our side closes, then the socket directory goes.
struct Session {
    testpmd: Testpmd,
    ours: OurEnd,
    /// The memif socket.
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Session {
    /// Our server serving `config` on a fresh socket, then a testpmd whose
    /// port `port(socket)` (a DPDK client) connects to it at startup.
    fn our_server(
        config: InterfaceConfig,
        port: impl Fn(&Path) -> MemifPort,
        options: &Options,
    ) -> Session {
        let (dir, path) = socket_dir();
        let id = config.id;
        let mut server = Server::bind(&SocketAddr::Path(path.clone()), None).unwrap();
        server.add_interface(config).unwrap();
        let mut ours = OurEnd::server(server, id);
        let testpmd = Testpmd::spawn(&[port(&path)], options, &mut || ours.poll());
        Session {
            testpmd,
            ours,
            socket: path,
            _dir: dir,
        }
    }

    /// A testpmd serving interface [`ID`] on a fresh socket, then our
    /// client with `config` for it.
    fn our_client(config: InterfaceConfig, options: &Options) -> Session {
        let (dir, path) = socket_dir();
        let testpmd = Testpmd::spawn(&[MemifPort::server(&path, ID)], options, &mut || {});
        let client = Client::new(SocketAddr::Path(path.clone()), config).unwrap();
        Session {
            testpmd,
            ours: OurEnd::client(client),
            socket: path,
            _dir: dir,
        }
    }

    /// Waits until both sides say the link is up, and checks who is at the
    /// other end.
    fn connect(&mut self) {
        let Session { testpmd, ours, .. } = self;
        ours.wait_connected(&|| testpmd.tail());
        testpmd.wait_for_link(0, true, &mut || ours.poll());
        let peer = ours.interface().peer().clone();
        assert!(peer.name.starts_with("DPDK 22.11"), "{peer:?}");
        assert_eq!(peer.if_name, "net_memif0");
    }

    /// Runs a testpmd command while our side keeps polling.
    fn command(&mut self, line: &str) {
        self.testpmd.command(line, &mut || self.ours.poll());
    }

    /// testpmd's counters of its port 0.
    fn counters(&mut self) -> Counters {
        self.testpmd.counters(0, &mut || self.ours.poll())
    }

    /// testpmd in rxonly mode counts exactly the `per_queue` frames of
    /// `len` bytes we send on each queue.
    fn testpmd_counts_what_we_send(&mut self, per_queue: u64, len: usize) {
        let queues = self.ours.interface().tx_queues();
        let total = per_queue * u64::from(queues);
        self.command("set fwd rxonly");
        let before = self.counters();
        self.command("start");
        ours::send_exactly(&mut self.ours, per_queue, len, &|| self.testpmd.tail());
        // testpmd takes the last frames a moment after we publish them.
        let expected = before.port.rx_packets + total;
        self.wait_for_port_stats("testpmd to receive all we sent", |stats| {
            stats.rx_packets >= expected
        });
        self.command("stop");
        let moved = self.counters().since(&before);
        assert_eq!(moved.port.rx_packets, total, "{moved:?}");
        assert_eq!(moved.port.rx_bytes, total * len as u64);
        for q in 0..queues {
            let got = moved.queues.rx_queue_packets(q);
            assert_eq!(got, per_queue, "testpmd's receive queue {q}");
        }
    }

    /// testpmd in txonly mode sends its UDP frames as fast as it can (we
    /// drop what finds no room); once it stops, we have received exactly
    /// what it counts as sent, on each queue.
    fn we_count_what_testpmd_sends(&mut self, at_least: u64) {
        let queues = self.ours.interface().rx_queues();
        let mut tally = Tally::new(queues);
        let mut check = |q: u16, frame: &[u8]| {
            assert_eq!(frame.len(), TXONLY_FRAME, "queue {q}: not testpmd's");
            assert_eq!(frame[12..14], [0x08, 0x00], "queue {q}: not IPv4");
        };
        self.command("set fwd txonly");
        let before = self.counters();
        // Our receive queues are drained whenever testpmd keeps us waiting.
        let Session { testpmd, ours, .. } = self;
        testpmd.command("start", &mut || {
            ours::receive(ours, &mut tally, &mut check);
        });
        let deadline = Instant::now() + COUNT_TIMEOUT;
        while tally.total_frames() < at_least {
            if ours::receive(ours, &mut tally, &mut check) == 0 {
                ours.poll();
                assert!(
                    Instant::now() < deadline,
                    "received only {tally:?} from testpmd{}",
                    testpmd.tail()
                );
            }
        }
        testpmd.command("stop", &mut || {
            ours::receive(ours, &mut tally, &mut check);
        });
        let moved = self.counters().since(&before);
        // Stopped: everything it counted is in our rings.
        ours::drain(&mut self.ours, &mut tally, &mut check);
        assert_eq!(tally.total_frames(), moved.port.tx_packets);
        assert_eq!(tally.total_bytes(), moved.port.tx_bytes);
        for q in 0..queues {
            let got = tally.frames[usize::from(q)];
            assert_eq!(
                got,
                moved.queues.tx_queue_packets(q),
                "our receive queue {q}"
            );
            assert!(got > 0, "testpmd sent nothing on queue {q}");
        }
        ours::assert_no_rx_drops(&mut self.ours);
    }

    /// testpmd in io mode sends back, unchanged and on the same queue,
    /// exactly the frames we send.
    fn testpmd_reflects_what_we_send(&mut self, per_queue: u64, len: usize) {
        let queues = self.ours.interface().tx_queues();
        let total = per_queue * u64::from(queues);
        self.command("set fwd io");
        let before = self.counters();
        self.command("start");
        ours::reflect(&mut self.ours, per_queue, len, &|| self.testpmd.tail());
        self.command("stop");
        let moved = self.counters().since(&before);
        assert_eq!(moved.port.rx_packets, total, "{moved:?}");
        assert_eq!(moved.port.tx_packets, total, "{moved:?}");
        assert_eq!(moved.port.tx_bytes, total * len as u64);
        for q in 0..queues {
            let rx = moved.queues.rx_queue_packets(q);
            let tx = moved.queues.tx_queue_packets(q);
            assert_eq!((rx, tx), (per_queue, per_queue), "testpmd's queue {q}");
        }
        ours::assert_no_rx_drops(&mut self.ours);
    }

    /// All three modes, in both directions.
    fn every_mode(&mut self) {
        self.testpmd_counts_what_we_send(20_000, 100);
        self.we_count_what_testpmd_sends(20_000);
        self.testpmd_reflects_what_we_send(20_000, 128);
    }

    /// Reads testpmd's port counters until `done` says so (bounded).
    fn wait_for_port_stats(&mut self, what: &str, done: impl Fn(&PortStats) -> bool) {
        let deadline = Instant::now() + COUNT_TIMEOUT;
        loop {
            let stats = self.testpmd.port_stats(0, &mut || self.ours.poll());
            if done(&stats) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "waited in vain for {what}: testpmd shows {stats:?}{}",
                self.testpmd.tail()
            );
        }
    }
}

/// Both ends with `queues` queue pairs.
fn queue_pairs(queues: u16) -> (InterfaceConfig, Options) {
    let config = InterfaceConfig {
        rx_queues: queues,
        tx_queues: queues,
        ..InterfaceConfig::new(ID)
    };
    let options = Options {
        queues,
        ..Options::default()
    };
    (config, options)
}

#[test]
fn our_server_and_a_testpmd_client_count_alike_in_every_mode() {
    if !dpdk_support::required() {
        return;
    }
    let (config, options) = queue_pairs(1);
    let mut session = Session::our_server(config, |s| MemifPort::client(s, ID), &options);
    session.connect();
    session.every_mode();
}

#[test]
fn our_client_and_a_testpmd_server_count_alike_in_every_mode() {
    if !dpdk_support::required() {
        return;
    }
    let (config, options) = queue_pairs(1);
    let mut session = Session::our_client(config, &options);
    session.connect();
    session.every_mode();
}

#[test]
fn two_queue_pairs_with_our_server_count_per_queue() {
    if !dpdk_support::required() {
        return;
    }
    let (config, options) = queue_pairs(2);
    let mut session = Session::our_server(config, |s| MemifPort::client(s, ID), &options);
    session.connect();
    let interface = session.ours.interface();
    assert_eq!((interface.rx_queues(), interface.tx_queues()), (2, 2));
    session.every_mode();
}

#[test]
fn two_queue_pairs_with_our_client_count_per_queue() {
    if !dpdk_support::required() {
        return;
    }
    // A DPDK server refuses more rings than its queues: the counts match.
    let (config, options) = queue_pairs(2);
    let mut session = Session::our_client(config, &options);
    session.connect();
    let interface = session.ours.interface();
    assert_eq!((interface.rx_queues(), interface.tx_queues()), (2, 2));
    session.every_mode();
}

/// `--single-file-segments` lets a zero-copy DPDK client hand over its
/// memory (one memfd for the whole memseg list) as region 1.
fn zero_copy_options() -> Options {
    Options {
        eal: vec!["--single-file-segments".into()],
        ..Options::default()
    }
}

#[test]
fn a_zero_copy_testpmd_client_works_with_a_server_that_allows_unsealed_regions() {
    if !dpdk_support::required() {
        return;
    }
    let config = InterfaceConfig {
        seal_policy: SealPolicy::AllowUnsealed,
        ..InterfaceConfig::new(ID)
    };
    let port = |s: &Path| MemifPort::client(s, ID).zero_copy();
    let mut session = Session::our_server(config, port, &zero_copy_options());
    session.connect();
    // Rings in region 0, DPDK's packet memory in region 1: its descriptors
    // point at its mbufs there, in both directions.
    assert_eq!(session.ours.interface().region_count(), 2);
    session.every_mode();
}

#[test]
fn a_zero_copy_testpmd_client_is_refused_by_a_server_that_requires_sealed_regions() {
    if !dpdk_support::required() {
        return;
    }
    let port = |s: &Path| MemifPort::client(s, ID).zero_copy();
    let mut session = Session::our_server(InterfaceConfig::new(ID), port, &zero_copy_options());
    let Session { testpmd, ours, .. } = &mut session;
    let reason = ours.wait_refused(&|| testpmd.tail());
    assert!(
        reason.contains("cannot be sealed against shrinking"),
        "{reason}"
    );
    assert!(ours.try_interface().is_none());
    assert!(!testpmd.link_up(0, &mut || ours.poll()));
}

#[test]
fn testpmd_clients_with_the_right_secret_connect_and_with_a_wrong_one_are_refused() {
    if !dpdk_support::required() {
        return;
    }
    let (_dir, path) = socket_dir();
    let mut server = Server::bind(&SocketAddr::Path(path.clone()), None).unwrap();
    for id in [0, 1] {
        let config = InterfaceConfig {
            secret: Some("xyz".into()),
            ..InterfaceConfig::new(id)
        };
        server.add_interface(config).unwrap();
    }
    let mut ours = OurEnd::server(server, 0);
    let ports = [
        MemifPort::client(&path, 0).secret("xyz"),
        MemifPort::client(&path, 1).secret("abc"),
    ];
    let mut testpmd = Testpmd::spawn(&ports, &Options::default(), &mut || ours.poll());
    let reason = ours.wait_refused(&|| testpmd.tail());
    assert_eq!(reason, "incorrect secret");
    ours.wait_connected(&|| testpmd.tail());
    testpmd.wait_for_link(0, true, &mut || ours.poll());
    // A DPDK client never tries again.
    assert!(!testpmd.link_up(1, &mut || ours.poll()));
    // DPDK got our reason with the DISCONNECT.
    assert!(
        testpmd
            .output()
            .contains("Disconnect received: incorrect secret"),
        "{}",
        testpmd.tail()
    );
    let refused: Vec<&Event> = ours
        .events()
        .iter()
        .filter(|e| matches!(e, Event::Refused { .. }))
        .collect();
    assert_eq!(
        refused,
        [&Event::Refused {
            id: Some(1),
            reason: "incorrect secret".into()
        }]
    );
}

/// DPDK 22.11 advertises `max_rx_pktlen` 1518 for memif but does not
/// enforce it: its copy-mode receive path chains mbufs along NEXT
/// descriptors, and its transmit path chains descriptors along mbuf
/// segments. So 9000-byte frames cross both ways: ours chained over
/// 2048-byte buffers into testpmd, and testpmd's (five mbufs each) back.
///
/// testpmd's chains are tested through io mode, with a bounded number of
/// frames in flight, and not with txonly (`--txpkts=2048,...`), which
/// fills the ring: 22.11's copy-mode transmit checks for a free slot
/// before leaving the current one, so a chain that finds exactly one slot
/// too few takes one more than is free, overwriting the oldest unread
/// slot, and its free count wraps to 65535: the rest of the burst
/// overwrites unread frames and `head` runs more than a ring ahead of
/// `tail`. (Seen here: our receiver counts `bad_peer_index` and reads
/// nothing until `head` comes back within range, as it should with a
/// broken peer.) Single-slot frames are not affected. Also, 22.11 does not
/// clear the flags of a frame's first slot (fixed by DPDK commit
/// f7a52200d4): after chained frames, a single-slot frame may inherit a
/// stale NEXT; here every frame testpmd sends is chained.
#[test]
fn jumbo_frames_cross_in_chained_buffers_both_ways() {
    if !dpdk_support::required() {
        return;
    }
    const JUMBO: usize = 9000;
    let mut session = Session::our_server(
        InterfaceConfig::new(ID),
        |s| MemifPort::client(s, ID),
        &Options::default(),
    );
    session.connect();
    session.testpmd_counts_what_we_send(2_000, JUMBO);
    session.testpmd_reflects_what_we_send(2_000, JUMBO);
}

/// A DPDK server keeps its socket and serves the next client: our client
/// goes away (dropped, as when our switch restarts) and a new one connects,
/// while testpmd keeps forwarding. DPDK's memif counters live as long as
/// its port, so they show both connections' traffic. (Our server cannot be
/// restarted under a testpmd client: a DPDK client never reconnects.)
#[test]
fn a_testpmd_server_keeps_forwarding_while_our_client_restarts() {
    if !dpdk_support::required() {
        return;
    }
    let mut session = Session::our_client(InterfaceConfig::new(ID), &Options::default());
    session.connect();
    session.command("set fwd io");
    session.command("start");
    ours::reflect(&mut session.ours, 5_000, 128, &|| session.testpmd.tail());
    let first = session.counters().port;
    assert_eq!((first.rx_packets, first.tx_packets), (5_000, 5_000));

    let addr = SocketAddr::Path(session.socket.clone());
    let restarted = Client::new(addr, InterfaceConfig::new(ID)).unwrap();
    // The old client says DISCONNECT as it goes.
    session.ours = OurEnd::client(restarted);
    session.testpmd.wait_for_link(0, false, &mut || {});
    session.connect();
    ours::reflect(&mut session.ours, 7_000, 128, &|| session.testpmd.tail());
    session.command("stop");
    let both = session.counters().port;
    assert_eq!((both.rx_packets, both.tx_packets), (12_000, 12_000));
    assert_eq!(both.tx_bytes, 12_000 * 128);
}
