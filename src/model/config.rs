//! Store configuration: lifetimes, reuse policy, prefixes, durability, key, clock.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::model::client::{LifetimeOverrides, RefreshLifetime};
use crate::model::clock::{Clock, SystemClock};
use crate::model::event::{Event, Listener};
use crate::model::ids::ClientId;
use crate::model::limits::GrantLimits;

/// The page cache a store gets unless told otherwise: enough for about a
/// million access/refresh pairs to validate at in-cache speed (see
/// [`ConfigBuilder::cache_size`]).
const DEFAULT_CACHE_BYTES: usize = 256 * 1024 * 1024;
use crate::crypto::secret::{HashingKey, TokenPrefixes};
use crate::model::uri::RedirectUriPolicy;

/// What an acknowledged write survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// Every acknowledged operation is on stable storage (fsync) before the call
    /// returns: it survives a process crash and a power loss. The default.
    #[default]
    Durable,
    /// Operations are committed without fsync (redb `Durability::None`) and made
    /// durable in groups by a background thread, at least every
    /// `fast_flush_interval` (default 1 s) whether or not writes go on, on
    /// [`Store::flush`](crate::Store::flush), and on a clean close. A crash or
    /// power loss loses at most the operations acknowledged in the last
    /// interval (all of each, never half of one), and the file is never
    /// damaged. If a flush fails (a full disk), later operations are committed
    /// durably, so that they fail rather than being acknowledged and lost.
    Fast,
}

/// Store-wide settings; build with [`Config::builder`].
#[derive(Clone)]
pub struct Config {
    pub(crate) access_lifetime: u64,
    pub(crate) code_lifetime: u64,
    pub(crate) refresh_lifetime: RefreshLifetime,
    pub(crate) client_lifetimes: HashMap<ClientId, LifetimeOverrides>,
    pub(crate) reuse_grace: u64,
    pub(crate) reuse_cap: u32,
    pub(crate) consumed_retention: Option<u64>,
    pub(crate) prefixes: TokenPrefixes,
    pub(crate) durability: Durability,
    pub(crate) fast_flush_interval: Duration,
    pub(crate) hashing_keys: Vec<HashingKey>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) cache_bytes: usize,
    pub(crate) purge_batch: usize,
    pub(crate) require_pkce_for_public: bool,
    pub(crate) check_file_on_open: bool,
    pub(crate) disk_reserve: u64,
    pub(crate) redirect_uri_policy: RedirectUriPolicy,
    pub(crate) grant_live_pairs: usize,
    pub(crate) purge_batch_time: Duration,
    pub(crate) issuer: Option<String>,
    pub(crate) on_event: Option<Listener>,
    pub(crate) feed: crate::model::feed::FeedConfig,
    pub(crate) hot_tokens: usize,
    pub(crate) commit_log: bool,
    pub(crate) checkpoint_interval: Duration,
    pub(crate) grant_limits: GrantLimits,
    pub(crate) device_flow: crate::model::device::DeviceFlow,
    pub(crate) proof_claims_per_client: u32,
    pub(crate) proof_claims_total: u32,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            access_lifetime: 86_400,
            code_lifetime: 60,
            refresh_lifetime: RefreshLifetime::Never,
            client_lifetimes: HashMap::new(),
            reuse_grace: 0,
            reuse_cap: 1,
            consumed_retention: Some(30 * 86_400),
            prefixes: TokenPrefixes::default(),
            durability: Durability::Durable,
            fast_flush_interval: Duration::from_secs(1),
            hashing_keys: Vec::new(),
            clock: Arc::new(SystemClock),
            cache_bytes: DEFAULT_CACHE_BYTES,
            purge_batch: 2_000,
            require_pkce_for_public: true,
            check_file_on_open: true,
            disk_reserve: 8 << 20,
            redirect_uri_policy: RedirectUriPolicy::default(),
            grant_live_pairs: 4,
            purge_batch_time: Duration::from_millis(50),
            issuer: None,
            on_event: None,
            feed: crate::model::feed::FeedConfig::default(),
            hot_tokens: DEFAULT_HOT_TOKENS,
            commit_log: true,
            checkpoint_interval: Duration::from_secs(1),
            grant_limits: GrantLimits::default(),
            device_flow: crate::model::device::DeviceFlow::default(),
            proof_claims_per_client: 250_000,
            proof_claims_total: 2_000_000,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("access_lifetime", &self.access_lifetime)
            .field("code_lifetime", &self.code_lifetime)
            .field("refresh_lifetime", &self.refresh_lifetime)
            .field("client_lifetimes", &self.client_lifetimes)
            .field("reuse_grace", &self.reuse_grace)
            .field("reuse_cap", &self.reuse_cap)
            .field("consumed_retention", &self.consumed_retention)
            .field("prefixes", &self.prefixes)
            .field("durability", &self.durability)
            .field("fast_flush_interval", &self.fast_flush_interval)
            .field(
                "hashing_keys",
                &format_args!("<{} host supplied>", self.hashing_keys.len()),
            )
            .field("cache_bytes", &self.cache_bytes)
            .field("purge_batch", &self.purge_batch)
            .field("disk_reserve", &self.disk_reserve)
            .field("redirect_uri_policy", &self.redirect_uri_policy)
            .field("grant_live_pairs", &self.grant_live_pairs)
            .field("purge_batch_time", &self.purge_batch_time)
            .field("issuer", &self.issuer)
            .field("on_event", &self.on_event.as_ref().map(|_| "<listener>"))
            .field("feed", &self.feed)
            .field("hot_tokens", &self.hot_tokens)
            .field("commit_log", &self.commit_log)
            .field("checkpoint_interval", &self.checkpoint_interval)
            .field("grant_limits", &self.grant_limits)
            .field("device_flow", &self.device_flow)
            .field("proof_claims_per_client", &self.proof_claims_per_client)
            .field("proof_claims_total", &self.proof_claims_total)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// A builder starting from the defaults: access tokens 86,400 s, codes 60 s,
    /// refresh tokens without expiry, no reuse grace, consumed refresh tokens
    /// kept 30 days, durable commits, a generated hashing key, the system clock.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder {
            config: Config::default(),
        }
    }

    /// The effective lifetimes for `client`: config per-client overrides, then
    /// the client's own record, then the store defaults.
    pub(crate) fn lifetimes_for(
        &self,
        client: &ClientId,
        recorded: LifetimeOverrides,
    ) -> Lifetimes {
        let merged = match self.client_lifetimes.get(client) {
            Some(configured) => recorded.overlaid_by(*configured),
            None => recorded,
        };
        Lifetimes {
            access: merged.access_seconds.unwrap_or(self.access_lifetime),
            refresh: merged.refresh.unwrap_or(self.refresh_lifetime),
            code: merged.code_seconds.unwrap_or(self.code_lifetime),
        }
    }
}

