//! `l2-input`: switches the frames of bridge-domain ports by MAC address.
//!
//! It learns the source address on the port the frame came in on (if the
//! domain learns), then sends a frame to a known unicast address out of the
//! port it was learned on, and floods the rest (broadcast, multicast, and
//! unknown unicast if the domain floods) to every other port of the domain.

use podwire_wire::ethernet::{EthernetAddress, Frame};

use crate::bridge::{Learned, bridge_domain, is_bridge_port};
use crate::buffer::BufferIndex;
use crate::graph::{Context, Dispatch, Node};
use crate::interface::{BridgeDomainId, IfIndex, InterfaceMode};
use crate::tables::{BridgeDomainConfig, Tables};

crate::drop_reasons! {
    pub enum Drop {
        NotAPort => ("not-a-port", "the frame came in on an interface that is not a port of its bridge domain (the configuration changed while it was in flight)"),
        NoBridgeDomain => ("no-bridge-domain", "the interface is a port of a bridge domain that does not exist (it was removed)"),
        Truncated => ("truncated", "the frame is shorter than an Ethernet header"),
        BadSourceMac => ("bad-source-mac", "the source MAC address is a multicast or broadcast address, which no station sends from"),
        SamePort => ("same-port", "the destination was learned on the port the frame came in on: the station is on that segment and already has it"),
        UnknownDestination => ("unknown-destination", "the destination MAC address is not learned and the bridge domain does not flood unknown unicast"),
        NoOtherPort => ("no-other-port", "the frame floods but its bridge domain has no other port to send it to"),
        FloodCopyFailed => ("flood-copy-failed", "a copy of a flooded frame for one port could not be made: the buffer pool is exhausted (raise buffers_per_worker)"),
    }
}

crate::next_nodes! {
    pub enum Next { Output => "interface-output" }
}

/// The `l2-input` node.
#[derive(Debug, Default)]
pub struct L2Input;

impl Node for L2Input {
    fn name(&self) -> &'static str {
        "l2-input"
    }

    fn next_nodes(&self) -> &'static [&'static str] {
        Next::ALL
    }

    fn drop_reasons(&self) -> &'static [crate::counters::DropReason] {
        Drop::ALL
    }

    fn process(&mut self, cx: &mut Context<'_>, packets: &[BufferIndex], out: &mut Dispatch) {
        for &bi in packets {
            switch(cx, bi, out);
        }
    }
}

/// Learns from and forwards one frame.
#[inline]
fn switch(cx: &mut Context<'_>, bi: BufferIndex, out: &mut Dispatch) {
    // Copy the reference out: the domain's configuration stays borrowed
    // from the tables while `cx` is borrowed mutably.
    let tables: &Tables = cx.tables;
    let rx = cx.pool.meta(bi).rx_if;
    let (bd, domain) = match port_domain(tables, rx) {
        Ok(found) => found,
        Err(reason) => return out.drop(bi, reason),
    };
    let Ok(frame) = Frame::new_checked(cx.pool.data(bi)) else {
        return out.drop(bi, Drop::Truncated);
    };
    let (src, dst) = (frame.src_addr(), frame.dst_addr());
    if src.is_multicast() {
        return out.drop(bi, Drop::BadSourceMac);
    }
    if domain.learn {
        learn(cx, bd, src, bi);
    }
    if dst.is_multicast() {
        return flood(cx, bd, domain, bi, out);
    }
    let known = cx
        .state
        .bridges
        .lookup(bd, dst, cx.now, domain.mac_age)
        .filter(|&port| is_bridge_port(tables, port, bd));
    match known {
        Some(port) if port == rx => out.drop(bi, Drop::SamePort),
        Some(port) => {
            cx.pool.meta_mut(bi).tx_if = port;
            cx.note(bi, || format!("{dst} known on {}", port_name(tables, port)));
            out.send(Next::Output, bi);
        }
        None if domain.flood => flood(cx, bd, domain, bi, out),
        None => out.drop(bi, Drop::UnknownDestination),
    }
}

/// The bridge domain `rx` is a port of.
#[inline]
fn port_domain(
    tables: &Tables,
    rx: IfIndex,
) -> Result<(BridgeDomainId, &BridgeDomainConfig), Drop> {
    let Some(InterfaceMode::Bridged(bd)) = tables.interface(rx).map(|c| &c.mode) else {
        return Err(Drop::NotAPort);
    };
    let domain = bridge_domain(tables, *bd).ok_or(Drop::NoBridgeDomain)?;
    if !domain.ports.contains(&rx) {
        return Err(Drop::NotAPort);
    }
    Ok((*bd, domain))
}

/// Learns the source address of frame `bi` on the port it came in on.
#[inline]
fn learn(cx: &mut Context<'_>, bd: BridgeDomainId, src: EthernetAddress, bi: BufferIndex) {
    let rx = cx.pool.meta(bi).rx_if;
    let learned = cx.state.bridges.learn(bd, src, rx, cx.now);
    let tables = cx.tables;
    match learned {
        Learned::Refreshed => {}
        Learned::New => cx.note(bi, || format!("learned {src} on {}", port_name(tables, rx))),
        Learned::Moved { from } => cx.note(bi, || {
            let (from, to) = (port_name(tables, from), port_name(tables, rx));
            format!("{src} moved from {from} to {to}")
        }),
        Learned::Refused => cx.note(bi, || format!("{src} not learned: the MAC table is full")),
    }
}

/// Sends frame `bi` out of every port of `bd` but the one it came in on:
/// a copy to each, the original to the last. A copy that cannot be made
/// (pool exhausted) is lost and counted; the others still go.
fn flood(
    cx: &mut Context<'_>,
    bd: BridgeDomainId,
    domain: &BridgeDomainConfig,
    bi: BufferIndex,
    out: &mut Dispatch,
) {
    let tables = cx.tables;
    let rx = cx.pool.meta(bi).rx_if;
    let floods_to = |port: &IfIndex| *port != rx && is_bridge_port(tables, *port, bd);
    let Some((last, &last_port)) = domain
        .ports
        .iter()
        .enumerate()
        .rev()
        .find(|(_, p)| floods_to(p))
    else {
        return out.drop(bi, Drop::NoOtherPort);
    };
    // The original goes to `last_port`: it counts as sent.
    let (mut sent, mut lost) = (1usize, 0usize);
    for &port in domain.ports.iter().take(last).filter(|p| floods_to(p)) {
        match cx.pool.duplicate(bi) {
            Ok(copy) => {
                cx.pool.meta_mut(copy).tx_if = port;
                out.send(Next::Output, copy);
                sent += 1;
            }
            Err(_) => {
                out.count_lost(Drop::FloodCopyFailed);
                lost += 1;
            }
        }
    }
    cx.pool.meta_mut(bi).tx_if = last_port;
    cx.note(bi, || match lost {
        0 => format!("flooded to {sent} ports"),
        _ => format!("flooded to {sent} ports; {lost} copies lost: buffer pool exhausted"),
    });
    out.send(Next::Output, bi);
}

/// An interface's name, for the trace.
fn port_name(tables: &Tables, port: IfIndex) -> &str {
    tables
        .interface(port)
        .map_or("a removed interface", |c| c.name.as_str())
}
