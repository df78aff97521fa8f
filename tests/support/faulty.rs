//! A redb storage backend that fails the way disks fail, for the failure
//! tests: a file on a disk that fills up (writes that need new space fail with
//! ENOSPC, rewrites of space already written still succeed, as on ext4 or
//! tmpfs), and one-off I/O errors (EIO) on the Nth write or sync.

use std::fs::File;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};

/// What the disk does next; shared by every opening of the file.
#[derive(Debug, Default)]
pub struct Faults {
    /// The disk is full: writes past `written` fail with ENOSPC.
    full: AtomicBool,
    /// The end of the furthest write so far: space the file already has.
    written: AtomicU64,
    /// Writes and syncs to let through before the one-off error; negative
    /// when none is armed.
    countdown: AtomicI64,
    /// The errno of the one-off error.
    errno: AtomicI64,
    /// Syncs that reached the file.
    pub syncs: AtomicU64,
    /// The next write reaches the file only in part (its first half), and
    /// fails with EIO: a torn write.
    tear: AtomicBool,
}

impl Faults {
    pub fn new() -> Arc<Faults> {
        Arc::new(Faults {
            countdown: AtomicI64::new(-1),
            ..Faults::default()
        })
    }

    /// Fills the disk: from now on, a write that needs new space fails.
    pub fn fill(&self) {
        self.full.store(true, Ordering::SeqCst);
    }

    /// Frees space again.
    pub fn free(&self) {
        self.full.store(false, Ordering::SeqCst);
    }

    /// The write or sync after the next `n` fails once with `errno`.
    pub fn fail_once_after(&self, n: i64, errno: i32) {
        self.errno.store(i64::from(errno), Ordering::SeqCst);
        self.countdown.store(n, Ordering::SeqCst);
    }

    /// The next write is torn: half of it reaches the file, and it fails.
    pub fn tear_next_write(&self) {
        self.tear.store(true, Ordering::SeqCst);
    }

    fn one_off(&self) -> std::io::Result<()> {
        let left = self.countdown.fetch_sub(1, Ordering::SeqCst);
        if left == 0 {
            let errno = i32::try_from(self.errno.load(Ordering::SeqCst)).unwrap_or(5);
            return Err(std::io::Error::from_raw_os_error(errno));
        }
        if left < 0 {
            // Not armed: keep it from counting down to 0 by wrapping around.
            self.countdown.store(-1, Ordering::SeqCst);
        }
        Ok(())
    }
}

/// ENOSPC and EIO.
pub const ENOSPC: i32 = 28;
pub const EIO: i32 = 5;

/// A database file behind [`Faults`].
#[derive(Debug)]
pub struct FaultyFile {
    inner: FileBackend,
    faults: Arc<Faults>,
}

impl FaultyFile {
    /// Opens (or creates) `path` behind `faults`.
    pub fn open(path: &Path, faults: &Arc<Faults>) -> std::io::Result<FaultyFile> {
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let inner = FileBackend::new(file).map_err(std::io::Error::other)?;
        Ok(FaultyFile {
            inner,
            faults: Arc::clone(faults),
        })
    }

    /// An opener for `Store::open_on_storage`.
    pub fn opener(
        path: PathBuf,
        faults: Arc<Faults>,
    ) -> impl Fn() -> std::io::Result<FaultyFile> + Send + Sync + 'static {
        move || FaultyFile::open(&path, &faults)
    }
}

impl StorageBackend for FaultyFile {
    fn len(&self) -> std::io::Result<u64> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> std::io::Result<()> {
        // Growing a file is sparse: it takes no space until written.
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> std::io::Result<()> {
        self.faults.one_off()?;
        self.faults.syncs.fetch_add(1, Ordering::SeqCst);
        self.inner.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.faults.one_off()?;
        let end = offset + data.len() as u64;
        if self.faults.full.load(Ordering::SeqCst)
            && end > self.faults.written.load(Ordering::SeqCst)
        {
            return Err(std::io::Error::from_raw_os_error(ENOSPC));
        }
        if self.faults.tear.swap(false, Ordering::SeqCst) {
            self.inner.write(offset, &data[..data.len() / 2])?;
            return Err(std::io::Error::from_raw_os_error(EIO));
        }
        self.inner.write(offset, data)?;
        self.faults.written.fetch_max(end, Ordering::SeqCst);
        Ok(())
    }

    fn close(&self) -> std::io::Result<()> {
        self.inner.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}
