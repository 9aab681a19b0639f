//! The measurements between two pods, made the same way on every path with
//! the tools' own clients and servers: TCP throughput (iperf3, one stream
//! and four), UDP 64-byte packets delivered per second (sockperf
//! throughput, counted at the receiving pod's interface) and round-trip
//! latency (sockperf ping-pong, 64-byte messages).

use std::net::Ipv4Addr;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::bench::process::{self, Server, Transport, in_netns};

/// iperf3's port.
const IPERF3_PORT: u16 = 5201;
/// sockperf's port, given to both ends so they cannot disagree.
const SOCKPERF_PORT: u16 = 11111;
/// The parallel streams of the multi-stream TCP test (`iperf3 -P`).
const TCP_STREAMS: u32 = 4;
/// The UDP payload of the packet-rate and latency tests.
const MESSAGE_BYTES: &str = "64";
/// How long a server may take to start listening.
const SERVER_START: Duration = Duration::from_secs(5);
/// How long a short command (a counter read) may take.
const SHORT: Duration = Duration::from_secs(10);

/// Two pods on one path: the sender's and the receiver's network
/// namespaces, and the receiver's address.
#[derive(Clone, Debug)]
pub struct PodPair {
    /// Which path wires them, for the log.
    pub path: &'static str,
    /// The sending pod's namespace (under /run/netns).
    pub sender: String,
    /// The receiving pod's namespace.
    pub receiver: String,
    /// The receiving pod's address on its `eth0`.
    pub receiver_ip: Ipv4Addr,
}

/// What one path measured.
#[derive(Copy, Clone, Debug)]
pub struct PathFigures {
    /// TCP throughput, one stream, Gbit/s.
    pub tcp_gbps: f64,
    /// TCP throughput, four streams together, Gbit/s.
    pub tcp4_gbps: f64,
    /// UDP 64-byte packets delivered to the receiver, thousands per second.
    pub udp64_kpps: f64,
    /// Round-trip time, median, µs.
    pub rtt_p50_us: f64,
    /// Round-trip time, 99th percentile, µs.
    pub rtt_p99_us: f64,
}

/// Measures both paths, each test on one path and then on the other before
/// the next test, so that whatever else the machine does weighs on both
/// alike; each test runs `seconds`.
pub fn measure(paths: [&PodPair; 2], seconds: u32) -> anyhow::Result<[PathFigures; 2]> {
    let tcp = on_both(paths, seconds, tcp_gbps).context("measuring TCP throughput")?;
    let tcp4 = on_both(paths, seconds, |pods, seconds| {
        iperf3_gbps(pods, seconds, TCP_STREAMS)
    })
    .with_context(|| format!("measuring TCP throughput with {TCP_STREAMS} streams"))?;
    let udp = on_both(paths, seconds, udp64_kpps).context("measuring UDP 64-byte packets")?;
    let rtt = on_both(paths, seconds, rtt_us).context("measuring round trips")?;
    Ok([0, 1].map(|i| PathFigures {
        tcp_gbps: tcp[i],
        tcp4_gbps: tcp4[i],
        udp64_kpps: udp[i],
        rtt_p50_us: rtt[i].0,
        rtt_p99_us: rtt[i].1,
    }))
}

/// Runs `test` on one path, then on the other.
pub fn on_both<T>(
    paths: [&PodPair; 2],
    seconds: u32,
    test: impl Fn(&PodPair, u32) -> anyhow::Result<T>,
) -> anyhow::Result<[T; 2]> {
    let run =
        |pods: &PodPair| test(pods, seconds).with_context(|| format!("on the {} path", pods.path));
    Ok([run(paths[0])?, run(paths[1])?])
}

/// Starts a sockperf server in the receiving pod and waits for its socket.
fn sockperf_server(pods: &PodPair) -> anyhow::Result<Server> {
    let mut server = Server::start(in_netns(
        &pods.receiver,
        &[
            "sockperf",
            "server",
            "-i",
            &pods.receiver_ip.to_string(),
            "-p",
            &SOCKPERF_PORT.to_string(),
        ],
    ))?;
    server.wait_listening(Transport::Udp, SOCKPERF_PORT, SERVER_START)?;
    Ok(server)
}

