//! The keys of `kind = "memif"`: every one checked, each refused where it has no meaning
//! (on another kind, or on the role that does not decide it), so a setting is never silently
//! ignored.

use std::path::Path;

use super::super::file::{InterfaceSection, SocketOwnerSection};
use super::super::memif::{MemifMode, MemifRoleName};
use super::super::{
    DEFAULT_MEMIF_BUFFER_SIZE, DEFAULT_MEMIF_QUEUES, DEFAULT_MEMIF_RING_SIZE,
    DEFAULT_MEMIF_SOCKET_DIR, DEFAULT_MEMIF_SOCKET_FILE, DEFAULT_MEMIF_SOCKET_MODE, MemifConfig,
    MemifRole, MemifSocket, SocketAccess,
};
use super::{Validator, values};

/// Most queues each way (memif has 256 rings per direction).
const MAX_QUEUES: u32 = 256;
/// Largest ring, as log2 (16384 slots).
const MAX_RING_SIZE: u32 = 14;
/// Largest packet buffer (DPDK's `bsize` limit).
const MAX_BUFFER_SIZE: u32 = 65535;
/// Bytes of a ring header and of one descriptor.
const RING_HEADER_BYTES: u64 = 128;
const DESC_BYTES: u64 = 16;
/// Descriptor offsets are 32-bit: a region holds at most this many bytes.
const MAX_REGION_BYTES: u64 = u32::MAX as u64;
/// Longest secret (memif's secret field).
const MAX_SECRET: usize = 24;
/// The permission bits a socket file may have.
const PERMISSION_BITS: u32 = 0o777;

impl Validator {
    /// The memif interface `raw`, named `name` when its name is valid.
    pub(super) fn memif(
        &mut self,
        at: &str,
        raw: &InterfaceSection,
        name: Option<&str>,
    ) -> Option<MemifConfig> {
        if raw.host_interface.is_some() {
            self.problem(
                format!("{at}.host_interface"),
                "a memif interface has no kernel interface; remove host_interface".to_owned(),
            );
        }
        if raw.netns.is_some() {
            self.problem(
                format!("{at}.netns"),
                "a memif socket is a file (mount its directory into the pod) or an abstract name in the daemon's network namespace; remove netns".to_owned(),
            );
        }
        let role = raw.role.unwrap_or(MemifRoleName::Server);
        let socket = match &raw.socket {
            Some(text) => self.check(format!("{at}.socket"), values::memif_socket(text)),
            None => name.map(default_socket),
        };
        let id = raw.id.unwrap_or(0);
        if let Some(socket) = &socket {
            self.claim_memif_socket(at, role, socket, id);
        }
        let secret = match &raw.secret {
            Some(secret) => self.check(format!("{at}.secret"), check_secret(secret).map(Some)),
            None => Some(None),
        };
        if let Some(mode) = raw.mode.filter(|&mode| mode != MemifMode::Ethernet) {
            let written = if mode == MemifMode::Ip {
                "ip"
            } else {
                "punt-inject"
            };
            self.problem(
                format!("{at}.mode"),
                format!(
                    "{written:?} is not supported: the switch exchanges Ethernet frames on memif; use mode = \"ethernet\" (the default) on both ends"
                ),
            );
        }
        let queues = self.in_range(
            format!("{at}.queues"),
            raw.queues,
            DEFAULT_MEMIF_QUEUES.into(),
            1..=MAX_QUEUES,
            "queues each way (memif has 256 rings per direction)",
        );
        let role = match role {
            MemifRoleName::Server => self.memif_server(at, raw, socket.as_ref()),
            MemifRoleName::Client => self.memif_client(at, raw, queues),
        };
        Some(MemifConfig {
            socket: socket?,
            id,
            secret: secret?,
            // At most MAX_QUEUES, which fits.
            queues: u16::try_from(queues?).ok()?,
            role: role?,
        })
    }

