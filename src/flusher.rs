//! The background flush of [`Durability::Fast`](crate::Durability::Fast): a
//! thread that makes the store's lazy commits durable at least every
//! `fast_flush_interval`, whether or not writes go on, so that what an
//! acknowledged operation can lose in a crash is bounded by the interval. It
//! stops when the store is dropped.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// A running flush thread; dropping it stops the thread.
pub(crate) struct Flusher {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Flusher {
    /// Calls `tick` every `interval` until `tick` returns false (the store is
    /// gone) or the flusher is dropped.
    pub(crate) fn start(
        interval: Duration,
        mut tick: impl FnMut() -> bool + Send + 'static,
    ) -> Flusher {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("grantdb-flush".to_owned())
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
        Flusher { stop, thread }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        let (stopped, wake) = &*self.stop;
        *stopped.lock() = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take()
            // The last handle on the store may be the flush thread's own, for
            // the length of a tick: it then ends by itself.
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }
}
