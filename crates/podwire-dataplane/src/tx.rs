//! Packets waiting to leave, per interface. The graph fills the queues; the
//! worker hands them to the devices after each run and frees the buffers.

use crate::buffer::BufferIndex;
use crate::interface::IfIndex;

/// The most packets that may wait for one interface; past this the
/// interface-output node drops (the device is not keeping up).
pub const TX_QUEUE_LIMIT: usize = 4096;

/// Output queues, one per interface.
#[derive(Debug, Default)]
pub struct TxQueues {
    queues: Vec<Vec<BufferIndex>>,
}

impl TxQueues {
    /// Queues a packet on an interface; gives it back when the queue is full.
    #[inline]
    pub fn push(&mut self, interface: IfIndex, bi: BufferIndex) -> Result<(), BufferIndex> {
        let i = interface.as_usize();
        if i >= self.queues.len() {
            self.queues.resize_with(i + 1, Vec::new);
        }
        let q = &mut self.queues[i];
        if q.len() >= TX_QUEUE_LIMIT {
            return Err(bi);
        }
        q.push(bi);
        Ok(())
    }

    /// The packets queued on an interface, to send and remove.
    pub fn queue_mut(&mut self, interface: IfIndex) -> Option<&mut Vec<BufferIndex>> {
        self.queues.get_mut(interface.as_usize())
    }

    /// Interfaces that have packets queued.
    pub fn pending(&self) -> impl Iterator<Item = IfIndex> + '_ {
        self.queues
            .iter()
            .enumerate()
            .filter(|(_, q)| !q.is_empty())
            .map(|(i, _)| IfIndex(i as u16))
    }
}
