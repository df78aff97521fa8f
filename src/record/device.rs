//! The device authorization grant's tables (RFC 8628, R31–R33):
//! `device_codes` (`device code id → DeviceRecord`), `user_codes`
//! (`keyed hash of the user code → UserCodeRecord`) and `device_attempts`
//! (`window ‖ scope ‖ keyed hash → AttemptsRecord`).

use serde::{Deserialize, Serialize};

use super::{MAX_SUBJECT_LEN, Record};
use crate::kv::table::Table;
use crate::model::scope::Scope;
use crate::model::text::text_ok;

/// Where a device request stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum DeviceState {
    /// Waiting for the user.
    Pending,
    /// The user approved it; the next poll gets the tokens.
    Approved { subject: String },
    /// The user denied it.
    Denied,
    /// Polled once approved: the grant it produced, revoked if the device
    /// code is presented again (R32).
    Spent { grant: [u8; 16] },
}

/// A device authorization request (R31).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DeviceRecord {
    /// `BLAKE3-keyed(key, kind ‖ id ‖ secret)` of the device code (R01).
    pub verifier: [u8; 16],
    pub client: [u8; 16],
    pub scope: Scope,
    /// The key of its `user_codes` entry.
    pub user_code: [u8; 16],
    /// Seconds the device must wait between polls; grows by 5 at each
    /// `slow_down` (RFC 8628 §3.5).
    pub interval: u64,
    pub last_poll: Option<u64>,
    pub issued_at: u64,
    pub expires_at: u64,
    pub state: DeviceState,
}

impl Record for DeviceRecord {
    const TABLE: Table = Table::DeviceCodes;
    const NAME: &'static str = "device request";
    super::no_extension!();

    fn check(&self) -> Result<(), &'static str> {
        if let DeviceState::Approved { subject } = &self.state
            && (subject.is_empty() || !text_ok(subject, MAX_SUBJECT_LEN))
        {
            return Err("state");
        }
        if self.interval == 0 || self.interval > 3_600 {
            return Err("interval");
        }
        if self.expires_at <= self.issued_at {
            return Err("expires_at");
        }
        Ok(())
    }
}

/// What a user code names (R31).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UserCodeRecord {
    /// The device code id of the request.
    pub device: [u8; 16],
    pub expires_at: u64,
}

impl Record for UserCodeRecord {
    const TABLE: Table = Table::UserCodes;
    const NAME: &'static str = "user code";
    super::no_extension!();

    fn check(&self) -> Result<(), &'static str> {
        Ok(())
    }
}

/// Wrong user codes counted in one window, for one attempt key or for all
/// (RFC 8628 §5.1, R31).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AttemptsRecord {
    pub count: u32,
    /// The end of the window: purge removes the record then.
    pub until: u64,
}

impl Record for AttemptsRecord {
    const TABLE: Table = Table::DeviceAttempts;
    const NAME: &'static str = "user code attempts";
    super::no_extension!();

    fn check(&self) -> Result<(), &'static str> {
        Ok(())
    }
}
