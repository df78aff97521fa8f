//! The background flush of [`Durability::Fast`](crate::Durability::Fast): a
//! thread that makes the store's lazy commits durable at least every
//! `fast_flush_interval`, whether or not writes go on, so that what an
//! acknowledged operation can lose in a crash is bounded by the interval. It
//! stops when the store is dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// A running flush thread; [`Flusher::stop`] or dropping it stops the thread.
pub(crate) struct Flusher {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Flusher {
    /// Calls `tick` every `interval` until `tick` returns false (the store is
    /// gone) or the flusher is dropped.
    pub(crate) fn start(
        interval: Duration,
        mut tick: impl FnMut() -> bool + Send + 'static,
    ) -> Flusher {
        // Numbered, so that a test can tell one store's thread from another's
        // (a thread name shows as at most 15 bytes).
        static STARTED: AtomicU64 = AtomicU64::new(0);
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = Arc::clone(&stop);
        let number = STARTED.fetch_add(1, Ordering::Relaxed) % 1_000_000;
        let thread = std::thread::Builder::new()
            .name(format!("gdbflush-{number}"))
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
        Flusher {
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

impl Drop for Flusher {
    fn drop(&mut self) {
        self.stop();
    }
}
