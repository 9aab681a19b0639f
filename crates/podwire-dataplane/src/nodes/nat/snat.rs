//! Choosing the source port of a translated flow.

use crate::clock::Instant;
use crate::nat::flow::{FlowKey, ICMP, ICMP6};
use crate::nat::session::SessionTable;

/// The source ports (and ICMP echo identifiers) a translated flow may be given when its own
/// is taken: Linux's default ephemeral range, which node-local clients also use.
pub(crate) const PORTS: core::ops::RangeInclusive<u16> = 32768..=60999;
/// Ports tried before a new flow is refused (Linux tries up to 128 too).
pub(crate) const MAX_PROBES: u32 = 128;

/// The translation of a new flow `original` that is to leave as `wanted`, with a source port
/// whose replies no other session receives: `wanted`'s own when it is free, else the first
/// free one of [`PORTS`] from a place the flow's hash chooses (so that two flows that
/// collide on a port do not collide again on the next one). `None` when [`MAX_PROBES`] ports
/// are all taken.
pub(crate) fn with_free_port(
    sessions: &SessionTable,
    original: &FlowKey,
    wanted: FlowKey,
    now: Instant,
) -> Option<FlowKey> {
    if sessions.reply_key_free(&wanted.reversed(), now) {
        return Some(wanted);
    }
    let span = u32::from(PORTS.end() - PORTS.start()) + 1;
    let start = (original.hash() % u64::from(span)) as u32;
    (0..MAX_PROBES)
        .map(|i| PORTS.start() + ((start + i) % span) as u16)
        .filter(|&port| port != wanted.src_port)
        .map(|port| with_source_port(wanted, port))
        .find(|candidate| sessions.reply_key_free(&candidate.reversed(), now))
}

/// `key` with source port `port`; for ICMP echo, whose identifier is both ports, both.
fn with_source_port(key: FlowKey, port: u16) -> FlowKey {
    let echo = key.protocol == ICMP || key.protocol == ICMP6;
    FlowKey {
        src_port: port,
        dst_port: if echo { port } else { key.dst_port },
        ..key
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    #[test]
    fn echo_identifiers_move_together() {
        let key = FlowKey {
            src: Ipv4Addr::new(10, 0, 0, 2).into(),
            dst: Ipv4Addr::new(1, 1, 1, 1).into(),
            protocol: ICMP,
            src_port: 7,
            dst_port: 7,
        };
        let moved = with_source_port(key, 40000);
        assert_eq!((moved.src_port, moved.dst_port), (40000, 40000));
        let udp = FlowKey {
            protocol: crate::nat::flow::UDP,
            dst_port: 53,
            ..key
        };
        assert_eq!(with_source_port(udp, 40000).dst_port, 53);
    }
}
