//! Round trips through the switch: pod A, a memif client in a thread of
//! the benchmark, sends one 64-byte UDP frame of the test stream to pod B's
//! echo port, waits for B's echo to come back through the switch, and
//! times it with the monotonic clock; then the next. A polls its ring, as
//! a memif application does. It answers the switch's ARP with the
//! responder's endpoint logic.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use podwire_memif::queue::DEFAULT_MAX_FRAME;
use podwire_memif::sys::SocketAddr;
use podwire_memif::types::Mode;
use podwire_memif::{Client, Interface, InterfaceConfig};
use podwire_wire::{EthernetAddress, Ipv4Cidr};

use super::cpu;
use super::switch::{self, Side};
use crate::memif_tools::responder::{Endpoint, EndpointConfig};
use crate::memif_tools::stream::{Stamp, StreamSpec, Template, read_stamp};

/// How long A may take to connect to the switch.
const CONNECT_LIMIT: Duration = Duration::from_secs(30);
/// How long the first echo may take (the switch may still be asking
/// for a MAC); pings are repeated meanwhile.
const FIRST_ECHO_LIMIT: Duration = Duration::from_secs(10);
/// A ping whose echo takes longer is counted lost.
const ECHO_LIMIT: Duration = Duration::from_secs(1);
/// Round trips made before the measured ones (as sockperf's warm-up).
const WARM_UP: Duration = Duration::from_millis(400);
/// Bytes per frame, Ethernet header included.
const FRAME_BYTES: usize = 64;
/// The echo port of `podwire memif responder`.
const ECHO_PORT: u16 = 7;
/// Packets taken from the ring at once.
const RX_BURST: usize = 32;

/// What the round trips came to.
#[derive(Clone, Debug, PartialEq)]
pub struct RoundTrips {
    /// Round trips measured.
    pub samples: usize,
    /// Pings whose echo did not come back within a second.
    pub lost: u64,
    /// Median, µs.
    pub p50_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
}

/// Pings `to` (pod B, which echoes) from pod A on `socket` through the
/// switch, whose MAC on A's side is `switch_mac`, for `duration`; on
/// [`cpu::POD_A`].
pub fn measure(
    socket: &Path,
    switch_mac: &str,
    to: &Side,
    duration: Duration,
) -> anyhow::Result<RoundTrips> {
    cpu::on_cpu(cpu::POD_A, || {
        Pinger::connect(socket, switch_mac, to)?.round_trips(duration)
    })
}

/// Pod A.
struct Pinger {
    client: Client,
    /// Answers the switch's ARP for A's address.
    endpoint: Endpoint,
    template: Template,
    frame: Vec<u8>,
    received: Vec<u8>,
    reply: Vec<u8>,
}

impl Pinger {
    fn connect(socket: &Path, switch_mac: &str, to: &Side) -> anyhow::Result<Pinger> {
        let me = switch::A;
        let mac: EthernetAddress = me.pod_mac.parse()?;
        let template = Template::new(&StreamSpec {
            mode: Mode::Ethernet,
            src_mac: mac,
            dst_mac: switch_mac
                .parse()
                .with_context(|| format!("the switch's MAC {switch_mac:?}"))?,
            src_ip: me.pod_ip,
            dst_ip: to.pod_ip,
            src_port: 1024,
            dst_port: ECHO_PORT,
            size: FRAME_BYTES,
        })?;
        let endpoint = Endpoint::new(EndpointConfig {
            mode: Mode::Ethernet,
            mac,
            ip: Some(Ipv4Cidr::new(me.pod_ip, switch::PREFIX)?),
            ip6: None,
            gateway: Some(me.switch_ip),
            udp_echo_port: None,
        });
        let client = Client::connect_blocking(
            SocketAddr::Path(socket.to_owned()),
            InterfaceConfig {
                polling: true,
                ..InterfaceConfig::new(0)
            },
            CONNECT_LIMIT,
        )
        .with_context(|| format!("pod A cannot connect to the switch on {}", socket.display()))?;
        Ok(Pinger {
            client,
            endpoint,
            template,
            frame: vec![0; FRAME_BYTES],
            received: vec![0; DEFAULT_MAX_FRAME],
            reply: vec![0; DEFAULT_MAX_FRAME],
        })
    }

