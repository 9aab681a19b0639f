//! Reading testpmd's answers (DPDK 22.11): `show port stats` (packets and
//! rates, printed as `Name: value` pairs, several to a line) and the link
//! status of `show port info`.

/// `show port stats N`: what the memif port moved. memif counts per
/// connection: a port shows 0 again after its peer left.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Packets received per second since the last `show port stats`.
    pub rx_pps: u64,
    /// Packets sent per second since the last `show port stats`.
    pub tx_pps: u64,
}

impl PortStats {
    /// The counters in the output of `show port stats`, if it has them all.
    pub fn parse(text: &str) -> Option<PortStats> {
        Some(PortStats {
            rx_packets: field(text, "RX-packets")?,
            tx_packets: field(text, "TX-packets")?,
            rx_pps: field(text, "Rx-pps")?,
            tx_pps: field(text, "Tx-pps")?,
        })
    }
}

/// `show port info N`: whether the link is up (memif: a peer is connected).
pub fn link_up(text: &str) -> Option<bool> {
    let status = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Link status:"))?;
    match status.trim() {
        "up" => Some(true),
        "down" => Some(false),
        _ => None,
    }
}

/// The number after the first `name:` token in `text` (names are case
/// sensitive: `RX-packets` is a counter, `Rx-pps` a rate).
fn field(text: &str, name: &str) -> Option<u64> {
    let mut tokens = text.split_whitespace();
    tokens.find(|t| t.strip_suffix(':') == Some(name))?;
    tokens.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_stats_are_read_by_name_and_case() {
        let stats = PortStats::parse(include_str!("testdata/testpmd-port-stats.txt")).unwrap();
        assert_eq!(
            stats,
            PortStats {
                rx_packets: 17_985_920,
                tx_packets: 0,
                rx_pps: 5_395_801,
                tx_pps: 0,
            }
        );
    }

    #[test]
    fn a_reply_without_stats_has_none() {
        assert_eq!(PortStats::parse("Invalid port 3\n"), None);
        assert_eq!(PortStats::parse("RX-packets: 5 TX-packets: 6\n"), None);
        assert_eq!(PortStats::parse("RX-packets: x\n"), None);
    }

    #[test]
    fn link_status_is_up_or_down() {
        let info = include_str!("testdata/testpmd-port-info.txt");
        assert_eq!(link_up(info), Some(true));
        assert_eq!(link_up(&info.replace(": up", ": down")), Some(false));
        assert_eq!(link_up("Invalid port 3\n"), None);
    }
}
