//! The regions of one connection, by index.

use super::region::{Region, RegionError};
use crate::types::MAX_REGION_INDEX;

/// The mapped regions of one connection; index `i` is the region announced
/// with ADD_REGION index `i`. Every descriptor is resolved through this on
/// every use: nothing caches a pointer taken from a descriptor.
#[derive(Debug, Default)]
pub struct Regions {
    list: Vec<Region>,
}

impl Regions {
    /// No regions yet.
    pub fn new() -> Regions {
        Regions::default()
    }

    /// Adds the next region and returns its index.
    pub fn push(&mut self, region: Region) -> Result<u16, RegionError> {
        let index = u16::try_from(self.list.len())
            .ok()
            .filter(|&i| i <= MAX_REGION_INDEX)
            .ok_or(RegionError::TooMany)?;
        self.list.push(region);
        Ok(index)
    }

    /// The region with this index, if there is one.
    #[inline]
    pub fn get(&self, index: u16) -> Option<&Region> {
        self.list.get(usize::from(index))
    }

    /// How many regions there are.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_follow_insertion_and_stop_at_256() {
        let mut regions = Regions::new();
        for expected in 0..=MAX_REGION_INDEX {
            let (r, _fd) = Region::create("t", 1).unwrap();
            assert_eq!(regions.push(r).unwrap(), expected);
        }
        let (r, _fd) = Region::create("t", 1).unwrap();
        assert!(matches!(regions.push(r), Err(RegionError::TooMany)));
        assert_eq!(regions.len(), 256);
        assert!(regions.get(255).is_some());
        assert!(regions.get(256).is_none());
    }
}
