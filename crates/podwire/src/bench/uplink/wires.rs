//! The wires of the uplink figures: three network namespaces, a generator's, a forwarder's
//! and a sink's, joined by two veth pairs:
//!
//! ```text
//! generator [gen0] ── [in0] forwarder [out0] ── [sink0] sink
//! ```
//!
//! Whatever forwards (podwire, or testpmd as the anchor) attaches `in0` and `out0`, one at a
//! time; the generator sends into `gen0`; what reaches `sink0` is counted by the kernel
//! (a veth counts a frame as received when its peer hands it over). An nftables ingress
//! rule drops every IPv4 frame on `in0` and `sink0` right after the packet sockets have
//! seen it, so that neither the forwarder's nor the sink's kernel spends the CPUs on an IP
//! stack the measurement does not use; ARP still passes, so the sink answers for its
//! address.

use std::net::Ipv4Addr;
use std::time::Duration;

use anyhow::{Context, bail};
use podwire_io::netns::NetNs;

use crate::bench::process;

/// Each interface's MAC address, fixed so that the generator can address the forwarder.
pub const GEN_MAC: &str = "02:70:77:00:00:01";
/// The forwarder's receiving interface.
pub const IN_MAC: &str = "02:70:77:00:00:02";
/// The forwarder's sending interface.
pub const OUT_MAC: &str = "02:70:77:00:00:03";
/// The sink's interface.
pub const SINK_MAC: &str = "02:70:77:00:00:04";
/// The generator's source address (no interface has it: the generator sends raw frames).
pub const GEN_IP: Ipv4Addr = Ipv4Addr::new(10, 214, 1, 2);
/// The sink's address, the frames' destination.
pub const SINK_IP: Ipv4Addr = Ipv4Addr::new(10, 214, 2, 2);
/// The prefix length of both subnets.
pub const PREFIX: u8 = 24;
/// The forwarder's interface names.
pub const IN: &str = "in0";
/// See [`IN`].
pub const OUT: &str = "out0";
/// The generator's interface.
pub const GEN: &str = "gen0";
/// The sink's interface.
const SINK: &str = "sink0";
/// How long one `ip` or `nft` command may take.
const COMMAND_LIMIT: Duration = Duration::from_secs(30);

/// The namespaces (and the veths with them), deleted on drop, also after a failure half
/// way.
pub struct Wires {
    /// The generator's namespace.
    pub generator: String,
    /// The forwarder's namespace.
    pub forwarder: String,
    /// The sink's namespace.
    pub sink: String,
    made: Vec<String>,
}

/// Frames counted on the wires at one moment.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Counts {
    /// Frames the forwarder's `in0` received (what the generator offered).
    pub offered: u64,
    /// Frames the sink's `sink0` received (what was forwarded).
    pub delivered: u64,
}

impl Wires {
    /// Makes the namespaces and the veths; names carry `run` (unique to this run).
    pub fn create(run: &str) -> anyhow::Result<Wires> {
        let name = |role: &str| format!("pwbench-{run}-ul-{role}");
        let mut wires = Wires {
            generator: name("gen"),
            forwarder: name("fwd"),
            sink: name("sink"),
            made: Vec::new(),
        };
        for netns in [&wires.generator, &wires.forwarder, &wires.sink] {
            NetNs::create_named(netns)
                .with_context(|| format!("cannot create network namespace {netns}"))?;
            wires.made.push(netns.clone());
        }
        let (generator, forwarder, sink) = (&wires.generator, &wires.forwarder, &wires.sink);
        let sink_ip = format!("{SINK_IP}/{PREFIX}");
        let ip_commands: [&[&str]; 8] = [
            &[
                "-n", generator, "link", "add", GEN, "address", GEN_MAC, "type", "veth", "peer",
                "name", IN, "address", IN_MAC, "netns", forwarder,
            ],
            &[
                "-n", sink, "link", "add", SINK, "address", SINK_MAC, "type", "veth", "peer",
                "name", OUT, "address", OUT_MAC, "netns", forwarder,
            ],
            &["-n", sink, "address", "add", &sink_ip, "dev", SINK],
            &["-n", generator, "link", "set", GEN, "up"],
            &["-n", forwarder, "link", "set", IN, "up"],
            &["-n", forwarder, "link", "set", OUT, "up"],
            &["-n", sink, "link", "set", SINK, "up"],
            // The forwarding daemon's metrics listener is on the loopback.
            &["-n", forwarder, "link", "set", "lo", "up"],
        ];
        for args in ip_commands {
            let mut ip = std::process::Command::new("ip");
            ip.args(args);
            process::run(ip, b"", COMMAND_LIMIT).context("wiring the uplink benchmark")?;
        }
        drop_ipv4(forwarder, IN)?;
        drop_ipv4(sink, SINK)?;
        println!(
            "uplink wires: {GEN} ({generator}) -> {IN} [forwarder in {forwarder}] {OUT} -> \
             {SINK} ({sink}, {sink_ip}); IPv4 dropped at {IN}'s and {SINK}'s ingress after the \
             packet sockets"
        );
        Ok(wires)
    }

