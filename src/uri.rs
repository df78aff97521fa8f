//! Redirect URI checks (RFC 6749 §3.1.2).
//!
//! grantdb does not parse URIs for routing; it only makes sure a registered
//! redirect URI is an absolute URI without a fragment and with no characters a
//! URI cannot hold, and compares URIs as exact strings (RFC 9700 §4.1.3).

use crate::error::{Error, InputError};

/// The longest redirect URI accepted, in bytes.
pub const MAX_REDIRECT_URI_LEN: usize = 2048;

/// Checks that `uri` may be registered as a redirect URI.
///
/// Accepts `https://…`, loopback `http://127.0.0.1:…` and private-use schemes of
/// native apps (`com.example.app:/callback`, RFC 8252 §7.1): any RFC 3986 scheme
/// followed by `:` and a non-empty rest.
pub(crate) fn check_redirect_uri(uri: &str) -> Result<(), Error> {
    let malformed = |reason| Error::MalformedRedirectUri { reason };
    if uri.is_empty() {
        return Err(malformed(InputError::Empty));
    }
    if uri.len() > MAX_REDIRECT_URI_LEN {
        return Err(malformed(InputError::TooLong {
            max: MAX_REDIRECT_URI_LEN,
        }));
    }
    // RFC 3986 §2: only these characters may appear in a URI (percent-encoded
    // octets are '%' plus hex digits, checked below).
    let uri_char = |b: u8| b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b);
    if !uri.bytes().all(uri_char) {
        return Err(malformed(InputError::BadCharacter));
    }
    if uri.contains('#') {
        // RFC 6749 §3.1.2: "The endpoint URI MUST NOT include a fragment component."
        return Err(malformed(InputError::BadStructure));
    }
    let bytes = uri.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'%' {
            let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !hex(i + 1) || !hex(i + 2) {
                return Err(malformed(InputError::BadStructure));
            }
        }
    }
    // RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
    let (scheme, rest) = uri
        .split_once(':')
        .ok_or(malformed(InputError::BadStructure))?;
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok || rest.is_empty() {
        return Err(malformed(InputError::BadStructure));
    }
    if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
        // A web redirect needs an authority: "//host".
        let authority = rest
            .strip_prefix("//")
            .ok_or(malformed(InputError::BadStructure))?;
        let host_end = authority.find(['/', '?']).unwrap_or(authority.len());
        if authority[..host_end].is_empty() {
            return Err(malformed(InputError::BadStructure));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r20_redirect_uris_are_checked() {
        for good in [
            "https://pretalx.com",
            "https://example.com/cb?x=1",
            "http://127.0.0.1:8080/callback",
            "com.example.app:/oauth2redirect",
            "https://example.com/a%20b",
        ] {
            assert!(check_redirect_uri(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/relative/path",
            "https://example.com/#frag",
            "https:///nohost",
            "https://exa mple.com",
            "https://example.com/%zz",
            "1http://x",
            "javascript",
            "https://example.com/\u{e9}",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
        assert!(check_redirect_uri(&format!("https://e.com/{}", "a".repeat(3000))).is_err());
    }
}
