//! The kernel side of an attachment: the pod's interface in its namespace (a persistent tap, or
//! a veth whose host end the switch attaches with AF_PACKET), its addresses and routes; and the
//! checks and removal of the same.
//!
//! Every namespace change happens on a dedicated thread ([`NetNs::run_in`]), never on a tokio
//! worker. A wiring that fails half-way removes what it made before it returns.

use std::net::IpAddr;
use std::sync::Arc;

use podwire_dataplane::interface::TxOffloads;
use podwire_io::af_packet::AfPacket;
use podwire_io::netlink::{self, Netlink, Route};
use podwire_io::netns::{self, NetNs};
use podwire_io::sysctl;
use podwire_io::tap::{self, Tap, TapOptions};
use podwire_io::worker::{AfPacketRx, RxPort, TapPort, TapQueues, TxPort};
use podwire_model::attach::{Attachment, AttachmentKind};
use podwire_wire::ethernet::EthernetAddress;

/// Why the kernel side of an attachment could not be made, checked or removed.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// The pod's namespace could not be opened or entered.
    #[error("network namespace {path}: {source}")]
    Netns {
        /// Its path.
        path: String,
        /// Why.
        source: netns::Error,
    },
    /// The tap could not be made or reopened.
    #[error("{0}")]
    Tap(#[from] tap::Error),
    /// The kernel refused a link, address or route change.
    #[error("{0}")]
    Netlink(#[from] netlink::Error),
    /// A per-interface setting could not be written.
    #[error("{0}")]
    Sysctl(#[from] sysctl::Error),
    /// The veth's host end could not be attached with AF_PACKET.
    #[error("attaching {interface} with AF_PACKET: {source}")]
    AfPacket {
        /// The host end.
        interface: String,
        /// Why.
        source: podwire_io::af_packet::Error,
    },
    /// What CHECK found missing.
    #[error("{0}")]
    Missing(String),
}

/// The switch's two sides of a kernel attachment, to hand to the workers.
pub struct KernelPort {
    /// Its receive queues: one, polled by one worker; or one per worker (a multi-queue tap).
    pub rx: Vec<Box<dyn RxPort>>,
    /// Sent on by every worker.
    pub tx: Arc<dyn TxPort>,
    /// What the device finishes for packets sent on it (a tap: what the kernel accepted).
    pub offloads: TxOffloads,
}

/// What a tap of the switch is offered: checksums and segmentation of TCP over both families
/// and of UDP, so that a TCP stream crosses the switch in 64 KiB segments.
const TAP_OFFLOADS: TxOffloads = TxOffloads {
    csum: true,
    tso4: true,
    tso6: true,
    uso: true,
};

/// How a tap the switch offloads to is opened (a pod's, the host's, an interface of
/// `kind = "tap"`): with the virtio-net header, which carries the offloads.
pub(in crate::node) fn offload_tap_options(persist: bool, exclusive: bool) -> TapOptions {
    let mut options = TapOptions::default();
    options.persist = persist;
    options.exclusive = exclusive;
    options.vnet_hdr = true;
    options
}

/// Offers a tap opened with [`offload_tap_options`] the offloads; what it accepted. A kernel that
/// refuses them all leaves the tap working without (every packet finished in software), with
/// a warning.
pub(in crate::node) fn offer_offloads(tap: &Tap) -> TxOffloads {
    match tap.set_offload(TAP_OFFLOADS) {
        Ok(accepted) => {
            if accepted != TAP_OFFLOADS {
                tracing::debug!(
                    tap = tap.name(),
                    ?accepted,
                    "the kernel took some offloads only"
                );
            }
            accepted
        }
        Err(e) => {
            tracing::warn!("{e}; what the switch sends to it is checksummed and cut in software");
            TxOffloads::default()
        }
    }
}

/// Makes the pod's interface (tap or veth) with its MAC, MTU, addresses and routes, and opens
/// the switch's end: a tap with `queues` queues (one per worker; multi-queue when more than
/// one). On failure, removes what it made.
pub async fn wire(
    ns: &NetNs,
    attachment: &Attachment,
    queues: usize,
    switch_mac: EthernetAddress,
) -> Result<KernelPort, KernelError> {
    let inside = Netlink::connect_in(ns)?;
    let made = make_link(ns, &inside, attachment, queues).await;
    let port = match made {
        Ok(port) => port,
        Err(e) => {
            // The persistent tap or the veth outlives its descriptors: delete it.
            let _ = unwire(Some(ns), attachment).await;
            return Err(e);
        }
    };
    if let Err(e) = configure(ns, &inside, attachment, switch_mac).await {
        let _ = unwire(Some(ns), attachment).await;
        return Err(e);
    }
    Ok(port)
}

/// Reopens the switch's end of an interface a previous agent made, after a restart, a tap
/// with up to `queues` queues (as [`wire`]). `None` when the interface is gone (someone
/// deleted it, or the namespace went away).
pub async fn reopen(
    ns: &NetNs,
    attachment: &Attachment,
    queues: usize,
    switch_mac: EthernetAddress,
) -> Result<Option<KernelPort>, KernelError> {
    let inside = Netlink::connect_in(ns)?;
    if inside.link_index(&attachment.key.ifname).await?.is_none() {
        return Ok(None);
    }
    // A pod wired by an older agent has no such entries yet.
    pin_gateways(&inside, attachment, switch_mac).await?;
    match attachment.kind {
        AttachmentKind::Tap => {
            let name = attachment.key.ifname.clone();
            // Not exclusive: attaching to the existing persistent tap is the point. A tap an
            // older podwire made without the virtio-net header gets it now (Tap::create_with).
            let options = offload_tap_options(true, false);
            let taps = run_in(ns, move || reopen_queues(&name, options, queues))??;
            Ok(Some(tap_port(taps)))
        }
        AttachmentKind::Veth => {
            let host = host_end(attachment);
            let nl = Netlink::connect()?;
            if nl.link_index(host).await?.is_none() {
                return Ok(None);
            }
            open_af_packet(host, queues).map(Some)
        }
        AttachmentKind::Memif => Ok(None),
    }
}

/// Removes the pod's interface: the tap in the pod's namespace (when the namespace is still
/// there), or the veth from its host end (which takes the pod's end with it). Gone already is
/// not an error.
pub async fn unwire(ns: Option<&NetNs>, attachment: &Attachment) -> Result<(), KernelError> {
    match attachment.kind {
        AttachmentKind::Tap => {
            if let Some(ns) = ns {
                Netlink::connect_in(ns)?
                    .delete_link(&attachment.key.ifname)
                    .await?;
            }
        }
        AttachmentKind::Veth => {
            Netlink::connect()?
                .delete_link(host_end(attachment))
                .await?;
        }
        AttachmentKind::Memif => {}
    }
    Ok(())
}

/// Whether the pod's interface is still there with every address ADD gave it.
pub async fn check(ns: &NetNs, attachment: &Attachment) -> Result<(), KernelError> {
    let inside = Netlink::connect_in(ns)?;
    let ifname = &attachment.key.ifname;
    if inside.link_index(ifname).await?.is_none() {
        return Err(KernelError::Missing(format!(
            "interface {ifname} is not in network namespace {}",
            attachment.netns.display()
        )));
    }
    let present = inside.addresses(ifname).await?;
    for address in &attachment.addresses {
        if !present.contains(&(address.addr(), address.prefix_len())) {
            return Err(KernelError::Missing(format!(
                "interface {ifname} lacks its address {address}"
            )));
        }
    }
    if attachment.kind == AttachmentKind::Veth {
        let host = host_end(attachment);
        if Netlink::connect()?.link_index(host).await?.is_none() {
            return Err(KernelError::Missing(format!(
                "the host end {host} of {ifname}'s veth is gone"
            )));
        }
    }
    Ok(())
}

/// Creates the interface and opens the switch's end (a tap with `queues` queues).
async fn make_link(
    ns: &NetNs,
    inside: &Netlink,
    attachment: &Attachment,
    queues: usize,
) -> Result<KernelPort, KernelError> {
    let ifname = attachment.key.ifname.clone();
    match attachment.kind {
        AttachmentKind::Tap => {
            let mut options = offload_tap_options(true, true);
            options.multi_queue = queues > 1;
            let taps = run_in(ns, move || open_queues(&ifname, &options, queues))??;
            Ok(tap_port(taps))
        }
        AttachmentKind::Veth => {
            let host = host_end(attachment);
            inside.create_veth(&ifname, host).await?;
            let here = NetNs::current().map_err(|source| KernelError::Netns {
                path: "the agent's own".into(),
                source,
            })?;
            inside.move_to_netns(host, &here).await?;
            let nl = Netlink::connect()?;
            sysctl::disable_ipv6(&here, host)?;
            nl.set_mtu(host, attachment.mtu).await?;
            nl.set_up(host).await?;
            open_af_packet(host, queues)
        }
        AttachmentKind::Memif => unreachable!("memif attachments have no kernel interface"),
    }
}

/// Gives the pod's interface its MAC, MTU, addresses and routes, and brings it up.
async fn configure(
    ns: &NetNs,
    inside: &Netlink,
    attachment: &Attachment,
    switch_mac: EthernetAddress,
) -> Result<(), KernelError> {
    let ifname = attachment.key.ifname.as_str();
    if let Some(mac) = super::plan::pod_mac(attachment) {
        inside.set_mac(ifname, mac.0).await?;
    }
    inside.set_mtu(ifname, attachment.mtu).await?;
    if attachment.addresses.iter().any(|a| a.addr().is_ipv6()) {
        // IPAM hands out each address once: waiting for DAD would only delay the pod.
        sysctl::disable_ipv6_dad(ns, ifname)?;
    }
    inside.set_up("lo").await?;
    inside.set_up(ifname).await?;
    for address in &attachment.addresses {
        inside
            .add_address(ifname, address.addr(), address.prefix_len())
            .await?;
    }
    for route in &attachment.routes {
        let mut r = Route::new(route.dst.addr(), route.dst.prefix_len());
        r.gateway = route.gateway;
        r.dev = Some(ifname);
        // The IPv4 gateway is link-local and outside the pod's /32: trust it is on the link.
        r.onlink = matches!(route.gateway, Some(IpAddr::V4(_)));
        inside.add_route(&r).await?;
    }
    pin_gateways(inside, attachment, switch_mac).await
}

/// Tells the pod's kernel, once and for good, that its gateways are at the switch's MAC
/// (`switch_mac`), as Calico does: a learned entry would die with the link's carrier when
/// the agent restarts (the tap goes down with its last descriptor), and the kernel asks
/// again only a second later, stalling every connection of the pod that long.
async fn pin_gateways(
    inside: &Netlink,
    attachment: &Attachment,
    switch_mac: EthernetAddress,
) -> Result<(), KernelError> {
    let mut gateways: Vec<IpAddr> = attachment.routes.iter().filter_map(|r| r.gateway).collect();
    gateways.sort();
    gateways.dedup();
    for gateway in gateways {
        inside
            .add_neighbor(&attachment.key.ifname, gateway, switch_mac.0)
            .await?;
    }
    Ok(())
}

/// Makes or attaches to the tap `name` with `options`, and opens its other queues up to
/// `queues` when it is multi-queue.
fn open_queues(name: &str, options: &TapOptions, queues: usize) -> Result<Vec<Tap>, tap::Error> {
    let first = Tap::create_with(name, options)?;
    let mut taps = Vec::with_capacity(queues);
    if options.multi_queue {
        for _ in 1..queues {
            taps.push(first.open_queue()?);
        }
    }
    taps.insert(0, first);
    Ok(taps)
}

/// Attaches to the persistent tap `name` as [`open_queues`] would make it for `queues`;
/// a tap an agent with another number of workers made (multi-queue or not, which the kernel
/// does not change on attach) is taken as it is.
fn reopen_queues(
    name: &str,
    mut options: TapOptions,
    queues: usize,
) -> Result<Vec<Tap>, tap::Error> {
    options.multi_queue = queues > 1;
    open_queues(name, &options, queues).or_else(|first| {
        options.multi_queue = !options.multi_queue;
        open_queues(name, &options, queues).map_err(|_| first)
    })
}

/// The switch's end of a pod's tap: each queue read by one worker; written by each worker
/// through its own queue when there are several (see [`TapQueues`]).
fn tap_port(taps: Vec<Tap>) -> KernelPort {
    let offloads = taps.first().map(offer_offloads).unwrap_or_default();
    let taps: Vec<Arc<Tap>> = taps.into_iter().map(Arc::new).collect();
    let rx = taps
        .iter()
        .map(|tap| Box::new(TapPort::new(tap.clone())) as Box<dyn RxPort>)
        .collect();
    let tx: Arc<dyn TxPort> = match &taps[..] {
        [one] => one.clone(),
        _ => Arc::new(TapQueues::new(taps).expect("a tap has a queue")),
    };
    KernelPort { rx, tx, offloads }
}

/// The switch's end of a veth: a socket per worker (`queues`) sharing its frames by flow.
fn open_af_packet(host: &str, queues: usize) -> Result<KernelPort, KernelError> {
    let failed = |source| KernelError::AfPacket {
        interface: host.to_owned(),
        source,
    };
    let sockets = AfPacket::open_fanout(host, &Default::default(), queues).map_err(failed)?;
    let sender = sockets[0].sender().map_err(failed)?;
    Ok(KernelPort {
        rx: sockets
            .into_iter()
            .map(|socket| Box::new(AfPacketRx(socket)) as Box<dyn RxPort>)
            .collect(),
        tx: Arc::new(sender),
        offloads: TxOffloads::default(),
    })
}

fn host_end(attachment: &Attachment) -> &str {
    attachment
        .host_interface
        .as_deref()
        .unwrap_or(attachment.key.ifname.as_str())
}

fn run_in<R: Send>(ns: &NetNs, f: impl FnOnce() -> R + Send) -> Result<R, KernelError> {
    ns.run_in(f).map_err(|source| KernelError::Netns {
        path: "the pod's".into(),
        source,
    })
}
