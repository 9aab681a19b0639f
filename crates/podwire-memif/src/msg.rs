//! The memif control messages: every one is a 128-byte frame, a `u16`
//! type at offset 0, then a packed payload, then zeros (memif.md §2.2–§2.4).
//!
//! [`Message::parse`] turns a received datagram into a [`Message`] and
//! [`Message::emit`] produces the zero-filled frame to send. Parsing checks
//! the frame's size, its type and the fields whose values have no meaning
//! otherwise (the interface mode); whether a value is acceptable (a
//! version, an index, a ring size) is for the handshake to decide, so that
//! it can answer with the reason the peer expects.
//!
//! Integers are in host byte order, as in every C implementation: both
//! peers share a host. Strings are fixed-size arrays, see [`FixedStr`].

use std::fmt;

use thiserror::Error;

use crate::types::{
    Direction, MAX_LOG2_RING_SIZE, MAX_REGION_INDEX, MAX_RING_INDEX, MSG_SIZE, Mode, NAME_SIZE,
    REASON_SIZE, RegionSpec, RingSpec, SECRET_SIZE, VERSION,
};

/// What is wrong with a received control message. The connection cannot
/// go on: the receiver answers with a DISCONNECT carrying this text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MsgError {
    /// The datagram is not 128 bytes long.
    #[error(
        "invalid message size {len} (memif messages are exactly {MSG_SIZE} bytes; \
         is the peer speaking memif over a SOCK_SEQPACKET socket?)"
    )]
    WrongSize {
        /// Bytes received.
        len: usize,
    },
    /// The type field names no memif message.
    #[error("unknown message type {0} (memif 2.0 defines types 1 to 8)")]
    UnknownType(u16),
    /// INIT names an interface mode that does not exist.
    #[error("unknown interface mode {0} (0 ethernet, 1 ip, 2 punt/inject)")]
    UnknownMode(u8),
}

/// A NUL-terminated string in a fixed array of `N` bytes, as memif sends
/// names, the secret and the disconnect reason.
///
/// It holds the bytes up to the first NUL (all `N` when there is none: the
/// peer need not terminate a full field). Making one from longer input
/// truncates it to `N` bytes; a NUL inside the input ends it there, as the
/// peer would read it. Two values are equal exactly when C's
/// `strncmp(a, b, N)` says so.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FixedStr<const N: usize> {
    /// The content, then zeros.
    bytes: [u8; N],
}

/// An application or interface name (HELLO, INIT, CONNECT, CONNECTED).
pub type Name = FixedStr<NAME_SIZE>;
/// The shared secret of INIT; empty means none.
pub type Secret = FixedStr<SECRET_SIZE>;
/// The reason text of DISCONNECT.
pub type Reason = FixedStr<REASON_SIZE>;

impl<const N: usize> FixedStr<N> {
    /// The empty string (all zeros on the wire).
    pub const EMPTY: Self = FixedStr { bytes: [0; N] };

    /// The string of `bytes` up to its first NUL, truncated to `N` bytes.
    pub fn new(bytes: &[u8]) -> Self {
        let len = bytes
            .iter()
            .take(N)
            .position(|&b| b == 0)
            .unwrap_or(bytes.len().min(N));
        let mut s = Self::EMPTY;
        s.bytes[..len].copy_from_slice(&bytes[..len]);
        s
    }

    /// The content: the bytes before the first NUL.
    pub fn as_bytes(&self) -> &[u8] {
        let len = self.bytes.iter().position(|&b| b == 0).unwrap_or(N);
        &self.bytes[..len]
    }

    /// Whether the string is empty (for a secret: no secret).
    pub fn is_empty(&self) -> bool {
        self.bytes.first().is_none_or(|&b| b == 0)
    }

    /// The whole field as sent: the content, then zeros.
    fn as_field(&self) -> &[u8; N] {
        &self.bytes
    }
}

impl<const N: usize> Default for FixedStr<N> {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl<const N: usize> From<&str> for FixedStr<N> {
    fn from(s: &str) -> Self {
        Self::new(s.as_bytes())
    }
}

impl<const N: usize> fmt::Display for FixedStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        String::from_utf8_lossy(self.as_bytes()).fmt(f)
    }
}

