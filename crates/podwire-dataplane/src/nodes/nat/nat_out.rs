//! `ip4-nat-out` / `ip6-nat-out`: egress masquerade of pods' flows leaving the cluster, after
//! the route lookup (see the module's documentation).
//!
//! Only a packet `ip*-nat-in` did not track and the switch did not make is looked at, and
//! only when the route sends it out of an interface that masquerades. A new flow from a
//! cluster CIDR to outside them then gets a session that SNATs it to the interface's address
//! (its first IPv4 address; its first IPv6 address that is not link-local), keeping its
//! source port when that is free (an echo request: its identifier).

use core::net::IpAddr;

use crate::buffer::BufferIndex;
use crate::graph::{Context, Dispatch, Node};
use crate::interface::InterfaceConfig;
use crate::nat::flow::FlowKey;
use crate::nat::service::cidrs_contain;
use crate::nat::session::SessionError;
use crate::tables::{Adjacency, Tables};

use super::packet::{self, Parsed};
use super::rewrite::{rewrite_packet, show};
use super::snat::{unclaim, with_free_port};

/// Where `ip*-nat-out` sends packets: a position in [`NEXT4`] / [`NEXT6`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Next {
    Rewrite,
}

impl From<Next> for usize {
    fn from(next: Next) -> usize {
        next as usize
    }
}

const NEXT4: &[&str] = &["ip4-rewrite"];
const NEXT6: &[&str] = &["ip6-rewrite"];

crate::drop_reasons! {
    pub enum OutDrop {
        NoInterfaceAddress => ("no-interface-address", "a pod's flow leaving the cluster by a masquerading interface that has no address of the flow's IP version to masquerade it to: give the interface one, or stop it masquerading"),
        NoFreePort => ("no-free-port", "no free source port to masquerade a pod's flow with (128 of 32768-60999 tried): too many flows from the interface's address to one destination"),
        SessionTableFull => ("session-table-full", "a pod's flow leaving the cluster needs a session and the table is full of live ones: raise services.sessions_per_worker"),
        SessionClash => ("session-clash", "a flow's masquerade is tracked by another session already (a podwire bug)"),
        BadTranslation => ("bad-translation", "a masquerade to an address of the other IP version (a podwire bug)"),
    }
}

/// The `ip4-nat-out` node (`V6 = false`) or the `ip6-nat-out` node.
#[derive(Debug, Default)]
pub struct NatOut<const V6: bool>;

/// The `ip4-nat-out` node.
pub type Ip4NatOut = NatOut<false>;
/// The `ip6-nat-out` node.
pub type Ip6NatOut = NatOut<true>;

impl<const V6: bool> Node for NatOut<V6> {
    fn name(&self) -> &'static str {
        if V6 { "ip6-nat-out" } else { "ip4-nat-out" }
    }

    fn next_nodes(&self) -> &'static [&'static str] {
        if V6 { NEXT6 } else { NEXT4 }
    }

    fn drop_reasons(&self) -> &'static [crate::counters::DropReason] {
        OutDrop::ALL
    }

    fn process(&mut self, cx: &mut Context<'_>, packets: &[BufferIndex], out: &mut Dispatch) {
        let tables = cx.tables;
        for &bi in packets {
            match outbound::<V6>(cx, tables, bi) {
                Ok(()) => out.send(Next::Rewrite, bi),
                Err(reason) => out.drop(bi, reason),
            }
        }
    }
}