/// Resolved lifetimes for one client, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lifetimes {
    pub access: u64,
    pub refresh: RefreshLifetime,
    pub code: u64,
}

/// How many decoded token records an embedded store keeps for validation by
/// default ([`ConfigBuilder::hot_token_cache`]): 65,536, about 24 MiB at
/// most (some 370 bytes each with the map's own).
pub const DEFAULT_HOT_TOKENS: usize = 65_536;

/// Builds a [`Config`]; [`ConfigBuilder::build`] checks every value.
#[derive(Debug, Clone)]
pub struct ConfigBuilder {
    config: Config,
}

impl ConfigBuilder {
    /// What the change feed records and keeps (R33; default: endings,
    /// subjects hashed, 7 days;
    /// [`FeedConfig::off`](crate::FeedConfig::off) records nothing).
    pub fn feed(mut self, feed: crate::model::feed::FeedConfig) -> ConfigBuilder {
        self.config.feed = feed;
        self
    }

    /// How many decoded token records an embedded store keeps in memory for
    /// validation (default [`DEFAULT_HOT_TOKENS`], about 24 MiB at most; 0:
    /// none). A token validated again is answered from memory; every commit
    /// that changes or removes a token drops it before the operation returns,
    /// so a revoked token never validates again (R13). A shared database
    /// (PostgreSQL), which other nodes write, keeps none.
    pub fn hot_token_cache(mut self, entries: usize) -> ConfigBuilder {
        self.config.hot_tokens = entries;
        self
    }

    /// Whether an embedded store on a file makes its durable commits through
    /// a commit log beside it (`<file>.commitlog`, default true): one
    /// sequential write and one `fdatasync` per commit instead of the
    /// file's page paths and an `fdatasync` of the file. Off, every durable
    /// commit is a durable commit of the file. Either way an acknowledged
    /// durable operation survives a crash (see `docs/design.md`, "The
    /// commit log"). Copy the database with `export` (or after a clean
    /// close, which leaves the log empty): the file alone holds what it had
    /// at its last checkpoint.
    pub fn commit_log(mut self, on: bool) -> ConfigBuilder {
        self.config.commit_log = on;
        self
    }