impl<const N: usize> fmt::Debug for FixedStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&String::from_utf8_lossy(self.as_bytes()), f)
    }
}

/// HELLO: the server's name and the limits it accepts, sent right after
/// it accepts a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The server application's name (DPDK: `"DPDK 22.11.11"`).
    pub name: Name,
    /// Oldest protocol version the server speaks.
    pub min_version: u16,
    /// Newest protocol version the server speaks.
    pub max_version: u16,
    /// Highest region index accepted.
    pub max_region: u16,
    /// Highest C2S ("S2M") ring index accepted.
    pub max_c2s_ring: u16,
    /// Highest S2C ("M2S") ring index accepted.
    pub max_s2c_ring: u16,
    /// Largest log2 ring size accepted.
    pub max_log2_ring_size: u8,
}

impl Hello {
    /// The HELLO of a server named `name` that speaks version 2.0 and
    /// accepts what the protocol allows: 256 regions, 256 rings per
    /// direction, 2^14 slots per ring (DPDK's maxima).
    pub fn new(name: Name) -> Hello {
        Hello {
            name,
            min_version: VERSION,
            max_version: VERSION,
            max_region: MAX_REGION_INDEX,
            max_c2s_ring: MAX_RING_INDEX,
            max_s2c_ring: MAX_RING_INDEX,
            max_log2_ring_size: MAX_LOG2_RING_SIZE,
        }
    }
}

/// INIT: the client names the interface it wants and proves it may.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Init {
    /// Protocol version the client speaks (must be 0x0200).
    pub version: u16,
    /// The interface id, matched against the server's interfaces.
    pub id: u32,
    /// The kind of frames the client will send.
    pub mode: Mode,
    /// The shared secret; empty for none.
    pub secret: Secret,
    /// The client application's name.
    pub name: Name,
}

/// One memif control message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message {
    /// The server accepted the client's last message.
    Ack,
    /// The server's greeting and limits.
    Hello(Hello),
    /// The client's choice of interface.
    Init(Init),
    /// A region of shared memory; its memfd travels with the message.
    AddRegion(RegionSpec),
    /// A ring; its eventfd travels with the message.
    AddRing {
        /// Where the ring is and how big.
        ring: RingSpec,
        /// Bytes of per-ring private header; no implementation supports
        /// anything but 0.
        private_hdr_size: u16,
    },
    /// The client has announced everything: map and go.
    Connect {
        /// The client's interface name.
        if_name: Name,
    },
    /// The server has mapped everything: the link is up.
    Connected {
        /// The server's interface name.
        if_name: Name,
    },
    /// The sender closes the connection, and says why.
    Disconnect {
        /// An error code (0 in every implementation seen).
        code: u32,
        /// Why, for a person to read.
        reason: Reason,
    },
}

/// Wire values of the `type` field (memif.md §2.3).
mod msg_type {
    pub const ACK: u16 = 1;
    pub const HELLO: u16 = 2;
    pub const INIT: u16 = 3;
    pub const ADD_REGION: u16 = 4;
    pub const ADD_RING: u16 = 5;
    pub const CONNECT: u16 = 6;
    pub const CONNECTED: u16 = 7;
    pub const DISCONNECT: u16 = 8;
}

/// Absolute byte offsets of the fields within the 128-byte frame
/// (memif.md §2.4).
mod field {
    pub const TYPE: usize = 0;

    pub mod hello {
        pub const NAME: usize = 2;
        pub const MIN_VERSION: usize = 34;
        pub const MAX_VERSION: usize = 36;
        pub const MAX_REGION: usize = 38;
        /// The S2C ("M2S") limit comes before the C2S one.
        pub const MAX_S2C_RING: usize = 40;
        pub const MAX_C2S_RING: usize = 42;
        pub const MAX_LOG2_RING_SIZE: usize = 44;
    }

    pub mod init {
        pub const VERSION: usize = 2;
        pub const ID: usize = 4;
        pub const MODE: usize = 8;
        pub const SECRET: usize = 9;
        pub const NAME: usize = 33;
    }

