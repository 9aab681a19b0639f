//! The script's format: a two-byte [`Setup`], then [`Op`] records (see the
//! [fuzzing](super) module's tables). Every byte string decodes to some
//! script; [`Setup::encode`] and [`Op::encode`] write what the decoders
//! read, for seeds and property tests.

use crate::shm::BufferPlacement;
use crate::types::{MSG_SIZE, Role};

/// log2 ring sizes of the valid client's layout, by setup bits 4–5.
const LOG2_RING_SIZES: [u8; 4] = [1, 3, 4, 6];
/// Buffer sizes of the valid client's layout, by setup byte 1 bits 0–2.
const BUFFER_SIZES: [u32; 8] = [64, 128, 256, 1024, 2048, 60, 1, 4096];
/// Max frames of our interfaces, by setup byte 1 bits 3–4.
const MAX_FRAMES: [usize; 4] = [1514, 9216, 64, 4000];

/// Record kinds, the low nibble of a record's first byte (modulo this).
const KINDS: u8 = 11;

/// What the harness sets up before the first record: which role we play,
/// and the shape of the memory a valid client creates (the peer's when we
/// are the server, ours when we are the client).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Setup {
    /// The role we play; the peer plays the other.
    pub role: Role,
    /// Whether our receive queues start in polling mode (MASK_INT).
    pub polling: bool,
    /// Where the valid client puts its packet buffers.
    pub placement: BufferPlacement,
    /// Server: whether regions that cannot be sealed are mapped anyway.
    pub allow_unsealed: bool,
    /// log2 of the valid client's ring size, one of 1, 3, 4, 6.
    pub log2_ring_size: u8,
    /// C2S rings of the valid client, 1 or 2.
    pub c2s: u16,
    /// S2C rings of the valid client, 1 or 2.
    pub s2c: u16,
    /// The valid client's buffer size, one of 64, 128, 256, 1024, 2048,
    /// 60, 1, 4096.
    pub buffer_size: u32,
    /// Our interface's max frame, one of 1514, 9216, 64, 4000.
    pub max_frame: usize,
    /// The interface the valid INIT names: 0 (ethernet, no secret) or 1
    /// (ip, secret `"fuzz"`).
    pub id: u32,
}

impl Setup {
    /// Bytes of the setup at the start of a script.
    pub const LEN: usize = 2;

    /// The setup at the start of `data` (missing bytes read as zero) and
    /// the records after it.
    pub fn decode(data: &[u8]) -> (Setup, &[u8]) {
        let byte = |i: usize| data.get(i).copied().unwrap_or(0);
        let (a, b) = (byte(0), byte(1));
        let bits = |v: u8, shift: u8, width: u8| usize::from((v >> shift) & ((1 << width) - 1));
        let setup = Setup {
            role: if a & 0x01 == 0 {
                Role::Server
            } else {
                Role::Client
            },
            polling: a & 0x02 != 0,
            placement: if a & 0x04 == 0 {
                BufferPlacement::AfterRings
            } else {
                BufferPlacement::OwnRegion
            },
            allow_unsealed: a & 0x08 != 0,
            log2_ring_size: LOG2_RING_SIZES[bits(a, 4, 2)],
            c2s: 1 + u16::from(a >> 6 & 1),
            s2c: 1 + u16::from(a >> 7),
            buffer_size: BUFFER_SIZES[bits(b, 0, 3)],
            max_frame: MAX_FRAMES[bits(b, 3, 2)],
            id: u32::from(b >> 5 & 1),
        };
        (setup, data.get(Self::LEN..).unwrap_or_default())
    }

    /// The two bytes [`Setup::decode`] reads back as `self`. A value that
    /// is not one of those listed for its field encodes as the first.
    pub fn encode(&self) -> [u8; Self::LEN] {
        let index = |found: Option<usize>| found.unwrap_or(0) as u8;
        let log2 = index(
            LOG2_RING_SIZES
                .iter()
                .position(|&v| v == self.log2_ring_size),
        );
        let buffer = index(BUFFER_SIZES.iter().position(|&v| v == self.buffer_size));
        let max_frame = index(MAX_FRAMES.iter().position(|&v| v == self.max_frame));
        let a = u8::from(self.role == Role::Client)
            | u8::from(self.polling) << 1
            | u8::from(self.placement == BufferPlacement::OwnRegion) << 2
            | u8::from(self.allow_unsealed) << 3
            | log2 << 4
            | u8::from(self.c2s == 2) << 6
            | u8::from(self.s2c == 2) << 7;
        let b = buffer | max_frame << 3 | u8::from(self.id == 1) << 5;
        [a, b]
    }
}

