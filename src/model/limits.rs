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

/// Grant limits. By default a subject holds at most
/// [`DEFAULT_GRANTS_PER_SUBJECT`] grants over all clients (the oldest end to
/// make room), so that no subject makes "log out everywhere" or a listing
/// of its grants arbitrarily expensive; [`GrantLimits::none`] lifts every
/// limit. Set with
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantLimits {
    pub(crate) per_subject: Option<usize>,
    pub(crate) per_subject_at_client: Option<usize>,
    pub(crate) when_reached: AtGrantLimit,
}

/// The grants a subject may hold by default, over all clients: far more
/// than the devices and applications of any person, few enough that ending
/// them all takes milliseconds.
pub const DEFAULT_GRANTS_PER_SUBJECT: usize = 1_000;

impl Default for GrantLimits {
    fn default() -> GrantLimits {
        GrantLimits {
            per_subject: Some(DEFAULT_GRANTS_PER_SUBJECT),
            per_subject_at_client: None,
            when_reached: AtGrantLimit::EndOldest,
        }
    }
}

impl GrantLimits {
    /// No limit at all: a subject may hold any number of grants.
    #[must_use]
    pub fn none() -> GrantLimits {
        GrantLimits {
            per_subject: None,
            per_subject_at_client: None,
            when_reached: AtGrantLimit::EndOldest,
        }
    }

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
