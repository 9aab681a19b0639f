//! memif interfaces: the config's memif settings turned into a memif port of the switch, and
//! its connection described for `show interfaces`.

use podwire_io::worker::memif::{
    self as port, MemifPort, MemifPortConfig, MemifState, MemifStatus,
};
use podwire_memif::InterfaceConfig as MemifInterface;
use podwire_memif::queue::DEFAULT_MAX_FRAME;
use podwire_memif::shm::{BufferPlacement, SealPolicy};
use podwire_memif::sys::{FileAccess, SocketAddr};
use podwire_memif::types::Mode;
use podwire_model::config::{MemifConfig, MemifRole, MemifSocket};

/// Bytes an Ethernet frame adds to its IP packet (header and a VLAN tag).
const FRAME_OVERHEAD: u32 = 18;

/// The port of the memif interface `name`, whose IP packets are up to `mtu` bytes. A server's
/// socket is bound now, with its permissions; a client connects once its worker runs.
pub(super) fn open(
    name: &str,
    mtu: u16,
    config: &MemifConfig,
) -> Result<MemifPort, port::MemifPortError> {
    let mut interface = MemifInterface {
        mode: Mode::Ethernet,
        secret: config.secret.clone(),
        name: name.to_owned(),
        rx_queues: config.queues,
        tx_queues: config.queues,
        max_frame: DEFAULT_MAX_FRAME.max((u32::from(mtu) + FRAME_OVERHEAD) as usize),
        buffer_placement: BufferPlacement::AfterRings,
        ..MemifInterface::new(config.id)
    };
    let role = match config.role {
        MemifRole::Server {
            access,
            allow_unsealed_regions,
        } => {
            if allow_unsealed_regions {
                interface.seal_policy = SealPolicy::AllowUnsealed;
            }
            port::MemifRole::Server {
                access: access.map(|access| FileAccess {
                    mode: access.mode,
                    uid: access.uid,
                    gid: access.gid,
                }),
            }
        }
        MemifRole::Client {
            ring_size,
            buffer_size,
        } => {
            interface.log2_ring_size = ring_size;
            interface.buffer_size = buffer_size;
            port::MemifRole::Client
        }
    };
    port::open(MemifPortConfig {
        name: name.to_owned(),
        socket: socket_addr(&config.socket),
        role,
        interface,
    })
}

fn socket_addr(socket: &MemifSocket) -> SocketAddr {
    match socket {
        MemifSocket::Path(path) => SocketAddr::Path(path.clone()),
        MemifSocket::Abstract(name) => SocketAddr::Abstract(name.as_bytes().to_vec()),
    }
}

/// A memif interface's connection, as `show interfaces` tells it.
#[derive(Clone, Debug)]
pub struct MemifLink {
    /// `server` or `client`.
    role: &'static str,
    socket: String,
    id: u32,
    status: MemifStatus,
}

impl MemifLink {
    pub(super) fn new(config: &MemifConfig, status: MemifStatus) -> MemifLink {
        let role = match config.role {
            MemifRole::Server { .. } => "server",
            MemifRole::Client { .. } => "client",
        };
        MemifLink {
            role,
            socket: config.socket.to_string(),
            id: config.id,
            status,
        }
    }

    /// Whether a peer is connected, and who, or why not:
    /// `server /run/podwire/memif/cnf0/memif.sock id 0: DPDK 22.11.11 (net_memif0)`.
    pub fn describe(&self) -> (bool, String) {
        let state = self.status.get();
        let place = format!("{} {} id {}", self.role, self.socket, self.id);
        (
            state.peer.is_some(),
            format!("{place}: {}", peer_text(&state)),
        )
    }
}

fn peer_text(state: &MemifState) -> String {
    match (&state.peer, &state.last_error) {
        (Some(peer), _) => format!("{} ({})", peer.name, peer.if_name),
        (None, Some(error)) => format!("not connected ({error})"),
        (None, None) => "not connected".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_is_described_with_the_peer_or_the_last_problem() {
        let mut state = MemifState::default();
        assert_eq!(peer_text(&state), "not connected");
        state.last_error = Some("the peer closed the connection".into());
        assert_eq!(
            peer_text(&state),
            "not connected (the peer closed the connection)"
        );
        state.peer = Some(podwire_memif::PeerInfo {
            name: "DPDK 22.11.11".into(),
            if_name: "net_memif0".into(),
            credentials: None,
        });
        assert_eq!(peer_text(&state), "DPDK 22.11.11 (net_memif0)");
    }

    #[test]
    fn abstract_sockets_keep_their_name() {
        assert_eq!(
            socket_addr(&MemifSocket::Abstract("/run/memif.sock".into())).to_string(),
            "@/run/memif.sock"
        );
    }
}
