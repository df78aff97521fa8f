//! Random bytes straight from the operating system (`getrandom(2)`), for
//! every secret, key and id grantdb makes.
//!
//! A generator in user space (such as `rand`'s thread RNG) is seeded once and
//! then runs on its own: after a `fork`, or a VM restored from a snapshot, two
//! processes would go on drawing the same bytes, and mint the same token
//! secrets. The operating system's source is reseeded by the kernel; a draw
//! costs a system call (a few hundred nanoseconds), made once per token.

use crate::error::{Error, Result};

/// Fills `buf` from the operating system's random source.
pub(crate) fn fill(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|error| Error::Io {
        kind: std::io::ErrorKind::Other,
        source: Box::new(error),
    })
}
