//! The data plane's notion of time: whatever the caller says it is.
//!
//! The data plane reads no clock. Every call that needs the time is given an
//! [`Instant`], so a test can step time forward and see an entry expire, and a
//! worker passes the monotonic clock it read once per vector.

use std::time::Duration;

/// A point in time, in nanoseconds since an epoch the caller chooses.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Instant(u64);

impl Instant {
    /// The instant `nanos` nanoseconds after the epoch.
    pub const fn from_nanos(nanos: u64) -> Self {
        Instant(nanos)
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Time from `earlier` to `self`, or zero when `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// The instant `d` after this one (saturating at the end of time).
    pub fn after(self, d: Duration) -> Instant {
        Instant(
            self.0
                .saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        )
    }
}