    /// With the commit log, how old its oldest entry may get before a
    /// background checkpoint writes the file durably and empties the log
    /// (default 1 s; at least 1 ms). A checkpoint is also made once the log
    /// holds 16 MiB. The file grows between checkpoints by the pages it
    /// cannot reuse until then.
    pub fn checkpoint_interval(mut self, interval: Duration) -> ConfigBuilder {
        self.config.checkpoint_interval = interval;
        self
    }

    /// Default access token lifetime (86,400 s).
    pub fn access_lifetime(mut self, lifetime: Duration) -> ConfigBuilder {
        self.config.access_lifetime = lifetime.as_secs();
        self
    }

    /// Default authorization code lifetime (60 s; at most 600 s, R04).
    pub fn code_lifetime(mut self, lifetime: Duration) -> ConfigBuilder {
        self.config.code_lifetime = lifetime.as_secs();
        self
    }

    /// Default refresh token lifetime ([`RefreshLifetime::Never`]).
    pub fn refresh_lifetime(mut self, lifetime: RefreshLifetime) -> ConfigBuilder {
        self.config.refresh_lifetime = lifetime;
        self
    }

    /// Lifetimes for one client, overriding both the defaults and the client's
    /// own record.
    pub fn client_lifetimes(
        mut self,
        client: ClientId,
        lifetimes: LifetimeOverrides,
    ) -> ConfigBuilder {
        self.config.client_lifetimes.insert(client, lifetimes);
        self
    }

    /// How long after a refresh token's rotation a repeat presentation still
    /// yields a new pair instead of revoking the grant (R08; default 0 s).
    /// Covers a client that lost the response to its refresh.
    pub fn refresh_reuse_grace(mut self, grace: Duration) -> ConfigBuilder {
        self.config.reuse_grace = grace.as_secs();
        self
    }

    /// How many grace-period reuses one consumed refresh token may serve before
    /// a further one counts as theft (default 1).
    pub fn refresh_reuse_cap(mut self, cap: u32) -> ConfigBuilder {
        self.config.reuse_cap = cap;
        self
    }

    /// How long a consumed refresh token is kept for reuse detection (R08, R14;
    /// default 30 days). `None` keeps it until its grant ends.
    pub fn consumed_refresh_retention(mut self, retention: Option<Duration>) -> ConfigBuilder {
        self.config.consumed_retention = retention.map(|r| r.as_secs());
        self
    }

    /// Prefixes of issued strings (R02).
    pub fn token_prefixes(mut self, prefixes: TokenPrefixes) -> ConfigBuilder {
        self.config.prefixes = prefixes;
        self
    }

    /// What an acknowledged write survives (default [`Durability::Durable`]).
    pub fn durability(mut self, durability: Durability) -> ConfigBuilder {
        self.config.durability = durability;
        self
    }

    /// In [`Durability::Fast`] mode, the longest an acknowledged operation
    /// waits to become durable (default 1 s; at least 1 ms).
    pub fn fast_flush_interval(mut self, interval: Duration) -> ConfigBuilder {
        self.config.fast_flush_interval = interval;
        self
    }

    /// A host-supplied hashing key (recommended in production; see
    /// [`HashingKey`]): a ring of this one key.
    pub fn hashing_key(self, key: HashingKey) -> ConfigBuilder {
        self.hashing_keys([key])
    }

    /// The host's key ring, in any order: every key the database uses and
    /// has not removed must be there (opening fails otherwise, naming the
    /// missing fingerprints). A new database registers them in the order
    /// given, the last one minting; an existing one matches them to its
    /// keys by fingerprint and holds back those it does not know until
    /// [`Store::add_hashing_key`](crate::Store::add_hashing_key) adds them.
    /// See `docs/design.md`, "Rotating the hashing key".
    pub fn hashing_keys(mut self, keys: impl IntoIterator<Item = HashingKey>) -> ConfigBuilder {
        self.config.hashing_keys = keys.into_iter().collect();
        self
    }

    /// The clock every expiry decision reads (R18; default the system clock).
    pub fn clock(mut self, clock: impl Clock) -> ConfigBuilder {
        self.config.clock = Arc::new(clock);
        self
    }