    /// The frames counted now.
    pub fn counts(&self) -> anyhow::Result<Counts> {
        Ok(Counts {
            offered: rx_packets(&self.forwarder, IN)?,
            delivered: rx_packets(&self.sink, SINK)?,
        })
    }
}

impl Drop for Wires {
    fn drop(&mut self) {
        for netns in self.made.drain(..) {
            if let Err(e) = NetNs::delete_named(&netns) {
                println!("  warning: {e}");
            }
        }
        println!("uplink wires: namespaces deleted");
    }
}

/// An nftables ingress rule on `device` in `netns` that drops IPv4 (and nothing else).
fn drop_ipv4(netns: &str, device: &str) -> anyhow::Result<()> {
    let rules = format!(
        "table netdev podwire_bench {{\n  chain {device} {{\n    \
         type filter hook ingress device \"{device}\" priority 0;\n    \
         meta protocol ip drop\n  }}\n}}\n"
    );
    process::run(
        process::in_netns(netns, &["nft", "-f", "-"]),
        rules.as_bytes(),
        COMMAND_LIMIT,
    )
    .with_context(|| format!("dropping IPv4 at {device}'s ingress in {netns}"))?;
    Ok(())
}

/// Frames `device` in `netns` has received, from the namespace's `/proc/net/dev` (read by a
/// thread inside it: no process to start, so two reads are close in time).
fn rx_packets(netns: &str, device: &str) -> anyhow::Result<u64> {
    let text = NetNs::open_named(netns)
        .and_then(|ns| ns.run_in(|| std::fs::read_to_string("/proc/thread-self/net/dev")))
        .with_context(|| format!("cannot enter network namespace {netns}"))?
        .with_context(|| format!("cannot read /proc/net/dev in {netns}"))?;
    match dev_rx_packets(&text, device) {
        Some(packets) => Ok(packets),
        None => bail!("{netns}'s /proc/net/dev has no {device}:\n{text}"),
    }
}

/// The received packets of `device` in the text of `/proc/net/dev`: the second number
/// after `device:` (bytes come first).
fn dev_rx_packets(text: &str, device: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (name, counters) = line.split_once(':')?;
        if name.trim() != device {
            return None;
        }
        counters.split_whitespace().nth(1)?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_packets_are_the_second_column_of_the_device() {
        let text = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
   in0: 98765432 1543210    0    0    0     0          0         0      420       5    0    0    0     0       0          0
 sink0:1234567890 19290123    0    7    0     0          0         0     1000      12    0    0    0     0       0          0
";
        assert_eq!(dev_rx_packets(text, "in0"), Some(1_543_210));
        // No space between the colon and a wide byte count.
        assert_eq!(dev_rx_packets(text, "sink0"), Some(19_290_123));
        assert_eq!(dev_rx_packets(text, "in"), None);
        assert_eq!(dev_rx_packets("", "in0"), None);
    }
}