/// How long a client running `seconds` may take, start and warm-up included.
fn client_limit(seconds: u32) -> Duration {
    Duration::from_secs(u64::from(seconds) + 20)
}

/// TCP throughput of one stream from the sender to the receiver, Gbit/s.
pub fn tcp_gbps(pods: &PodPair, seconds: u32) -> anyhow::Result<f64> {
    iperf3_gbps(pods, seconds, 1)
}

/// TCP throughput of `streams` parallel streams together, Gbit/s, as the
/// receiver counts it.
fn iperf3_gbps(pods: &PodPair, seconds: u32, streams: u32) -> anyhow::Result<f64> {
    let ip = pods.receiver_ip.to_string();
    let port = IPERF3_PORT.to_string();
    let streams = streams.to_string();
    println!(
        "  [{}] TCP: iperf3 -c {ip} -P {streams} -t {seconds} from {} to a one-test iperf3 server in {}",
        pods.path, pods.sender, pods.receiver
    );
    let mut server = Server::start(in_netns(
        &pods.receiver,
        &["iperf3", "-s", "-1", "-p", &port],
    ))?;
    server.wait_listening(Transport::Tcp, IPERF3_PORT, SERVER_START)?;
    let json = process::run(
        in_netns(
            &pods.sender,
            &[
                "iperf3",
                "-c",
                &ip,
                "-p",
                &port,
                "-P",
                &streams,
                "-t",
                &seconds.to_string(),
                "-J",
            ],
        ),
        b"",
        client_limit(seconds),
    )?;
    let gbps = iperf3_received_gbps(&json)?;
    println!("    {gbps:.2} Gbit/s received");
    Ok(gbps)
}

