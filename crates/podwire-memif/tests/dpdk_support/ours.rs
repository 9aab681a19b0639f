//! Our end of a link with testpmd, server or client, and the traffic it
//! moves: frames sent whole and counted, frames received and checked.

use std::ops::Range;
use std::time::{Duration, Instant};

use podwire_memif::{Client, Event, Interface, Server};

/// The longest our side waits for a connection or for traffic to move
/// before the test fails (all of it takes well under a second).
const TIMEOUT: Duration = Duration::from_secs(30);

/// Frames per `tx_burst` call.
const BURST: u64 = 32;

/// Frames a reflection keeps in flight per queue at most: 128 jumbo frames
/// take 640 slots, so the peer always finds room in a 1024-slot ring to
/// send them back (a full ring would make it drop them).
const WINDOW: u64 = 128;

/// Our side of the link.
enum Side {
    /// A server serving interface `id`.
    Server { server: Server, id: u32 },
    /// A client.
    Client(Client),
}

/// Our side and everything it reported.
pub struct OurEnd {
    side: Side,
    events: Vec<Event>,
}

impl OurEnd {
    pub fn server(server: Server, id: u32) -> OurEnd {
        OurEnd::new(Side::Server { server, id })
    }

    pub fn client(client: Client) -> OurEnd {
        OurEnd::new(Side::Client(client))
    }

    fn new(side: Side) -> OurEnd {
        OurEnd {
            side,
            events: Vec::new(),
        }
    }

    /// Runs the control side (handshakes, departures) once, without
    /// blocking, and records what happened.
    pub fn poll(&mut self) {
        let now = Instant::now();
        match &mut self.side {
            Side::Server { server, .. } => self.events.extend(server.poll(now)),
            Side::Client(client) => self.events.extend(client.poll(now)),
        }
    }

    /// The connected interface, if it is.
    pub fn try_interface(&mut self) -> Option<&mut Interface> {
        match &mut self.side {
            Side::Server { server, id } => server.interface_mut(*id),
            Side::Client(client) => client.interface_mut(),
        }
    }

    /// The connected interface; the test fails if it is not.
    pub fn interface(&mut self) -> &mut Interface {
        if self.try_interface().is_none() {
            panic!("our side is not connected; it reported {:?}", self.events);
        }
        self.try_interface().expect("checked just above")
    }

    /// What our side reported so far.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Polls until connected; `context` says what else to show on failure.
    pub fn wait_connected(&mut self, context: &dyn Fn() -> String) {
        self.poll_until("connected", context, |ours| ours.try_interface().is_some());
    }

    /// Polls until our side reports a refusal, and returns its reason.
    pub fn wait_refused(&mut self, context: &dyn Fn() -> String) -> String {
        let refusal = |events: &[Event]| {
            events.iter().find_map(|event| match event {
                Event::Refused { reason, .. } => Some(reason.clone()),
                _ => None,
            })
        };
        self.poll_until("refused", context, |ours| refusal(&ours.events).is_some());
        refusal(&self.events).expect("waited for it")
    }

    fn poll_until(
        &mut self,
        what: &str,
        context: &dyn Fn() -> String,
        done: impl Fn(&mut OurEnd) -> bool,
    ) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            self.poll();
            if done(self) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "our side was not {what} within {TIMEOUT:?}; it reported {:?}{}",
                self.events,
                context()
            );
            self.wait(Duration::from_millis(10));
        }
    }

    /// Sleeps until our control socket stirs, or `timeout` passes.
    fn wait(&self, timeout: Duration) {
        let waited = match &self.side {
            Side::Server { server, .. } => server.wait(timeout),
            Side::Client(client) => client.wait(timeout),
        };
        waited.expect("cannot wait on our memif sockets");
    }
}

/// What one direction moved, per queue.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub frames: Vec<u64>,
    pub bytes: Vec<u64>,
}

impl Tally {
    pub fn new(queues: u16) -> Tally {
        Tally {
            frames: vec![0; usize::from(queues)],
            bytes: vec![0; usize::from(queues)],
        }
    }

    pub fn total_frames(&self) -> u64 {
        self.frames.iter().sum()
    }

    pub fn total_bytes(&self) -> u64 {
        self.bytes.iter().sum()
    }

    fn count(&mut self, queue: u16, len: usize) {
        self.frames[usize::from(queue)] += 1;
        self.bytes[usize::from(queue)] += len as u64;
    }
}

/// Frame `seq` of queue `queue`, `len` bytes (at least 24): an Ethernet
/// header (locally administered addresses, the IEEE "local experimental"
/// EtherType 0x88B5), the queue and sequence number, then a pattern that
/// differs per frame, so that a frame mixed up with another shows.
fn frame(queue: u16, seq: u64, len: usize) -> Vec<u8> {
    let mut frame = Vec::with_capacity(len);
    frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
    frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    frame.extend_from_slice(&0x88b5u16.to_be_bytes());
    frame.extend_from_slice(&queue.to_le_bytes());
    frame.extend_from_slice(&seq.to_le_bytes());
    let start = frame.len();
    frame.extend((start..len).map(|k| (seq as usize).wrapping_mul(7).wrapping_add(k) as u8));
    frame.truncate(len);
    frame
}