impl Default for Setup {
    /// We are the server; the valid client has one ring each way of 2^3
    /// slots of 2048-byte buffers in one region, for interface 0; we accept
    /// 9216-byte frames, sealed regions only, in interrupt mode.
    fn default() -> Setup {
        Setup {
            role: Role::Server,
            polling: false,
            placement: BufferPlacement::AfterRings,
            allow_unsealed: false,
            log2_ring_size: 3,
            c2s: 1,
            s2c: 1,
            buffer_size: 2048,
            max_frame: 9216,
            id: 0,
        }
    }
}

/// The file descriptor the peer attaches to a message (the server role
/// only: a server's messages carry none).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FdChoice {
    /// None.
    None,
    /// A fresh eventfd.
    EventFd,
    /// A sealed memfd as big as the ADD_REGION announces (at most 1 MiB;
    /// 4096 bytes for other messages).
    Memfd,
    /// The same, but a memfd that can never be sealed.
    UnsealedMemfd,
    /// A sealed memfd of one byte.
    TinyMemfd,
}

impl FdChoice {
    pub(super) fn from_byte(b: u8) -> FdChoice {
        match b % 5 {
            0 => FdChoice::None,
            1 => FdChoice::EventFd,
            2 => FdChoice::Memfd,
            3 => FdChoice::UnsealedMemfd,
            _ => FdChoice::TinyMemfd,
        }
    }
}

/// A field of shared memory the peer overwrites with [`Op::Poke`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Field {
    /// The ring's `head` (low 16 bits of the value).
    Head,
    /// The ring's `tail`.
    Tail,
    /// The ring's `flags`.
    Flags,
    /// The ring's cookie.
    Cookie,
    /// A descriptor's `flags`.
    DescFlags,
    /// A descriptor's `region`.
    DescRegion,
    /// A descriptor's `length`.
    DescLength,
    /// A descriptor's `offset`.
    DescOffset,
}

impl Field {
    pub(super) fn from_byte(b: u8) -> Field {
        match b % 8 {
            0 => Field::Head,
            1 => Field::Tail,
            2 => Field::Flags,
            3 => Field::Cookie,
            4 => Field::DescFlags,
            5 => Field::DescRegion,
            6 => Field::DescLength,
            _ => Field::DescOffset,
        }
    }
}

/// One thing the peer does, or asks us to do.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Op<'a> {
    /// The peer sends the next message of a valid handshake.
    Step,
    /// The peer sends valid messages until we are connected or refuse.
    Complete,
    /// The peer sends the next valid message with byte `at` (modulo 128)
    /// set to `value`, and the fd the valid one carries.
    Tweak {
        /// Which byte of the frame.
        at: u8,
        /// Its new value.
        value: u8,
    },
    /// The peer sends a message of type `kind` (0 to 8; 0 is NONE, which
    /// no one accepts) whose bytes after the type are `fields`, then zeros.
    Message {
        /// The type field.
        kind: u8,
        /// The fd attached.
        fd: FdChoice,
        /// Bytes 2.. of the frame (at most 126 are used).
        fields: &'a [u8],
    },
    /// The peer sends a datagram of these bytes (any length).
    Raw(&'a [u8]),
    /// The peer writes `value` into a field of ring `ring` (modulo the
    /// rings announced); descriptor fields are those of slot `slot`.
    Poke {
        /// The ring, in announcement order.
        ring: u8,
        /// The field.
        field: Field,
        /// The descriptor's slot counter, for descriptor fields.
        slot: u8,
        /// The value (truncated to the field's width).
        value: u32,
    },
    /// The peer moves its own index of ring `ring` on by `by`: a client
    /// publishes packets (C2S) or posts buffers (S2C), a server releases
    /// slots (C2S) or publishes packets (S2C), the descriptors as they are.
    Advance {
        /// The ring, in announcement order.
        ring: u8,
        /// Slots.
        by: u8,
    },
    /// The peer writes `bytes` into region `region` (modulo the regions)
    /// at `offset` (modulo its size), as far as the region goes.
    Write {
        /// The region index.
        region: u8,
        /// Where.
        offset: u32,
        /// What.
        bytes: &'a [u8],
    },
    /// We receive up to `max` packets on receive queue `queue` (modulo).
    Rx {
        /// The queue.
        queue: u8,
        /// The burst's limit.
        max: u8,
    },
    /// We send `count` frames (modulo 33) on transmit queue `queue`
    /// (modulo), of `len`, `len + 1`, ... bytes.
    Tx {
        /// The queue.
        queue: u8,
        /// How many frames.
        count: u8,
        /// The first frame's length.
        len: u16,
    },
    /// We switch receive queue `queue` (modulo) to polling or interrupts.
    Polling {
        /// The queue.
        queue: u8,
        /// Polling (true) or interrupt mode.
        on: bool,
    },
}

