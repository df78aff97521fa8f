//! Caps on how many grants a subject may hold (R23), so that no subject can
//! make "log out everywhere", listing or revocation of its grants
//! arbitrarily expensive.

/// What happens when a new grant would go over a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AtGrantLimit {
    /// The new grant is refused ([`Error::GrantLimitReached`](crate::Error::GrantLimitReached),
    /// `invalid_grant` at the token endpoint); nothing changes.
    Refuse,
    /// The subject's oldest grants (by grant id, which starts with its issue
    /// time) end, in the same transaction, to make room. The default: a user
    /// signing in on a new device is never locked out by old sessions.
    #[default]
    EndOldest,
}

/// Grant limits: none by default. Set with
/// [`ConfigBuilder::grant_limits`](crate::ConfigBuilder::grant_limits).
///
/// ```
/// use grantdb::{AtGrantLimit, Config, GrantLimits};
///
/// let config = Config::builder()
///     .grant_limits(
///         GrantLimits::default()
///             .per_subject(100)
///             .per_subject_at_client(10)
///             .when_reached(AtGrantLimit::EndOldest),
///     )
///     .build()?;
/// # let _ = config;
/// # Ok::<(), grantdb::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GrantLimits {
    pub(crate) per_subject: Option<usize>,
    pub(crate) per_subject_at_client: Option<usize>,
    pub(crate) when_reached: AtGrantLimit,
}

impl GrantLimits {
    /// At most `grants` grants per subject, over all clients.
    #[must_use]
    pub fn per_subject(mut self, grants: usize) -> GrantLimits {
        self.per_subject = Some(grants);
        self
    }

    /// At most `grants` grants per subject at one client.
    #[must_use]
    pub fn per_subject_at_client(mut self, grants: usize) -> GrantLimits {
        self.per_subject_at_client = Some(grants);
        self
    }

    /// What a grant over a limit does (default: end the oldest).
    #[must_use]
    pub fn when_reached(mut self, policy: AtGrantLimit) -> GrantLimits {
        self.when_reached = policy;
        self
    }

    /// Whether any limit is set.
    pub(crate) fn any(&self) -> bool {
        self.per_subject.is_some() || self.per_subject_at_client.is_some()
    }
}