/// The receiver's throughput in an `iperf3 -J` report, Gbit/s.
fn iperf3_received_gbps(json: &str) -> anyhow::Result<f64> {
    let report: serde_json::Value =
        serde_json::from_str(json).context("iperf3 -J printed something other than JSON")?;
    if let Some(error) = report["error"].as_str() {
        bail!("iperf3: {error}");
    }
    let bps = report["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .context("iperf3's report has no end.sum_received.bits_per_second")?;
    Ok(bps / 1e9)
}

/// UDP 64-byte messages delivered to the receiving pod per second, in
/// thousands: sockperf throughput for `seconds`, counted at its `eth0`.
pub fn udp64_kpps(pods: &PodPair, seconds: u32) -> anyhow::Result<f64> {
    let ip = pods.receiver_ip.to_string();
    println!(
        "  [{}] UDP: sockperf throughput, {MESSAGE_BYTES}-byte messages to {ip}:{SOCKPERF_PORT} for {seconds} s; \
         counting packets at {}'s eth0",
        pods.path, pods.receiver
    );
    let server = sockperf_server(pods)?;
    let snmp = format!("/proc/{}/net/snmp", server.pid());
    let eth0_before = rx_packets(&pods.receiver)?;
    let udp_before = UdpCounters::read(&snmp)?;
    let out = process::run(
        in_netns(
            &pods.sender,
            &[
                "sockperf",
                "throughput",
                "-i",
                &ip,
                "-p",
                &SOCKPERF_PORT.to_string(),
                "-m",
                MESSAGE_BYTES,
                "-t",
                &seconds.to_string(),
            ],
        ),
        b"",
        client_limit(seconds),
    )?;
    let eth0 = rx_packets(&pods.receiver)?.saturating_sub(eth0_before);
    let udp = UdpCounters::read(&snmp)?.since(&udp_before);
    let sent = sockperf_sent(&out).with_context(|| format!("sockperf printed:\n{out}"))?;
    if eth0 == 0 {
        bail!(
            "sockperf sent {} messages but no packet reached {}'s eth0",
            sent.messages,
            pods.receiver
        );
    }
    // The sender's own sending time, not the client's lifetime, which
    // adds its start and warm-up.
    let kpps = eth0 as f64 / sent.seconds / 1e3;
    println!(
        "    sent {} in {:.3} s ({:.1} kpps); {eth0} packets reached eth0 ({:.1}%): {kpps:.1} kpps delivered",
        sent.messages,
        sent.seconds,
        sent.messages as f64 / sent.seconds / 1e3,
        eth0 as f64 * 100.0 / sent.messages.max(1) as f64,
    );
    println!(
        "    in the receiver's UDP: {} datagrams to sockets, {} dropped for a full socket buffer, {} to a port nobody listens on",
        udp.in_datagrams, udp.rcvbuf_errors, udp.no_ports
    );
    Ok(kpps)
}

/// Packets the pod's `eth0` has received, read inside the pod (its
/// `/sys` is the pod's own only under `ip netns exec`).
fn rx_packets(netns: &str) -> anyhow::Result<u64> {
    let text = process::run(
        in_netns(netns, &["cat", "/sys/class/net/eth0/statistics/rx_packets"]),
        b"",
        SHORT,
    )?;
    text.trim()
        .parse()
        .with_context(|| format!("eth0's rx_packets in {netns} is not a number: {text:?}"))
}

/// What `sockperf throughput` says it sent.
#[derive(Debug, PartialEq)]
struct Sent {
    messages: u64,
    seconds: f64,
}

/// Parses `sockperf: Total of 369491 messages sent in 2.001 sec`.
fn sockperf_sent(out: &str) -> anyhow::Result<Sent> {
    let line = out
        .lines()
        .find_map(|l| l.split_once("Total of "))
        .map(|(_, rest)| rest)
        .context("sockperf throughput did not say how many messages it sent")?;
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        [messages, "messages", "sent", "in", seconds, "sec", ..] => {
            let sent = Sent {
                messages: messages.parse()?,
                seconds: seconds.parse()?,
            };
            if sent.seconds <= 0.0 {
                bail!("sockperf throughput sent for {} s", sent.seconds);
            }
            Ok(sent)
        }
        _ => bail!("unexpected sockperf summary: Total of {line}"),
    }
}

/// The UDP counters of a namespace (`/proc/PID/net/snmp`, the `Udp:` lines).
#[derive(Debug, Default, PartialEq)]
struct UdpCounters {
    in_datagrams: u64,
    no_ports: u64,
    rcvbuf_errors: u64,
}

impl UdpCounters {
    fn read(path: &str) -> anyhow::Result<UdpCounters> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
        UdpCounters::parse(&text).with_context(|| format!("{path} has no Udp counters"))
    }

    /// The `Udp:` header line names the columns of the `Udp:` line after it.
    fn parse(snmp: &str) -> Option<UdpCounters> {
        let mut udp = snmp.lines().filter_map(|l| l.strip_prefix("Udp:"));
        let (names, values) = (udp.next()?, udp.next()?);
        let column = |name: &str| -> Option<u64> {
            let i = names.split_whitespace().position(|n| n == name)?;
            values.split_whitespace().nth(i)?.parse().ok()
        };
        Some(UdpCounters {
            in_datagrams: column("InDatagrams")?,
            no_ports: column("NoPorts")?,
            rcvbuf_errors: column("RcvbufErrors")?,
        })
    }

    fn since(&self, before: &UdpCounters) -> UdpCounters {
        UdpCounters {
            in_datagrams: self.in_datagrams.saturating_sub(before.in_datagrams),
            no_ports: self.no_ports.saturating_sub(before.no_ports),
            rcvbuf_errors: self.rcvbuf_errors.saturating_sub(before.rcvbuf_errors),
        }
    }
}

