//! `podwire memif responder`: an endpoint on a memif interface that answers
//! ARP, ICMP echo, IPv6 neighbor discovery, ICMPv6 echo and UDP echo, so
//! that a memif pod network can be tested with ping and `gen` alone.

mod emit;
mod endpoint;

use std::time::{Duration, Instant};

use podwire_memif::Interface;
use podwire_memif::queue::DEFAULT_MAX_FRAME;
use podwire_wire::{EthernetAddress, Ipv4Addr, Ipv4Cidr, Ipv6Cidr};

pub use endpoint::{Endpoint, EndpointConfig, EndpointCounters};

use super::batch::Batch;
use super::driver::{Step, Tool};
use super::options::CommonArgs;
use super::receive::RX_BURST;
use super::report::Progress;

/// While the gateway's MAC is unknown, it is asked for this often.
const GATEWAY_RETRY: Duration = Duration::from_secs(1);
/// Room for any reply to a shorter request (a neighbor advertisement with
/// its option is 86 bytes in an Ethernet frame).
const MIN_REPLY_ROOM: usize = 128;

/// Options of `podwire memif responder`.
#[derive(Debug, Clone, clap::Args)]
#[command(group = clap::ArgGroup::new("address").required(true).multiple(true).args(["ip", "ip6"]))]
pub struct ResponderArgs {
    /// The options every tool takes.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Our IPv4 address and prefix, e.g. 10.0.0.2/24.
    #[arg(long)]
    pub ip: Option<Ipv4Cidr>,
    /// Our IPv6 address and prefix, e.g. fd00::2/64.
    #[arg(long)]
    pub ip6: Option<Ipv6Cidr>,
    /// Our MAC address.
    #[arg(long, default_value = "02:00:00:00:00:02")]
    pub mac: EthernetAddress,
    /// The gateway: its MAC is asked for by ARP every second until known,
    /// and learned from its own ARP requests (replies go to the MAC the
    /// request came from, gateway or not).
    #[arg(long)]
    pub gateway: Option<Ipv4Addr>,
    /// UDP datagrams to this port are echoed back (7 is echo).
    #[arg(long, default_value_t = 7)]
    pub udp_echo_port: u16,
    /// Echo no UDP at all.
    #[arg(long, conflicts_with = "udp_echo_port")]
    pub no_udp_echo: bool,
}

/// The responder.
#[derive(Debug)]
pub struct Responder {
    endpoint: Endpoint,
    count: Option<u64>,
    /// Replies to send, per receive queue.
    queues: Vec<Batch>,
    scratch: Vec<u8>,
    /// When to ask for the gateway's MAC next.
    next_gateway_request: Option<Instant>,
}

impl Responder {
    /// A responder as `args` ask.
    pub fn new(args: &ResponderArgs) -> Responder {
        let config = EndpointConfig {
            mode: args.common.mode.into(),
            mac: args.mac,
            ip: args.ip,
            ip6: args.ip6,
            gateway: args.gateway,
            udp_echo_port: (!args.no_udp_echo).then_some(args.udp_echo_port),
        };
        Responder {
            endpoint: Endpoint::new(config),
            count: args.common.count,
            queues: Vec::new(),
            scratch: vec![0; DEFAULT_MAX_FRAME],
            next_gateway_request: None,
        }
    }

    /// Queues an ARP request for the gateway when one is due.
    fn ask_for_gateway(&mut self, now: Instant) {
        let due = self.next_gateway_request.is_some_and(|due| now >= due);
        if !due || !self.endpoint.needs_gateway() {
            return;
        }
        if let Some(batch) = self.queues.first_mut() {
            let endpoint = &mut self.endpoint;
            batch.push_with(MIN_REPLY_ROOM, |out| endpoint.gateway_request(out));
        }
        self.next_gateway_request = Some(now + GATEWAY_RETRY);
    }
}

impl Tool for Responder {
    type Counters = EndpointCounters;
    const NAME: &'static str = "responder";

    fn connected(&mut self, interface: &mut Interface, now: Instant) -> anyhow::Result<()> {
        self.queues = (0..interface.rx_queues())
            .map(|_| Batch::default())
            .collect();
        self.next_gateway_request = Some(now);
        Ok(())
    }

    fn step(&mut self, interface: &mut Interface, now: Instant) -> anyhow::Result<Step> {
        self.ask_for_gateway(now);
        let (mut moved, mut blocked) = (false, false);
        let tx_queues = interface.tx_queues().max(1);
        for (rx_queue, batch) in (0..).zip(&mut self.queues) {
            if batch.is_empty() {
                let received = self.endpoint.counters().received;
                let left = self
                    .count
                    .map_or(u64::MAX, |count| count.saturating_sub(received));
                let max = usize::try_from(left).unwrap_or(usize::MAX).min(RX_BURST);
                let (endpoint, scratch) = (&mut self.endpoint, &mut self.scratch);
                let got = interface.rx_burst(rx_queue, max, |packet| {
                    let len = packet.copy_to(scratch);
                    let request = scratch.get(..len).unwrap_or_default();
                    let room = len.max(MIN_REPLY_ROOM);
                    batch.push_with(room, |out| endpoint.answer(request, out));
                })?;
                moved |= got > 0;
            }
            let sent = batch.send(interface, rx_queue % tx_queues)?;
            moved |= sent > 0;
            blocked |= !batch.is_empty();
        }
        Ok(Step::of(moved, blocked))
    }

    fn finished(&self) -> bool {
        let received = self.endpoint.counters().received;
        self.count.is_some_and(|count| received >= count) && self.queues.iter().all(Batch::is_empty)
    }

    fn wake_at(&self) -> Option<Instant> {
        self.next_gateway_request
            .filter(|_| self.endpoint.needs_gateway())
    }

    fn progress(&self) -> Progress {
        let counters = self.endpoint.counters();
        Progress {
            packets: counters.received,
            drops: counters.malformed,
        }
    }

    fn details(&self) -> String {
        let c = self.endpoint.counters();
        let gateway = c.gateway_mac.as_deref().unwrap_or("unknown");
        format!(
            "replies {} (arp {} echo {} nd {} echo6 {} udp {}) ignored {} malformed {} | gateway {gateway}",
            c.replies(),
            c.arp_replies,
            c.echo_replies,
            c.neighbor_adverts,
            c.echo6_replies,
            c.udp_echoes,
            c.ignored,
            c.malformed
        )
    }

    fn counters(&self) -> EndpointCounters {
        self.endpoint.counters().clone()
    }
}
