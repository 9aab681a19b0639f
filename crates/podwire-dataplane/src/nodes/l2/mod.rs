//! The L2 nodes: bridge domains (`l2-input`) and cross-connects
//! (`l2-xconnect`). `ethernet-input` hands them the frames of bridged and
//! cross-connected interfaces as received, Ethernet header first; they
//! choose the output port and leave the frame unchanged.

pub mod input;
pub mod xconnect;

#[cfg(test)]
mod tests;
