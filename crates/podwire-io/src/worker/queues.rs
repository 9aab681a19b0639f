//! A multi-queue tap as the workers use it: each worker reads its own queue (an [`RxPort`]
//! per queue, [`Workers::attach_queues`](super::Workers::attach_queues)) and writes through
//! its own queue too.
//!
//! Writing through its own queue is what keeps a flow's packets on its owner: the kernel
//! remembers the queue a flow was last written by (tun's automatic flow steering, keyed by
//! the symmetric flow hash) and queues what the pod sends back on that flow to it. The owner
//! of a flow is the worker that writes its packets into the pod, so after the first packet
//! the pod's side of the flow arrives where it is handled, with no handoff.

use std::sync::Arc;

use crate::tap::Tap;

use super::{PortCounters, TxBatch, TxPort, TxScratch, current_worker};

/// The queues of one multi-queue tap, by worker.
pub struct TapQueues(Vec<Arc<Tap>>);

impl TapQueues {
    /// Queue `i` of `queues` for worker `i` (a worker beyond them shares by its number).
    /// `None` when there are none.
    pub fn new(queues: Vec<Arc<Tap>>) -> Option<Self> {
        (!queues.is_empty()).then_some(TapQueues(queues))
    }
}

impl TxPort for TapQueues {
    fn send(&self, batch: TxBatch<'_>, scratch: &mut TxScratch, counters: &mut PortCounters) {
        let queue = current_worker().unwrap_or(0) % self.0.len();
        TxPort::send(&*self.0[queue], batch, scratch, counters);
    }
}