    /// The keys of a memif interface refused on another kind.
    pub(super) fn refuse_memif_keys(&mut self, at: &str, raw: &InterfaceSection) {
        let memif_keys = [
            ("socket", raw.socket.is_some()),
            ("role", raw.role.is_some()),
            ("id", raw.id.is_some()),
            ("secret", raw.secret.is_some()),
            ("mode", raw.mode.is_some()),
            ("queues", raw.queues.is_some()),
            ("ring_size", raw.ring_size.is_some()),
            ("buffer_size", raw.buffer_size.is_some()),
            ("socket_owner", raw.socket_owner.is_some()),
            ("socket_mode", raw.socket_mode.is_some()),
            (
                "allow_unsealed_regions",
                raw.allow_unsealed_regions.is_some(),
            ),
        ];
        for (key, _) in memif_keys.into_iter().filter(|&(_, given)| given) {
            self.problem(
                format!("{at}.{key}"),
                format!(
                    "only a memif interface has {key}, and this one is kind = \"{}\"; remove it or set kind = \"memif\"",
                    raw.kind
                ),
            );
        }
    }

    /// The switch serves the socket: it decides who may connect and whose memory it maps; the
    /// client decides the ring and buffer sizes.
    fn memif_server(
        &mut self,
        at: &str,
        raw: &InterfaceSection,
        socket: Option<&MemifSocket>,
    ) -> Option<MemifRole> {
        for (key, given) in [
            ("ring_size", raw.ring_size.is_some()),
            ("buffer_size", raw.buffer_size.is_some()),
        ] {
            if given {
                self.problem(
                    format!("{at}.{key}"),
                    format!(
                        "the memif client creates the shared memory and so chooses {key}; remove it, or set role = \"client\""
                    ),
                );
            }
        }
        let access = match socket {
            Some(MemifSocket::Path(_)) => self.socket_access(at, raw).map(Some),
            Some(MemifSocket::Abstract(_)) => {
                self.refuse_socket_access(
                    at,
                    raw,
                    "an abstract socket has no file and so no permissions; remove it, or give socket a path",
                );
                Some(None)
            }
            // The socket is bad, already reported.
            None => None,
        };
        Some(MemifRole::Server {
            access: access?,
            allow_unsealed_regions: raw.allow_unsealed_regions.unwrap_or(false),
        })
    }

    /// The switch connects: it creates the shared memory, so it chooses the ring and buffer
    /// sizes; the server decides the rest.
    fn memif_client(
        &mut self,
        at: &str,
        raw: &InterfaceSection,
        queues: Option<u32>,
    ) -> Option<MemifRole> {
        self.refuse_socket_access(
            at,
            raw,
            "the memif server creates the socket and sets who may use it; remove it, or set role = \"server\"",
        );
        if raw.allow_unsealed_regions.is_some() {
            self.problem(
                format!("{at}.allow_unsealed_regions"),
                "only a memif server maps its peer's memory; remove it, or set role = \"server\""
                    .to_owned(),
            );
        }
        let ring_size = self.in_range(
            format!("{at}.ring_size"),
            raw.ring_size,
            DEFAULT_MEMIF_RING_SIZE.into(),
            1..=MAX_RING_SIZE,
            "as log2 of the slots per ring (2 to 16384 slots)",
        );
        let buffer_size = self.in_range(
            format!("{at}.buffer_size"),
            raw.buffer_size,
            DEFAULT_MEMIF_BUFFER_SIZE,
            1..=MAX_BUFFER_SIZE,
            "bytes per packet buffer",
        );
        let (ring_size, buffer_size) = (ring_size?, buffer_size?);
        if let Some(queues) = queues {
            let bytes = region_bytes(queues, ring_size, buffer_size);
            if bytes > MAX_REGION_BYTES {
                self.problem(
                    format!("{at}.buffer_size"),
                    format!(
                        "{queues} queues × 2 directions × {} slots × {buffer_size} bytes need {bytes} bytes of shared memory, more than the 4 GiB a memif region can address; lower queues, ring_size or buffer_size",
                        1u32 << ring_size
                    ),
                );
                return None;
            }
        }
        Some(MemifRole::Client {
            // At most MAX_RING_SIZE, which fits.
            ring_size: u8::try_from(ring_size).ok()?,
            buffer_size,
        })
    }

