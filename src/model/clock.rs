//! Time, injected (R18).
//!
//! Every decision grantdb makes about expiry reads the clock given in the
//! [`Config`](crate::Config), never the wall clock directly, so tests and
//! property tests can move time by hand.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time, in whole seconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    /// The current time in Unix seconds.
    fn now(&self) -> u64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        // A clock set before 1970 reads as the epoch: every token then looks
        // freshly issued, which fails safe for expiry (nothing outlives its time).
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs())
    }
}

/// A clock that only moves when told to; share it with [`ManualClock::handle`].
///
/// ```
/// use grantdb::{Clock, ManualClock};
/// let clock = ManualClock::new(1_000);
/// clock.advance(60);
/// assert_eq!(clock.now(), 1_060);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    now: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock reading `now` (Unix seconds).
    pub fn new(now: u64) -> ManualClock {
        ManualClock {
            now: Arc::new(AtomicU64::new(now)),
        }
    }

    /// Moves the clock forward by `seconds`.
    pub fn advance(&self, seconds: u64) {
        self.now.fetch_add(seconds, Ordering::SeqCst);
    }

    /// Sets the clock to `now` (Unix seconds).
    pub fn set(&self, now: u64) {
        self.now.store(now, Ordering::SeqCst);
    }

    /// Another handle on the same clock: moving one moves both.
    pub fn handle(&self) -> ManualClock {
        self.clone()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
}
