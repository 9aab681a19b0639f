//! Reading testpmd's answers: port counters, per-queue counters, link
//! status. testpmd prints `Name: value` pairs, several to a line.

use std::collections::HashMap;

/// `show port stats N`: what the memif port moved. memif counts per
/// connection while connected (a disconnected port shows 0), and
/// `clear port stats` zeroes them.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PortStats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
}

impl PortStats {
    /// The counters in the output of `show port stats`, if it has them.
    pub fn parse(text: &str) -> Option<PortStats> {
        Some(PortStats {
            rx_packets: field(text, "RX-packets")?,
            rx_bytes: field(text, "RX-bytes")?,
            tx_packets: field(text, "TX-packets")?,
            tx_bytes: field(text, "TX-bytes")?,
        })
    }
}

/// What testpmd counted on one port: totals and per queue.
#[derive(Clone, Debug)]
pub struct Counters {
    pub port: PortStats,
    pub queues: Xstats,
}

impl Counters {
    /// What was counted from `before` to `self`.
    pub fn since(&self, before: &Counters) -> Counters {
        Counters {
            port: self.port.since(&before.port),
            queues: self.queues.since(&before.queues),
        }
    }
}

impl PortStats {
    fn since(&self, before: &PortStats) -> PortStats {
        PortStats {
            rx_packets: delta(self.rx_packets, before.rx_packets),
            rx_bytes: delta(self.rx_bytes, before.rx_bytes),
            tx_packets: delta(self.tx_packets, before.tx_packets),
            tx_bytes: delta(self.tx_bytes, before.tx_bytes),
        }
    }
}

/// `show port xstats N`: every extended counter by name, among them
/// `rx_q<i>_packets` and `tx_q<i>_packets` per queue.
#[derive(Clone, Debug, Default)]
pub struct Xstats(HashMap<String, u64>);

impl Xstats {
    fn since(&self, before: &Xstats) -> Xstats {
        let counters = self.0.iter().map(|(name, &now)| {
            let then = before.0.get(name).copied().unwrap_or(0);
            (name.clone(), delta(now, then))
        });
        Xstats(counters.collect())
    }

    pub fn parse(text: &str) -> Xstats {
        let counters = text
            .lines()
            .filter_map(|line| {
                let (name, value) = line.trim().split_once(": ")?;
                Some((name.to_owned(), value.trim().parse().ok()?))
            })
            .collect();
        Xstats(counters)
    }

    /// Packets received on queue `queue`.
    pub fn rx_queue_packets(&self, queue: u16) -> u64 {
        self.get(&format!("rx_q{queue}_packets"))
    }

    /// Packets sent on queue `queue`.
    pub fn tx_queue_packets(&self, queue: u16) -> u64 {
        self.get(&format!("tx_q{queue}_packets"))
    }

    fn get(&self, name: &str) -> u64 {
        match self.0.get(name) {
            Some(&value) => value,
            None => panic!("testpmd shows no {name} counter; it shows {:?}", self.0),
        }
    }
}

/// `show port info N`: whether the link is up.
pub fn link_status(text: &str) -> Option<bool> {
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Link status: "))?;
    match line.trim() {
        "up" => Some(true),
        "down" => Some(false),
        _ => None,
    }
}

/// How much a counter grew; testpmd's memif counters never shrink while
/// its port lives (they show 0 while disconnected, and are back after).
fn delta(now: u64, before: u64) -> u64 {
    now.checked_sub(before)
        .unwrap_or_else(|| panic!("a testpmd counter went down from {before} to {now}"))
}

/// The number after the first `name:` token in `text`.
fn field(text: &str, name: &str) -> Option<u64> {
    let mut tokens = text.split_whitespace();
    tokens.find(|t| t.strip_suffix(':') == Some(name))?;
    tokens.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Output of testpmd 22.11.11, as printed.
    const PORT_STATS: &str = "
  ######################## NIC statistics for port 0  ########################
  RX-packets: 12         RX-missed: 0          RX-bytes:  768
  RX-errors: 0
  RX-nombuf:  0
  TX-packets: 494976     TX-errors: 0          TX-bytes:  31678464

  Throughput (since last show)
  Rx-pps:            0          Rx-bps:            0
  Tx-pps:            0          Tx-bps:            0
  ############################################################################
";

    const XSTATS: &str = "###### NIC extended statistics for port 0
rx_good_packets: 0
tx_good_packets: 495008
rx_q0_packets: 7
rx_q0_bytes: 0
tx_q0_packets: 495008
tx_q1_packets: 3
";

    #[test]
    fn port_stats_are_read_by_name() {
        let stats = PortStats::parse(PORT_STATS).unwrap();
        assert_eq!(
            stats,
            PortStats {
                rx_packets: 12,
                rx_bytes: 768,
                tx_packets: 494_976,
                tx_bytes: 31_678_464,
            }
        );
        assert_eq!(PortStats::parse("testpmd> "), None);
    }

    #[test]
    fn queue_counters_are_read_by_queue() {
        let xstats = Xstats::parse(XSTATS);
        assert_eq!(xstats.rx_queue_packets(0), 7);
        assert_eq!(xstats.tx_queue_packets(0), 495_008);
        assert_eq!(xstats.tx_queue_packets(1), 3);
    }

    #[test]
    fn counters_since_an_earlier_reading_are_differences() {
        let before = Counters {
            port: PortStats::parse(PORT_STATS).unwrap(),
            queues: Xstats::parse(XSTATS),
        };
        let mut after = before.clone();
        after.port.rx_packets += 5;
        after.queues.0.insert("tx_q1_packets".into(), 10);
        let moved = after.since(&before);
        assert_eq!((moved.port.rx_packets, moved.port.tx_packets), (5, 0));
        assert_eq!(moved.queues.tx_queue_packets(1), 7);
        assert_eq!(moved.queues.rx_queue_packets(0), 0);
    }

    #[test]
    fn link_status_is_up_or_down() {
        assert_eq!(link_status("MTU: 1500\nLink status: up\n"), Some(true));
        assert_eq!(link_status("Link status: down\n"), Some(false));
        assert_eq!(link_status("Bad port id\n"), None);
    }
}
