//! What one memif interface is: its id on the socket, its mode, its secret,
//! its queues and (for a client, which creates the shared memory) its rings
//! and buffers. Checked once, with errors that say what to change.

use crate::queue::DEFAULT_MAX_FRAME;
use crate::shm::{BufferPlacement, Layout, LayoutError, SealPolicy};
use crate::types::{
    DEFAULT_BUFFER_SIZE, DEFAULT_LOG2_RING_SIZE, MAX_LOG2_RING_SIZE, MAX_RING_INDEX, Mode,
    NAME_SIZE, SECRET_SIZE,
};

/// One memif interface, as a [`Server`](super::Server) serves it or a
/// [`Client`](super::Client) asks for it.
///
/// Queue counts are from the point of view of whoever holds the config:
/// `rx_queues` are the rings we receive from (C2S for a server, S2C for a
/// client). Some fields matter to one role only, as marked: the client
/// creates the memory, so it alone chooses ring and buffer sizes; the
/// server maps memory the client hands over, so it alone decides whether
/// to trust files that cannot be sealed.
///
/// Start from [`InterfaceConfig::new`] and change what differs:
///
/// ```
/// use podwire_memif::{InterfaceConfig, types::Mode};
/// let config = InterfaceConfig {
///     mode: Mode::Ip,
///     secret: Some("s3cret".into()),
///     rx_queues: 2,
///     tx_queues: 2,
///     ..InterfaceConfig::new(7)
/// };
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceConfig {
    /// The interface id on the socket (INIT); one server socket serves
    /// many ids.
    pub id: u32,
    /// Ethernet frames or IP packets; both ends must agree (DPDK speaks
    /// ethernet only).
    pub mode: Mode,
    /// The shared secret, at most 24 bytes. A server with a secret refuses
    /// clients without it; a server without one accepts any client.
    pub secret: Option<String>,
    /// Our interface name, at most 32 bytes, shown to the peer (CONNECT,
    /// CONNECTED).
    pub name: String,
    /// Receive queues, 1 to 256. Server: the most C2S rings accepted.
    /// Client: the S2C rings asked for (the server may allow fewer).
    pub rx_queues: u16,
    /// Transmit queues, 1 to 256. Server: the most S2C rings accepted.
    /// Client: the C2S rings asked for. A DPDK server refuses more rings
    /// than its `--rxq`/`--txq`: match them.
    pub tx_queues: u16,
    /// Client: slots per ring as log2, 1 to 14 (the server may cap it).
    /// A server accepts whatever the client announces, up to 2^14.
    pub log2_ring_size: u8,
    /// Client: bytes per packet buffer; longer frames are chained over
    /// several buffers. A server uses the buffers the client posts.
    pub buffer_size: u32,
    /// The longest frame sent or accepted, in bytes; longer ones are
    /// dropped and counted. Default: 9216, room for 9000-byte jumbo frames.
    pub max_frame: usize,
    /// Server: whether regions whose files cannot be sealed against
    /// shrinking are accepted (see [`SealPolicy`]). Default: refused; a
    /// DPDK zero-copy client needs [`SealPolicy::AllowUnsealed`], and only
    /// a trusted one should get it.
    pub seal_policy: SealPolicy,
    /// Client: where the packet buffers go. [`BufferPlacement::AfterRings`]
    /// (default) is the DPDK/VPP copy layout, one region;
    /// [`BufferPlacement::OwnRegion`] puts them in a second region.
    pub buffer_placement: BufferPlacement,
    /// Whether the receive queues start in polling mode: the peer is asked
    /// not to signal their eventfds (MASK_INT), saving it a system call per
    /// burst. Default `false` (interrupt mode), so an application that
    /// sleeps on [`Interface::rx_interrupt_fd`](super::Interface::rx_interrupt_fd)
    /// is woken. Change per queue with
    /// [`Interface::set_polling`](super::Interface::set_polling).
    pub polling: bool,
}

/// Why an interface configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A direction without queues.
    #[error("interface {id}: {what} is 0; a memif interface needs 1 to 256 queues each way")]
    NoQueues {
        /// The interface id.
        id: u32,
        /// `rx_queues` or `tx_queues`.
        what: &'static str,
    },
    /// More queues than memif has rings.
    #[error("interface {id}: {what} is {count}; memif allows at most 256 queues each way")]
    TooManyQueues {
        /// The interface id.
        id: u32,
        /// `rx_queues` or `tx_queues`.
        what: &'static str,
        /// The count configured.
        count: u16,
    },
    /// A ring size out of memif's range.
    #[error(
        "interface {id}: log2_ring_size {log2} is out of range; use 1 to 14 (2 to 16384 slots, \
         default 10)"
    )]
    RingSize {
        /// The interface id.
        id: u32,
        /// The value configured.
        log2: u8,
    },
    /// Rings and buffers that do not fit memif's 4 GiB regions.
    #[error("interface {id}: {source}")]
    Layout {
        /// The interface id.
        id: u32,
        /// What the layout refused.
        source: LayoutError,
    },
    /// A max frame of zero bytes would drop everything.
    #[error("interface {id}: max_frame is 0; use at least 1 byte (default 9216)")]
    ZeroMaxFrame {
        /// The interface id.
        id: u32,
    },
    /// A secret the wire cannot carry as given.
    #[error(
        "interface {id}: the secret must be 1 to {SECRET_SIZE} bytes without NUL (give None for \
         no secret)"
    )]
    Secret {
        /// The interface id.
        id: u32,
    },
    /// A name the wire cannot carry as given.
    #[error("interface {id}: the name {name:?} must be at most {NAME_SIZE} bytes without NUL")]
    Name {
        /// The interface id.
        id: u32,
        /// The name configured.
        name: String,
    },
}

