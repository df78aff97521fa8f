//! The store's time (R18): the configured clock raised to every time the
//! store has already used, so that it never runs backwards.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::model::clock::Clock;

/// The store's time: the configured clock (or the database server's), never
/// running backwards.
///
/// A host clock steps back (an NTP correction, a VM restored from a snapshot)
/// and nodes of a fleet disagree. Records written at a later time must never be
/// followed by records that say they came earlier, and a token that expired
/// must not come back to life. So every reading is raised to the highest time
/// the store has already handed out (`floor`); an embedded store also records
/// that high-water mark in its database (`grantdb_meta`), so a restart with a
/// clock that went back keeps it. Until the clock catches up, the store's time
/// stands still.
pub(crate) struct Timekeeper {
    clock: Arc<dyn Clock>,
    /// The highest time handed out.
    floor: AtomicU64,
    /// The highest time recorded in the database; `None` when the backend
    /// keeps no high-water mark (a shared database whose nodes take the
    /// database server's clock).
    recorded: Option<AtomicU64>,
}

impl Timekeeper {
    /// A timekeeper starting from `high_water` (as recorded in the database),
    /// recording new highs when `records_high_water`.
    pub(crate) fn new(clock: Arc<dyn Clock>, high_water: u64, records_high_water: bool) -> Self {
        Timekeeper {
            clock,
            floor: AtomicU64::new(high_water),
            recorded: records_high_water.then(|| AtomicU64::new(high_water)),
        }
    }

    /// The time now: the database server's clock when the backend gives one,
    /// otherwise the configured clock, raised to everything handed out before.
    pub(crate) fn now(&self, database_time: Option<u64>) -> u64 {
        let reading = database_time.unwrap_or_else(|| self.clock.now());
        // Times are seconds: the floor moves about once a second, so most
        // readings only read it, and threads validating at once do not take
        // turns writing one cache line.
        let floor = self.floor.load(Ordering::SeqCst);
        if reading <= floor {
            return floor;
        }
        let before = self.floor.fetch_max(reading, Ordering::SeqCst);
        before.max(reading)
    }

    /// The reading of the configured clock itself, unraised (for operators:
    /// how far behind the store's time it is).
    pub(crate) fn clock_reading(&self) -> u64 {
        self.clock.now()
    }

    /// The time to record as the new high-water mark in a transaction that
    /// commits at `now`, if it is a new high.
    pub(crate) fn high_water_to_record(&self, now: u64) -> Option<u64> {
        let recorded = self.recorded.as_ref()?;
        (now > recorded.load(Ordering::SeqCst)).then_some(now)
    }

    /// The transaction that recorded `high_water` committed.
    pub(crate) fn high_water_recorded(&self, high_water: u64) {
        if let Some(recorded) = &self.recorded {
            recorded.fetch_max(high_water, Ordering::SeqCst);
        }
    }
}

impl std::fmt::Debug for Timekeeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timekeeper")
            .field("floor", &self.floor.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::clock::ManualClock;

    #[test]
    fn r18_time_never_runs_backwards_whatever_the_clock_does() {
        let clock = ManualClock::new(1_000);
        let time = Timekeeper::new(Arc::new(clock.handle()), 0, true);
        assert_eq!(time.now(None), 1_000);
        clock.set(995);
        assert_eq!(
            time.now(None),
            1_000,
            "a step back is held at the high-water mark"
        );
        clock.set(1_010);
        assert_eq!(time.now(None), 1_010);
        // The database server's clock, when given, replaces the host clock, and
        // is raised the same way.
        assert_eq!(time.now(Some(1_020)), 1_020);
        assert_eq!(time.now(Some(900)), 1_020);
        assert_eq!(time.high_water_to_record(1_020), Some(1_020));
        time.high_water_recorded(1_020);
        assert_eq!(time.high_water_to_record(1_020), None);
    }

    #[test]
    fn r18_a_recorded_high_water_mark_survives_a_restart_with_an_earlier_clock() {
        let clock = ManualClock::new(500);
        let time = Timekeeper::new(Arc::new(clock), 1_000, true);
        assert_eq!(time.now(None), 1_000);
        let shared = Timekeeper::new(Arc::new(ManualClock::new(500)), 0, false);
        assert_eq!(shared.high_water_to_record(600), None);
    }
}
