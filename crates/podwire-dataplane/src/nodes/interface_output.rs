//! `interface-output`: the last node. Queues each packet on the output
//! queue of the interface in `meta.tx_if`, where the worker picks it up
//! for the device.

use crate::buffer::BufferIndex;
use crate::graph::{Context, Dispatch, Node};

crate::drop_reasons! {
    pub enum Drop {
        NoInterface => ("no-interface", "the packet names an interface that does not exist (it was removed)"),
        QueueFull => ("tx-queue-full", "the device did not keep up and its output queue is full"),
    }
}

/// The `interface-output` node.
#[derive(Debug, Default)]
pub struct InterfaceOutput;

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
            if let Err(bi) = cx.tx.push(tx_if, bi) {
                out.drop(bi, Drop::QueueFull);
            }
        }
    }
}
