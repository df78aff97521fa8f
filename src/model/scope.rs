//! Scopes: space-delimited sets of RFC 6749 §3.3 tokens, compared as sets (R16).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, InputError};

/// The longest scope string accepted, in bytes.
pub const MAX_SCOPE_LEN: usize = 4096;

/// A set of scope tokens, kept in one canonical string: sorted, deduplicated,
/// joined by single spaces.
///
/// ```
/// use grantdb::Scope;
/// let wide: Scope = "write read".parse()?;
/// let narrow: Scope = "read".parse()?;
/// assert!(narrow.is_subset(&wide));
/// assert_eq!(wide.to_string(), "read write");
/// # Ok::<(), grantdb::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Scope {
    canonical: String,
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn is_scope_char(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E)
}

/// Whether `text` is already a scope's canonical form: valid tokens, single
/// spaces, sorted and without repeats. Then it is its own canonical form,
/// found in one pass with no allocation (every stored scope is canonical,
/// and decoding one is on the path of every validation).
fn is_canonical(text: &str) -> bool {
    let mut previous: Option<&str> = None;
    text.split(' ').all(|token| {
        let in_order = previous.is_none_or(|previous| previous < token);
        previous = Some(token);
        in_order && !token.is_empty() && token.bytes().all(is_scope_char)
    })
}

impl Scope {
    /// The empty scope.
    pub fn empty() -> Scope {
        Scope::default()
    }

    /// Parses a space-delimited scope string (R16). Tokens may come in any order
    /// and repeat; the set is what counts. The empty string is the empty scope.
    pub fn parse(text: &str) -> Result<Scope, Error> {
        let malformed = |reason| Error::MalformedScope { reason };
        if text.len() > MAX_SCOPE_LEN {
            return Err(malformed(InputError::TooLong { max: MAX_SCOPE_LEN }));
        }
        if text.is_empty() {
            return Ok(Scope::empty());
        }
        if is_canonical(text) {
            return Ok(Scope {
                canonical: text.to_owned(),
            });
        }
        let mut tokens = Vec::new();
        for token in text.split(' ') {
            if token.is_empty() {
                // Leading, trailing or doubled spaces: RFC 6749 §3.3 allows one SP only.
                return Err(malformed(InputError::BadStructure));
            }
            if !token.bytes().all(is_scope_char) {
                return Err(malformed(InputError::BadCharacter));
            }
            tokens.push(token);
        }
        tokens.sort_unstable();
        tokens.dedup();
        Ok(Scope {
            canonical: tokens.join(" "),
        })
    }

    /// Builds a scope from tokens, checking each.
    pub fn from_tokens<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Result<Scope, Error> {
        let joined: Vec<&str> = tokens.into_iter().collect();
        Scope::parse(&joined.join(" "))
    }

    /// The tokens, in sorted order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.canonical.split(' ').filter(|token| !token.is_empty())
    }

    /// Whether the scope has no tokens.
    pub fn is_empty(&self) -> bool {
        self.canonical.is_empty()
    }

    /// Whether every token of `self` is in `other`.
    pub fn is_subset(&self, other: &Scope) -> bool {
        // Both sides are sorted: one merge walk, no allocation.
        let mut theirs = other.iter().peekable();

        self.iter().all(|token| {
            // Skip their smaller tokens; the next one must be this token.
            while theirs.next_if(|candidate| *candidate < token).is_some() {}
            theirs.next_if_eq(&token).is_some()
        })
    }

    /// Whether `token` is in the set.
    pub fn contains(&self, token: &str) -> bool {
        self.iter().any(|candidate| candidate == token)
    }

    /// The union of two scopes.
    pub fn union(&self, other: &Scope) -> Scope {
        let mut tokens: Vec<&str> = self.iter().chain(other.iter()).collect();
        tokens.sort_unstable();
        tokens.dedup();
        Scope {
            canonical: tokens.join(" "),
        }
    }

    /// The tokens in both scopes.
    pub fn intersection(&self, other: &Scope) -> Scope {
        let tokens: Vec<&str> = self.iter().filter(|token| other.contains(token)).collect();
        Scope {
            canonical: tokens.join(" "),
        }
    }

    /// The canonical string: sorted tokens joined by single spaces.
    pub fn as_str(&self) -> &str {
        &self.canonical
    }
}

impl FromStr for Scope {
    type Err = Error;
    fn from_str(text: &str) -> Result<Scope, Error> {
        Scope::parse(text)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scope({:?})", self.canonical)
    }
}

impl Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.canonical)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Scope, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        if text.len() <= MAX_SCOPE_LEN && is_canonical(&text) {
            // What grantdb stores: taken as it is, without a second copy.
            return Ok(Scope {
                canonical: text.into_owned(),
            });
        }
        Scope::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(text: &str) -> Scope {
        Scope::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    #[test]
    fn r16_scopes_compare_as_sets() {
        assert_eq!(scope("write read"), scope("read write"));
        assert_eq!(scope("read read write"), scope("read write"));
        assert!(scope("read").is_subset(&scope("read write")));
        assert!(!scope("read admin").is_subset(&scope("read write")));
        assert!(Scope::empty().is_subset(&scope("read")));
        assert!(!scope("z").is_subset(&scope("a b")));
        assert_eq!(scope("a b").union(&scope("c a")), scope("a b c"));
    }

    #[test]
    fn r16_grammar_is_enforced() {
        for bad in [
            " read",
            "read ",
            "read  write",
            "re\"ad",
            "re\\ad",
            "read\twrite",
            "λ",
        ] {
            assert!(Scope::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Scope::parse("https://www.prioticketapis.com/auth/distributor.booking").is_ok());
        assert!(Scope::parse(&"a".repeat(MAX_SCOPE_LEN + 1)).is_err());
    }

    /// The canonical form of `text` as `parse` computed it before the
    /// one-pass shortcut: sort, drop repeats, join.
    fn parse_by_sorting(text: &str) -> Option<String> {
        if text.len() > MAX_SCOPE_LEN {
            return None;
        }
        if text.is_empty() {
            return Some(String::new());
        }
        let mut tokens: Vec<&str> = text.split(' ').collect();
        if tokens
            .iter()
            .any(|token| token.is_empty() || !token.bytes().all(is_scope_char))
        {
            return None;
        }
        tokens.sort_unstable();
        tokens.dedup();
        Some(tokens.join(" "))
    }

    proptest::proptest! {
        /// R16: the shortcut for canonical text changes no answer: every
        /// text parses (and decodes) to what sorting gives, or fails alike.
        #[test]
        fn r16_canonical_text_parses_as_sorting_would(text in "[ab\\x20\"]{0,12}") {
            let sorted = parse_by_sorting(&text);
            let parsed = Scope::parse(&text).ok().map(|scope| scope.canonical);
            proptest::prop_assert_eq!(&parsed, &sorted);
            let encoded = postcard::to_allocvec(&text).expect("a string encodes");
            let decoded = postcard::from_bytes::<Scope>(&encoded).ok().map(|scope| scope.canonical);
            proptest::prop_assert_eq!(decoded, sorted);
        }
    }
}