    /// `socket_mode` and `socket_owner` of a server's socket file.
    fn socket_access(&mut self, at: &str, raw: &InterfaceSection) -> Option<SocketAccess> {
        let mode = raw.socket_mode.unwrap_or(DEFAULT_MEMIF_SOCKET_MODE);
        if mode & !PERMISSION_BITS != 0 {
            self.problem(
                format!("{at}.socket_mode"),
                format!(
                    "{mode:#o} has bits beyond the permission bits; give 0o000 to 0o777, e.g. 0o600 (the default) or 0o660"
                ),
            );
            return None;
        }
        let (uid, gid) = match &raw.socket_owner {
            None => (None, None),
            Some(SocketOwnerSection {
                uid: None,
                gid: None,
            }) => {
                self.problem(
                    format!("{at}.socket_owner"),
                    "names no owner; give uid, gid or both, e.g. { uid = 1000, gid = 1000 }"
                        .to_owned(),
                );
                return None;
            }
            Some(owner) => (owner.uid, owner.gid),
        };
        Some(SocketAccess { mode, uid, gid })
    }

    /// Refuses `socket_mode` and `socket_owner` where the switch makes no socket file.
    fn refuse_socket_access(&mut self, at: &str, raw: &InterfaceSection, why: &str) {
        for (key, given) in [
            ("socket_mode", raw.socket_mode.is_some()),
            ("socket_owner", raw.socket_owner.is_some()),
        ] {
            if given {
                self.problem(format!("{at}.{key}"), why.to_owned());
            }
        }
    }

    /// One interface per server socket (it is mounted into one pod); one client per socket and
    /// id (a server serves an id to one client at a time).
    fn claim_memif_socket(&mut self, at: &str, role: MemifRoleName, socket: &MemifSocket, id: u32) {
        let field = format!("{at}.socket");
        match role {
            MemifRoleName::Server => self.unique(
                |v| &mut v.memif_servers,
                socket.clone(),
                &field,
                |first| {
                    format!(
                        "{socket} is already served by {first}; give each memif server interface a socket of its own"
                    )
                },
            ),
            MemifRoleName::Client => self.unique(
                |v| &mut v.memif_clients,
                (socket.clone(), id),
                &field,
                |first| {
                    format!(
                        "{first} already connects to id {id} on {socket}; a server serves an id to one client at a time"
                    )
                },
            ),
        }
    }

    /// `value` (or `default` when absent) if it lies in `range`, else a problem saying what
    /// the number counts (`unit`).
    fn in_range(
        &mut self,
        field: String,
        value: Option<u32>,
        default: u32,
        range: std::ops::RangeInclusive<u32>,
        unit: &str,
    ) -> Option<u32> {
        let value = value.unwrap_or(default);
        let checked = if range.contains(&value) {
            Ok(value)
        } else {
            Err(format!(
                "{value} is out of range; give {} to {} {unit} (default {default})",
                range.start(),
                range.end()
            ))
        };
        self.check(field, checked)
    }
}

/// The default socket of the memif interface `name`: a directory of its own, to mount into
/// the one pod that uses it.
fn default_socket(name: &str) -> MemifSocket {
    MemifSocket::Path(
        Path::new(DEFAULT_MEMIF_SOCKET_DIR)
            .join(name)
            .join(DEFAULT_MEMIF_SOCKET_FILE),
    )
}

fn check_secret(secret: &str) -> Result<String, String> {
    if secret.is_empty() || secret.len() > MAX_SECRET || secret.contains('\0') {
        Err(format!(
            "the secret is {} bytes long; memif carries 1 to {MAX_SECRET} bytes without NUL (remove it for no secret)",
            secret.len()
        ))
    } else {
        Ok(secret.to_owned())
    }
}

/// Bytes of the one region a client creates in the copy layout: the rings of both directions,
/// then a buffer per slot.
fn region_bytes(queues: u32, ring_size: u32, buffer_size: u32) -> u64 {
    let rings = 2 * u64::from(queues);
    let slots = 1u64 << ring_size;
    rings * (RING_HEADER_BYTES + DESC_BYTES * slots) + rings * slots * u64::from(buffer_size)
}
