//! `ip4-local`: packets for the switch's own addresses. The switch answers
//! pings and ends VXLAN tunnels, nothing else: an echo request goes to
//! `ip4-icmp-echo`, UDP to a tunnel's port to `vxlan-input`; other UDP
//! and TCP get port unreachable (no socket listens in the data plane),
//! other protocols protocol unreachable; other ICMP messages (replies,
//! errors) have nothing to do here and are dropped.

use podwire_wire::icmpv4::Message;
use podwire_wire::ip::IpProtocol;

use crate::buffer::BufferIndex;
use crate::graph::{Context, Dispatch, Node};
use crate::icmp_error::IcmpError;
use crate::nodes::vxlan::is_vxlan;

use super::header;

crate::next_nodes! {
    pub enum Next {
        Echo => "ip4-icmp-echo",
        IcmpError => "ip4-icmp-error",
        Vxlan => "vxlan-input",
    }
}

crate::drop_reasons! {
    pub enum Drop {
        BadHeader => ("bad-header", "no whole IPv4 header: the packet skipped validation (a podwire bug)"),
        ReassemblyUnsupported => ("reassembly-unsupported", "a fragment addressed to the switch: podwire does not reassemble"),
        IcmpIgnored => ("icmp-ignored", "an ICMP message for the switch that is not an echo request (a reply, an error): nothing to answer"),
    }
}

/// The `ip4-local` node.
#[derive(Debug, Default)]
pub struct Ip4Local;

impl Node for Ip4Local {
    fn name(&self) -> &'static str {
        "ip4-local"
    }

    fn next_nodes(&self) -> &'static [&'static str] {
        Next::ALL
    }

    fn drop_reasons(&self) -> &'static [crate::counters::DropReason] {
        Drop::ALL
    }

    fn process(&mut self, cx: &mut Context<'_>, packets: &[BufferIndex], out: &mut Dispatch) {
        for &bi in packets {
            let Some(ip) = header(cx.pool.data(bi)) else {
                out.drop(bi, Drop::BadHeader);
                continue;
            };
            if ip.is_fragment() {
                out.drop(bi, Drop::ReassemblyUnsupported);
                continue;
            }
            let error = match ip.protocol() {
                IpProtocol::ICMP if ip.payload().first() == Some(&Message::ECHO_REQUEST.0) => {
                    out.send(Next::Echo, bi);
                    continue;
                }
                IpProtocol::ICMP => {
                    out.drop(bi, Drop::IcmpIgnored);
                    continue;
                }
                IpProtocol::UDP if is_vxlan(cx.tables, ip.payload()) => {
                    out.send(Next::Vxlan, bi);
                    continue;
                }
                IpProtocol::UDP | IpProtocol::TCP => IcmpError::PortUnreachable,
                _ => IcmpError::ProtocolUnreachable,
            };
            cx.pool.meta_mut(bi).next_index = error.encode();
            out.send(Next::IcmpError, bi);
        }
    }
}