/// Reads a record's payload.
struct Payload<'a>(&'a [u8]);

impl<'a> Payload<'a> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (&bytes, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(bytes)
    }

    /// A length byte, then as many bytes as it says (or as there are).
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::from(self.u8()?).min(self.0.len());
        let (bytes, rest) = self.0.split_at(len);
        self.0 = rest;
        Some(bytes)
    }
}

impl<'a> Op<'a> {
    /// The record at the start of `data` and the bytes after it; `None`
    /// when `data` is empty or ends inside a record's fixed part. A
    /// trailing byte string may be cut short.
    pub fn decode(data: &'a [u8]) -> Option<(Op<'a>, &'a [u8])> {
        let mut p = Payload(data);
        let head = p.u8()?;
        let param = head >> 4;
        let op = match (head & 0x0f) % KINDS {
            0 => Op::Step,
            1 => Op::Complete,
            2 => {
                let [at, value] = p.array()?;
                Op::Tweak { at, value }
            }
            3 => Op::Message {
                kind: param % 9,
                fd: FdChoice::from_byte(p.u8()?),
                fields: p.bytes()?,
            },
            4 => Op::Raw(p.bytes()?),
            5 => {
                let [field, slot] = p.array()?;
                Op::Poke {
                    ring: param,
                    field: Field::from_byte(field),
                    slot,
                    value: u32::from_le_bytes(p.array()?),
                }
            }
            6 => Op::Advance {
                ring: param,
                by: p.u8()?,
            },
            7 => Op::Write {
                region: param,
                offset: u32::from_le_bytes(p.array()?),
                bytes: p.bytes()?,
            },
            8 => Op::Rx {
                queue: param,
                max: p.u8()?,
            },
            9 => {
                let count = p.u8()?;
                Op::Tx {
                    queue: param,
                    count,
                    len: u16::from_le_bytes(p.array()?),
                }
            }
            _ => Op::Polling {
                queue: param,
                on: p.u8()? & 1 != 0,
            },
        };
        Some((op, p.0))
    }

    /// Appends the record to `out`, as [`Op::decode`] reads it. Numbers
    /// that share the head byte with the kind (`ring`, `queue`, `region`,
    /// a message's `kind`) keep their low 4 bits; byte strings are cut to
    /// 255 bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut head = |kind: u8, param: u8| out.push(kind | (param & 0x0f) << 4);
        match *self {
            Op::Step => head(0, 0),
            Op::Complete => head(1, 0),
            Op::Tweak { at, value } => {
                head(2, 0);
                out.extend_from_slice(&[at, value]);
            }
            Op::Message { kind, fd, fields } => {
                head(3, kind);
                out.push(fd as u8);
                push_bytes(out, fields);
            }
            Op::Raw(bytes) => {
                head(4, 0);
                push_bytes(out, bytes);
            }
            Op::Poke {
                ring,
                field,
                slot,
                value,
            } => {
                head(5, ring);
                out.extend_from_slice(&[field as u8, slot]);
                out.extend_from_slice(&value.to_le_bytes());
            }
            Op::Advance { ring, by } => {
                head(6, ring);
                out.push(by);
            }
            Op::Write {
                region,
                offset,
                bytes,
            } => {
                head(7, region);
                out.extend_from_slice(&offset.to_le_bytes());
                push_bytes(out, bytes);
            }
            Op::Rx { queue, max } => {
                head(8, queue);
                out.push(max);
            }
            Op::Tx { queue, count, len } => {
                head(9, queue);
                out.push(count);
                out.extend_from_slice(&len.to_le_bytes());
            }
            Op::Polling { queue, on } => {
                head(10, queue);
                out.push(u8::from(on));
            }
        }
    }
}

/// A length byte and up to 255 bytes.
fn push_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let bytes = &bytes[..bytes.len().min(usize::from(u8::MAX))];
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
}

/// A frame of `kind` whose bytes after the type are `fields` (cut to fit),
/// then zeros.
pub(super) fn frame_of(kind: u8, fields: &[u8]) -> [u8; MSG_SIZE] {
    let mut frame = [0u8; MSG_SIZE];
    frame[..2].copy_from_slice(&u16::from(kind).to_ne_bytes());
    let n = fields.len().min(MSG_SIZE - 2);
    frame[2..2 + n].copy_from_slice(&fields[..n]);
    frame
}