fn outbound<const V6: bool>(
    cx: &mut Context<'_>,
    tables: &Tables,
    bi: BufferIndex,
) -> Result<(), OutDrop> {
    let Some(config) = masquerading_egress(cx, tables, bi) else {
        return Ok(());
    };
    let Parsed::Packet {
        headers,
        tcp_flags,
        starts_flow: true,
    } = packet::parse(cx.pool.data(bi), V6)
    else {
        return Ok(());
    };
    let key = headers.key;
    if !leaves_cluster(tables, &key) {
        return Ok(());
    }
    let Some(address) = masquerade_address(config, V6) else {
        return Err(OutDrop::NoInterfaceAddress);
    };
    let wanted = FlowKey {
        src: address,
        ..key
    };
    let state = &mut *cx.state;
    let translated = with_free_port(
        &state.sessions,
        state.snat_claims.as_ref(),
        &key,
        wanted,
        cx.now,
    )
    .ok_or(OutDrop::NoFreePort)?;
    if let Err(e) = state
        .sessions
        .insert(key, translated, None, tcp_flags, cx.now)
    {
        unclaim(state, &translated);
        return Err(match e {
            SessionError::Full { .. } => OutDrop::SessionTableFull,
            SessionError::Exists => OutDrop::SessionClash,
        });
    }
    let endpoints = (
        (translated.src, translated.src_port),
        (translated.dst, translated.dst_port),
    );
    rewrite_packet(cx.pool, bi, &headers, endpoints).map_err(|_| OutDrop::BadTranslation)?;
    cx.pool.meta_mut(bi).tracked = true;
    cx.note(bi, || {
        format!("masqueraded out of {}: {}", config.name, show(endpoints))
    });
    Ok(())
}

/// The interface packet `bi` leaves by, if it masquerades and the packet is one to look at:
/// not tracked by `ip*-nat-in`, not made by the switch.
fn masquerading_egress<'t>(
    cx: &Context<'_>,
    tables: &'t Tables,
    bi: BufferIndex,
) -> Option<&'t InterfaceConfig> {
    let meta = cx.pool.meta(bi);
    if meta.tracked || meta.originated {
        return None;
    }
    masquerading_interface(tables, tables.adjacency(meta.next_index)?)
}

/// The interface `adjacency` leads out of, if it masquerades.
fn masquerading_interface(tables: &Tables, adjacency: Adjacency) -> Option<&InterfaceConfig> {
    let interface = match adjacency {
        Adjacency::Attached { interface }
        | Adjacency::Via { interface, .. }
        | Adjacency::Tunnel { interface, .. } => interface,
        Adjacency::Local | Adjacency::Drop | Adjacency::Unreachable => return None,
    };
    tables.interface(interface).filter(|c| c.masquerade)
}

/// Whether flow `key` goes from a cluster CIDR to outside them.
fn leaves_cluster(tables: &Tables, key: &FlowKey) -> bool {
    let cluster = &tables.services.node().cluster_cidrs;
    cidrs_contain(cluster, key.src) && !cidrs_contain(cluster, key.dst)
}

/// Whether this node will masquerade a new flow `key` that `ip*-nat-in` leaves untracked:
/// its route leads out of a masquerading interface and it leaves the cluster. Asked before
/// the route lookup by `ip*-nat-in`, whose session would otherwise take the flow's key.
pub(super) fn will_masquerade(tables: &Tables, key: &FlowKey) -> bool {
    // The cheaper question first: most new flows stay in the cluster.
    if !leaves_cluster(tables, key) {
        return false;
    }
    let route = match key.dst {
        IpAddr::V4(dst) => tables.route4(dst),
        IpAddr::V6(dst) => tables.route6(dst),
    };
    route.is_some_and(|(_, adjacency)| masquerading_interface(tables, adjacency).is_some())
}

/// What an interface masquerades flows of an IP version to: its first IPv4 address, or its
/// first IPv6 address that is not link-local (a flow leaving the link needs one that routes).
fn masquerade_address(config: &InterfaceConfig, v6: bool) -> Option<IpAddr> {
    if v6 {
        config
            .ip6
            .iter()
            .map(|&(a, _)| a)
            .find(|a| !a.is_unicast_link_local())
            .map(IpAddr::V6)
    } else {
        config.primary_ip4().map(IpAddr::V4)
    }
}
