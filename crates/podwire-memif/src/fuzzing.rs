//! Fuzzing both roles with a hostile peer.
//!
//! [`hostile_peer`] reads its input as the script of a peer that may do
//! anything a process on the other end of a memif socket can: send control
//! messages (valid ones, valid ones with a byte changed, any type with any
//! fields, datagrams of any size) with whatever file descriptor it likes,
//! and write anything anywhere in the memory it shares with us, at any
//! time, before or after the link is up. We play the other role with the
//! crate's own code, as a real [`Server`](crate::Server) or
//! [`Client`](crate::Client) runs it, minus the sockets: the handshake
//! state machines of [`handshake`](crate::handshake), the setup that maps
//! or creates the memory and checks the rings, and an [`Interface`] whose
//! bursts the script interleaves with the peer's writes. After every step
//! it checks what must hold whatever the peer did:
//!
//! - every refusal and every ended connection has a reason, and the
//!   DISCONNECT it sends carries it;
//! - every packet delivered is 1 to max-frame bytes and copies out whole;
//! - the counters of a burst agree with what it delivered (receive), or
//!   with the frames it took (transmit: each sent or dropped as
//!   unsendable, empty and oversized frames never sent);
//! - an index we publish (`tail` as server, `head` as client) moves on by
//!   at most one ring's worth per burst, never back.
//!
//! That nothing panics, and that nothing reads or writes outside our
//! mappings (every access is bounds-checked by construction, see
//! [`shm`](crate::shm)), is checked by running it at all: the fuzz target
//! (`fuzz/fuzz_targets/memif_peer.rs`) and this crate's tests call
//! [`hostile_peer`], which panics on a broken invariant too.
//!
//! A run stops at the first refusal (the connection is closed), after
//! [`MAX_RECORDS`] records, or at the end of the input; one takes well
//! under a millisecond.
//!
//! # Input format
//!
//! Two bytes of [`Setup`], then [`Op`] records; missing setup bytes read
//! as zero, and a record cut short by the end of the input is ignored.
//!
//! | setup bits | meaning |
//! |---|---|
//! | byte 0 bit 0 | the role we play: 0 server, 1 client |
//! | byte 0 bit 1 | our receive queues start polling (MASK_INT) |
//! | byte 0 bit 2 | the valid client puts its buffers in a region of their own |
//! | byte 0 bit 3 | server: map regions that cannot be sealed |
//! | byte 0 bits 4–5 | log2 ring size of the valid client: 1, 3, 4, 6 |
//! | byte 0 bits 6, 7 | one more C2S ring, one more S2C ring (1 or 2 each) |
//! | byte 1 bits 0–2 | the valid client's buffer size: 64, 128, 256, 1024, 2048, 60, 1, 4096 |
//! | byte 1 bits 3–4 | our max frame: 1514, 9216, 64, 4000 |
//! | byte 1 bit 5 | the interface the valid INIT names: 0 or 1 |
//!
//! As server we serve interface 0 (ethernet, no secret, two queues each
//! way) and 1 (ip, secret `"fuzz"`, one queue each way); id 2 is refused as
//! already connected. As client we ask for the setup's shape. "The valid
//! client" is what the peer plays with [`Op::Step`] when we are the
//! server: INIT, then its regions (real memfds from
//! [`Layout::create_regions`](crate::shm::Layout::create_regions)), rings
//! and CONNECT; when we are the client, the valid server sends HELLO, an
//! ACK for each of our messages and CONNECTED.
//!
//! A record starts with a byte whose low nibble (modulo 11) is the kind
//! and whose high nibble `p` is a small parameter:
//!
//! | kind | record | the peer / we |
//! |---|---|---|
//! | 0 | `[h]` | [`Op::Step`]: the peer sends the next valid message |
//! | 1 | `[h]` | [`Op::Complete`]: valid messages until connected or refused |
//! | 2 | `[h, at, value]` | [`Op::Tweak`]: the next valid message with byte `at % 128` set to `value` |
//! | 3 | `[h, fd, n, n bytes]` | [`Op::Message`]: type `p % 9`, bytes 2.. from the record, fd by [`FdChoice`] (`fd % 5`) |
//! | 4 | `[h, n, n bytes]` | [`Op::Raw`]: a datagram of `n` bytes |
//! | 5 | `[h, field, slot, u32]` | [`Op::Poke`]: a ring field or slot `slot`'s descriptor field ([`Field`], `field % 8`) of ring `p` |
//! | 6 | `[h, by]` | [`Op::Advance`]: the peer moves its index of ring `p` on by `by` |
//! | 7 | `[h, u32, n, n bytes]` | [`Op::Write`]: bytes into region `p` at an offset |
//! | 8 | `[h, max]` | [`Op::Rx`]: we receive up to `max` packets on queue `p` |
//! | 9 | `[h, count, u16]` | [`Op::Tx`]: we send `count % 33` frames on queue `p` |
//! | 10 | `[h, on]` | [`Op::Polling`]: we set queue `p` polling (`on & 1`) or not |
//!
//! Numbers are little-endian; rings are numbered in the order they were
//! announced, queues and regions by index, all modulo their count.