/// Offers frames `seqs` of queue `queue`, `len` bytes each, in one
/// `tx_burst`; returns how many were taken.
fn send_burst(ours: &mut OurEnd, queue: u16, seqs: Range<u64>, len: usize) -> u64 {
    let batch: Vec<Vec<u8>> = seqs.map(|seq| frame(queue, seq, len)).collect();
    let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
    let taken = ours
        .interface()
        .tx_burst(queue, &refs)
        .expect("queue exists");
    taken as u64
}

/// Sends `per_queue` frames of `len` bytes on every transmit queue,
/// offering each burst again until it is taken, and checks that each was
/// sent (none dropped as unsendable).
pub fn send_exactly(ours: &mut OurEnd, per_queue: u64, len: usize, context: &dyn Fn() -> String) {
    let queues = ours.interface().tx_queues();
    let stats = |ours: &mut OurEnd, q| ours.interface().tx_stats(q).expect("queue exists");
    let before: Vec<u64> = (0..queues).map(|q| stats(ours, q).packets).collect();
    let mut sent = vec![0u64; usize::from(queues)];
    let deadline = Instant::now() + TIMEOUT;
    while sent.iter().any(|&s| s < per_queue) {
        let mut progress = 0;
        for q in 0..queues {
            let next = sent[usize::from(q)];
            let taken = send_burst(ours, q, next..per_queue.min(next + BURST), len);
            sent[usize::from(q)] += taken;
            progress += taken;
        }
        if progress == 0 {
            // testpmd has not caught up: let the control side run, and
            // fail rather than spin if the link went away.
            ours.poll();
            assert!(
                Instant::now() < deadline,
                "stuck sending: sent {sent:?} of {per_queue} per queue{}",
                context()
            );
        }
    }
    for q in 0..queues {
        let after = stats(ours, q);
        assert_eq!(
            after.packets - before[usize::from(q)],
            per_queue,
            "transmit queue {q}: {after:?}"
        );
        assert_eq!(
            (after.drops_too_big, after.drops_zero_length),
            (0, 0),
            "{after:?}"
        );
    }
}

/// Sends `per_queue` frames of `len` bytes on every queue to a peer that
/// sends each back on the same queue, and checks each comes back unchanged
/// and in order.
pub fn reflect(ours: &mut OurEnd, per_queue: u64, len: usize, context: &dyn Fn() -> String) {
    let queues = ours.interface().tx_queues();
    let mut sent = vec![0u64; usize::from(queues)];
    let mut back = Tally::new(queues);
    let deadline = Instant::now() + TIMEOUT;
    while back.frames.iter().any(|&b| b < per_queue) {
        let mut progress = 0;
        for q in 0..queues {
            let qi = usize::from(q);
            let room = WINDOW - (sent[qi] - back.frames[qi]);
            let end = per_queue.min(sent[qi] + room.min(BURST));
            let taken = send_burst(ours, q, sent[qi]..end, len);
            sent[qi] += taken;
            progress += taken;
        }
        let mut expected = back.frames.clone();
        let got = receive(ours, &mut back, &mut |q, got| {
            let seq = &mut expected[usize::from(q)];
            assert!(
                got == frame(q, *seq, len),
                "queue {q}: frame {seq} came back changed ({} bytes)",
                got.len()
            );
            *seq += 1;
        });
        if progress + got as u64 == 0 {
            ours.poll();
            assert!(
                Instant::now() < deadline,
                "reflection stalled: sent {sent:?}, back {:?} of {per_queue} per queue{}",
                back.frames,
                context()
            );
        }
    }
}

/// One receive burst on every queue: counts each frame in `tally` after
/// `check(queue, frame)`; returns how many arrived.
pub fn receive(ours: &mut OurEnd, tally: &mut Tally, check: &mut dyn FnMut(u16, &[u8])) -> usize {
    let interface = ours.interface();
    let mut got = 0;
    let mut buf = vec![0u8; 16 * 1024];
    for q in 0..interface.rx_queues() {
        got += interface
            .rx_burst(q, 256, |packet| {
                let len = packet.copy_to(&mut buf);
                assert_eq!(len, packet.len(), "a frame longer than 16 KiB");
                check(q, &buf[..len]);
                tally.count(q, len);
            })
            .expect("queue exists");
    }
    got
}

/// Receives until every queue is empty. Call it when the peer has stopped
/// sending: then what it counted as sent is all in the rings.
pub fn drain(ours: &mut OurEnd, tally: &mut Tally, check: &mut dyn FnMut(u16, &[u8])) {
    while receive(ours, tally, check) > 0 {}
}

/// Checks that no receive queue dropped anything the peer sent.
pub fn assert_no_rx_drops(ours: &mut OurEnd) {
    let interface = ours.interface();
    for q in 0..interface.rx_queues() {
        let stats = interface.rx_stats(q).expect("queue exists");
        let drops = stats.drops_bad_region
            + stats.drops_overrun
            + stats.drops_zero_length
            + stats.drops_too_big
            + stats.drops_truncated_chain
            + stats.bad_peer_index;
        assert_eq!(drops, 0, "receive queue {q} dropped: {stats:?}");
    }
}