    /// Size of redb's page cache (default 256 MiB, an upper bound: redb
    /// fills it only as pages are read). Sizing rule, measured: about 256 MiB
    /// per million access/refresh pairs (half the file) keeps validation at
    /// its in-cache speed; at a million pairs, 128 MiB costs 1.2x and 64 MiB
    /// 1.9x (`docs/benchmarks.md`, "Page cache"). redb's own default, 1 GiB,
    /// is more than a component embedded in a server should claim.
    pub fn cache_size(mut self, bytes: usize) -> ConfigBuilder {
        self.config.cache_bytes = bytes;
        self
    }

    /// Most expired entries one purge transaction removes (default 2,000).
    pub fn purge_batch_size(mut self, entries: usize) -> ConfigBuilder {
        self.config.purge_batch = entries;
        self
    }

    /// Whether public clients must send a PKCE challenge (default true, as
    /// RFC 9700 §2.1.1 requires).
    pub fn require_pkce_for_public_clients(mut self, required: bool) -> ConfigBuilder {
        self.config.require_pkce_for_public = required;
        self
    }

    /// Whether opening a file verifies the checksum of every page (default
    /// true). A damaged file is then refused at open with an error; without
    /// the check, redb trusts a cleanly closed file and damage done to it from
    /// outside may surface later, possibly as a panic inside redb. The check
    /// reads the whole file once: about a second per few hundred MB.
    pub fn check_file_on_open(mut self, check: bool) -> ConfigBuilder {
        self.config.check_file_on_open = check;
        self
    }

    /// Bytes of disk space an embedded store holds back in a file beside the
    /// database (`<database>.reserve`) for the way out of a full disk (default
    /// 8 MiB; 0: none). When the disk fills, the store frees the reserve so
    /// that purge and revocation can still commit, and refuses operations that
    /// grow the database until the reserve can be written again (see
    /// `docs/design.md`, "Failures").
    pub fn disk_reserve(mut self, bytes: u64) -> ConfigBuilder {
        self.config.disk_reserve = bytes;
        self
    }

    /// The most token pairs one grant keeps active at once (default 4, at
    /// least 2). Only grace-period reuses (R08) add pairs to a grant; one
    /// beyond the limit ends the grant's oldest pair, so that a client that
    /// keeps repeating refreshes cannot grow a grant (and the cost of every
    /// operation on it) without bound.
    pub fn grant_live_pairs(mut self, pairs: usize) -> ConfigBuilder {
        self.config.grant_live_pairs = pairs;
        self
    }

    /// The longest one purge transaction holds the write lock (default 50 ms):
    /// a batch stops early when it is reached, and the next batch goes on.
    pub fn purge_batch_time(mut self, time: Duration) -> ConfigBuilder {
        self.config.purge_batch_time = time;
        self
    }

    /// The issuer identifier (the authorization server's URL, RFC 8414) that
    /// introspection reports as `iss` for an active token (default none).
    pub fn issuer(mut self, issuer: impl Into<String>) -> ConfigBuilder {
        self.config.issuer = Some(issuer.into());
        self
    }

    /// A listener told every [`Event`](crate::Event) once the transaction
    /// that made it committed (never for one that did not), on the thread of
    /// the call that made it, before that call returns. Keep it quick (send
    /// to a channel, log, count); it must not call the store.
    ///
    /// ```
    /// use grantdb::{Config, EventKind, Store};
    /// let (events, seen) = std::sync::mpsc::channel();
    /// let config = Config::builder()
    ///     .on_event(move |event| {
    ///         let _ = events.send(event.kind);
    ///     })
    ///     .build()?;
    /// let store = Store::in_memory(config)?;
    /// store.register_client(
    ///     grantdb::NewClient::confidential("app").grant_types([grantdb::GrantType::ClientCredentials]),
    /// )?;
    /// assert_eq!(seen.try_recv().ok(), Some(EventKind::ClientRegistered));
    /// # Ok::<(), grantdb::Error>(())
    /// ```
    pub fn on_event(mut self, listener: impl Fn(&Event) + Send + Sync + 'static) -> ConfigBuilder {
        self.config.on_event = Some(Arc::new(listener));
        self
    }

    /// Which redirect URIs clients may register (default: `https`, loopback
    /// `http`, private-use schemes of native apps; see [`RedirectUriPolicy`]).
    /// URIs registered earlier keep working whatever the policy says now.
    pub fn redirect_uri_policy(mut self, policy: RedirectUriPolicy) -> ConfigBuilder {
        self.config.redirect_uri_policy = policy;
        self
    }

