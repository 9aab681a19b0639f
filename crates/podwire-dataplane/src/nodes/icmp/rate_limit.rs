//! The rate limit of the ICMP errors a worker sends (RFC 1812 §4.3.2.8,
//! RFC 4443 §2.4(f)): a flood of packets that each deserve an error (a scan
//! of unrouted addresses, a TTL-1 flood) must not make the switch flood
//! back. A token bucket, refilled by the clock the worker passes in.

use std::time::Duration;

use crate::clock::Instant;

/// Errors a worker sends per second, on average: Linux's default
/// (`net.ipv4.icmp_msgs_per_sec`).
pub const ICMP_ERRORS_PER_SECOND: u64 = 1000;
/// Errors a worker may send at once after a quiet time: enough for a
/// traceroute's probes (3 per hop) over a long path, and for the errors of
/// a whole vector of unroutable packets from a few senders.
pub const ICMP_ERROR_BURST: u64 = 100;

/// The time that earns one error.
const PER_ERROR: Duration = Duration::from_nanos(1_000_000_000 / ICMP_ERRORS_PER_SECOND);
/// The most credit the bucket holds.
const FULL: Duration = Duration::from_nanos(PER_ERROR.as_nanos() as u64 * ICMP_ERROR_BURST);

/// A worker's ICMP error budget, kept as credit time so that no fraction of
/// a token is lost between two calls. Starts full.
#[derive(Debug)]
pub struct IcmpErrorLimit {
    credit: Duration,
    updated: Option<Instant>,
}

impl Default for IcmpErrorLimit {
    fn default() -> Self {
        IcmpErrorLimit {
            credit: FULL,
            updated: None,
        }
    }
}

impl IcmpErrorLimit {
    /// Whether an error may be sent now; takes one from the budget if so.
    pub fn allow(&mut self, now: Instant) -> bool {
        if let Some(updated) = self.updated {
            self.credit = (self.credit + now.saturating_since(updated)).min(FULL);
        }
        // A clock read earlier than the last one earns nothing, and does
        // not move the reference back (which would earn the gap twice).
        self.updated = Some(self.updated.map_or(now, |u| u.max(now)));
        match self.credit.checked_sub(PER_ERROR) {
            Some(rest) => {
                self.credit = rest;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(limit: &mut IcmpErrorLimit, now: Instant, tries: u64) -> u64 {
        (0..tries).filter(|_| limit.allow(now)).count() as u64
    }

    #[test]
    fn a_burst_then_the_rate() {
        let mut limit = IcmpErrorLimit::default();
        let t0 = Instant::from_nanos(5_000_000_000);
        assert_eq!(allowed(&mut limit, t0, 150), ICMP_ERROR_BURST);
        // 10 ms earn 10 errors at 1000/s.
        assert_eq!(
            allowed(&mut limit, t0.after(Duration::from_millis(10)), 50),
            10
        );
        // Half a token is kept for later, not lost.
        let t1 = t0.after(Duration::from_micros(10_500));
        assert_eq!(allowed(&mut limit, t1, 5), 0);
        assert_eq!(
            allowed(&mut limit, t1.after(Duration::from_micros(500)), 5),
            1
        );
    }

    #[test]
    fn a_long_quiet_time_refills_only_the_burst() {
        let mut limit = IcmpErrorLimit::default();
        let t0 = Instant::from_nanos(0);
        assert_eq!(allowed(&mut limit, t0, 100), 100);
        let later = t0.after(Duration::from_secs(60));
        assert_eq!(allowed(&mut limit, later, 1000), ICMP_ERROR_BURST);
    }

    #[test]
    fn a_clock_going_back_earns_nothing() {
        let mut limit = IcmpErrorLimit::default();
        let t0 = Instant::from_nanos(10_000_000_000);
        assert_eq!(allowed(&mut limit, t0, 100), 100);
        let earlier = Instant::from_nanos(9_000_000_000);
        assert_eq!(allowed(&mut limit, earlier, 10), 0);
        assert_eq!(
            allowed(&mut limit, t0, 10),
            0,
            "the gap is not earned twice"
        );
    }
}
