//! A daemon restart under traffic: a pod on the first node keeps established TCP connections
//! to a pod on the second node and probes it over UDP every millisecond; the first node's
//! daemon is stopped (SIGTERM) and started again. The longest silence of the probe is how
//! long forwarding stopped; each connection must still answer afterwards. A TCP stream (a
//! word every millisecond, echoed) shows what TCP made of the stop: its retransmissions
//! back off, so it may resume later than forwarding did.

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::lab::traffic::ANSWER_TIMEOUT;
use super::lab::{ClusterLab, Pod, PodServer, Prober, TcpConn, manifest};
use super::role;

/// The probe's interval.
const INTERVAL: Duration = Duration::from_millis(1);
/// How long the probe runs before and after the restart.
const STEADY: Duration = Duration::from_millis(500);
/// How long forwarding may take to come back before the run fails.
const RESUME_LIMIT: Duration = Duration::from_secs(30);

/// What the restart cost.
#[derive(Debug, Clone)]
pub struct Restarted {
    /// The probe's longest silence.
    pub gap: Duration,
    /// Connections that did not answer afterwards.
    pub connections_lost: usize,
}

/// Restarts the first node's daemon while `connections` TCP connections and the probe run.
pub fn measure(
    lab: &mut ClusterLab,
    pods: &[Pod],
    connections: usize,
) -> anyhow::Result<Restarted> {
    let (client, server) = (role(pods, 0, 2), role(pods, 1, 2));
    let node = lab.node(client.node).name.clone();
    println!(
        "restart: the daemon of {node} restarts while pod {} there keeps {connections} TCP \
         connections to pod {} on {} and probes it over UDP every {INTERVAL:?}",
        client.name,
        server.name,
        lab.node(server.node).name
    );
    let _server = PodServer::start(server, "echo", manifest::SERVER_PORT)?;
    let to = SocketAddr::new(server.ip(false)?, manifest::SERVER_PORT);
    let mut conns = (0..connections)
        .map(|_| {
            let mut conn = TcpConn::open(client, to, Duration::from_secs(5))?;
            conn.echo().context("a fresh connection does not echo")?;
            Ok(conn)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let prober = Prober::udp(client, to, INTERVAL)?;
    let stream = Prober::tcp(client, to, INTERVAL)?;
    thread::sleep(STEADY);
    if prober.answered() == 0 {
        bail!(
            "the UDP probe from {} to {to} got no answer before the restart",
            client.name
        );
    }
    let node = lab.node_mut(client.node);
    node.stop()?;
    // Nothing is forwarded now: an answer to a packet sent from here on shows that forwarding
    // works again.
    let first_after = prober.sent();
    let stopped = Instant::now();
    node.start()?;
    while prober.answered_from(first_after) == 0 {
        if stopped.elapsed() > RESUME_LIMIT {
            bail!("forwarding did not resume within {RESUME_LIMIT:?} of the daemon's restart");
        }
        thread::sleep(INTERVAL);
    }
    thread::sleep(STEADY);
    let probe = prober.stop(STEADY);
    let streamed = stream.stop(ANSWER_TIMEOUT);
    let lost: Vec<String> = thread::scope(|s| {
        let checks: Vec<_> = conns
            .iter_mut()
            .map(|conn| s.spawn(move || conn.echo()))
            .collect();
        checks
            .into_iter()
            .filter_map(|c| c.join().expect("a connection check panicked").err())
            .map(|e| e.to_string())
            .collect()
    });
    let gap = probe.longest_gap();
    println!(
        "  forwarding stopped for {:.1} ms: the probe sent {}, {} never came back{}; {} of \
         {connections} TCP connections lost{}",
        gap.as_secs_f64() * 1e3,
        probe.sent,
        probe.lost(),
        probe.error.map(|e| format!(" ({e})")).unwrap_or_default(),
        lost.len(),
        lost.first()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default()
    );
    println!(
        "  the TCP stream's longest silence: {:.1} ms; {} of {} words came back{}",
        streamed.longest_gap().as_secs_f64() * 1e3,
        streamed.answered(),
        streamed.sent,
        streamed
            .error
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    );
    Ok(Restarted {
        gap,
        connections_lost: lost.len(),
    })
}
