//! Counters every node keeps: how often it ran and what it dropped, and why; and the
//! counters of the interfaces the data plane ends itself (tunnels).

use crate::interface::IfIndex;

/// A reason a node drops a packet, as shown by `podwire ctl show errors`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct DropReason {
    /// Short name, e.g. `ttl-expired`.
    pub name: &'static str,
    /// What it means, for a person reading the counters.
    pub description: &'static str,
}

/// What a node did, for `podwire ctl show runtime`.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeCounters {
    /// Times the node was called.
    pub calls: u64,
    /// Vectors processed (one per call).
    pub vectors: u64,
    /// Packets processed.
    pub packets: u64,
    /// Time spent in the node, by the graph's tick source.
    pub nanos: u64,
}

/// What crossed an interface the data plane itself ends (a VXLAN tunnel: no device counts
/// for it), in the terms of a device's counters: whole Ethernet frames.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct InterfaceCounters {
    /// Frames received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
}

/// Offload work a worker did in software (see [`crate::offload`]), for `podwire ctl show
/// runtime`: segmentation and checksums for devices that could not do them (a high count
/// says a device or a tunnel lacks an offload the traffic would use), and segments merged
/// into large ones for devices that take them (GRO).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct OffloadCounters {
    /// Large packets (TSO/USO) cut into segments.
    pub segmented: u64,
    /// Segments made of them.
    pub segments: u64,
    /// Packets whose checksum was completed, or that made one segment and were finished
    /// in place.
    pub finished: u64,
    /// Large packets made by merging segments of one TCP flow.
    pub merged: u64,
    /// Segments merged into them (each counted once, the first included).
    pub merged_segments: u64,
}

impl OffloadCounters {
    /// Counts a large packet cut into `segments`.
    #[inline]
    pub fn count_segmented(&mut self, segments: usize) {
        self.segmented += 1;
        self.segments += segments as u64;
    }

    /// Counts a packet finished in place.
    #[inline]
    pub fn count_finished(&mut self) {
        self.finished += 1;
    }

    /// Counts a large packet made of `segments` merged.
    #[inline]
    pub fn count_merged(&mut self, segments: usize) {
        self.merged += 1;
        self.merged_segments += segments as u64;
    }

    /// The counters as rows of `show runtime`, in the terms of a node's: one call and one
    /// vector per packet worked on, its packets those it became or was made of, so that
    /// packets per vector reads as segments per large packet. No time: it is counted in the
    /// node that did the work (`interface-output`).
    pub fn runtime(&self) -> [(&'static str, NodeCounters); 3] {
        let row = |calls: u64, packets: u64| NodeCounters {
            calls,
            vectors: calls,
            packets,
            nanos: 0,
        };
        [
            ("offload-segment", row(self.segmented, self.segments)),
            ("offload-checksum", row(self.finished, self.finished)),
            ("offload-merge", row(self.merged, self.merged_segments)),
        ]
    }
}

/// [`InterfaceCounters`] by interface index, grown as interfaces are counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InterfaceCounterTable {
    by_index: Vec<InterfaceCounters>,
}

impl InterfaceCounterTable {
    /// Counts a frame of `bytes` received on `interface`.
    #[inline]
    pub fn count_rx(&mut self, interface: IfIndex, bytes: usize) {
        let c = self.entry(interface);
        c.rx_packets += 1;
        c.rx_bytes += bytes as u64;
    }

    /// Counts a frame of `bytes` sent by `interface`.
    #[inline]
    pub fn count_tx(&mut self, interface: IfIndex, bytes: usize) {
        let c = self.entry(interface);
        c.tx_packets += 1;
        c.tx_bytes += bytes as u64;
    }

    /// The counters of `interface` (zero if it never counted).
    pub fn get(&self, interface: IfIndex) -> InterfaceCounters {
        self.by_index
            .get(interface.as_usize())
            .copied()
            .unwrap_or_default()
    }

    /// Every interface that counted something, with its counters.
    pub fn iter(&self) -> impl Iterator<Item = (IfIndex, InterfaceCounters)> + '_ {
        self.by_index
            .iter()
            .enumerate()
            .filter(|(_, c)| **c != InterfaceCounters::default())
            .map(|(i, c)| (IfIndex(i as u16), *c))
    }

    fn entry(&mut self, interface: IfIndex) -> &mut InterfaceCounters {
        let i = interface.as_usize();
        if i >= self.by_index.len() {
            self.by_index.resize(i + 1, InterfaceCounters::default());
        }
        &mut self.by_index[i]
    }
}

/// Declares a node's drop reasons as an enum whose values index `ALL`.
///
/// ```
/// podwire_dataplane::drop_reasons! {
///     pub enum Drop {
///         Truncated => ("truncated", "shorter than its header"),
///     }
/// }
/// assert_eq!(Drop::ALL[Drop::Truncated as usize].name, "truncated");
/// ```
#[macro_export]
macro_rules! drop_reasons {
    ($vis:vis enum $name:ident { $($variant:ident => ($code:literal, $desc:literal)),* $(,)? }) => {
        /// Why this node drops packets.
        #[derive(Copy, Clone, Debug, PartialEq, Eq)]
        #[repr(u16)]
        $vis enum $name { $(#[doc = $desc] $variant),* }
        impl $name {
            /// Every reason, in the order of the enum.
            pub const ALL: &'static [$crate::counters::DropReason] = &[
                $($crate::counters::DropReason { name: $code, description: $desc }),*
            ];
        }
        impl From<$name> for u16 {
            fn from(reason: $name) -> u16 {
                reason as u16
            }
        }
    };
}

/// Declares a node's next nodes as an enum whose values index `ALL`, the
/// names the graph resolves when it is built.
///
/// ```
/// podwire_dataplane::next_nodes! {
///     pub enum Next { Ip4 => "ip4-input", Ip6 => "ip6-input" }
/// }
/// assert_eq!(Next::ALL[Next::Ip6 as usize], "ip6-input");
/// ```
#[macro_export]
macro_rules! next_nodes {
    ($vis:vis enum $name:ident { $($variant:ident => $node:literal),* $(,)? }) => {
        /// Where this node sends packets.
        #[derive(Copy, Clone, Debug, PartialEq, Eq)]
        #[repr(u16)]
        $vis enum $name { $(#[doc = $node] $variant),* }
        impl $name {
            /// The names of the next nodes, in the order of the enum.
            pub const ALL: &'static [&'static str] = &[$($node),*];
        }
        impl From<$name> for usize {
            fn from(next: $name) -> usize {
                next as usize
            }
        }
    };
}
