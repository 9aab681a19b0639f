//! Neighbor discovery (RFC 4861): the ICMPv6 messages that replace ARP and announce routers.

use super::{Message, Packet};
use crate::bytes::{get_array, get_ipv6, get_u16, get_u32};
use crate::ethernet::EthernetAddress;
use crate::{Error, Result};
use core::net::Ipv6Addr;

/// Option types (RFC 4861 §4.6, and the IANA registry).
mod kind {
    pub const SOURCE_LLADDR: u8 = 1;
    pub const TARGET_LLADDR: u8 = 2;
    pub const PREFIX_INFO: u8 = 3;
    pub const MTU: u8 = 5;
}

/// Options are measured in units of 8 bytes, type and length included.
const OPTION_UNIT: usize = 8;
const LLADDR_OPTION_LEN: usize = 8;
const MTU_OPTION_LEN: usize = 8;
const PREFIX_INFO_OPTION_LEN: usize = 32;

const ROUTER_MANAGED: u8 = 0x80;
const ROUTER_OTHER: u8 = 0x40;
const NEIGHBOR_ROUTER: u8 = 0x80;
const NEIGHBOR_SOLICITED: u8 = 0x40;
const NEIGHBOR_OVERRIDE: u8 = 0x20;
const PREFIX_ON_LINK: u8 = 0x80;
const PREFIX_AUTONOMOUS: u8 = 0x40;

// The lengths of the fixed parts of the messages (ICMPv6 header included): where the options
// start.
const ROUTER_SOLICIT_LEN: usize = 8;
const ROUTER_ADVERT_LEN: usize = 16;
const NEIGHBOR_LEN: usize = 24;

/// The length of the fixed part of a neighbor discovery message, where its options start;
/// `None` if `msg_type` is not one `NdiscRepr` handles.
pub(super) const fn fixed_len(msg_type: Message) -> Option<usize> {
    match msg_type {
        Message::ROUTER_SOLICIT => Some(ROUTER_SOLICIT_LEN),
        Message::ROUTER_ADVERT => Some(ROUTER_ADVERT_LEN),
        Message::NEIGHBOR_SOLICIT | Message::NEIGHBOR_ADVERT => Some(NEIGHBOR_LEN),
        _ => None,
    }
}

/// The flags of a router advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RouterFlags {
    /// Addresses are available from DHCPv6.
    pub managed: bool,
    /// Other configuration is available from DHCPv6.
    pub other: bool,
}

/// The flags of a neighbor advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NeighborFlags {
    /// The sender is a router.
    pub router: bool,
    /// The advertisement answers a solicitation.
    pub solicited: bool,
    /// The advertisement should override a cached link-layer address (the "O" flag).
    pub override_flag: bool,
}

/// The prefix information option of a router advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PrefixInfo {
    /// The prefix (bits after `prefix_len` are zero when the sender is correct).
    pub prefix: Ipv6Addr,
    /// The number of leading bits of `prefix` that count (at most 128).
    pub prefix_len: u8,
    /// The prefix is on the link: its addresses are neighbors.
    pub on_link: bool,
    /// Hosts may configure addresses in the prefix themselves (SLAAC).
    pub autonomous: bool,
    /// Seconds the prefix stays valid (`u32::MAX` is forever).
    pub valid_lifetime: u32,
    /// Seconds addresses from the prefix stay preferred.
    pub preferred_lifetime: u32,
}

impl PrefixInfo {
    fn from_option(option: &[u8; PREFIX_INFO_OPTION_LEN]) -> Result<Self> {
        let prefix_len = option[2];
        if prefix_len > 128 {
            return Err(Error::Malformed);
        }
        Ok(Self {
            prefix_len,
            on_link: option[3] & PREFIX_ON_LINK != 0,
            autonomous: option[3] & PREFIX_AUTONOMOUS != 0,
            valid_lifetime: get_u32(option, 4),
            preferred_lifetime: get_u32(option, 8),
            prefix: get_ipv6(option, 16),
        })
    }

