//! The files grantdb makes or opens on the file system: the database, its
//! disk reserve, an import's staging file. A local user who can write the
//! directory may plant a symbolic link (or a file) at any of those paths
//! before grantdb gets there; none of them is ever written through:
//!
//! * a file grantdb makes is created new (`O_CREAT | O_EXCL`, which also
//!   refuses a symbolic link, dangling or not), readable and writable by its
//!   owner only, whatever the umask;
//! * the database is opened with `O_NOFOLLOW` and checked on the open
//!   handle (a regular file; not readable by others while it holds the
//!   hashing key), never by its path, which could change between a check
//!   and a use;
//! * a file that is moved into place is checked to be the one this process
//!   created (the same inode) before and after.
//!
//! Anything else is [`Error::UnsafeFile`], naming the path and what to do.

use std::fs::File;
use std::io;
use std::path::Path;

use crate::error::{Error, Result};

/// The permission bits a file grantdb makes carries: owner read and write.
#[cfg(unix)]
const PRIVATE_MODE: u32 = 0o600;

fn unsafe_file(path: &Path, reason: impl Into<String>) -> Error {
    Error::UnsafeFile {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Creates a new file at `path` for this process alone, readable and
/// writable by its owner only. Fails with `AlreadyExists` if anything is at
/// `path`, a symbolic link included.
pub(crate) fn create_new_private(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(PRIVATE_MODE).custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)
}

/// Opens the database file at `path`, creating it if there is none, never
/// through a symbolic link. `holds_key`: the store keeps its generated
/// hashing key in the file (no key was configured), so the file must not be
/// readable by others: an empty file (one grantdb is about to fill) is
/// tightened to owner-only. Returns the file and, when others may read it,
/// its mode: a database that is not empty is refused for that only once it
/// is known to be a grantdb database ([`refuse_shared`]), so that another
/// program's file is still named as such.
pub(crate) fn open_database(path: &Path, holds_key: bool) -> Result<(File, Option<u32>)> {
    // Twice at most: a file that appears between "not there" and "create"
    // is opened as an existing one.
    for _ in 0..2 {
        match open_existing(path) {
            Ok(file) => {
                let shared = check_opened(path, &file, holds_key)?;
                return Ok((file, shared));
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(match std::fs::symlink_metadata(path) {
                    Ok(meta) if meta.file_type().is_symlink() => unsafe_file(
                        path,
                        "is a symbolic link; grantdb opens the database file itself, \
                         never a link to one",
                    ),
                    Ok(meta) if !meta.is_file() => unsafe_file(path, "is not a regular file"),
                    _ => Error::io(error),
                });
            }
        }
        match create_new_private(path) {
            Ok(file) => return Ok((file, None)),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(Error::io(error)),
        }
    }
    Err(unsafe_file(
        path,
        "kept appearing and disappearing while grantdb opened it",
    ))
}

/// The refusal of a database others can read (`mode`) while it holds the
/// store's generated hashing key.
pub(crate) fn refuse_shared(path: &Path, mode: u32) -> Error {
    unsafe_file(
        path,
        format!(
            "has mode {mode:04o}: others can read the hashing key it holds; `chmod 600` it, \
             or configure the key (ConfigBuilder::hashing_key) so that the file holds none"
        ),
    )
}

/// Opens an existing file for reading and writing, never through a
/// symbolic link.
fn open_existing(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)
}

/// Checks an opened database file by its handle: a regular file; an empty
/// one that will hold the key becomes owner-only. Returns the mode of a file
/// others may read that holds (or will hold) the key.
fn check_opened(path: &Path, file: &File, holds_key: bool) -> Result<Option<u32>> {
    let meta = file.metadata().map_err(Error::io)?;
    if !meta.is_file() {
        return Err(unsafe_file(path, "is not a regular file"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o777;
        if holds_key && mode & 0o077 != 0 {
            if meta.len() > 0 {
                return Ok(Some(mode));
            }
            // Nothing in it yet: everything it will hold is grantdb's, the
            // generated key included, so it gets grantdb's mode.
            file.set_permissions(std::fs::Permissions::from_mode(PRIVATE_MODE))
                .map_err(Error::io)?;
        }
    }
    #[cfg(not(unix))]
    let _ = holds_key;
    Ok(None)
}

/// Whether `path` names `file` itself (the same file, not a symbolic link
/// to it): a file moved into place must be the one this process created.
pub(crate) fn names(path: &Path, file: &File) -> bool {
    let (Ok(at_path), Ok(opened)) = (std::fs::symlink_metadata(path), file.metadata()) else {
        return false;
    };
    if !at_path.is_file() {
        return false;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        at_path.dev() == opened.dev() && at_path.ino() == opened.ino()
    }
    #[cfg(not(unix))]
    {
        at_path.len() == opened.len()
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn a_new_file_is_private_and_never_written_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("theirs");
        std::fs::write(&target, b"theirs").unwrap();
        let link = dir.path().join("planted");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let refused = create_new_private(&link).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::AlreadyExists);
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
        assert!(create_new_private(&dangling).is_err());
        assert!(!dir.path().join("nowhere").exists());
        let made = dir.path().join("made");
        let file = create_new_private(&made).unwrap();
        assert_eq!(file.metadata().unwrap().permissions().mode() & 0o777, 0o600);
        assert!(names(&made, &file));
        assert!(!names(&link, &file));
        assert_eq!(std::fs::read(&target).unwrap(), b"theirs");
    }
}
