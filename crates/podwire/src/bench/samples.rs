//! Timed samples and their percentiles.

use std::time::Duration;

/// Durations, sorted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Samples(Vec<Duration>);

impl Samples {
    /// The samples, in any order.
    pub fn new(mut durations: Vec<Duration>) -> Samples {
        durations.sort_unstable();
        Samples(durations)
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The `p`-th percentile (0 < p ≤ 100) by nearest rank: the smallest sample with at
    /// least p % of them at or below it. Zero when there are none.
    pub fn percentile(&self, p: f64) -> Duration {
        let rank = (p / 100.0 * self.0.len() as f64).ceil() as usize;
        self.0
            .get(rank.clamp(1, self.0.len().max(1)) - 1)
            .copied()
            .unwrap_or_default()
    }

    /// The `p`-th percentile in µs.
    pub fn us(&self, p: f64) -> f64 {
        self.percentile(p).as_secs_f64() * 1e6
    }

    /// The `p`-th percentile in ms.
    pub fn ms(&self, p: f64) -> f64 {
        self.percentile(p).as_secs_f64() * 1e3
    }

    /// How many are longer than `limit`.
    pub fn above(&self, limit: Duration) -> usize {
        self.0.len() - self.0.partition_point(|&d| d <= limit)
    }

    /// The largest.
    pub fn max(&self) -> Duration {
        self.0.last().copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_by_nearest_rank() {
        let s = Samples::new((1..=100).rev().map(Duration::from_micros).collect());
        assert_eq!(s.percentile(50.0), Duration::from_micros(50));
        assert_eq!(s.percentile(99.0), Duration::from_micros(99));
        assert_eq!(s.percentile(100.0), Duration::from_micros(100));
        assert_eq!(s.max(), Duration::from_micros(100));
        assert_eq!(s.above(Duration::from_micros(90)), 10);
        assert_eq!(s.above(Duration::from_secs(1)), 0);
        assert!((s.us(50.0) - 50.0).abs() < 1e-9);
        assert!((s.ms(100.0) - 0.1).abs() < 1e-12);
        let two = Samples::new(vec![Duration::from_micros(7), Duration::from_micros(3)]);
        assert_eq!(two.percentile(50.0), Duration::from_micros(3));
        assert_eq!(two.percentile(99.0), Duration::from_micros(7));
        assert_eq!(Samples::default().percentile(50.0), Duration::ZERO);
    }
}