mod client_role;
mod peer;
mod script;
mod server_role;
mod session;

pub use script::{FdChoice, Field, Op, Setup};

use client_role::ClientRole;
use peer::{Attachment, PeerMemory};
use script::frame_of;
use server_role::ServerRole;
use session::Session;

use crate::connection::{Interface, PeerInfo};
use crate::handshake::Refusal;
use crate::msg::Message;
use crate::queue::QueueStats;
use crate::types::{MSG_SIZE, RingSpec, Role};

/// Records read from one input at most.
pub const MAX_RECORDS: usize = 512;

/// Valid messages [`Op::Complete`] sends at most (a handshake of the
/// largest setup takes 1 + 2 + 4 + 1).
const MAX_STEPS: usize = 16;

/// Runs the script `data` (see the [module](self) documentation).
///
/// # Panics
/// When an invariant breaks (see [`Violation`]), or our code panics: what
/// a fuzzer looks for.
pub fn hostile_peer(data: &[u8]) {
    if let Err(violation) = check_script(data) {
        panic!("{violation}");
    }
}

/// Runs the script `data` and says how it went, or which invariant broke
/// first.
pub fn check_script(data: &[u8]) -> Result<Outcome, Violation> {
    let (setup, mut rest) = Setup::decode(data);
    let mut run = match Run::new(setup) {
        Ok(run) => run,
        Err(reason) => {
            return Ok(Outcome {
                role: setup.role,
                connected: false,
                ended: Some(reason),
                rx: Vec::new(),
                tx: Vec::new(),
            });
        }
    };
    for _ in 0..MAX_RECORDS {
        if run.ended.is_some() {
            break;
        }
        let Some((op, after)) = Op::decode(rest) else {
            break;
        };
        rest = after;
        run.apply(op)?;
    }
    Ok(run.outcome())
}

/// How a run of [`check_script`] went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The role we played.
    pub role: Role,
    /// Whether the handshake completed.
    pub connected: bool,
    /// Why the connection ended, if it did before the script's end.
    pub ended: Option<String>,
    /// The counters of our receive queues, at the end (none if the
    /// handshake never completed).
    pub rx: Vec<QueueStats>,
    /// The counters of our transmit queues, at the end.
    pub tx: Vec<QueueStats>,
}

