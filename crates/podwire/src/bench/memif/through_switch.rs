//! Pod to pod through the switch over memif: pod A (`podwire memif gen`)
//! sends 64-byte UDP frames flat out to pod B's address; the switch
//! routes them (memif A → ip4-lookup → memif B); pod B
//! (`podwire memif responder`, which answers the switch's ARP) counts what
//! arrives. And round trips: B echoes, A times each one ([`pingpong`]).
//! Pod A polls on [`cpu::POD_A`]; pod B sleeps on its eventfd on
//! [`cpu::POD_B`], beside the switch's worker.

use std::time::Duration;

use anyhow::Context;
use podwire_model::api::InterfaceView;

use super::cpu;
use super::library::{Count, OneWay};
use super::pingpong::{self, RoundTrips};
use super::switch::{A, B, PREFIX, Switch};
use super::tools::Tool;

/// Why a socket path cannot be passed to a tool.
const NOT_UTF8: &str = "the temporary directory's path is not UTF-8";
/// The discard port: B counts the stream without answering it.
const DISCARD_PORT: &str = "9";

/// One-way packets from A to B through `switch` for `duration`; the
/// switch's own counts are printed beside the pods'.
pub fn one_way(switch: &Switch, duration: Duration) -> anyhow::Result<OneWay> {
    let pod_b = start_pod_b(switch, false)?;
    switch.wait_for_neighbor(&B)?;
    let before = switch_counts(switch)?;
    let socket_a = switch.socket(&A);
    let switch_mac = switch.mac(&A)?;
    let dst_ip = B.pod_ip.to_string();
    let src_ip = A.pod_ip.to_string();
    let args = [
        "--role",
        "client",
        "--socket",
        socket_a.to_str().context(NOT_UTF8)?,
        "--src-mac",
        A.pod_mac,
        "--dst-mac",
        &switch_mac,
        "--src-ip",
        &src_ip,
        "--dst-ip",
        &dst_ip,
        "--dst-port",
        DISCARD_PORT,
        "--size",
        "64",
        "--polling",
    ];
    let pod_a = Tool::start("gen", cpu::POD_A, &args)?;
    std::thread::sleep(duration);
    let sent = pod_a.stop()?;
    let got = pod_b.stop()?;
    let after = switch_counts(switch)?;
    println!(
        "    the switch: received {} on {}, sent {} on {}, lost {} on its interfaces (rings \
         full); graph drops: {}",
        after.0.rx_packets.saturating_sub(before.0.rx_packets),
        A.name,
        after.1.tx_packets.saturating_sub(before.1.tx_packets),
        B.name,
        (after.0.drops + after.1.drops).saturating_sub(before.0.drops + before.1.drops),
        drops(switch)?
    );
    Ok(OneWay {
        sent: Count {
            packets: sent.memif.tx_packets,
            seconds: sent.seconds,
        },
        // What B received while A sent (B was connected before and stays
        // after: A's connection is the window).
        received: Count {
            packets: got.memif.rx_packets,
            seconds: sent.seconds,
        },
    })
}

/// Round trips A → B → A through `switch` for `duration`.
pub fn round_trips(switch: &Switch, duration: Duration) -> anyhow::Result<RoundTrips> {
    let pod_b = start_pod_b(switch, true)?;
    switch.wait_for_neighbor(&B)?;
    let rtt = pingpong::measure(&switch.socket(&A), &switch.mac(&A)?, &B, duration)?;
    let echoed = pod_b.stop()?;
    println!(
        "    pod B echoed {} packets; the switch's drops: {}",
        echoed.memif.tx_packets,
        drops(switch)?
    );
    Ok(rtt)
}

/// Pod B: a responder at B's address that asks for its gateway at once
/// (so the switch learns its MAC) and echoes UDP when `echo`.
fn start_pod_b(switch: &Switch, echo: bool) -> anyhow::Result<Tool> {
    let socket = switch.socket(&B);
    let ip = format!("{}/{PREFIX}", B.pod_ip);
    let gateway = B.switch_ip.to_string();
    let mut args = vec![
        "--role",
        "client",
        "--socket",
        socket.to_str().context(NOT_UTF8)?,
        "--mac",
        B.pod_mac,
        "--ip",
        &ip,
        "--gateway",
        &gateway,
    ];
    if !echo {
        args.push("--no-udp-echo");
    }
    Tool::start("responder", cpu::POD_B, &args)
}

/// The switch's counters of both sides.
fn switch_counts(switch: &Switch) -> anyhow::Result<(InterfaceView, InterfaceView)> {
    Ok((switch.interface(&A)?, switch.interface(&B)?))
}

/// The switch's drops so far, for people.
fn drops(switch: &Switch) -> anyhow::Result<String> {
    let drops = switch.drops()?;
    if drops.is_empty() {
        return Ok("none".into());
    }
    Ok(drops
        .iter()
        .map(|(what, count)| format!("{what} {count}"))
        .collect::<Vec<_>>()
        .join(", "))
}
