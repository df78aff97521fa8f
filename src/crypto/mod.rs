//! Minting, keyed hashing and randomness: the strings grantdb hands out and
//! the verifiers it keeps of them. Imports only the error.

pub(crate) mod kinds;
pub(crate) mod random;
pub(crate) mod secret;
