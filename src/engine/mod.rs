//! How an operation runs and how a database opens: group commit, the store's
//! time, observation, periodic work, the key ring, the format's metadata and
//! its migrations. Imports `record/`, `kv/`, `model/`, `crypto/` and the
//! error, never `ops/` or `api/`.

pub(crate) mod commit;
pub(crate) mod ctx;
pub(crate) mod hot;
pub(crate) mod keyring;
pub(crate) mod meta;
pub(crate) mod migrate;
pub(crate) mod observe;
pub(crate) mod op;
pub(crate) mod periodic;
pub(crate) mod premint;
pub(crate) mod time;
pub(crate) mod wakeup;