impl InterfaceConfig {
    /// Interface `id` with the defaults of VPP, libmemif and DPDK:
    /// ethernet, no secret, one queue each way, 1024 slots of 2048 bytes,
    /// copy layout, interrupt mode, sealed regions only. The name is
    /// `memif<id>`.
    pub fn new(id: u32) -> InterfaceConfig {
        InterfaceConfig {
            id,
            mode: Mode::Ethernet,
            secret: None,
            name: format!("memif{id}"),
            rx_queues: 1,
            tx_queues: 1,
            log2_ring_size: DEFAULT_LOG2_RING_SIZE,
            buffer_size: DEFAULT_BUFFER_SIZE,
            max_frame: DEFAULT_MAX_FRAME,
            seal_policy: SealPolicy::RequireShrinkSeal,
            buffer_placement: BufferPlacement::AfterRings,
            polling: false,
        }
    }

    /// Checks every field; the error names the field and the range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let id = self.id;
        for (what, count) in [("rx_queues", self.rx_queues), ("tx_queues", self.tx_queues)] {
            if count == 0 {
                return Err(ConfigError::NoQueues { id, what });
            }
            if count > MAX_RING_INDEX + 1 {
                return Err(ConfigError::TooManyQueues { id, what, count });
            }
        }
        if !(1..=MAX_LOG2_RING_SIZE).contains(&self.log2_ring_size) {
            return Err(ConfigError::RingSize {
                id,
                log2: self.log2_ring_size,
            });
        }
        // The largest memory a client would create with this config.
        self.layout(self.tx_queues, self.rx_queues, self.log2_ring_size)
            .map_err(|source| ConfigError::Layout { id, source })?;
        if self.max_frame == 0 {
            return Err(ConfigError::ZeroMaxFrame { id });
        }
        if let Some(secret) = &self.secret {
            if !fits_field(secret, SECRET_SIZE) || secret.is_empty() {
                return Err(ConfigError::Secret { id });
            }
        }
        if !fits_field(&self.name, NAME_SIZE) {
            return Err(ConfigError::Name {
                id,
                name: self.name.clone(),
            });
        }
        Ok(())
    }

    /// The client's layout for the shape negotiated with the server.
    pub(crate) fn layout(&self, c2s: u16, s2c: u16, log2: u8) -> Result<Layout, LayoutError> {
        Layout::new(self.buffer_placement, c2s, s2c, log2, self.buffer_size)
    }
}

/// Whether `text` goes into a fixed wire field of `size` bytes unchanged.
fn fits_field(text: &str, size: usize) -> bool {
    text.len() <= size && !text.contains('\0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_dpdk() {
        let config = InterfaceConfig::new(3);
        config.validate().unwrap();
        assert_eq!((config.log2_ring_size, config.buffer_size), (10, 2048));
        assert_eq!(config.name, "memif3");
        assert!(!config.polling);
    }

    #[test]
    fn each_bad_field_is_named() {
        let base = InterfaceConfig::new(1);
        let cases: Vec<(InterfaceConfig, &str)> = vec![
            (
                InterfaceConfig {
                    rx_queues: 0,
                    ..base.clone()
                },
                "rx_queues is 0",
            ),
            (
                InterfaceConfig {
                    tx_queues: 257,
                    ..base.clone()
                },
                "tx_queues is 257",
            ),
            (
                InterfaceConfig {
                    log2_ring_size: 15,
                    ..base.clone()
                },
                "log2_ring_size 15",
            ),
            (
                InterfaceConfig {
                    log2_ring_size: 0,
                    ..base.clone()
                },
                "log2_ring_size 0",
            ),
            (
                InterfaceConfig {
                    buffer_size: 0,
                    ..base.clone()
                },
                "buffer size",
            ),
            (
                InterfaceConfig {
                    rx_queues: 256,
                    tx_queues: 256,
                    log2_ring_size: 14,
                    buffer_size: 65_535,
                    ..base.clone()
                },
                "4 GiB",
            ),
            (
                InterfaceConfig {
                    max_frame: 0,
                    ..base.clone()
                },
                "max_frame",
            ),
            (
                InterfaceConfig {
                    secret: Some("x".repeat(25)),
                    ..base.clone()
                },
                "secret",
            ),
            (
                InterfaceConfig {
                    secret: Some(String::new()),
                    ..base.clone()
                },
                "give None",
            ),
            (
                InterfaceConfig {
                    name: "n".repeat(33),
                    ..base.clone()
                },
                "at most 32 bytes",
            ),
        ];
        for (config, expected) in cases {
            let error = config.validate().expect_err(expected).to_string();
            assert!(error.contains(expected), "{error:?} lacks {expected:?}");
            assert!(error.starts_with("interface 1:"), "{error}");
        }
    }

    #[test]
    fn limits_themselves_are_accepted() {
        InterfaceConfig {
            secret: Some("s".repeat(24)),
            name: "n".repeat(32),
            rx_queues: 256,
            tx_queues: 256,
            log2_ring_size: 1,
            buffer_size: 1,
            max_frame: 1,
            ..InterfaceConfig::new(u32::MAX)
        }
        .validate()
        .unwrap();
    }
}
