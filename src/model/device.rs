//! The device authorization grant's settings and answers (RFC 8628, R31).

use std::time::Duration;

use serde::Serialize;

use crate::crypto::secret::Secret;
use crate::model::ids::ClientId;
use crate::model::scope::Scope;

/// The device grant's settings (R31).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceFlow {
    /// How long a device code and its user code live (default 600 s).
    pub lifetime: Duration,
    /// The least time between two polls at the start (default 5 s); each
    /// `slow_down` adds 5 s (RFC 8628 §3.5).
    pub interval: Duration,
    /// Wrong user codes one attempt key (a signed-in user, an address) may
    /// enter per window before it is refused (default 5).
    pub attempts_per_key: u32,
    /// Wrong user codes everyone together may enter per window before every
    /// further wrong code is refused as too many (default 1,000). A right
    /// code is never refused for it: only its own key's limit refuses one.
    pub attempts_total: u32,
    /// The window the attempts are counted in (default 300 s).
    pub window: Duration,
}

impl Default for DeviceFlow {
    fn default() -> DeviceFlow {
        DeviceFlow {
            lifetime: Duration::from_mins(10),
            interval: Duration::from_secs(5),
            attempts_per_key: 5,
            attempts_total: 1_000,
            window: Duration::from_mins(5),
        }
    }
}

impl DeviceFlow {
    /// Sets how long a device code and its user code live.
    pub fn lifetime(mut self, lifetime: Duration) -> DeviceFlow {
        self.lifetime = lifetime;
        self
    }

    /// Sets the least time between two polls at the start.
    pub fn interval(mut self, interval: Duration) -> DeviceFlow {
        self.interval = interval;
        self
    }

    /// Sets the wrong user codes one attempt key may enter per window.
    pub fn attempts_per_key(mut self, attempts: u32) -> DeviceFlow {
        self.attempts_per_key = attempts;
        self
    }

    /// Sets the wrong user codes everyone together may enter per window.
    pub fn attempts_total(mut self, attempts: u32) -> DeviceFlow {
        self.attempts_total = attempts;
        self
    }

    /// Sets the window the attempts are counted in.
    pub fn window(mut self, window: Duration) -> DeviceFlow {
        self.window = window;
        self
    }
}

/// What a device gets when it starts (RFC 8628 §3.2): serialises as the
/// device authorization endpoint's JSON, without the verification URIs,
/// which the host adds.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct DeviceAuthorization {
    /// The device's secret for polling; only its keyed hash is stored.
    pub device_code: Secret,
    /// What the user types: 10 letters of an unambiguous alphabet, shown as
    /// `XXXXX-XXXXX` (43 bits); stored only as a keyed hash.
    pub user_code: String,
    /// Seconds until both codes expire.
    pub expires_in: u64,
    /// Seconds the device waits between polls.
    pub interval: u64,
}

/// A pending device request, as the user's screen shows it before they
/// approve (R31).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PendingDevice {
    /// The client (application) asking.
    pub client_id: ClientId,
    /// The scope it asks for.
    pub scope: Scope,
    /// When the request expires (Unix seconds).
    pub expires_at: u64,
}
