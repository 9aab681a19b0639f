//! One packet-flow case as kube-proxy writes it (`packetFlowTest` in
//! `pkg/proxy/{nftables,iptables}/proxier_test.go`): a name, a source, a protocol, a
//! destination, and what must come of the packet.

use std::fmt;
use std::net::SocketAddr;

/// The transport of a case (kube-proxy's default is TCP).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        })
    }
}

/// A case: `{name, sourceIP, protocol, destIP, destPort, output, masq}`, with the reason it is
/// skipped when podwire deliberately does otherwise.
#[derive(Copy, Clone, Debug)]
pub struct Flow {
    /// The case's name, as upstream has it.
    pub name: &'static str,
    /// Where the packet comes from.
    pub source: &'static str,
    pub protocol: Protocol,
    /// Where it is sent.
    pub dest: &'static str,
    pub port: u16,
    /// kube-proxy's `output`: `"ip:port, ip:port"` (the endpoints it may reach), `"REJECT"`,
    /// `"DROP"`, or `""` (not Service traffic: left alone).
    pub output: &'static str,
    /// Whether the packet's source is masqueraded.
    pub masq: bool,
    /// Why podwire does not run this case.
    pub skip: Option<&'static str>,
}

/// A TCP case.
pub const fn flow(
    name: &'static str,
    source: &'static str,
    dest: &'static str,
    port: u16,
    output: &'static str,
    masq: bool,
) -> Flow {
    Flow {
        name,
        source,
        protocol: Protocol::Tcp,
        dest,
        port,
        output,
        masq,
        skip: None,
    }
}

impl Flow {
    /// The same case over another transport.
    pub const fn over(self, protocol: Protocol) -> Flow {
        Flow { protocol, ..self }
    }

    /// The same case, not run, for `reason`.
    pub const fn skipped(self, reason: &'static str) -> Flow {
        Flow {
            skip: Some(reason),
            ..self
        }
    }
}

/// What must come of a case's packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Sent on to one of these endpoints.
    Endpoints(Vec<SocketAddr>),
    /// Refused: an ICMP port unreachable back to the source.
    Reject,
    /// Dropped, nothing sent.
    Drop,
    /// Not Service traffic: the destination is left alone.
    Untouched,
}

impl Expect {
    /// kube-proxy's `output` string.
    pub fn parse(output: &str) -> Result<Expect, String> {
        match output.trim() {
            "" => Ok(Expect::Untouched),
            "REJECT" => Ok(Expect::Reject),
            "DROP" => Ok(Expect::Drop),
            list => list
                .split(',')
                .map(|e| {
                    e.trim()
                        .parse::<SocketAddr>()
                        .map_err(|err| format!("output {output:?}: endpoint {e:?}: {err}"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Expect::Endpoints),
        }
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Endpoints(e) => {
                let list: Vec<String> = e.iter().map(|a| a.to_string()).collect();
                if list.len() == 1 {
                    write!(f, "{}", list[0])
                } else {
                    write!(f, "one of {}", list.join(", "))
                }
            }
            Expect::Reject => f.write_str("REJECT (ICMP port unreachable to the source)"),
            Expect::Drop => f.write_str("DROP (nothing sent, a drop counted)"),
            Expect::Untouched => f.write_str("not Service traffic (destination left alone)"),
        }
    }
}