    fn to_option(self) -> [u8; PREFIX_INFO_OPTION_LEN] {
        let mut option = [0; PREFIX_INFO_OPTION_LEN];
        option[0] = kind::PREFIX_INFO;
        option[1] = (PREFIX_INFO_OPTION_LEN / OPTION_UNIT) as u8;
        option[2] = self.prefix_len;
        option[3] = flag_byte(&[
            (PREFIX_ON_LINK, self.on_link),
            (PREFIX_AUTONOMOUS, self.autonomous),
        ]);
        option[4..8].copy_from_slice(&self.valid_lifetime.to_be_bytes());
        option[8..12].copy_from_slice(&self.preferred_lifetime.to_be_bytes());
        option[16..32].copy_from_slice(&self.prefix.octets());
        option
    }
}

/// One neighbor discovery option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NdiscOption<'a> {
    /// The sender's link-layer address.
    SourceLinkLayerAddr(EthernetAddress),
    /// The target's link-layer address.
    TargetLinkLayerAddr(EthernetAddress),
    /// A prefix a router announces.
    PrefixInformation(PrefixInfo),
    /// The MTU of the link.
    Mtu(u32),
    /// Any other option: its type and the bytes after its type and length.
    Other {
        /// The option type.
        kind: u8,
        /// The option's bytes after the type and length bytes.
        data: &'a [u8],
    },
}

/// An iterator over the options of a neighbor discovery message (see
/// [`Packet::ndisc_options`]).
///
/// Yields `Err` once and stops at an option of length zero (`Malformed`, RFC 4861 §4.6),
/// one that runs past the end (`Truncated`), a link-layer address option that is not an
/// Ethernet address (`Unsupported`), or a known option of the wrong size (`Malformed`).
#[derive(Debug, Clone)]
pub struct NdiscOptions<'a> {
    rest: &'a [u8],
}

impl<'a> NdiscOptions<'a> {
    /// Iterates the options in `bytes`, the part of a message after its fixed fields.
    #[inline]
    pub const fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    fn next_option(&mut self) -> Result<NdiscOption<'a>> {
        let &[option_kind, units, ..] = self.rest else {
            return Err(Error::Truncated);
        };
        if units == 0 {
            return Err(Error::Malformed);
        }
        let len = usize::from(units) * OPTION_UNIT;
        let (option, rest) = self.rest.split_at_checked(len).ok_or(Error::Truncated)?;
        self.rest = rest;
        let lladdr = || match option.first_chunk::<LLADDR_OPTION_LEN>() {
            Some(option) if len == LLADDR_OPTION_LEN => Ok(EthernetAddress(get_array(option, 2))),
            _ => Err(Error::Unsupported),
        };
        Ok(match option_kind {
            kind::SOURCE_LLADDR => NdiscOption::SourceLinkLayerAddr(lladdr()?),
            kind::TARGET_LLADDR => NdiscOption::TargetLinkLayerAddr(lladdr()?),
            kind::PREFIX_INFO => match option.first_chunk::<PREFIX_INFO_OPTION_LEN>() {
                Some(option) if len == PREFIX_INFO_OPTION_LEN => {
                    NdiscOption::PrefixInformation(PrefixInfo::from_option(option)?)
                }
                _ => return Err(Error::Malformed),
            },
            kind::MTU => match option.first_chunk::<MTU_OPTION_LEN>() {
                Some(option) if len == MTU_OPTION_LEN => NdiscOption::Mtu(get_u32(option, 4)),
                _ => return Err(Error::Malformed),
            },
            other => NdiscOption::Other {
                kind: other,
                data: option.get(2..).unwrap_or_default(),
            },
        })
    }
}

impl<'a> Iterator for NdiscOptions<'a> {
    type Item = Result<NdiscOption<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let option = self.next_option();
        if option.is_err() {
            self.rest = &[];
        }
        Some(option)
    }
}

