//! Disk space held back for the way out of a full disk.
//!
//! A file of zeros beside the database (`<database>.reserve`, 8 MiB by
//! default) holds real blocks of the file system. When a write fails because
//! the disk is full, the store deletes it: the space it frees lets the
//! operations that *free* space (purge, revocation, client deletion) commit,
//! while operations that grow the database are refused with
//! [`Error::DiskFull`](crate::Error::DiskFull) until the reserve can be
//! written again, which the store tries by itself at most once a second.
//! Revocation must keep working on a full disk: a leaked token would
//! otherwise stay valid exactly when an operator is busiest.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::files;
use crate::model::operator::StorageWarning;

/// How often a released reserve is tried again.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// The reserve file of one database.
#[derive(Debug)]
pub(crate) struct Reserve {
    path: PathBuf,
    /// The size held (at most the configured one: see [`Reserve::new`]).
    bytes: u64,
    /// The configured size.
    configured: u64,
    /// Whether a reserve was there, or could be written, when the store
    /// opened.
    written_at_open: bool,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// The file is there, with all its blocks.
    held: bool,
    /// When writing it was last tried.
    last_try: Option<Instant>,
}

/// The smallest reserve worth holding: below it, none (and a warning).
const MIN_RESERVE: u64 = 256 << 10;

impl Reserve {
    /// The reserve at `path`, written now if it is missing, sized to the
    /// volume: `bytes` if the volume has room for it and as much again (for
    /// the database to grow), else halved until it has, down to 256 KiB;
    /// none below (a full disk at open leaves it released: the store then
    /// starts low on space). A reserve smaller than `bytes` is a
    /// [`StorageWarning`] of the store's stats, and a log line.
    pub(crate) fn new(path: PathBuf, bytes: u64) -> Reserve {
        // A reserve of the configured size left by an earlier open is
        // kept; one cut short by a small volume is sized again.
        let (held, size) = if is_whole(&path, bytes) {
            (true, bytes)
        } else {
            sized_to_volume(&path, bytes).map_or((false, bytes), |size| (true, size))
        };
        let reserve = Reserve {
            path,
            bytes: size,
            configured: bytes,
            written_at_open: held,
            state: Mutex::new(State {
                held,
                last_try: Some(Instant::now()),
            }),
        };
        #[cfg(feature = "tracing")]
        if let Some(warning) = reserve.warning() {
            tracing::warn!(path = %reserve.path.display(), "{warning}");
        }
        reserve
    }

    /// What is wrong with the reserve, if anything: smaller than
    /// configured, or none could be written when the store opened.
    pub(crate) fn warning(&self) -> Option<StorageWarning> {
        if !self.written_at_open {
            Some(StorageWarning::NoReserve {
                configured: self.configured,
            })
        } else if self.bytes < self.configured {
            Some(StorageWarning::ReserveReduced {
                configured: self.configured,
                held: self.bytes,
            })
        } else {
            None
        }
    }

    /// Gives the reserve's space back to the file system. Returns whether it
    /// was held.
    pub(crate) fn release(&self) -> bool {
        let mut state = self.state.lock();
        let was_held = std::mem::replace(&mut state.held, false);
        // The space just given back must not count as room that came back:
        // the next try waits its turn.
        state.last_try = Some(Instant::now());
        // Gone already is as good as removed.
        let _ = std::fs::remove_file(&self.path);
        was_held
    }

    /// Whether the reserve is held, writing it again if it was released and
    /// the last try is more than a second old: true means the disk has room
    /// again. Room means twice the reserve: the reserve, and as much again
    /// for the database (a disk with just the released reserve free is still
    /// full).
    pub(crate) fn restore(&self) -> bool {
        let mut state = self.state.lock();
        if state.held {
            return true;
        }
        if state
            .last_try
            .is_some_and(|last| last.elapsed() < RETRY_EVERY)
        {
            return false;
        }
        state.last_try = Some(Instant::now());
        // Room for twice the reserve, then the reserve alone, on the file
        // just made (never reopened by its path).
        state.held = write_reserve(&self.path, self.bytes.saturating_mul(2))
            .and_then(|file| {
                file.set_len(self.bytes)?;
                file.sync_all()
            })
            .is_ok();
        if !state.held {
            let _ = std::fs::remove_file(&self.path);
        }
        state.held
    }
}

/// Writes a reserve of `bytes`, or of the largest half, quarter, ... of it
/// (down to [`MIN_RESERVE`]) for which the volume has room twice over;
/// returns the size written.
fn sized_to_volume(path: &Path, bytes: u64) -> Option<u64> {
    let mut size = bytes;
    while size >= MIN_RESERVE.min(bytes) && size > 0 {
        let written = write_reserve(path, size.saturating_mul(2)).and_then(|file| {
            file.set_len(size)?;
            file.sync_all()
        });
        if written.is_ok() {
            return Some(size);
        }
        let _ = std::fs::remove_file(path);
        size /= 2;
    }
    None
}

/// Whether the reserve at `path` is there whole: a regular file of its own
/// (not a link, not a second name of another file) with all its bytes.
fn is_whole(path: &Path, bytes: u64) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|meta| {
        #[cfg(unix)]
        let single = std::os::unix::fs::MetadataExt::nlink(&meta) == 1;
        #[cfg(not(unix))]
        let single = true;
        meta.is_file() && single && meta.len() == bytes
    })
}

/// Writes `bytes` zeros to a new file at `path` (blocks really allocated,
/// not a sparse file), or leaves no file. Whatever was at `path` (a
/// leftover, or a link someone planted) is removed first, never written
/// through: the file is created new (see `files`). Returns the file.
fn write_reserve(path: &Path, bytes: u64) -> std::io::Result<File> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    let written = (|| {
        let mut file = files::create_new_private(path)?;
        let chunk = vec![0u8; 1 << 20];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len() as u64);
            file.write_all(&chunk[..n as usize])?;
            left -= n;
        }
        file.sync_data()?;
        Ok(file)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(path);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reserve_is_written_released_and_restored() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("db.reserve");
        let reserve = Reserve::new(path.clone(), 3 << 20);
        assert!(reserve.restore());
        assert_eq!(
            std::fs::metadata(&path).map(|m| m.len()).ok(),
            Some(3 << 20)
        );
        assert!(reserve.release());
        assert!(!path.exists());
        assert!(!reserve.restore(), "not retried within a second");
        std::thread::sleep(RETRY_EVERY);
        assert!(reserve.restore());
        assert!(path.exists());
    }
}
