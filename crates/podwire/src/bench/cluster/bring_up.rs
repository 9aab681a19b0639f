//! Pods brought up across the nodes: the Pod objects are applied and the namespaces made
//! first (not timed), as a scheduler and a runtime would before the network plugin runs;
//! then every node runs its CNI ADDs, [`IN_FLIGHT`] at a time, all nodes at once, and the
//! wall clock from the first ADD to the last tells the pods per second.

use std::thread;
use std::time::Instant;

use anyhow::Context;

use super::lab::{ClusterLab, POD_NETWORK, Pod, manifest};

/// CNI ADDs in flight at once on each node.
const IN_FLIGHT: usize = 5;

/// Brings up `per_node` pods on each node of `lab`; the pods, and the pods per second.
pub fn measure(lab: &ClusterLab, per_node: usize) -> anyhow::Result<(Vec<Pod>, f64)> {
    let nodes = lab.nodes().len();
    let total = nodes * per_node;
    println!(
        "bring-up: {total} pods, {per_node} on each node, {IN_FLIGHT} CNI ADDs in flight on \
         each node, the nodes at once"
    );
    let mut pods = Vec::with_capacity(total);
    let mut objects = Vec::with_capacity(total);
    for node in lab.nodes() {
        for i in 0..per_node {
            let name = format!("bench-{}-{i}", node.index + 1);
            objects.push(manifest::pod(&name, &node.name, &[("bench", "cluster")]));
            pods.push(lab.pod(node.index, &name)?);
        }
    }
    lab.apply(&manifest::documents(&objects))?;

    let start = Instant::now();
    let results: Vec<anyhow::Result<()>> = thread::scope(|s| {
        let mut workers = Vec::new();
        for node_pods in pods.chunks_mut(per_node) {
            for share in node_pods.chunks_mut(per_node.div_ceil(IN_FLIGHT)) {
                workers.push(s.spawn(move || {
                    share.iter_mut().try_for_each(|pod| {
                        pod.add(POD_NETWORK)
                            .with_context(|| format!("bringing up pod {}", pod.name))
                    })
                }));
            }
        }
        workers
            .into_iter()
            .map(|w| w.join().expect("a bring-up thread panicked"))
            .collect()
    });
    let wall = start.elapsed();
    results.into_iter().collect::<anyhow::Result<()>>()?;
    let per_s = total as f64 / wall.as_secs_f64();
    println!(
        "  {total} pods in {:.3} s: {per_s:.1} pods/s",
        wall.as_secs_f64()
    );
    Ok((pods, per_s))
}
