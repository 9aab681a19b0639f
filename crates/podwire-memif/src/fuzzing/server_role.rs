//! We play the server: a hostile client's messages go to a
//! [`ServerHandshake`] with a fixed interface lookup, and its CONNECT to
//! the setup code a real server runs (mapping, ring checks, queues).

use std::os::fd::OwnedFd;

use super::peer::{Attachment, PeerMemory};
use super::script::Setup;
use super::{Progress, Violation, peer_info, refusal_reason};
use crate::connection::{InterfaceConfig, server_interface};
use crate::handshake::Refusal;
use crate::handshake::server::{ServerHandshake, ServerInterface, ServerStep};
use crate::msg::{Hello, Init, Message, Name, Secret};
use crate::shm::{Layout, SealPolicy};
use crate::types::{Direction, MAX_LOG2_RING_SIZE, Mode, VERSION};

/// What the valid client has had accepted so far.
#[derive(Debug, Default)]
struct Accepted {
    init: bool,
    regions: usize,
    c2s: u16,
    s2c: u16,
}

/// Our server's handshake and the valid client the peer can play.
#[derive(Debug)]
pub(super) struct ServerRole {
    handshake: ServerHandshake,
    /// Interfaces 0 and 1.
    configs: [InterfaceConfig; 2],
    /// The interface the valid INIT names.
    id: u32,
    /// The valid client's memory, `None` if the setup's shape cannot be
    /// laid out.
    layout: Option<Layout>,
    /// The valid client's region files, made at its first ADD_REGION.
    region_fds: Vec<OwnedFd>,
    accepted: Accepted,
}

impl ServerRole {
    /// Interface 0: ethernet, no secret, two queues each way. Interface 1:
    /// ip, secret `"fuzz"`, one queue each way. Both take the setup's max
    /// frame, polling mode and seal policy. Id 2 is refused as already
    /// connected, others as unknown.
    pub fn new(setup: &Setup) -> ServerRole {
        let config = |config: InterfaceConfig| InterfaceConfig {
            max_frame: setup.max_frame,
            polling: setup.polling,
            seal_policy: if setup.allow_unsealed {
                SealPolicy::AllowUnsealed
            } else {
                SealPolicy::RequireShrinkSeal
            },
            ..config
        };
        let configs = [
            config(InterfaceConfig {
                rx_queues: 2,
                tx_queues: 2,
                ..InterfaceConfig::new(0)
            }),
            config(InterfaceConfig {
                mode: Mode::Ip,
                secret: Some("fuzz".into()),
                ..InterfaceConfig::new(1)
            }),
        ];
        let layout = Layout::new(
            setup.placement,
            setup.c2s,
            setup.s2c,
            setup.log2_ring_size,
            setup.buffer_size,
        );
        ServerRole {
            handshake: ServerHandshake::new(Hello::new(Name::from("podwire-fuzz"))).0,
            configs,
            id: setup.id,
            layout: layout.ok(),
            region_fds: Vec::new(),
            accepted: Accepted::default(),
        }
    }

    /// The valid client's next message, from what was accepted so far,
    /// with the fd it carries.
    pub fn next_valid(&mut self) -> (Message, Attachment) {
        let none = Attachment::default;
        if !self.accepted.init {
            let config = self.config(self.id);
            let init = Init {
                version: VERSION,
                id: self.id,
                mode: config.map_or(Mode::Ethernet, |c| c.mode),
                secret: Secret::from(config.and_then(|c| c.secret.as_deref()).unwrap_or("")),
                name: Name::from("hostile-peer"),
            };
            return (Message::Init(init), none());
        }
        let connect = (
            Message::Connect {
                if_name: Name::from("hostile0"),
            },
            none(),
        );
        let Some(layout) = self.layout else {
            return connect;
        };
        let regions = layout.regions();
        if let Some(spec) = regions.get(self.accepted.regions) {
            if self.region_fds.is_empty() {
                // The memory the valid client announces; the harness keeps
                // the fds, the peer maps them as they are accepted.
                if let Ok((_, fds)) = layout.create_regions() {
                    self.region_fds = fds;
                }
            }
            let attachment = self
                .region_fds
                .get(usize::from(spec.index))
                .map_or_else(none, |fd| Attachment::memory(fd, spec.size));
            return (Message::AddRegion(*spec), attachment);
        }
        let next_ring = [
            (Direction::C2S, self.accepted.c2s),
            (Direction::S2C, self.accepted.s2c),
        ]
        .into_iter()
        .find_map(|(direction, index)| layout.ring(direction, index));
        match next_ring {
            Some(ring) => (
                Message::AddRing {
                    ring,
                    private_hdr_size: 0,
                },
                Attachment::eventfd(),
            ),
            None => connect,
        }
    }

    /// Takes one message from the client, with its attachment; on CONNECT
    /// builds the interface as a real server does.
    pub fn receive(
        &mut self,
        msg: Message,
        attachment: Attachment,
        peer: &mut PeerMemory,
    ) -> Result<Progress, Violation> {
        let configs = &self.configs;
        let lookup = |id: u32| lookup(configs, id);
        let Attachment { fd, view } = attachment;
        match self.handshake.on_message(msg, fd, &lookup) {
            Ok(ServerStep::Reply(_)) => {
                match msg {
                    Message::Init(_) => self.accepted.init = true,
                    Message::AddRegion(_) => {
                        self.accepted.regions += 1;
                        peer.add_region(view);
                    }
                    Message::AddRing { ring, .. } => {
                        match ring.direction {
                            Direction::C2S => self.accepted.c2s += 1,
                            Direction::S2C => self.accepted.s2c += 1,
                        }
                        peer.add_ring(ring);
                    }
                    _ => {}
                }
                Ok(Progress::Going)
            }
            Ok(ServerStep::Connect(established)) => {
                let rings = established.rings.iter().map(|(spec, _)| *spec).collect();
                let Some(config) = self.config(established.id) else {
                    return Ok(Progress::Ended(format!(
                        "interface {} connected without being looked up",
                        established.id
                    )));
                };
                Ok(match server_interface(established, config, peer_info()) {
                    Ok(interface) => Progress::Connected { interface, rings },
                    Err(error) => Progress::Ended(error.to_string()),
                })
            }
            Err(refusal) => refusal_reason(&refusal).map(Progress::Ended),
        }
    }

    fn config(&self, id: u32) -> Option<&InterfaceConfig> {
        self.configs.get(usize::try_from(id).ok()?)
    }
}

/// The fixed lookup: what a server with `configs` answers for `id`.
fn lookup(configs: &[InterfaceConfig; 2], id: u32) -> Result<ServerInterface, Refusal> {
    if id == 2 {
        return Err(Refusal::AlreadyConnected { id });
    }
    let config = configs
        .iter()
        .find(|config| config.id == id)
        .ok_or(Refusal::UnmatchedId { id })?;
    Ok(ServerInterface {
        mode: config.mode,
        secret: Secret::from(config.secret.as_deref().unwrap_or_default()),
        rx_queues: config.rx_queues,
        tx_queues: config.tx_queues,
        max_log2_ring_size: MAX_LOG2_RING_SIZE,
    })
}
