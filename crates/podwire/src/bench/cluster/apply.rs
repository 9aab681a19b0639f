//! The time from `podwire ctl apply` of a Service change to the change being in effect on
//! every node. Two backends answer with their names, "blue" on the first node and "green" on
//! the second; a client in a pod on every node connects to the Service again and again. Each
//! change switches the Service's selector to the other backend, applied on each node in turn;
//! it is in effect once every client has reached the new backend.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::super::samples::Samples;
use super::lab::{ClusterLab, Pod, PodServer, TcpConn, manifest};
use super::role;

/// The Service's ClusterIP (in the daemons' default Service CIDR).
const CLUSTER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 96, 0, 100));
/// The Service.
const SERVICE: &str = "bench-color";
/// The backends, on the first and second node.
const COLORS: [&str; 2] = ["blue", "green"];
/// How long a client waits to connect and for the name (a few milliseconds when it works). A
/// SYN dropped while a node switches backends is not worth waiting for: the next attempt is as
/// good; the timeout bounds what such a drop adds to a change's time.
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(50);
/// A client's pause between attempts.
const PAUSE: Duration = Duration::from_millis(1);
/// How long a change may take before the run fails.
const CHANGE_LIMIT: Duration = Duration::from_secs(30);

/// What every client is after: the backend of change `generation`, and when it first
/// reached it.
#[derive(Debug, Default)]
struct Goal {
    generation: u64,
    want: String,
    reached: Option<Instant>,
}

/// One client's goal, shared with its thread.
type Shared = Arc<Mutex<Goal>>;

/// Times `changes` Service changes; their latencies.
pub fn measure(lab: &ClusterLab, pods: &[Pod], changes: usize) -> anyhow::Result<Samples> {
    println!(
        "apply: {changes} Service changes, each from `podwire ctl apply` on a node in turn until \
         a client on every node reaches the new backend"
    );
    let backends: Vec<&Pod> = (0..COLORS.len()).map(|n| role(pods, n, 0)).collect();
    let _servers = backends
        .iter()
        .zip(COLORS)
        .map(|(pod, color)| PodServer::start(pod, color, manifest::SERVER_PORT))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let labels: Vec<String> = backends
        .iter()
        .zip(COLORS)
        .map(|(pod, color)| manifest::pod(&pod.name, &lab.node(pod.node).name, &[("color", color)]))
        .collect();
    lab.apply(&manifest::documents(&labels))?;

    let clients: Vec<&Pod> = (0..lab.nodes().len()).map(|n| role(pods, n, 1)).collect();
    let goals: Vec<Shared> = clients.iter().map(|_| Shared::default()).collect();
    let stop = AtomicBool::new(false);
    let to = SocketAddr::new(CLUSTER_IP, manifest::SERVICE_PORT);
    thread::scope(|s| {
        let watchers: Vec<_> = clients
            .iter()
            .zip(&goals)
            .map(|(pod, goal)| {
                let stop = &stop;
                s.spawn(move || pod.run_in(|| watch(to, goal, stop)))
            })
            .collect();
        let result = time_changes(lab, &goals, changes);
        stop.store(true, Ordering::Relaxed);
        for watcher in watchers {
            watcher.join().expect("a client thread panicked")?;
        }
        result
    })
}

/// Applies the first selector (not timed), then `changes` changes, each timed.
fn time_changes(lab: &ClusterLab, goals: &[Shared], changes: usize) -> anyhow::Result<Samples> {
    let nodes = lab.nodes();
    change(&nodes[0], goals, 0, COLORS[0])
        .context("the Service never reached its first backend")?;
    let mut took = Vec::with_capacity(changes);
    for generation in 1..=changes {
        let color = COLORS[generation % COLORS.len()];
        let node = &nodes[generation % nodes.len()];
        took.push(change(node, goals, generation as u64, color)?);
    }
    let samples = Samples::new(took);
    println!(
        "  p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        samples.ms(50.0),
        samples.ms(99.0),
        samples.max().as_secs_f64() * 1e3
    );
    Ok(samples)
}

/// Points the Service at `color` with `podwire ctl apply` on `node`; how long until every
/// client reached it.
fn change(
    node: &super::lab::Node,
    goals: &[Shared],
    generation: u64,
    color: &str,
) -> anyhow::Result<Duration> {
    for goal in goals {
        *goal.lock().unwrap() = Goal {
            generation,
            want: color.to_owned(),
            reached: None,
        };
    }
    let start = Instant::now();
    node.apply(&manifest::service(SERVICE, CLUSTER_IP, &[("color", color)]))?;
    loop {
        let reached: Vec<Option<Instant>> =
            goals.iter().map(|g| g.lock().unwrap().reached).collect();
        if let Some(last) = reached.iter().copied().collect::<Option<Vec<_>>>() {
            let last = last.into_iter().max().unwrap_or(start);
            return Ok(last.saturating_duration_since(start));
        }
        if start.elapsed() > CHANGE_LIMIT {
            bail!(
                "the Service did not reach {color} from every node within {CHANGE_LIMIT:?} \
                 (reached: {reached:?})"
            );
        }
        thread::sleep(PAUSE);
    }
}

/// A client, on a thread inside its pod: connects to `to` until stopped, and notes when it
/// first reached the backend its goal wants.
fn watch(to: SocketAddr, goal: &Mutex<Goal>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let generation = goal.lock().unwrap().generation;
        // A failed attempt (no backend yet, a lost SYN) is only a wait; the next one tells.
        if let Ok(conn) = TcpConn::open_here(to, ATTEMPT_TIMEOUT) {
            let now = Instant::now();
            let mut goal = goal.lock().unwrap();
            if goal.generation == generation && goal.want == conn.server && goal.reached.is_none() {
                goal.reached = Some(now);
            }
        }
        thread::sleep(PAUSE);
    }
}
