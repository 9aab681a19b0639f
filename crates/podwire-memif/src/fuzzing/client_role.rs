//! We play the client: a hostile server's messages go to a
//! [`ClientHandshake`]; its HELLO makes us create memory with the setup
//! code a real client runs, and its CONNECTED brings our interface up.

use super::peer::PeerMemory;
use super::script::Setup;
use super::{Progress, Violation, peer_info, refusal_reason};
use crate::connection::{ClientMemory, InterfaceConfig, SetupError};
use crate::handshake::client::{ClientHandshake, ClientParams, ClientStep, Outgoing};
use crate::msg::{Hello, Message, Name, Secret};

/// Our client's handshake, the memory it created, and where the valid
/// server the peer can play has got to.
#[derive(Debug)]
pub(super) struct ClientRole {
    /// `None` once connected: the interface took its resources.
    handshake: Option<ClientHandshake>,
    config: InterfaceConfig,
    /// Created when HELLO is accepted.
    memory: Option<ClientMemory>,
    hello_accepted: bool,
    connect_sent: bool,
}

impl ClientRole {
    /// A client of interface `setup.id` whose memory has the setup's
    /// shape (rings wanted, ring and buffer sizes, placement), or why the
    /// handshake cannot even start.
    pub fn new(setup: &Setup) -> Result<ClientRole, String> {
        let config = InterfaceConfig {
            tx_queues: setup.c2s,
            rx_queues: setup.s2c,
            log2_ring_size: setup.log2_ring_size,
            buffer_size: setup.buffer_size,
            buffer_placement: setup.placement,
            max_frame: setup.max_frame,
            polling: setup.polling,
            ..InterfaceConfig::new(setup.id)
        };
        let params = ClientParams {
            id: config.id,
            mode: config.mode,
            secret: Secret::from(config.secret.as_deref().unwrap_or_default()),
            name: Name::from("podwire-fuzz"),
            if_name: Name::from(config.name.as_str()),
            c2s_rings: config.tx_queues,
            s2c_rings: config.rx_queues,
            log2_ring_size: config.log2_ring_size,
        };
        let handshake = ClientHandshake::new(params).map_err(|e| e.to_string())?;
        Ok(ClientRole {
            handshake: Some(handshake),
            config,
            memory: None,
            hello_accepted: false,
            connect_sent: false,
        })
    }

    /// The valid server's next message: HELLO, an ACK for each of ours,
    /// CONNECTED for our CONNECT.
    pub fn next_valid(&self) -> Message {
        if !self.hello_accepted {
            Message::Hello(Hello::new(Name::from("hostile-peer")))
        } else if self.connect_sent {
            Message::Connected {
                if_name: Name::from("hostile0"),
            }
        } else {
            Message::Ack
        }
    }

    /// Takes one message from the server; "sends" our answer to the peer
    /// (which maps the regions it is handed); on CONNECTED builds the
    /// interface as a real client does.
    pub fn receive(&mut self, msg: Message, peer: &mut PeerMemory) -> Result<Progress, Violation> {
        let Some(handshake) = self.handshake.as_mut() else {
            return Ok(Progress::Ended("the handshake is over".into()));
        };
        let outgoing = match handshake.on_message(msg) {
            Ok(ClientStep::Send(outgoing)) => outgoing,
            Ok(ClientStep::Negotiated(negotiated)) => {
                self.hello_accepted = true;
                let (memory, regions, rings) = match ClientMemory::create(&self.config, &negotiated)
                {
                    Ok(created) => created,
                    Err(error) => return Ok(Progress::Ended(error.to_string())),
                };
                self.memory = Some(memory);
                match handshake.provide(regions, rings) {
                    Ok(outgoing) => outgoing,
                    Err(error) => return Ok(Progress::Ended(SetupError::from(error).to_string())),
                }
            }
            Ok(ClientStep::Connected { .. }) => return Ok(self.connect()),
            Err(refusal) => return refusal_reason(&refusal).map(Progress::Ended),
        };
        self.connect_sent |= deliver(&outgoing, peer);
        Ok(Progress::Going)
    }

    /// CONNECTED: our interface, on the memory created at HELLO.
    fn connect(&mut self) -> Progress {
        let (Some(handshake), Some(memory)) = (self.handshake.take(), self.memory.take()) else {
            return Progress::Ended("CONNECTED before HELLO".into());
        };
        let (_regions, ring_fds) = handshake.into_resources();
        let rings = ring_fds.iter().map(|(spec, _)| *spec).collect();
        match memory.into_interface(&self.config, ring_fds, peer_info()) {
            Ok(interface) => Progress::Connected { interface, rings },
            Err(error) => Progress::Ended(error.to_string()),
        }
    }
}

/// Hands our message to the peer: it maps each region it is given and
/// notes each ring. Returns whether the message was CONNECT.
fn deliver(outgoing: &Outgoing<'_>, peer: &mut PeerMemory) -> bool {
    match outgoing.msg {
        Message::AddRegion(spec) => match outgoing.fd {
            Some(fd) => peer.map_region(fd, spec.size),
            None => peer.add_region(None),
        },
        Message::AddRing { ring, .. } => peer.add_ring(ring),
        Message::Connect { .. } => return true,
        _ => {}
    }
    false
}