/// The options `NdiscRepr` keeps: the first of each kind.
#[derive(Default)]
struct KnownOptions {
    source_lladdr: Option<EthernetAddress>,
    target_lladdr: Option<EthernetAddress>,
    mtu: Option<u32>,
    prefix_info: Option<PrefixInfo>,
}

impl KnownOptions {
    /// Walks all options (so that a bad one anywhere rejects the message); unknown options
    /// are skipped, as RFC 4861 §4.6 requires.
    fn collect(options: NdiscOptions<'_>) -> Result<Self> {
        let mut known = Self::default();
        for option in options {
            match option? {
                NdiscOption::SourceLinkLayerAddr(addr) => {
                    known.source_lladdr = known.source_lladdr.or(Some(addr));
                }
                NdiscOption::TargetLinkLayerAddr(addr) => {
                    known.target_lladdr = known.target_lladdr.or(Some(addr));
                }
                NdiscOption::Mtu(mtu) => known.mtu = known.mtu.or(Some(mtu)),
                NdiscOption::PrefixInformation(info) => {
                    known.prefix_info = known.prefix_info.or(Some(info));
                }
                NdiscOption::Other { .. } => {}
            }
        }
        Ok(known)
    }
}

/// The meaning of a neighbor discovery message.
///
/// # Validity
/// [`parse`](Self::parse) checks what the message itself can prove (RFC 4861 §6.1, §7.1):
/// the code is 0, the message is long enough, no option has length zero or runs past the end,
/// and a target address is not multicast. The checks that need the IP header are the caller's:
/// * the IP hop limit must be 255, proof that the sender is on the link;
/// * a router advertisement must come from a link-local address;
/// * a solicitation from the unspecified address must go to a solicited-node multicast address
///   and carry no source link-layer address option;
/// * an advertisement sent to a multicast address must not have the solicited flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NdiscRepr {
    /// A host asks routers to advertise themselves.
    RouterSolicit {
        /// The sender's link-layer address, if given.
        lladdr: Option<EthernetAddress>,
    },
    /// A router announces itself and the link's parameters.
    RouterAdvert {
        /// The hop limit hosts should use (0: unspecified).
        hop_limit: u8,
        /// The DHCPv6 flags.
        flags: RouterFlags,
        /// Seconds the router may be a default router (0: it is not one).
        router_lifetime: u16,
        /// Milliseconds a neighbor stays reachable after a confirmation (0: unspecified).
        reachable_time: u32,
        /// Milliseconds between solicitations (0: unspecified).
        retrans_time: u32,
        /// The router's link-layer address, if given.
        lladdr: Option<EthernetAddress>,
        /// The link MTU, if given.
        mtu: Option<u32>,
        /// The first prefix information option, if any (walk
        /// [`Packet::ndisc_options`] for all of them).
        prefix_info: Option<PrefixInfo>,
    },
    /// Who has `target_addr`? (or: are you still there?)
    NeighborSolicit {
        /// The address being resolved.
        target_addr: Ipv6Addr,
        /// The sender's link-layer address, if given.
        lladdr: Option<EthernetAddress>,
    },
    /// `target_addr` is at `lladdr`.
    NeighborAdvert {
        /// The router, solicited and override flags.
        flags: NeighborFlags,
        /// The address advertised.
        target_addr: Ipv6Addr,
        /// The target's link-layer address, if given.
        lladdr: Option<EthernetAddress>,
    },
}

