//! An existing kernel interface as a switch port (a node's uplink): AF_PACKET sockets, one
//! per worker, or an AF_XDP socket, with AF_PACKET in its place when the kernel or the
//! driver refuses AF_XDP.
//!
//! AF_XDP serves one queue of the interface, so one worker polls it; with several workers,
//! the flows it receives that another worker owns are handed over by steering, as for any
//! single-queue port, and every worker sends through it in turn (see
//! [`podwire_io::af_xdp::AfXdpTx`]). AF_PACKET spreads the frames over every worker (fanout).

use std::sync::Arc;

use podwire_dataplane::interface::TxOffloads;
use podwire_io::af_packet::AfPacket;
use podwire_io::af_xdp::{AfXdp, AfXdpConfig, AfXdpMode, AfXdpRx, AfXdpTx, XdpMode};
use podwire_io::netns::NetNs;
use podwire_io::worker::{AfPacketRx, RxPort, TxPort};
use podwire_model::config::XdpInterface;

use super::NodeError;

/// What `show interfaces` calls an uplink attached with AF_PACKET after AF_XDP was refused.
const AF_PACKET_FALLBACK: &str = "af-packet (af-xdp refused)";
/// Room for an Ethernet header and a VLAN tag on top of the MTU.
const ETHERNET_OVERHEAD: usize = 18;

/// The two sides of an uplink and the driver they got.
pub(super) struct UplinkPorts {
    /// One receive queue, or one per worker.
    pub rx: Vec<Box<dyn RxPort>>,
    pub tx: Arc<dyn TxPort>,
    /// The driver, as `show interfaces` names it: `af-packet`, `af-xdp native`, ….
    pub driver: &'static str,
    /// What the device finishes for packets sent on it.
    pub offloads: TxOffloads,
}

/// The interface `host_if` of `ns`, podwire's `name`, with AF_PACKET: a socket for each of
/// `workers`, sharing the frames by flow.
pub(super) fn af_packet(
    ns: &NetNs,
    name: &str,
    host_if: &str,
    workers: usize,
) -> Result<UplinkPorts, NodeError> {
    let ifname = host_if.to_owned();
    let (sender, sockets) = ns
        .run_in(move || AfPacket::open_fanout(&ifname, &Default::default(), workers))
        .map_err(|source| in_ns(name, source))?
        .and_then(|sockets| Ok((sockets[0].sender()?, sockets)))
        .map_err(|source| NodeError::AfPacket {
            name: name.to_owned(),
            host_interface: host_if.to_owned(),
            source,
        })?;
    Ok(UplinkPorts {
        rx: sockets
            .into_iter()
            .map(|socket| Box::new(AfPacketRx(socket)) as Box<dyn RxPort>)
            .collect(),
        // The kernel finishes what the sender's virtio-net header asks for, on any interface.
        offloads: sender.offloads(),
        tx: Arc::new(sender),
        driver: "af-packet",
    })
}

/// The interface `xdp` of `ns`, podwire's `name`, whose MTU is `mtu`, with AF_XDP on its
/// queue; with AF_PACKET (for `workers`) when the kernel or the driver refuses, after one
/// warning that says which step failed and why.
pub(super) fn af_xdp_or_packet(
    ns: &NetNs,
    name: &str,
    xdp: &XdpInterface,
    mtu: u16,
    workers: usize,
) -> Result<UplinkPorts, NodeError> {
    let host_if = xdp.kernel.name.as_str();
    let refused = match AfXdpConfig::for_frames(usize::from(mtu) + ETHERNET_OVERHEAD) {
        Err(refused) => refused,
        Ok(config) => {
            let (ifname, queue) = (host_if.to_owned(), xdp.queue);
            let opened = ns
                .run_in(move || AfXdp::open(&ifname, queue, &config))
                .map_err(|source| in_ns(name, source))?;
            match opened {
                Ok(port) => return Ok(af_xdp_ports(port)),
                Err(refused) => refused,
            }
        }
    };
    tracing::warn!(
        "interface {name}: AF_XDP refused on {host_if}: {refused}; falling back to AF_PACKET"
    );
    let mut ports = af_packet(ns, name, host_if, workers)?;
    ports.driver = AF_PACKET_FALLBACK;
    Ok(ports)
}

/// The worker's and the senders' sides of `port`.
fn af_xdp_ports(port: AfXdp) -> UplinkPorts {
    let (receiver, sender) = port.split();
    let driver = driver_name(receiver.mode());
    UplinkPorts {
        rx: vec![Box::new(AfXdpRx::new(receiver))],
        tx: Arc::new(AfXdpTx::new(sender)),
        driver,
        // An AF_XDP frame goes out as it is: no header to ask the driver for more.
        offloads: TxOffloads::default(),
    }
}

/// How `show interfaces` names an AF_XDP port attached in `mode`.
fn driver_name(mode: AfXdpMode) -> &'static str {
    match (mode.xdp, mode.zero_copy) {
        (XdpMode::Native, true) => "af-xdp native zero-copy",
        (XdpMode::Native, false) => "af-xdp native",
        (XdpMode::Generic, _) => "af-xdp generic",
    }
}

/// A namespace error of interface `name`.
pub(super) fn in_ns(name: &str, source: podwire_io::netns::Error) -> NodeError {
    NodeError::Netns {
        what: format!("interface {name}"),
        path: "its namespace".into(),
        source,
    }
}
