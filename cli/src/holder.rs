//! Which process holds a database file open (Linux: `/proc/*/fd`), to name it
//! in the "in use" error. Best effort: `None` elsewhere, or when it cannot be
//! told (another user's process).

use std::path::Path;

/// The pid and name of a process, other than this one, with `db` open.
pub fn find(db: &Path) -> Option<(u32, String)> {
    let target = std::fs::canonicalize(db).ok()?;
    let me = std::process::id();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let holds = fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|link| link == target));
        if holds {
            let name = std::fs::read_to_string(entry.path().join("comm"))
                .map_or_else(|_| "unknown".to_owned(), |n| n.trim().to_owned());
            return Some((pid, name));
        }
    }
    None
}
