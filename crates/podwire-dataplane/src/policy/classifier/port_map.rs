//! Port → the table of its segment, for one protocol of a classifier.
//!
//! A binary search over all the segments' first ports costs a dependent load per halving:
//! about 13 with the 8 000 segments of 10 000 rules, the largest part of a lookup. The map
//! cuts the ports into equal blocks, about one for every [`SEGMENTS_PER_BLOCK`] segments,
//! and keeps the segment holding each block's first port: a search reads that, then only
//! the first ports of the segments starting inside the block.

/// Segments per block of ports the map aims for: about two halvings after the block's
/// entry, for 2 bytes a block.
const SEGMENTS_PER_BLOCK: usize = 4;

/// The segments of one protocol's ports, each with its table.
#[derive(Clone, Debug)]
pub(super) struct PortMap {
    /// The first port of each segment, ascending; the first is 0.
    starts: Vec<u16>,
    /// Each segment's table, an index into [`super::Classifier::tables`].
    tables: Vec<u32>,
    /// A block holds the ports with the same `port >> shift`.
    shift: u32,
    /// Per block, the segment holding its first port; then the last segment. The segments
    /// starting inside block `b` are `blocks[b] + 1..=blocks[b + 1]`.
    blocks: Vec<u16>,
}

impl PortMap {
    /// The map of `segments`: (first port, table), the first ports ascending, the first 0.
    pub(super) fn new(segments: Vec<(u16, u32)>) -> Self {
        let (starts, tables): (Vec<u16>, Vec<u32>) = segments.into_iter().unzip();
        debug_assert!(starts.first() == Some(&0) && starts.is_sorted());
        // A power of two of blocks, from 1 to one per port.
        let count = (starts.len() / SEGMENTS_PER_BLOCK)
            .max(1)
            .next_power_of_two()
            .min(1 << u16::BITS);
        let shift = u16::BITS - count.trailing_zeros();
        let blocks = (0..=count)
            .map(|b| {
                let first_port = b << shift;
                let holding = starts
                    .partition_point(|&s| usize::from(s) <= first_port)
                    .saturating_sub(1);
                // At most 65 536 distinct first ports: their positions fit.
                holding as u16
            })
            .collect();
        PortMap {
            starts,
            tables,
            shift,
            blocks,
        }
    }

    /// The table of `port`'s segment; `None` only for a map without segments (none is
    /// made).
    #[inline]
    pub(super) fn get(&self, port: u16) -> Option<u32> {
        let block = usize::from(port) >> self.shift;
        let holding_first = usize::from(*self.blocks.get(block)?);
        let last_inside = usize::from(*self.blocks.get(block + 1)?);
        let inside = self.starts.get(holding_first + 1..=last_inside)?;
        let segment = holding_first + inside.partition_point(|&s| s <= port);
        self.tables.get(segment).copied()
    }

    /// Bytes it takes besides itself.
    pub(super) fn heap_bytes(&self) -> usize {
        self.starts.capacity() * size_of::<u16>()
            + self.tables.capacity() * size_of::<u32>()
            + self.blocks.capacity() * size_of::<u16>()
    }
}

#[cfg(test)]
mod tests;
