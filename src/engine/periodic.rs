//! A thread that does one thing every interval until it is stopped: the
//! background flush of [`Durability::Fast`](crate::Durability::Fast) (so that
//! an acknowledged operation is durable within `fast_flush_interval` whether
//! or not writes go on), and the in-process purge of [`Maintenance`].
//!
//! [`Maintenance`]: crate::Maintenance

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// A running thread; [`Periodic::stop`] or dropping it stops the thread.
pub(crate) struct Periodic {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Periodic {
    /// Calls `tick` every `interval` until `tick` returns false (the store is
    /// gone) or the thread is stopped. `name` (at most 8 bytes) names the
    /// thread, numbered: `gdbflush-3`.
    pub(crate) fn start(
        name: &str,
        interval: Duration,
        mut tick: impl FnMut() -> bool + Send + 'static,
    ) -> Periodic {
        // Numbered, so that a test can tell one store's thread from another's
        // (a thread name shows as at most 15 bytes).
        static STARTED: AtomicU64 = AtomicU64::new(0);
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = Arc::clone(&stop);
        let number = STARTED.fetch_add(1, Ordering::Relaxed) % 1_000_000;
        let thread = std::thread::Builder::new()
            .name(format!("{name}-{number}"))
            .spawn(move || {
                let (stopped, wake) = &*signal;
                loop {
                    {
                        let mut stopped = stopped.lock();
                        if !*stopped {
                            let _ = wake.wait_for(&mut stopped, interval);
                        }
                        if *stopped {
                            return;
                        }
                    }
                    if !tick() {
                        return;
                    }
                }
            })
            .ok();
        Periodic {
            stop,
            thread: Mutex::new(thread),
        }
    }

    /// Stops the thread and waits for its tick in progress, if any, to end.
    pub(crate) fn stop(&self) {
        let (stopped, wake) = &*self.stop;
        *stopped.lock() = true;
        wake.notify_all();
        let thread = self.thread.lock().take();
        if let Some(thread) = thread
            // Called from a tick (the flush thread held the last handle): the
            // thread ends by itself.
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }
}

impl Drop for Periodic {
    fn drop(&mut self) {
        self.stop();
    }
}
