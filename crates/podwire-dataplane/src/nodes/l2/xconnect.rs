//! `l2-xconnect`: a wire between two interfaces. Every frame received on a
//! cross-connected interface leaves by its peer, unchanged and unlooked-at
//! (a service function chain hands a CNF's traffic to the next one so).

use crate::buffer::BufferIndex;
use crate::graph::{Context, Dispatch, Node};
use crate::interface::InterfaceMode;

crate::drop_reasons! {
    pub enum Drop {
        NotCrossConnected => ("not-cross-connected", "the frame came in on an interface that is not cross-connected (the configuration changed while it was in flight)"),
    }
}

crate::next_nodes! {
    pub enum Next { Output => "interface-output" }
}

/// The `l2-xconnect` node.
#[derive(Debug, Default)]
pub struct L2Xconnect;

impl Node for L2Xconnect {
    fn name(&self) -> &'static str {
        "l2-xconnect"
    }

    fn next_nodes(&self) -> &'static [&'static str] {
        Next::ALL
    }

    fn drop_reasons(&self) -> &'static [crate::counters::DropReason] {
        Drop::ALL
    }

    fn process(&mut self, cx: &mut Context<'_>, packets: &[BufferIndex], out: &mut Dispatch) {
        let tables = cx.tables;
        for &bi in packets {
            let rx = cx.pool.meta(bi).rx_if;
            let Some(&InterfaceMode::CrossConnect(peer)) = tables.interface(rx).map(|c| &c.mode)
            else {
                out.drop(bi, Drop::NotCrossConnected);
                continue;
            };
            cx.pool.meta_mut(bi).tx_if = peer;
            out.send(Next::Output, bi);
        }
    }
}