    pub mod add_region {
        pub const INDEX: usize = 2;
        pub const SIZE: usize = 4;
    }

    pub mod add_ring {
        pub const FLAGS: usize = 2;
        pub const INDEX: usize = 4;
        pub const REGION: usize = 6;
        pub const OFFSET: usize = 8;
        pub const LOG2_RING_SIZE: usize = 12;
        pub const PRIVATE_HDR_SIZE: usize = 13;
        /// `flags` bit: the ring is C2S ("S2M"); clear means S2C.
        pub const FLAG_C2S: u16 = 1;
    }

    /// CONNECT and CONNECTED.
    pub mod connect {
        pub const IF_NAME: usize = 2;
    }

    pub mod disconnect {
        pub const CODE: usize = 2;
        pub const REASON: usize = 6;
    }
}

/// Read access to the fields of a frame of the right size. Offsets are
/// the constants of [`field`], all inside the frame.
struct Reader<'a>(&'a [u8; MSG_SIZE]);

impl Reader<'_> {
    fn bytes<const W: usize>(&self, off: usize) -> [u8; W] {
        let mut out = [0; W];
        out.copy_from_slice(&self.0[off..off + W]);
        out
    }

    fn u8(&self, off: usize) -> u8 {
        self.0[off]
    }

    fn u16(&self, off: usize) -> u16 {
        u16::from_ne_bytes(self.bytes(off))
    }

    fn u32(&self, off: usize) -> u32 {
        u32::from_ne_bytes(self.bytes(off))
    }

    fn u64(&self, off: usize) -> u64 {
        u64::from_ne_bytes(self.bytes(off))
    }

    fn str<const N: usize>(&self, off: usize) -> FixedStr<N> {
        FixedStr::new(&self.0[off..off + N])
    }
}

/// Write access to a zero-filled frame; offsets as for [`Reader`].
struct Writer([u8; MSG_SIZE]);

impl Writer {
    fn put(&mut self, off: usize, bytes: &[u8]) {
        self.0[off..off + bytes.len()].copy_from_slice(bytes);
    }

    fn u8(&mut self, off: usize, v: u8) {
        self.0[off] = v;
    }

    fn u16(&mut self, off: usize, v: u16) {
        self.put(off, &v.to_ne_bytes());
    }

    fn u32(&mut self, off: usize, v: u32) {
        self.put(off, &v.to_ne_bytes());
    }

    fn u64(&mut self, off: usize, v: u64) {
        self.put(off, &v.to_ne_bytes());
    }

    fn str<const N: usize>(&mut self, off: usize, s: &FixedStr<N>) {
        self.put(off, s.as_field());
    }
}

impl Message {
    /// Parses one received datagram. Bytes after a message's payload are
    /// ignored, as every implementation does.
    pub fn parse(datagram: &[u8]) -> Result<Message, MsgError> {
        let frame: &[u8; MSG_SIZE] = datagram.try_into().map_err(|_| MsgError::WrongSize {
            len: datagram.len(),
        })?;
        let r = Reader(frame);
        Ok(match r.u16(field::TYPE) {
            msg_type::ACK => Message::Ack,
            msg_type::HELLO => {
                use field::hello as f;
                Message::Hello(Hello {
                    name: r.str(f::NAME),
                    min_version: r.u16(f::MIN_VERSION),
                    max_version: r.u16(f::MAX_VERSION),
                    max_region: r.u16(f::MAX_REGION),
                    max_c2s_ring: r.u16(f::MAX_C2S_RING),
                    max_s2c_ring: r.u16(f::MAX_S2C_RING),
                    max_log2_ring_size: r.u8(f::MAX_LOG2_RING_SIZE),
                })
            }
            msg_type::INIT => {
                use field::init as f;
                let mode = r.u8(f::MODE);
                Message::Init(Init {
                    version: r.u16(f::VERSION),
                    id: r.u32(f::ID),
                    mode: Mode::from_wire(mode).ok_or(MsgError::UnknownMode(mode))?,
                    secret: r.str(f::SECRET),
                    name: r.str(f::NAME),
                })
            }
            msg_type::ADD_REGION => {
                use field::add_region as f;
                Message::AddRegion(RegionSpec {
                    index: r.u16(f::INDEX),
                    size: r.u64(f::SIZE),
                })
            }
            msg_type::ADD_RING => {
                use field::add_ring as f;
                let direction = if r.u16(f::FLAGS) & f::FLAG_C2S != 0 {
                    Direction::C2S
                } else {
                    Direction::S2C
                };
                Message::AddRing {
                    ring: RingSpec {
                        direction,
                        index: r.u16(f::INDEX),
                        region: r.u16(f::REGION),
                        offset: r.u32(f::OFFSET),
                        log2_size: r.u8(f::LOG2_RING_SIZE),
                    },
                    private_hdr_size: r.u16(f::PRIVATE_HDR_SIZE),
                }
            }
            msg_type::CONNECT => Message::Connect {
                if_name: r.str(field::connect::IF_NAME),
            },
            msg_type::CONNECTED => Message::Connected {
                if_name: r.str(field::connect::IF_NAME),
            },
            msg_type::DISCONNECT => Message::Disconnect {
                code: r.u32(field::disconnect::CODE),
                reason: r.str(field::disconnect::REASON),
            },
            other => return Err(MsgError::UnknownType(other)),
        })
    }