    /// Asks for the gateway's MAC (which teaches the switch ours), warms
    /// up, then measures round trips for `duration`.
    fn round_trips(&mut self, duration: Duration) -> anyhow::Result<RoundTrips> {
        if let Some(len) = self.endpoint.gateway_request(&mut self.reply) {
            let request = self.reply.get(..len).unwrap_or_default();
            interface(&mut self.client)?.tx_burst(0, &[request])?;
        }
        let mut seq = 0;
        let first_deadline = Instant::now() + FIRST_ECHO_LIMIT;
        loop {
            seq += 1;
            if self.ping(seq)?.is_some() {
                break;
            }
            if Instant::now() >= first_deadline {
                bail!(
                    "no echo came back through the switch within {} s: is pod B's responder \
                     connected?",
                    FIRST_ECHO_LIMIT.as_secs()
                );
            }
        }
        let warm = Instant::now() + WARM_UP;
        while Instant::now() < warm {
            seq += 1;
            self.ping(seq)?;
        }
        let mut samples = Vec::new();
        let mut lost = 0;
        let end = Instant::now() + duration;
        while Instant::now() < end {
            seq += 1;
            match self.ping(seq)? {
                Some(rtt) => samples.push(rtt),
                None => lost += 1,
            }
        }
        let count = samples.len();
        let samples = crate::bench::samples::Samples::new(samples);
        let percentile_us = |p| match count {
            0 => Err(anyhow::anyhow!("no round trip was measured")),
            _ => Ok(samples.us(p)),
        };
        Ok(RoundTrips {
            p50_us: percentile_us(50.0)?,
            p99_us: percentile_us(99.0)?,
            samples: count,
            lost,
        })
    }

    /// Sends ping `seq` and waits for its echo: the round trip, or `None`
    /// when none came within [`ECHO_LIMIT`]. Answers ARP meanwhile.
    fn ping(&mut self, seq: u64) -> anyhow::Result<Option<Duration>> {
        let stamp = Stamp { flow: 0, seq };
        let len = self
            .template
            .write(stamp, &mut self.frame)
            .context("the ping does not fit its buffer (a benchmark bug)")?;
        let Pinger {
            client,
            endpoint,
            frame,
            received,
            reply,
            ..
        } = self;
        let interface = interface(client)?;
        let sent_at = Instant::now();
        if interface.tx_burst(0, &[frame.get(..len).unwrap_or_default()])? == 0 {
            // The switch does not read its ring: as good as lost.
            std::thread::sleep(ECHO_LIMIT);
            return Ok(None);
        }
        let deadline = sent_at + ECHO_LIMIT;
        loop {
            let mut echo = None;
            let mut answer = None;
            interface.rx_burst(0, RX_BURST, |packet| {
                let at = Instant::now();
                let n = packet.copy_to(received);
                let frame = received.get(..n).unwrap_or_default();
                match read_stamp(Mode::Ethernet, frame) {
                    Ok(got) if got == stamp => echo = Some(at.duration_since(sent_at)),
                    // The late echo of a ping counted lost.
                    Ok(_) => {}
                    // One answer per burst (it is written into `reply`);
                    // the switch asks again.
                    Err(_) if answer.is_none() => answer = endpoint.answer(frame, reply),
                    Err(_) => {}
                }
            })?;
            if let Some(len) = answer {
                interface.tx_burst(0, &[reply.get(..len).unwrap_or_default()])?;
            }
            if echo.is_some() {
                return Ok(echo);
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::hint::spin_loop();
        }
    }
}

/// The client's interface, or why there is none.
fn interface(client: &mut Client) -> anyhow::Result<&mut Interface> {
    let last = client.last_error().unwrap_or("no reason given").to_owned();
    client
        .interface_mut()
        .with_context(|| format!("pod A lost its connection to the switch: {last}"))
}
