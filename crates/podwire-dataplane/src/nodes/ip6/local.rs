//! `ip6-local`: packets for the switch's own addresses. The switch answers
//! pings and neighbor solicitations and ends VXLAN tunnels, nothing else: an
//! echo request goes to `ip6-icmp-echo`, a unicast neighbor solicitation or
//! advertisement to `ip6-ndp`, UDP to a tunnel's port to `vxlan-input`;
//! other UDP and TCP get port unreachable (no socket listens in the
//! data plane), other next headers a parameter problem; other ICMPv6
//! messages (replies, errors) have nothing to do here and are dropped.
//!
//! Extension headers are not walked: a packet to the switch whose first
//! next header is one (other than a fragment header, which is dropped: no
//! reassembly) is answered as an unknown protocol.

use podwire_wire::icmpv6::Message;
use podwire_wire::ip::IpProtocol;

use crate::buffer::BufferIndex;
use crate::graph::{Context, Dispatch, Node};
use crate::icmp_error::IcmpError;
use crate::nodes::vxlan::is_vxlan;

use super::header;

crate::next_nodes! {
    pub enum Next {
        Echo => "ip6-icmp-echo",
        Ndp => "ip6-ndp",
        IcmpError => "ip6-icmp-error",
        Vxlan => "vxlan-input",
    }
}

crate::drop_reasons! {
    pub enum Drop {
        BadHeader => ("bad-header", "no whole IPv6 header: the packet skipped validation (a podwire bug)"),
        ReassemblyUnsupported => ("reassembly-unsupported", "a fragment addressed to the switch: podwire does not reassemble"),
        IcmpIgnored => ("icmp-ignored", "an ICMPv6 message for the switch that is not an echo request or neighbor discovery (a reply, an error): nothing to answer"),
    }
}

/// The `ip6-local` node.
#[derive(Debug, Default)]
pub struct Ip6Local;

impl Node for Ip6Local {
    fn name(&self) -> &'static str {
        "ip6-local"
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
            let error = match ip.next_header() {
                IpProtocol::ICMPV6 => {
                    match ip.payload().first().map(|&t| Message(t)) {
                        Some(Message::ECHO_REQUEST) => out.send(Next::Echo, bi),
                        Some(Message::NEIGHBOR_SOLICIT | Message::NEIGHBOR_ADVERT) => {
                            out.send(Next::Ndp, bi)
                        }
                        _ => out.drop(bi, Drop::IcmpIgnored),
                    }
                    continue;
                }
                IpProtocol::IPV6_FRAG => {
                    out.drop(bi, Drop::ReassemblyUnsupported);
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