/// Round-trip time of 64-byte UDP messages between the pods, p50 and p99
/// in µs: sockperf ping-pong for `seconds`, full round trips.
pub fn rtt_us(pods: &PodPair, seconds: u32) -> anyhow::Result<(f64, f64)> {
    let ip = pods.receiver_ip.to_string();
    println!(
        "  [{}] latency: sockperf ping-pong, {MESSAGE_BYTES}-byte messages to {ip}:{SOCKPERF_PORT} for {seconds} s, full round trips",
        pods.path
    );
    let _server = sockperf_server(pods)?;
    let out = process::run(
        in_netns(
            &pods.sender,
            &[
                "sockperf",
                "ping-pong",
                "-i",
                &ip,
                "-p",
                &SOCKPERF_PORT.to_string(),
                "-m",
                MESSAGE_BYTES,
                "-t",
                &seconds.to_string(),
                "--full-rtt",
            ],
        ),
        b"",
        client_limit(seconds),
    )?;
    // sockperf exits 0 even when no reply came: then it prints no percentiles.
    let percentile = |which| {
        sockperf_percentile(&out, which)
            .with_context(|| format!("sockperf printed no percentile {which}:\n{out}"))
    };
    let (p50, p99) = (percentile("50.000")?, percentile("99.000")?);
    println!("    p50 {p50:.1} µs, p99 {p99:.1} µs");
    Ok((p50, p99))
}

/// Parses `sockperf: ---> percentile 99.000 =    5.471` (µs).
fn sockperf_percentile(out: &str, which: &str) -> Option<f64> {
    let key = format!("---> percentile {which} =");
    out.lines()
        .find_map(|l| l.split_once(&key))
        .and_then(|(_, value)| value.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iperf3_report_gives_the_receivers_rate() {
        let gbps = iperf3_received_gbps(include_str!("testdata/iperf3.json")).unwrap();
        assert!((gbps - 10.326_910_173).abs() < 1e-6, "{gbps}");
    }

    #[test]
    fn iperf3_error_is_reported() {
        let err = iperf3_received_gbps(include_str!("testdata/iperf3-error.json")).unwrap_err();
        assert!(format!("{err}").contains("unable to connect"), "{err}");
        assert!(iperf3_received_gbps("iperf3: error").is_err());
        assert!(iperf3_received_gbps("{\"end\": {}}").is_err());
    }

    #[test]
    fn sockperf_throughput_summary_is_parsed() {
        let sent = sockperf_sent(include_str!("testdata/sockperf-throughput.txt")).unwrap();
        assert_eq!(
            sent,
            Sent {
                messages: 355_229,
                seconds: 2.014
            }
        );
        assert!(sockperf_sent("sockperf: Test ended\n").is_err());
        assert!(sockperf_sent("sockperf: Total of 5 messages sent in 0.000 sec").is_err());
    }

    #[test]
    fn sockperf_percentiles_are_parsed_exactly() {
        let out = include_str!("testdata/sockperf-ping-pong.txt");
        assert_eq!(sockperf_percentile(out, "50.000"), Some(7.383));
        // Not 99.900 or 99.990, which share the prefix.
        assert_eq!(sockperf_percentile(out, "99.000"), Some(15.195));
        let none = include_str!("testdata/sockperf-ping-pong-no-server.txt");
        assert_eq!(sockperf_percentile(none, "50.000"), None);
    }

    #[test]
    fn udp_counters_are_read_by_column_name() {
        let snmp = include_str!("testdata/proc-net-snmp.txt");
        let counters = UdpCounters::parse(snmp).unwrap();
        assert_eq!(
            counters,
            UdpCounters {
                in_datagrams: 174_296,
                no_ports: 0,
                rcvbuf_errors: 180_933,
            }
        );
        let before = UdpCounters {
            in_datagrams: 296,
            no_ports: 0,
            rcvbuf_errors: 933,
        };
        assert_eq!(
            counters.since(&before),
            UdpCounters {
                in_datagrams: 174_000,
                no_ports: 0,
                rcvbuf_errors: 180_000,
            }
        );
        assert_eq!(UdpCounters::parse("Tcp: a b\nTcp: 1 2\n"), None);
    }
}