impl NdiscRepr {
    /// Reads a neighbor discovery message. The checksum is not verified here (it needs the IP
    /// addresses): use [`Icmpv6Repr::parse`](super::Icmpv6Repr::parse), or
    /// [`Packet::verify_checksum`] first.
    ///
    /// `Err(Unsupported)` for other message types; `Err(Malformed)` or `Err(Truncated)` for a
    /// message that breaks the rules under [Validity](NdiscRepr#validity).
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Self> {
        packet.check_len()?;
        let msg_type = packet.msg_type();
        let Some(fixed_len) = fixed_len(msg_type) else {
            return Err(Error::Unsupported);
        };
        if packet.msg_code() != 0 {
            return Err(Error::Malformed);
        }
        let message = packet.buffer.as_ref();
        let options = message.get(fixed_len..).ok_or(Error::Truncated)?;
        let known = KnownOptions::collect(NdiscOptions::new(options))?;
        match msg_type {
            Message::ROUTER_SOLICIT => Ok(NdiscRepr::RouterSolicit {
                lladdr: known.source_lladdr,
            }),
            Message::ROUTER_ADVERT => {
                let fixed: &[u8; ROUTER_ADVERT_LEN] =
                    message.first_chunk().ok_or(Error::Truncated)?;
                Ok(NdiscRepr::RouterAdvert {
                    hop_limit: fixed[4],
                    flags: RouterFlags {
                        managed: fixed[5] & ROUTER_MANAGED != 0,
                        other: fixed[5] & ROUTER_OTHER != 0,
                    },
                    router_lifetime: get_u16(fixed, 6),
                    reachable_time: get_u32(fixed, 8),
                    retrans_time: get_u32(fixed, 12),
                    lladdr: known.source_lladdr,
                    mtu: known.mtu,
                    prefix_info: known.prefix_info,
                })
            }
            _ => {
                let fixed: &[u8; NEIGHBOR_LEN] = message.first_chunk().ok_or(Error::Truncated)?;
                let target_addr = get_ipv6(fixed, 8);
                if target_addr.is_multicast() {
                    return Err(Error::Malformed);
                }
                if msg_type == Message::NEIGHBOR_SOLICIT {
                    return Ok(NdiscRepr::NeighborSolicit {
                        target_addr,
                        lladdr: known.source_lladdr,
                    });
                }
                Ok(NdiscRepr::NeighborAdvert {
                    flags: NeighborFlags {
                        router: fixed[4] & NEIGHBOR_ROUTER != 0,
                        solicited: fixed[4] & NEIGHBOR_SOLICITED != 0,
                        override_flag: fixed[4] & NEIGHBOR_OVERRIDE != 0,
                    },
                    target_addr,
                    lladdr: known.target_lladdr,
                })
            }
        }
    }

    /// The ICMPv6 message type.
    pub const fn msg_type(&self) -> Message {
        match self {
            NdiscRepr::RouterSolicit { .. } => Message::ROUTER_SOLICIT,
            NdiscRepr::RouterAdvert { .. } => Message::ROUTER_ADVERT,
            NdiscRepr::NeighborSolicit { .. } => Message::NEIGHBOR_SOLICIT,
            NdiscRepr::NeighborAdvert { .. } => Message::NEIGHBOR_ADVERT,
        }
    }

    /// The link-layer address option this message carries, if any.
    const fn lladdr(&self) -> Option<EthernetAddress> {
        match *self {
            NdiscRepr::RouterSolicit { lladdr }
            | NdiscRepr::RouterAdvert { lladdr, .. }
            | NdiscRepr::NeighborSolicit { lladdr, .. }
            | NdiscRepr::NeighborAdvert { lladdr, .. } => lladdr,
        }
    }

    /// The length of the fixed part of this message.
    const fn fixed_len(&self) -> usize {
        match self {
            NdiscRepr::RouterSolicit { .. } => ROUTER_SOLICIT_LEN,
            NdiscRepr::RouterAdvert { .. } => ROUTER_ADVERT_LEN,
            NdiscRepr::NeighborSolicit { .. } | NdiscRepr::NeighborAdvert { .. } => NEIGHBOR_LEN,
        }
    }

    /// The number of bytes [`emit`](Self::emit) writes, ICMPv6 header included.
    pub fn buffer_len(&self) -> usize {
        let mut len = self.fixed_len() + self.lladdr().map_or(0, |_| LLADDR_OPTION_LEN);
        if let NdiscRepr::RouterAdvert {
            mtu, prefix_info, ..
        } = self
        {
            len += mtu.map_or(0, |_| MTU_OPTION_LEN);
            len += prefix_info.map_or(0, |_| PREFIX_INFO_OPTION_LEN);
        }
        len
    }

