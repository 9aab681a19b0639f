//! A token bucket: how many frames `gen --rate` may send by now. Integer
//! arithmetic (frames × nanoseconds), and time is a parameter, so that it
//! is exact and tested without clocks.

use std::time::{Duration, Instant};

/// Nanoseconds per second: a token is this many credit units.
const NANOS: u128 = 1_000_000_000;
/// Tokens are kept for at most this many nanoseconds of sending (one
/// millisecond), so that a late wake-up catches up and a stall does not
/// end in a flood.
const HORIZON_NANOS: u128 = 1_000_000;

/// Frames allowed at `rate` per second.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    /// Frames per second, at least 1.
    rate: u128,
    /// The most frames the bucket holds.
    capacity: u128,
    /// Frames earned, times [`NANOS`].
    credit: u128,
    last: Instant,
}

impl TokenBucket {
    /// An empty bucket filling at `rate` frames per second from `now`; it
    /// holds a millisecond of frames, and at least `burst`.
    pub fn new(rate: u64, burst: usize, now: Instant) -> TokenBucket {
        let rate = u128::from(rate.max(1));
        TokenBucket {
            rate,
            capacity: (rate * HORIZON_NANOS / NANOS).max(burst as u128),
            credit: 0,
            last: now,
        }
    }

    /// Empties the bucket, to start again at `now` (a new connection).
    pub fn restart(&mut self, now: Instant) {
        self.credit = 0;
        self.last = now;
    }

    /// Adds the tokens earned since the last call.
    pub fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_nanos();
        self.credit = (self.credit + elapsed * self.rate).min(self.capacity * NANOS);
        self.last = self.last.max(now);
    }

    /// Whole tokens available.
    pub fn available(&self) -> u64 {
        u64::try_from(self.credit / NANOS).unwrap_or(u64::MAX)
    }

    /// Spends `n` tokens.
    pub fn take(&mut self, n: u64) {
        self.credit = self.credit.saturating_sub(u128::from(n) * NANOS);
    }

    /// When there will be enough tokens for a burst worth a wake-up: up to
    /// `burst`, no more than a millisecond's worth, at least one.
    pub fn ready_at(&self, burst: usize) -> Instant {
        let want = (burst as u128)
            .min(self.rate * HORIZON_NANOS / NANOS)
            .max(1);
        let missing = (want * NANOS).saturating_sub(self.credit);
        let nanos = missing.div_ceil(self.rate);
        self.last + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earns_rate_times_time_up_to_a_millisecond_of_frames() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(1_000_000, 32, start);
        assert_eq!(bucket.available(), 0);
        bucket.refill(start + Duration::from_micros(100));
        assert_eq!(bucket.available(), 100);
        bucket.take(60);
        assert_eq!(bucket.available(), 40);
        // A long stall earns one millisecond's worth, not a second's.
        bucket.refill(start + Duration::from_secs(1));
        assert_eq!(bucket.available(), 1000);
    }

    #[test]
    fn a_slow_rate_still_holds_a_whole_burst_and_wakes_for_one_frame() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10, 32, start);
        // 10 frames per second: the next frame is due in 100 ms.
        assert_eq!(bucket.ready_at(32), start + Duration::from_millis(100));
        bucket.refill(start + Duration::from_secs(10));
        assert_eq!(bucket.available(), 32);
    }

    #[test]
    fn a_fast_rate_wakes_for_a_burst() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(1_000_000, 32, start);
        assert_eq!(bucket.ready_at(32), start + Duration::from_micros(32));
        bucket.refill(start + Duration::from_micros(10));
        assert_eq!(bucket.ready_at(32), start + Duration::from_micros(32));
    }

    #[test]
    fn a_restart_forgets_earned_tokens_and_a_clock_going_back_earns_nothing() {
        let start = Instant::now() + Duration::from_secs(1);
        let mut bucket = TokenBucket::new(1000, 1, start);
        bucket.refill(start + Duration::from_millis(1));
        assert_eq!(bucket.available(), 1);
        bucket.restart(start + Duration::from_millis(1));
        assert_eq!(bucket.available(), 0);
        bucket.refill(start - Duration::from_millis(500));
        assert_eq!(bucket.available(), 0);
        bucket.refill(start + Duration::from_millis(2));
        assert_eq!(bucket.available(), 1);
    }
}