/// An invariant a hostile peer broke: a podwire bug. Reproduce it with the
/// input (`cargo fuzz run memif_peer --sanitizer none ARTIFACT`, or a test
/// calling [`check_script`]).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Violation {
    /// A connection ended without saying why.
    #[error("{what} gave no reason: every refusal must tell the peer's operator why")]
    NoReason {
        /// What ended it.
        what: &'static str,
    },
    /// The DISCONNECT of a refusal lost its reason or did not survive the
    /// codec.
    #[error("the DISCONNECT sent for the refusal {refusal:?} is {sent}: it must carry the reason")]
    Disconnect {
        /// The refusal's text.
        refusal: String,
        /// What would be sent, if anything.
        sent: String,
    },
    /// A packet of no bytes, or longer than the max frame, was delivered.
    #[error(
        "receive queue {queue} delivered a packet of {len} bytes; packets must be 1 to {max_frame} bytes"
    )]
    PacketLength {
        /// The queue.
        queue: u16,
        /// The packet's length.
        len: usize,
        /// The interface's max frame.
        max_frame: usize,
    },
    /// A delivered packet did not copy out whole.
    #[error("receive queue {queue}: a packet of {len} bytes copied out as {copied}")]
    Copy {
        /// The queue.
        queue: u16,
        /// The packet's length.
        len: usize,
        /// Bytes copied into a buffer one byte longer.
        copied: usize,
    },
    /// A receive burst's counters disagree with what it delivered.
    #[error(
        "receive queue {queue}: a burst returned {returned} and handed over {seen:?} (packets, bytes), but counted {counted:?}"
    )]
    RxCounters {
        /// The queue.
        queue: u16,
        /// What `rx_burst` returned.
        returned: usize,
        /// Packets and bytes handed to the sink.
        seen: (u64, u64),
        /// Packets and bytes added to the counters.
        counted: (u64, u64),
    },
    /// A transmit burst's counters disagree with the frames it took.
    #[error(
        "transmit queue {queue}: {problem} (offered {offered}, took {taken}, counted {sent} sent and {dropped} dropped)"
    )]
    TxCounters {
        /// The queue.
        queue: u16,
        /// What is wrong.
        problem: &'static str,
        /// Frames offered.
        offered: usize,
        /// What `tx_burst` returned.
        taken: usize,
        /// Packets added to the counters.
        sent: u64,
        /// Drops added to the counters.
        dropped: u64,
    },
    /// An index we publish moved back, or on by more than the ring holds.
    #[error(
        "{kind} queue {queue} moved the index it publishes from {from} to {to}, more than its ring's {size} slots on"
    )]
    IndexJump {
        /// `receive` or `transmit`.
        kind: &'static str,
        /// The queue.
        queue: u16,
        /// The index published before.
        from: u16,
        /// The index published now.
        to: u16,
        /// Slots in the ring.
        size: u16,
    },
}

/// What a message from the peer led to.
#[derive(Debug)]
enum Progress {
    /// The handshake goes on.
    Going,
    /// The handshake completed: our interface, on these rings.
    Connected {
        interface: Interface,
        rings: Vec<RingSpec>,
    },
    /// We close the connection, for this reason.
    Ended(String),
}

/// Our role's handshake.
#[derive(Debug)]
enum Ours {
    Server(Box<ServerRole>),
    Client(Box<ClientRole>),
}

/// One run: our role, the peer's memory, and our interface once up.
struct Run {
    setup: Setup,
    ours: Ours,
    peer: PeerMemory,
    session: Option<Session>,
    connected: bool,
    ended: Option<String>,
    /// The counters of our queues when the connection ended.
    last_stats: (Vec<QueueStats>, Vec<QueueStats>),
}

impl Run {
    /// A run of `setup`, or why our role cannot even start.
    fn new(setup: Setup) -> Result<Run, String> {
        let (ours, peer_role) = match setup.role {
            Role::Server => (
                Ours::Server(Box::new(ServerRole::new(&setup))),
                Role::Client,
            ),
            Role::Client => (
                Ours::Client(Box::new(ClientRole::new(&setup)?)),
                Role::Server,
            ),
        };
        Ok(Run {
            setup,
            ours,
            peer: PeerMemory::new(peer_role),
            session: None,
            connected: false,
            ended: None,
            last_stats: Default::default(),
        })
    }

    fn apply(&mut self, op: Op<'_>) -> Result<(), Violation> {
        match op {
            Op::Step => self.step(None),
            Op::Complete => {
                for _ in 0..MAX_STEPS {
                    if self.session.is_some() || self.ended.is_some() {
                        break;
                    }
                    self.step(None)?;
                }
                Ok(())
            }
            Op::Tweak { at, value } => self.step(Some((at, value))),
            Op::Message { kind, fd, fields } => {
                let frame = frame_of(kind, fields);
                let attachment = match (&self.ours, Message::parse(&frame)) {
                    (Ours::Client(_), _) => Attachment::default(),
                    (Ours::Server(_), Ok(Message::AddRegion(spec))) => {
                        Attachment::choose(fd, Some(spec.size))
                    }
                    (Ours::Server(_), _) => Attachment::choose(fd, None),
                };
                self.deliver(&frame, attachment)
            }
            Op::Raw(bytes) => self.deliver(bytes, Attachment::default()),
            Op::Poke {
                ring,
                field,
                slot,
                value,
            } => {
                self.peer.poke(ring, field, slot, value);
                Ok(())
            }
            Op::Advance { ring, by } => {
                self.peer.advance(ring, by);
                Ok(())
            }
            Op::Write {
                region,
                offset,
                bytes,
            } => {
                self.peer.write(region, offset, bytes);
                Ok(())
            }
            Op::Rx { queue, max } => match &mut self.session {
                Some(session) => session.rx(&self.peer, queue, max),
                None => Ok(()),
            },
            Op::Tx { queue, count, len } => match &mut self.session {
                Some(session) => session.tx(&self.peer, queue, count, len),
                None => Ok(()),
            },
            Op::Polling { queue, on } => {
                if let Some(session) = &mut self.session {
                    session.polling(queue, on);
                }
                Ok(())
            }
        }
    }