    /// Writes the message: the ICMPv6 header with a zero checksum, the fixed fields and the
    /// options. Fill the checksum afterwards ([`Packet::fill_checksum`]), or use
    /// [`Icmpv6Repr::emit`](super::Icmpv6Repr::emit), which does.
    ///
    /// `Err(Truncated)` if the buffer is shorter than [`buffer_len`](Self::buffer_len).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        let len = self.buffer_len();
        let message = packet
            .buffer
            .as_mut()
            .get_mut(..len)
            .ok_or(Error::Truncated)?;
        message.fill(0);
        message[0] = self.msg_type().0;
        let mut writer = OptionWriter::new(message);
        let fixed = writer.take(self.fixed_len());
        match *self {
            NdiscRepr::RouterSolicit { .. } => {}
            NdiscRepr::RouterAdvert {
                hop_limit,
                flags,
                router_lifetime,
                reachable_time,
                retrans_time,
                mtu,
                prefix_info,
                ..
            } => {
                fixed[4] = hop_limit;
                fixed[5] =
                    flag_byte(&[(ROUTER_MANAGED, flags.managed), (ROUTER_OTHER, flags.other)]);
                fixed[6..8].copy_from_slice(&router_lifetime.to_be_bytes());
                fixed[8..12].copy_from_slice(&reachable_time.to_be_bytes());
                fixed[12..16].copy_from_slice(&retrans_time.to_be_bytes());
                if let Some(mtu) = mtu {
                    let [a, b, c, d] = mtu.to_be_bytes();
                    writer.push(&[kind::MTU, 1, 0, 0, a, b, c, d]);
                }
                if let Some(info) = prefix_info {
                    writer.push(&info.to_option());
                }
            }
            NdiscRepr::NeighborSolicit { target_addr, .. } => {
                fixed[8..24].copy_from_slice(&target_addr.octets());
            }
            NdiscRepr::NeighborAdvert {
                flags, target_addr, ..
            } => {
                fixed[4] = flag_byte(&[
                    (NEIGHBOR_ROUTER, flags.router),
                    (NEIGHBOR_SOLICITED, flags.solicited),
                    (NEIGHBOR_OVERRIDE, flags.override_flag),
                ]);
                fixed[8..24].copy_from_slice(&target_addr.octets());
            }
        }
        if let Some(addr) = self.lladdr() {
            let option_kind = match self {
                NdiscRepr::NeighborAdvert { .. } => kind::TARGET_LLADDR,
                _ => kind::SOURCE_LLADDR,
            };
            let [a, b, c, d, e, f] = addr.0;
            writer.push(&[option_kind, 1, a, b, c, d, e, f]);
        }
        Ok(())
    }
}

/// Writes a message front to back: the fixed part, then one option after another. The
/// message was cut to [`NdiscRepr::buffer_len`], which counts every byte written here.
struct OptionWriter<'a> {
    rest: &'a mut [u8],
}

impl<'a> OptionWriter<'a> {
    fn new(message: &'a mut [u8]) -> Self {
        Self { rest: message }
    }

    /// Takes the next `len` bytes (first the fixed part, to fill in).
    fn take(&mut self, len: usize) -> &'a mut [u8] {
        let (taken, rest) = core::mem::take(&mut self.rest).split_at_mut(len);
        self.rest = rest;
        taken
    }

    /// Appends an option.
    fn push(&mut self, option: &[u8]) {
        self.take(option.len()).copy_from_slice(option);
    }
}

/// A byte with the given bits set.
fn flag_byte(flags: &[(u8, bool)]) -> u8 {
    flags
        .iter()
        .filter(|(_, on)| *on)
        .fold(0, |byte, (mask, _)| byte | mask)
}
