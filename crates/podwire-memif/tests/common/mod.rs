//! Helpers shared by the integration tests: unique socket addresses, driving
//! a server and clients against each other in one thread, and moving
//! checked traffic through a pair of interfaces.

#![allow(dead_code)] // each test binary uses its own subset

pub mod raw;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use podwire_memif::sys::SocketAddr;
use podwire_memif::{Client, Event, Interface, Server};

/// Rounds of polling after which a handshake that has not finished is a
/// bug (it needs a dozen).
const ROUNDS: usize = 1000;

/// A name no other test (or test process) uses.
pub fn unique(what: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("podwire-memif-test-{}-{what}-{n}", std::process::id())
}

/// An abstract socket address of its own.
pub fn abstract_addr(what: &str) -> SocketAddr {
    SocketAddr::Abstract(unique(what).into_bytes())
}

/// A socket path inside `dir`.
pub fn path_addr(dir: &tempfile::TempDir, what: &str) -> SocketAddr {
    SocketAddr::Path(dir.path().join(format!("{what}.sock")))
}

/// Everything a server and its clients reported while pumped.
#[derive(Debug, Default)]
pub struct Log {
    pub server: Vec<Event>,
    pub clients: Vec<Vec<Event>>,
}

/// Polls the server and every client in turn, all at `now`, until `done`
/// says so; panics with what was seen if it never does.
pub fn pump(
    server: &mut Server,
    clients: &mut [&mut Client],
    now: Instant,
    done: impl Fn(&Log) -> bool,
) -> Log {
    let mut log = Log {
        server: Vec::new(),
        clients: vec![Vec::new(); clients.len()],
    };
    for _ in 0..ROUNDS {
        log.server.extend(server.poll(now));
        for (client, events) in clients.iter_mut().zip(&mut log.clients) {
            events.extend(client.poll(now));
        }
        if done(&log) {
            return log;
        }
    }
    panic!("the condition never held; seen: {log:#?}");
}

/// Connects `client` to `server`; returns the server's events.
pub fn connect(server: &mut Server, client: &mut Client, now: Instant) -> Log {
    let log = pump(server, &mut [&mut *client], now, |log| {
        log.clients[0].iter().any(is_connected) && log.server.iter().any(is_connected)
    });
    assert!(client.is_connected());
    log
}

pub fn is_connected(event: &Event) -> bool {
    matches!(event, Event::Connected { .. })
}

/// The reason of the first refusal in `events`.
pub fn refusal(events: &[Event]) -> Option<&str> {
    events.iter().find_map(|event| match event {
        Event::Refused { reason, .. } => Some(reason.as_str()),
        _ => None,
    })
}

/// The frame number `seq` of `queue`: its identity in the first ten
/// bytes, then a pattern that differs per frame.
pub fn frame(queue: u16, seq: usize, len: usize) -> Vec<u8> {
    let mut frame: Vec<u8> = (0..len)
        .map(|k| (seq.wrapping_mul(7) ^ k.wrapping_mul(31) ^ usize::from(queue)) as u8)
        .collect();
    let id = [&queue.to_le_bytes()[..], &(seq as u64).to_le_bytes()[..]].concat();
    let n = id.len().min(len);
    frame[..n].copy_from_slice(&id[..n]);
    frame
}

/// FNV-1a over a frame, folded into a running checksum.
pub fn checksum(sum: u64, frame: &[u8]) -> u64 {
    frame.iter().fold(sum ^ 0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What one direction of an exchange moved.
#[derive(Debug, PartialEq, Eq)]
pub struct Moved {
    /// Frames per queue.
    pub frames: Vec<usize>,
    /// Checksum over every frame, per queue, in order.
    pub checksums: Vec<u64>,
}

/// Sends `count` frames on every queue of `tx` (frame `i` is `len(i)`
/// bytes), receives them on `rx`, and checks each arrives whole, intact
/// and in order. Returns what was sent and what was received.
pub fn exchange(
    tx: &mut Interface,
    rx: &mut Interface,
    count: usize,
    len: impl Fn(usize) -> usize,
) -> (Moved, Moved) {
    let queues = tx.tx_queues();
    assert_eq!(queues, rx.rx_queues(), "queue counts of the two ends");
    let n = usize::from(queues);
    let mut sent = Moved {
        frames: vec![0; n],
        checksums: vec![0; n],
    };
    let mut received = Moved {
        frames: vec![0; n],
        checksums: vec![0; n],
    };
    let mut idle_rounds = 0;
    while received.frames.iter().any(|&r| r < count) {
        let mut progress = false;
        for q in 0..queues {
            let qi = usize::from(q);
            let batch: Vec<Vec<u8>> = (sent.frames[qi]..count.min(sent.frames[qi] + 64))
                .map(|seq| frame(q, seq, len(seq)))
                .collect();
            let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
            let taken = tx.tx_burst(q, &refs).unwrap();
            for f in &batch[..taken] {
                sent.checksums[qi] = checksum(sent.checksums[qi], f);
            }
            sent.frames[qi] += taken;
            let got = rx
                .rx_burst(q, 256, |packet| {
                    let seq = received.frames[qi];
                    let mut buf = vec![0; packet.len()];
                    assert_eq!(packet.copy_to(&mut buf), packet.len());
                    assert!(
                        buf == frame(q, seq, len(seq)),
                        "queue {q} frame {seq} differs (len {})",
                        buf.len()
                    );
                    received.checksums[qi] = checksum(received.checksums[qi], &buf);
                    received.frames[qi] += 1;
                })
                .unwrap();
            progress |= taken > 0 || got > 0;
        }
        idle_rounds = if progress { 0 } else { idle_rounds + 1 };
        assert!(
            idle_rounds < 100,
            "traffic stalled: sent {:?}, received {:?}",
            sent.frames,
            received.frames
        );
    }
    (sent, received)
}

/// Runs [`exchange`] and checks counts, checksums and counters.
pub fn exchange_checked(
    tx: &mut Interface,
    rx: &mut Interface,
    count: usize,
    len: impl Fn(usize) -> usize,
) {
    let (sent, received) = exchange(tx, rx, count, len);
    assert_eq!(sent, received);
    assert!(received.frames.iter().all(|&f| f == count));
    for q in 0..tx.tx_queues() {
        let (out, got) = (tx.tx_stats(q).unwrap(), rx.rx_stats(q).unwrap());
        assert_eq!(out.packets, count as u64, "tx queue {q}: {out:?}");
        assert_eq!(got.packets, count as u64, "rx queue {q}: {got:?}");
        assert_eq!(out.bytes, got.bytes);
        assert_eq!(
            (got.drops_bad_region, got.drops_overrun, got.drops_too_big),
            (0, 0, 0),
            "rx queue {q}: {got:?}"
        );
    }
}
