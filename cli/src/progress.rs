//! Progress of a long purge: a bar with rate and time left on a terminal,
//! plain lines otherwise.

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

/// Reports entries removed out of an expected total.
pub enum Progress {
    /// A live bar on standard error.
    Bar(ProgressBar),
    /// One line per batch on standard error.
    Lines { total: u64, started: Instant },
}

impl Progress {
    /// A reporter for `total` entries, suited to where standard error goes.
    pub fn new(total: u64) -> Progress {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total);
            if let Ok(style) =
                ProgressStyle::with_template("{bar:40} {pos}/{len} entries  {per_sec}  {eta} left")
            {
                bar.set_style(style);
            }
            Progress::Bar(bar)
        } else {
            Progress::Lines {
                total,
                started: Instant::now(),
            }
        }
    }

    /// `done` entries are removed so far.
    pub fn update(&self, done: u64) {
        match self {
            Progress::Bar(bar) => bar.set_position(done),
            Progress::Lines { total, started } => {
                let secs = started.elapsed().as_secs_f64().max(1e-6);
                let rate = done as f64 / secs;
                let left = total.saturating_sub(done) as f64 / rate.max(1e-9);
                eprintln!("purged {done}/{total} entries ({rate:.0}/s, {left:.0}s left)");
            }
        }
    }

    /// The purge is over.
    pub fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}
