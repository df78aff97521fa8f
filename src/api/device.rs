//! The device authorization grant on the store (RFC 8628, R31, R32): a
//! device starts a request and shows a user code; the user enters it on
//! another screen and approves or denies; the device polls for its tokens.

use std::time::Duration;

use serde::Serialize;

use crate::api::store::Store;
use crate::crypto::secret::Secret;
use crate::engine::observe::Operation;
use crate::error::Result;
use crate::kv::Backend;
use crate::model::ids::ClientId;
use crate::model::response::TokenResponse;
use crate::model::scope::Scope;
use crate::ops;

/// The device grant's settings (R31).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// attempt is refused (default 1,000).
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

/// What a device gets when it starts (RFC 8628 §3.2): serialises as the
/// device authorization endpoint's JSON, without the verification URIs,
/// which the host adds.
#[derive(Debug, Clone, Serialize)]
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
pub struct PendingDevice {
    /// The client (application) asking.
    pub client_id: ClientId,
    /// The scope it asks for.
    pub scope: Scope,
    /// When the request expires (Unix seconds).
    pub expires_at: u64,
}

impl<B: Backend> Store<B> {
    /// Starts a device authorization request (RFC 8628 §3.1, R31) for a
    /// client allowed [`GrantType::DeviceCode`](crate::GrantType::DeviceCode):
    /// a device code (a secret), a user code, their expiry and the polling
    /// interval.
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// let scanner = store.register_client(&NewClient::public("check-in scanner")
    ///     .grant_types([GrantType::DeviceCode, GrantType::RefreshToken])
    ///     .scopes("checkin")?)?;
    /// let id = scanner.client.id;
    /// let started = store.start_device_authorization(&id, None)?;
    /// assert_eq!((started.expires_in, started.interval), (600, 5));
    /// let device_code = started.device_code.expose();
    /// assert!(matches!(store.poll_device(device_code, &id), Err(Error::AuthorizationPending)));
    /// // On the user's phone: the code typed in (any case, dashes or not),
    /// // the user signed in and approving.
    /// let typed = started.user_code.to_lowercase().replace('-', "");
    /// assert_eq!(store.device_request(&typed, "alice")?.client_id, id);
    /// store.approve_device(&typed, "alice", "alice")?;
    /// // The device polls again once its interval has passed, and gets its
    /// // tokens (sooner, it is told to slow down).
    /// assert!(matches!(store.poll_device(device_code, &id), Err(Error::SlowDown)));
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn start_device_authorization(
        &self,
        client_id: &ClientId,
        scope: Option<&Scope>,
    ) -> Result<DeviceAuthorization> {
        let (client, scope) = (*client_id, scope.cloned());
        self.write(Operation::StartDevice, Some(client_id), move |kv, ctx| {
            ops::device::start(kv, ctx, &client, scope.as_ref())
        })
    }

    /// The pending request a user code names (R31), for the user's screen.
    /// Case, spaces and dashes do not matter. A wrong code is counted for
    /// `attempt_key` (the signed-in user, or the client's address) and for
    /// everyone: past the limits of [`DeviceFlow`] every lookup is
    /// [`Error::TooManyAttempts`](crate::Error::TooManyAttempts) until the
    /// window ends (RFC 8628 §5.1).
    pub fn device_request(&self, user_code: &str, attempt_key: &str) -> Result<PendingDevice> {
        let (code, key) = (user_code.to_owned(), attempt_key.to_owned());
        self.write(Operation::UserCode, None, move |kv, ctx| {
            ops::device::find_pending(kv, ctx, &code, &key).map(|found| found.pending)
        })
    }

    /// The user approves the request their code names, as `subject` (R31):
    /// the device's next poll gets the tokens. Counted as
    /// [`device_request`](Self::device_request) when the code is wrong.
    pub fn approve_device(
        &self,
        user_code: &str,
        subject: &str,
        attempt_key: &str,
    ) -> Result<PendingDevice> {
        let (code, key, subject) = (
            user_code.to_owned(),
            attempt_key.to_owned(),
            subject.to_owned(),
        );
        self.write(Operation::UserCode, None, move |kv, ctx| {
            ops::device::answer(kv, ctx, &code, &key, Some(&subject))
        })
    }

    /// The user denies the request their code names (R31): the device's
    /// next poll is `access_denied`.
    pub fn deny_device(&self, user_code: &str, attempt_key: &str) -> Result<PendingDevice> {
        let (code, key) = (user_code.to_owned(), attempt_key.to_owned());
        self.write(Operation::UserCode, None, move |kv, ctx| {
            ops::device::answer(kv, ctx, &code, &key, None)
        })
    }

    /// The device polls (RFC 8628 §3.4, R32): its tokens once the user
    /// approved, then the device code is spent; before that
    /// [`AuthorizationPending`](crate::Error::AuthorizationPending),
    /// [`SlowDown`](crate::Error::SlowDown) for a poll sooner than the
    /// interval (which grows by 5 s),
    /// [`DeviceAccessDenied`](crate::Error::DeviceAccessDenied) or
    /// [`DeviceCodeExpired`](crate::Error::DeviceCodeExpired). A spent code
    /// presented again revokes the grant it produced
    /// ([`DeviceCodeReplayed`](crate::Error::DeviceCodeReplayed)).
    pub fn poll_device(&self, device_code: &str, client_id: &ClientId) -> Result<TokenResponse> {
        let (code, client) = (zeroize::Zeroizing::new(device_code.to_owned()), *client_id);
        self.write(Operation::PollDevice, Some(client_id), move |kv, ctx| {
            ops::device::poll(kv, ctx, &code, &client)
        })
    }
}