    /// The frame to send: type, payload, zeros.
    pub fn emit(&self) -> [u8; MSG_SIZE] {
        let mut w = Writer([0; MSG_SIZE]);
        w.u16(field::TYPE, self.wire_type());
        match self {
            Message::Ack => {}
            Message::Hello(h) => {
                use field::hello as f;
                w.str(f::NAME, &h.name);
                w.u16(f::MIN_VERSION, h.min_version);
                w.u16(f::MAX_VERSION, h.max_version);
                w.u16(f::MAX_REGION, h.max_region);
                w.u16(f::MAX_C2S_RING, h.max_c2s_ring);
                w.u16(f::MAX_S2C_RING, h.max_s2c_ring);
                w.u8(f::MAX_LOG2_RING_SIZE, h.max_log2_ring_size);
            }
            Message::Init(i) => {
                use field::init as f;
                w.u16(f::VERSION, i.version);
                w.u32(f::ID, i.id);
                w.u8(f::MODE, i.mode.to_wire());
                w.str(f::SECRET, &i.secret);
                w.str(f::NAME, &i.name);
            }
            Message::AddRegion(region) => {
                use field::add_region as f;
                w.u16(f::INDEX, region.index);
                w.u64(f::SIZE, region.size);
            }
            Message::AddRing {
                ring,
                private_hdr_size,
            } => {
                use field::add_ring as f;
                let flags = match ring.direction {
                    Direction::C2S => f::FLAG_C2S,
                    Direction::S2C => 0,
                };
                w.u16(f::FLAGS, flags);
                w.u16(f::INDEX, ring.index);
                w.u16(f::REGION, ring.region);
                w.u32(f::OFFSET, ring.offset);
                w.u8(f::LOG2_RING_SIZE, ring.log2_size);
                w.u16(f::PRIVATE_HDR_SIZE, *private_hdr_size);
            }
            Message::Connect { if_name } | Message::Connected { if_name } => {
                w.str(field::connect::IF_NAME, if_name);
            }
            Message::Disconnect { code, reason } => {
                w.u32(field::disconnect::CODE, *code);
                w.str(field::disconnect::REASON, reason);
            }
        }
        w.0
    }

    /// Whether this message travels with a file descriptor (ADD_REGION its
    /// memfd, ADD_RING its eventfd); the socket layer attaches or expects
    /// one exactly then.
    pub fn carries_fd(&self) -> bool {
        matches!(self, Message::AddRegion(_) | Message::AddRing { .. })
    }

