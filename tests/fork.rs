//! R01 across a `fork` (or a VM restored from a snapshot): the parent and the
//! child mint different secrets. A generator in user space, seeded before the
//! fork, would hand both the same bytes; grantdb draws from the operating
//! system. A test binary of its own: `fork` copies only the calling thread,
//! so no other test may run beside it.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, unsafe_code)]

mod support;

use std::io::{Read as _, Write as _};

use grantdb::ClientCredentialsRequest;
use grantdb::{Config, Store};
use support::*;

#[test]
fn r01_a_forked_process_mints_other_secrets_than_its_parent() {
    let store = Store::in_memory(Config::default()).unwrap();
    let app = prioticket_app(&store);
    // Mint once before the fork: any generator in user space is seeded now.
    store
        .issue_client_credentials(ClientCredentialsRequest::new(&app.client))
        .unwrap();
    let mut fds = [0i32; 2];
    // SAFETY: `pipe` writes two descriptors into the array it is given.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: the child only mints (no other thread runs in this binary),
    // writes to the pipe and exits without unwinding.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    let minted = store
        .issue_client_credentials(ClientCredentialsRequest::new(&app.client))
        .unwrap()
        .access_token
        .expose()
        .to_owned();
    if pid == 0 {
        // SAFETY: the write end of the pipe belongs to this process.
        let mut out = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fds[1]) };
        let _ = out.write_all(minted.as_bytes());
        drop(out);
        // SAFETY: ends the child at once, without running the test harness on.
        unsafe { libc::_exit(0) };
    }
    // SAFETY: the write end is the child's; the read end is ours.
    unsafe { libc::close(fds[1]) };
    let mut from_child = String::new();
    // SAFETY: the read end of the pipe belongs to this process.
    let mut input = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fds[0]) };
    input.read_to_string(&mut from_child).unwrap();
    let mut status = 0;
    // SAFETY: waits for the child started above.
    unsafe { libc::waitpid(pid, &raw mut status, 0) };
    assert_eq!(from_child.len(), minted.len(), "the child minted a token");
    // The random bytes (the second half of the id, and the secret) differ.
    let random_part = |token: &str| {
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&token[6..])
            .unwrap();
        raw[8..48].to_vec()
    };
    assert_ne!(random_part(&from_child), random_part(&minted));
}