    /// The device authorization grant's lifetimes, polling interval and
    /// brute-force limits (R31); see [`DeviceFlow`](crate::DeviceFlow).
    pub fn device_flow(mut self, settings: crate::model::device::DeviceFlow) -> ConfigBuilder {
        self.config.device_flow = settings;
        self
    }

    /// Caps on the DPoP proof ids the store remembers (R27): claimed by one
    /// client, and by all clients together, within the last hour or two (a
    /// claim lives at most an hour). Past a cap a claim is
    /// [`Error::ProofClaimsFull`](crate::Error::ProofClaimsFull) until the
    /// window turns. Defaults 250,000 and 2,000,000 (about 0.5 GiB of
    /// records at most; a claim takes some 270 bytes).
    pub fn proof_claim_limits(mut self, per_client: u32, total: u32) -> ConfigBuilder {
        self.config.proof_claims_per_client = per_client;
        self.config.proof_claims_total = total;
        self
    }

    /// Caps on the grants a subject may hold, and what a grant over them
    /// does (R23). By default 1,000 per subject, the oldest ending to make
    /// room ([`GrantLimits`](crate::GrantLimits)).
    pub fn grant_limits(mut self, limits: GrantLimits) -> ConfigBuilder {
        self.config.grant_limits = limits;
        self
    }

    /// Checks the values and returns the configuration.
    pub fn build(self) -> Result<Config> {
        let config = self.config;
        LifetimeOverrides {
            access_seconds: Some(config.access_lifetime),
            refresh: Some(config.refresh_lifetime),
            code_seconds: Some(config.code_lifetime),
        }
        .check()?;
        for overrides in config.client_lifetimes.values() {
            overrides.check()?;
        }
        config.prefixes.check()?;
        if config.checkpoint_interval < Duration::from_millis(1) {
            return Err(Error::InvalidConfig {
                reason: "the checkpoint interval must be at least 1 ms",
            });
        }
        if config.fast_flush_interval < Duration::from_millis(1) {
            return Err(Error::InvalidConfig {
                reason: "the fast flush interval must be at least 1 ms",
            });
        }
        if config.grant_live_pairs < 2 {
            return Err(Error::InvalidConfig {
                reason: "a grant must keep at least 2 live pairs (R08: a grace pair beside the rotated one)",
            });
        }
        let limits = config.grant_limits;
        if limits.per_subject == Some(0) || limits.per_subject_at_client == Some(0) {
            return Err(Error::InvalidConfig {
                reason: "a grant limit must be at least 1",
            });
        }
        if config.purge_batch == 0 {
            return Err(Error::InvalidConfig {
                reason: "the purge batch size must be at least 1",
            });
        }
        if config.consumed_retention == Some(0) {
            return Err(Error::InvalidConfig {
                reason: "the consumed refresh token retention must be at least 1 second",
            });
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r04_code_lifetime_is_capped_at_600_seconds() {
        assert!(
            Config::builder()
                .code_lifetime(Duration::from_mins(10))
                .build()
                .is_ok()
        );
        assert!(matches!(
            Config::builder()
                .code_lifetime(Duration::from_secs(601))
                .build(),
            Err(Error::InvalidConfig { .. })
        ));
        let overrides = LifetimeOverrides::default().code(Duration::from_mins(15));
        assert!(
            Config::builder()
                .client_lifetimes(ClientId::from_bytes([1; 16]), overrides)
                .build()
                .is_err()
        );
    }

    #[test]
    fn per_client_lifetimes_take_precedence() {
        let client = ClientId::from_bytes([1; 16]);
        let config = Config::builder()
            .client_lifetimes(
                client,
                LifetimeOverrides::default().access(Duration::from_mins(10)),
            )
            .build()
            .unwrap_or_default();
        let recorded = LifetimeOverrides::default()
            .access(Duration::from_hours(2))
            .code(Duration::from_secs(30));
        let lifetimes = config.lifetimes_for(&client, recorded);
        assert_eq!((lifetimes.access, lifetimes.code), (600, 30));
        let other =
            config.lifetimes_for(&ClientId::from_bytes([2; 16]), LifetimeOverrides::default());
        assert_eq!(other.access, 86_400);
        assert_eq!(other.refresh, RefreshLifetime::Never);
    }
}
