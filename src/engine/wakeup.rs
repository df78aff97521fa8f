//! Wakes the readers of the change feed waiting for a new entry (R33): a
//! generation number that every commit appending to the feed (or, on a
//! shared database, every notification from another node) moves on.

use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

/// A generation counter readers wait on.
#[derive(Default)]
pub(crate) struct Wakeup {
    generation: Mutex<u64>,
    moved: Condvar,
}

impl Wakeup {
    /// The generation now: read it before looking, wait past it after.
    pub(crate) fn generation(&self) -> u64 {
        *self.generation.lock()
    }

    /// Something was appended: wakes every waiter.
    pub(crate) fn bump(&self) {
        *self.generation.lock() += 1;
        self.moved.notify_all();
    }

    /// Waits until the generation moves past `seen`, at most `timeout`;
    /// answers whether it did.
    pub(crate) fn wait_past(&self, seen: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut generation = self.generation.lock();
        while *generation == seen {
            if self.moved.wait_until(&mut generation, deadline).timed_out() {
                return *generation != seen;
            }
        }
        true
    }
}
