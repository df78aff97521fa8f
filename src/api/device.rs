//! The device authorization grant on the store (RFC 8628, R31, R32): a
//! device starts a request and shows a user code; the user enters it on
//! another screen and approves or denies; the device polls for its tokens.

use crate::api::store::Store;
use crate::error::Result;
use crate::kv::Backend;
use crate::model::client::AuthenticatedClient;
use crate::model::device::{DeviceAuthorization, PendingDevice};
use crate::model::request::{AttemptKey, DeviceApproval};
use crate::model::response::TokenResponse;
use crate::model::scope::Scope;
use crate::ops;

impl<B: Backend> Store<B> {
    /// Starts a device authorization request (RFC 8628 §3.1, R31) for a
    /// client allowed [`GrantType::DeviceCode`](crate::GrantType::DeviceCode):
    /// a device code (a secret), a user code, their expiry and the polling
    /// interval. A public client authenticates by its id alone (RFC 8628
    /// §3.1, RFC 6749 §2.3).
    ///
    /// ```
    /// # use grantdb::*;
    /// # let store = Store::in_memory(Config::default())?;
    /// let scanner = store.register_client(NewClient::public("check-in scanner")
    ///     .grant_types([GrantType::DeviceCode, GrantType::RefreshToken])
    ///     .scopes("checkin")?)?;
    /// let device = store.authenticate_client(&scanner.client.id, None)?;
    /// let started = store.start_device_authorization(&device, None)?;
    /// assert_eq!((started.expires_in, started.interval), (600, 5));
    /// let device_code = started.device_code.expose();
    /// assert!(matches!(store.poll_device(device_code, &device), Err(Error::AuthorizationPending)));
    /// // On the user's phone: the code typed in (any case, dashes or not),
    /// // the user signed in and approving.
    /// let typed = started.user_code.to_lowercase().replace('-', "");
    /// let attempt = AttemptKey::new("alice");
    /// assert_eq!(store.device_request(&typed, &attempt)?.client_id, device.id());
    /// store.approve_device(DeviceApproval::new(&typed, "alice", attempt))?;
    /// // The device polls again once its interval has passed, and gets its
    /// // tokens (sooner, it is told to slow down).
    /// assert!(matches!(store.poll_device(device_code, &device), Err(Error::SlowDown)));
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn start_device_authorization(
        &self,
        client: &AuthenticatedClient,
        scope: Option<&Scope>,
    ) -> Result<DeviceAuthorization> {
        let (client_id, scope) = (client.id(), scope.cloned());
        self.write(&ops::device::START, Some(&client_id), move |kv, ctx| {
            ops::device::start(kv, ctx, &client_id, scope.as_ref())
        })
    }

    /// The pending request a user code names (R31), for the user's screen.
    /// Case, spaces and dashes do not matter. A wrong code is counted for
    /// `attempt` (the signed-in user, or the client's address) and for
    /// everyone: past the limits of [`DeviceFlow`](crate::DeviceFlow) every lookup is
    /// [`Error::TooManyAttempts`](crate::Error::TooManyAttempts) until the
    /// window ends (RFC 8628 §5.1).
    pub fn device_request(&self, user_code: &str, attempt: &AttemptKey) -> Result<PendingDevice> {
        let (code, attempt) = (user_code.to_owned(), attempt.clone());
        self.write(&ops::device::USER_CODE, None, move |kv, ctx| {
            ops::device::find_pending(kv, ctx, &code, attempt.as_str()).map(|found| found.pending)
        })
    }

    /// The user approves the request their code names (R31): the device's
    /// next poll gets the tokens. Counted as
    /// [`device_request`](Self::device_request) when the code is wrong.
    pub fn approve_device(&self, approval: DeviceApproval) -> Result<PendingDevice> {
        self.write(&ops::device::USER_CODE, None, move |kv, ctx| {
            ops::device::answer(
                kv,
                ctx,
                &approval.user_code,
                approval.attempt.as_str(),
                Some(&approval.subject),
            )
        })
    }

    /// The user denies the request their code names (R31): the device's
    /// next poll is `access_denied`. Counted as
    /// [`device_request`](Self::device_request) when the code is wrong.
    pub fn deny_device(&self, user_code: &str, attempt: &AttemptKey) -> Result<PendingDevice> {
        let (code, attempt) = (user_code.to_owned(), attempt.clone());
        self.write(&ops::device::USER_CODE, None, move |kv, ctx| {
            ops::device::answer(kv, ctx, &code, attempt.as_str(), None)
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
    pub fn poll_device(
        &self,
        device_code: &str,
        client: &AuthenticatedClient,
    ) -> Result<TokenResponse> {
        let (code, client_id) = (zeroize::Zeroizing::new(device_code.to_owned()), client.id());
        self.write(&ops::device::POLL, Some(&client_id), move |kv, ctx| {
            ops::device::poll(kv, ctx, &code, &client_id)
        })
    }
}