    /// The peer sends the next valid message, with one byte changed when
    /// `tweak` says so.
    fn step(&mut self, tweak: Option<(u8, u8)>) -> Result<(), Violation> {
        let (msg, attachment) = match &mut self.ours {
            Ours::Server(server) => server.next_valid(),
            Ours::Client(client) => (client.next_valid(), Attachment::default()),
        };
        let mut frame = msg.emit();
        if let Some((at, value)) = tweak {
            frame[usize::from(at) % MSG_SIZE] = value;
        }
        self.deliver(&frame, attachment)
    }

    /// A datagram from the peer, as the socket layer hands it over.
    fn deliver(&mut self, datagram: &[u8], attachment: Attachment) -> Result<(), Violation> {
        if self.ended.is_some() {
            return Ok(());
        }
        let msg = match Message::parse(datagram) {
            Ok(msg) => msg,
            Err(error) => return self.end(error.to_string(), "a malformed message"),
        };
        if self.session.is_some() {
            // What a connected link does with any message (`Link::check`).
            let reason = match msg {
                Message::Disconnect { reason, .. } => format!("the peer disconnected: {reason}"),
                other => format!("unexpected {} after CONNECTED", other.name()),
            };
            return self.end(reason, "a message after CONNECTED");
        }
        let progress = match &mut self.ours {
            Ours::Server(server) => server.receive(msg, attachment, &mut self.peer)?,
            Ours::Client(client) => client.receive(msg, &mut self.peer)?,
        };
        match progress {
            Progress::Going => Ok(()),
            Progress::Connected { interface, rings } => {
                let session = Session::new(interface, &rings, self.setup.max_frame, &self.peer);
                self.session = Some(session);
                self.connected = true;
                Ok(())
            }
            Progress::Ended(reason) => self.end(reason, "the handshake or the setup"),
        }
    }

    /// Closes the connection for `reason`, which `what` gave.
    fn end(&mut self, reason: String, what: &'static str) -> Result<(), Violation> {
        if reason.trim().is_empty() {
            return Err(Violation::NoReason { what });
        }
        if let Some(session) = self.session.take() {
            self.last_stats = session.stats();
        }
        self.ended = Some(reason);
        Ok(())
    }

    fn outcome(self) -> Outcome {
        let (rx, tx) = match &self.session {
            Some(session) => session.stats(),
            None => self.last_stats,
        };
        Outcome {
            role: self.setup.role,
            connected: self.connected,
            ended: self.ended,
            rx,
            tx,
        }
    }
}

/// The reason of a handshake refusal, checked: it says something, and the
/// DISCONNECT we would send (unless the peer disconnected) carries it
/// through the codec.
fn refusal_reason(refusal: &Refusal) -> Result<String, Violation> {
    let reason = refusal.to_string();
    let sent = refusal.disconnect_message();
    let carried = match &sent {
        None => matches!(refusal, Refusal::PeerDisconnected { .. }),
        Some(msg @ Message::Disconnect { reason: text, .. }) => {
            !text.is_empty() && Message::parse(&msg.emit()).as_ref() == Ok(msg)
        }
        Some(_) => false,
    };
    if !carried {
        return Err(Violation::Disconnect {
            refusal: reason,
            sent: format!("{sent:?}"),
        });
    }
    Ok(reason)
}

/// Who the peer says it is.
fn peer_info() -> PeerInfo {
    PeerInfo {
        name: "hostile-peer".into(),
        if_name: "hostile0".into(),
        credentials: None,
    }
}

#[cfg(test)]
mod tests;
