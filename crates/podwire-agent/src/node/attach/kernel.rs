//! The kernel side of an attachment: the pod's interface in its namespace (a persistent tap, or
//! a veth whose host end the switch attaches with AF_PACKET), its addresses and routes; and the
//! checks and removal of the same.
//!
//! Every namespace change happens on a dedicated thread ([`NetNs::run_in`]), never on a tokio
//! worker. A wiring that fails half-way removes what it made before it returns.

use std::net::IpAddr;
use std::sync::Arc;

use podwire_io::af_packet::AfPacket;
use podwire_io::netlink::{self, Netlink, Route};
use podwire_io::netns::{self, NetNs};
use podwire_io::sysctl;
use podwire_io::tap::{self, Tap, TapOptions};
use podwire_io::worker::{AfPacketRx, RxPort, TapPort, TxPort};
use podwire_model::attach::{Attachment, AttachmentKind};

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
    /// Polled by one worker.
    pub rx: Box<dyn RxPort>,
    /// Sent on by every worker.
    pub tx: Arc<dyn TxPort>,
}

/// Makes the pod's interface (tap or veth) with its MAC, MTU, addresses and routes, and opens
/// the switch's end. On failure, removes what it made.
pub async fn wire(ns: &NetNs, attachment: &Attachment) -> Result<KernelPort, KernelError> {
    let inside = Netlink::connect_in(ns)?;
    let made = make_link(ns, &inside, attachment).await;
    let port = match made {
        Ok(port) => port,
        Err(e) => {
            // The persistent tap or the veth outlives its descriptors: delete it.
            let _ = unwire(Some(ns), attachment).await;
            return Err(e);
        }
    };
    if let Err(e) = configure(ns, &inside, attachment).await {
        let _ = unwire(Some(ns), attachment).await;
        return Err(e);
    }
    Ok(port)
}

/// Reopens the switch's end of an interface a previous agent made, after a restart. `None`
/// when the interface is gone (someone deleted it, or the namespace went away).
pub async fn reopen(
    ns: &NetNs,
    attachment: &Attachment,
) -> Result<Option<KernelPort>, KernelError> {
    let inside = Netlink::connect_in(ns)?;
    if inside.link_index(&attachment.key.ifname).await?.is_none() {
        return Ok(None);
    }
    match attachment.kind {
        AttachmentKind::Tap => {
            let name = attachment.key.ifname.clone();
            // Not exclusive: attaching to the existing persistent tap is the point.
            let mut options = TapOptions::default();
            options.persist = true;
            let tap = run_in(ns, move || Tap::create_with(&name, &options))??;
            Ok(Some(tap_port(tap)))
        }
        AttachmentKind::Veth => {
            let host = host_end(attachment);
            let nl = Netlink::connect()?;
            if nl.link_index(host).await?.is_none() {
                return Ok(None);
            }
            open_af_packet(host).map(Some)
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

/// Creates the interface and opens the switch's end.
async fn make_link(
    ns: &NetNs,
    inside: &Netlink,
    attachment: &Attachment,
) -> Result<KernelPort, KernelError> {
    let ifname = attachment.key.ifname.clone();
    match attachment.kind {
        AttachmentKind::Tap => {
            let mut options = TapOptions::default();
            options.persist = true;
            options.exclusive = true;
            let tap = run_in(ns, move || Tap::create_with(&ifname, &options))??;
            Ok(tap_port(tap))
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
            open_af_packet(host)
        }
        AttachmentKind::Memif => unreachable!("memif attachments have no kernel interface"),
    }
}

/// Gives the pod's interface its MAC, MTU, addresses and routes, and brings it up.
async fn configure(
    ns: &NetNs,
    inside: &Netlink,
    attachment: &Attachment,
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
    Ok(())
}

fn tap_port(tap: Tap) -> KernelPort {
    let tap = Arc::new(tap);
    KernelPort {
        rx: Box::new(TapPort(tap.clone())),
        tx: tap,
    }
}

fn open_af_packet(host: &str) -> Result<KernelPort, KernelError> {
    let failed = |source| KernelError::AfPacket {
        interface: host.to_owned(),
        source,
    };
    let socket = AfPacket::open(host, &Default::default()).map_err(failed)?;
    let sender = socket.sender().map_err(failed)?;
    Ok(KernelPort {
        rx: Box::new(AfPacketRx(socket)),
        tx: Arc::new(sender),
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