    /// The message's name as the protocol spells it, for logs and reasons.
    pub fn name(&self) -> &'static str {
        match self {
            Message::Ack => "ACK",
            Message::Hello(_) => "HELLO",
            Message::Init(_) => "INIT",
            Message::AddRegion(_) => "ADD_REGION",
            Message::AddRing { .. } => "ADD_RING",
            Message::Connect { .. } => "CONNECT",
            Message::Connected { .. } => "CONNECTED",
            Message::Disconnect { .. } => "DISCONNECT",
        }
    }

    fn wire_type(&self) -> u16 {
        match self {
            Message::Ack => msg_type::ACK,
            Message::Hello(_) => msg_type::HELLO,
            Message::Init(_) => msg_type::INIT,
            Message::AddRegion(_) => msg_type::ADD_REGION,
            Message::AddRing { .. } => msg_type::ADD_RING,
            Message::Connect { .. } => msg_type::CONNECT,
            Message::Connected { .. } => msg_type::CONNECTED,
            Message::Disconnect { .. } => msg_type::DISCONNECT,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn fixed<const N: usize>() -> impl Strategy<Value = FixedStr<N>> {
        proptest::collection::vec(1u8..=255, 0..=N).prop_map(|v| FixedStr::new(&v))
    }

    fn mode() -> impl Strategy<Value = Mode> {
        prop_oneof![Just(Mode::Ethernet), Just(Mode::Ip), Just(Mode::PuntInject)]
    }

    fn direction() -> impl Strategy<Value = Direction> {
        prop_oneof![Just(Direction::C2S), Just(Direction::S2C)]
    }

    fn message() -> impl Strategy<Value = Message> {
        prop_oneof![
            Just(Message::Ack),
            (fixed(), any::<[u16; 5]>(), any::<u8>()).prop_map(|(name, v, log2)| {
                Message::Hello(Hello {
                    name,
                    min_version: v[0],
                    max_version: v[1],
                    max_region: v[2],
                    max_c2s_ring: v[3],
                    max_s2c_ring: v[4],
                    max_log2_ring_size: log2,
                })
            }),
            (any::<u16>(), any::<u32>(), mode(), fixed(), fixed()).prop_map(
                |(version, id, mode, secret, name)| Message::Init(Init {
                    version,
                    id,
                    mode,
                    secret,
                    name,
                })
            ),
            (any::<u16>(), any::<u64>())
                .prop_map(|(index, size)| Message::AddRegion(RegionSpec { index, size })),
            (direction(), any::<[u16; 3]>(), any::<u32>(), any::<u8>()).prop_map(
                |(direction, v, offset, log2_size)| Message::AddRing {
                    ring: RingSpec {
                        direction,
                        index: v[0],
                        region: v[1],
                        offset,
                        log2_size,
                    },
                    private_hdr_size: v[2],
                }
            ),
            fixed().prop_map(|if_name| Message::Connect { if_name }),
            fixed().prop_map(|if_name| Message::Connected { if_name }),
            (any::<u32>(), fixed()).prop_map(|(code, reason)| Message::Disconnect { code, reason }),
        ]
    }

    proptest! {
        #[test]
        fn parse_inverts_emit(msg in message()) {
            prop_assert_eq!(Message::parse(&msg.emit()), Ok(msg));
        }

        #[test]
        fn parse_of_any_frame_is_stable(frame in any::<[u8; MSG_SIZE]>()) {
            // Whatever parses re-emits to a frame that parses the same.
            if let Ok(msg) = Message::parse(&frame) {
                prop_assert_eq!(Message::parse(&msg.emit()), Ok(msg));
            }
        }

        #[test]
        fn parse_of_any_size_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let parsed = Message::parse(&bytes);
            if bytes.len() != MSG_SIZE {
                prop_assert_eq!(parsed, Err(MsgError::WrongSize { len: bytes.len() }));
            }
        }
    }

    #[test]
    fn wrong_sizes_are_rejected() {
        let frame = Message::Ack.emit();
        for len in [0, 2, 127, 129, 256] {
            let mut bytes = frame.to_vec();
            bytes.resize(len, 0);
            assert_eq!(Message::parse(&bytes), Err(MsgError::WrongSize { len }));
        }
    }

    #[test]
    fn unknown_types_are_rejected() {
        for ty in [0u16, 9, 0xffff] {
            let mut frame = [0; MSG_SIZE];
            frame[..2].copy_from_slice(&ty.to_ne_bytes());
            assert_eq!(Message::parse(&frame), Err(MsgError::UnknownType(ty)));
        }
    }

    #[test]
    fn unknown_mode_is_rejected() {
        let mut frame = Message::Init(Init {
            version: VERSION,
            id: 0,
            mode: Mode::Ethernet,
            secret: Secret::EMPTY,
            name: Name::EMPTY,
        })
        .emit();
        frame[field::init::MODE] = 3;
        assert_eq!(Message::parse(&frame), Err(MsgError::UnknownMode(3)));
    }

    #[test]
    fn only_region_and_ring_carry_fds() {
        let ring = RingSpec {
            direction: Direction::C2S,
            index: 0,
            region: 0,
            offset: 0,
            log2_size: 10,
        };
        assert!(Message::AddRegion(RegionSpec { index: 0, size: 1 }).carries_fd());
        assert!(
            Message::AddRing {
                ring,
                private_hdr_size: 0
            }
            .carries_fd()
        );
        assert!(!Message::Ack.carries_fd());
        assert!(
            !Message::Connect {
                if_name: Name::EMPTY
            }
            .carries_fd()
        );
    }

    #[test]
    fn fixed_str_stops_at_nul_and_truncates() {
        let s = Secret::new(b"abc\0garbage");
        assert_eq!(s.as_bytes(), b"abc");
        assert_eq!(s, Secret::from("abc"));
        let long = [b'x'; 40];
        assert_eq!(Secret::new(&long).as_bytes(), &long[..SECRET_SIZE]);
        assert!(Secret::new(b"\0abc").is_empty());
        assert!(Secret::EMPTY.is_empty());
        assert_ne!(Secret::from("abc"), Secret::from("abcd"));
    }

    #[test]
    fn fixed_str_compares_like_strncmp_over_the_field() {
        // A 24-byte secret without NUL equals the same 24 bytes followed by
        // anything: strncmp stops at the field's size.
        let a = Secret::new(b"0123456789abcdef01234567");
        let b = Secret::new(b"0123456789abcdef01234567-and-more");
        assert_eq!(a, b);
        assert_eq!(a.as_bytes().len(), SECRET_SIZE);
    }

    #[test]
    fn names_render_lossily() {
        let n = Name::new(b"ab\xffc");
        assert_eq!(n.to_string(), "ab\u{fffd}c");
        assert_eq!(format!("{:?}", Name::from("net_memif0")), "\"net_memif0\"");
    }

    /// Frames written by hand from memif.md's offset tables, in the byte
    /// order of the hosts memif runs on.
    #[cfg(target_endian = "little")]
    mod layout {
        use super::*;

        /// A zero frame with `parts` copied in at their offsets.
        fn frame(parts: &[(usize, &[u8])]) -> [u8; MSG_SIZE] {
            let mut f = [0; MSG_SIZE];
            for (off, bytes) in parts {
                f[*off..*off + bytes.len()].copy_from_slice(bytes);
            }
            f
        }

        /// Parses `bytes`, checks the result, and checks that emitting it
        /// gives the same bytes back.
        fn check(bytes: [u8; MSG_SIZE], expected: Message) {
            assert_eq!(Message::parse(&bytes), Ok(expected));
            assert_eq!(expected.emit(), bytes);
        }

        #[test]
        fn dpdk_hello() {
            let bytes = frame(&[
                (0, &[2, 0]),
                (2, b"DPDK 22.11.11"),
                (34, &[0x00, 0x02]),
                (36, &[0x00, 0x02]),
                (38, &[255, 0]),
                (40, &[255, 0]),
                (42, &[255, 0]),
                (44, &[14]),
            ]);
            check(
                bytes,
                Message::Hello(Hello {
                    name: Name::from("DPDK 22.11.11"),
                    min_version: VERSION,
                    max_version: VERSION,
                    max_region: 255,
                    max_c2s_ring: 255,
                    max_s2c_ring: 255,
                    max_log2_ring_size: 14,
                }),
            );
            assert_eq!(
                Hello::new(Name::from("DPDK 22.11.11")),
                match Message::parse(&bytes) {
                    Ok(Message::Hello(h)) => h,
                    other => panic!("not a HELLO: {other:?}"),
                }
            );
        }

        #[test]
        fn hello_puts_the_s2c_limit_before_the_c2s_limit() {
            let bytes = frame(&[(0, &[2, 0]), (40, &[7, 0]), (42, &[9, 0])]);
            let Ok(Message::Hello(h)) = Message::parse(&bytes) else {
                panic!("not a HELLO");
            };
            assert_eq!((h.max_s2c_ring, h.max_c2s_ring), (7, 9));
            assert_eq!(Message::Hello(h).emit(), bytes);
        }

        #[test]
        fn init() {
            check(
                frame(&[
                    (0, &[3, 0]),
                    (2, &[0x00, 0x02]),
                    (4, &[0x78, 0x56, 0x34, 0x12]),
                    (8, &[1]),
                    (9, b"s3cr3t"),
                    (33, b"DPDK 22.11.11"),
                ]),
                Message::Init(Init {
                    version: VERSION,
                    id: 0x1234_5678,
                    mode: Mode::Ip,
                    secret: Secret::from("s3cr3t"),
                    name: Name::from("DPDK 22.11.11"),
                }),
            );
        }

        #[test]
        fn add_region_of_a_dpdk_client() {
            // 4 227 328 bytes: DPDK's region 0 for 1+1 rings of 1024 slots.
            check(
                frame(&[(0, &[4, 0]), (2, &[1, 0]), (4, &4_227_328u64.to_le_bytes())]),
                Message::AddRegion(RegionSpec {
                    index: 1,
                    size: 4_227_328,
                }),
            );
        }

        #[test]
        fn add_ring() {
            check(
                frame(&[
                    (0, &[5, 0]),
                    (2, &[1, 0]),
                    (4, &[2, 0]),
                    (6, &[3, 0]),
                    (8, &[0x80, 0x40, 0, 0]),
                    (12, &[10]),
                ]),
                Message::AddRing {
                    ring: RingSpec {
                        direction: Direction::C2S,
                        index: 2,
                        region: 3,
                        offset: 16_512,
                        log2_size: 10,
                    },
                    private_hdr_size: 0,
                },
            );
            let s2c = frame(&[(0, &[5, 0]), (12, &[14]), (13, &[8, 0])]);
            check(
                s2c,
                Message::AddRing {
                    ring: RingSpec {
                        direction: Direction::S2C,
                        index: 0,
                        region: 0,
                        offset: 0,
                        log2_size: 14,
                    },
                    private_hdr_size: 8,
                },
            );
        }

        #[test]
        fn ring_flags_other_than_c2s_are_ignored() {
            let bytes = frame(&[(0, &[5, 0]), (2, &[0xfe, 0xff])]);
            let Ok(Message::AddRing { ring, .. }) = Message::parse(&bytes) else {
                panic!("not an ADD_RING");
            };
            assert_eq!(ring.direction, Direction::S2C);
        }

        #[test]
        fn connect_connected_disconnect_ack() {
            check(
                frame(&[(0, &[6, 0]), (2, b"net_memif0")]),
                Message::Connect {
                    if_name: Name::from("net_memif0"),
                },
            );
            check(
                frame(&[(0, &[7, 0]), (2, b"memif0/0")]),
                Message::Connected {
                    if_name: Name::from("memif0/0"),
                },
            );
            check(
                frame(&[(0, &[8, 0]), (2, &[5, 0, 0, 0]), (6, b"incorrect secret")]),
                Message::Disconnect {
                    code: 5,
                    reason: Reason::from("incorrect secret"),
                },
            );
            check(frame(&[(0, &[1, 0])]), Message::Ack);
        }

        #[test]
        fn full_width_strings_need_no_nul() {
            let name = [b'n'; NAME_SIZE];
            let bytes = frame(&[(0, &[6, 0]), (2, &name)]);
            check(
                bytes,
                Message::Connect {
                    if_name: Name::new(&name),
                },
            );
        }

        #[test]
        fn bytes_after_the_payload_are_ignored() {
            let bytes = frame(&[(0, &[1, 0]), (100, &[0xaa; 28])]);
            assert_eq!(Message::parse(&bytes), Ok(Message::Ack));
        }
    }
}
