//! `interface-output`: the last node. Queues each packet on the output
//! queue of the interface in `meta.tx_if`, where the worker picks it up
//! for the device.
//!
//! A packet may ask its device for work (`meta.offload`: a checksum, segmentation) that
//! the device does not take (`InterfaceConfig::offloads`): that work is done here first
//! ([`crate::offload::prepare`]), so that what a queue holds asks only for what its device
//! does. A large segment leaves as several packets.
//!
//! Toward a device that takes TSO it is the other way round: consecutive TCP segments of a
//! flow in the vector are merged into one large segment ([`offload::Gro`]), so that a stream
//! that came as MTU-sized segments (over VXLAN, from an uplink) costs a pod's tap one write
//! per 64 KiB. The merges end with the vector.

use crate::buffer::BufferIndex;
use crate::graph::{Context, Dispatch, Node};
use crate::interface::IfIndex;
use crate::offload;

offload::drop_reasons_with_offload! {
    pub enum Drop {
        NoInterface => ("no-interface", "the packet names an interface that does not exist (it was removed)"),
        QueueFull => ("tx-queue-full", "the device did not keep up and its output queue is full"),
    }
}

/// The `interface-output` node.
#[derive(Debug, Default)]
pub struct InterfaceOutput {
    /// The merges open in the vector being processed.
    gro: offload::Gro,
}

impl Node for InterfaceOutput {
    fn name(&self) -> &'static str {
        "interface-output"
    }

    fn next_nodes(&self) -> &'static [&'static str] {
        &[]
    }

    fn drop_reasons(&self) -> &'static [crate::counters::DropReason] {
        Drop::ALL
    }

    fn process(&mut self, cx: &mut Context<'_>, packets: &[BufferIndex], out: &mut Dispatch) {
        for &bi in packets {
            let tx_if = cx.pool.meta(bi).tx_if;
            let Some(interface) = cx.tables.interface(tx_if) else {
                out.drop(bi, Drop::NoInterface);
                continue;
            };
            if cx.pool.meta(bi).trace.is_some() {
                let name = interface.name.clone();
                cx.note(bi, || format!("tx {name}"));
            }
            let device = interface.offloads;
            if offload::merges_for(device) {
                match self.gro.offer(cx, bi, tx_if, device) {
                    offload::Offer::Merged => continue,
                    offload::Offer::Start(segment) => {
                        if queue(cx, tx_if, bi, out) {
                            self.gro.start(bi, segment);
                        }
                        continue;
                    }
                    offload::Offer::Alone => {}
                }
            }
            if cx.pool.meta(bi).offload.asks_for_work() {
                offload::finish_then::<Drop>(cx, bi, device, out, |cx, bi, out| {
                    queue(cx, tx_if, bi, out);
                });
            } else {
                queue(cx, tx_if, bi, out);
            }
        }
        self.gro.flush(cx);
    }
}

/// Queues `bi` on `tx_if`; whether it could (else it is dropped).
fn queue(cx: &mut Context<'_>, tx_if: IfIndex, bi: BufferIndex, out: &mut Dispatch) -> bool {
    match cx.tx.push(tx_if, bi) {
        Ok(()) => true,
        Err(bi) => {
            out.drop(bi, Drop::QueueFull);
            false
        }
    }
}
