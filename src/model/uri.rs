//! Redirect URI checks (RFC 6749 §3.1.2, RFC 8252, RFC 9700 §4.1).
//!
//! Two layers. [`check_redirect_uri`] is the shape every stored redirect URI
//! has (an absolute URI without a fragment, with no character a URI cannot
//! hold); it is what a record's decoder checks. [`RedirectUriPolicy`] is what
//! a client may *register*: no scheme that runs code or reads files, `https`
//! except on loopback, private-use schemes of native apps. URIs are compared
//! as exact strings (RFC 9700 §4.1.3).

use fluent_uri::Uri;
use fluent_uri::component::Host;

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

/// Which redirect URIs a client may register.
///
/// The default follows RFC 9700 §4.1 and RFC 8252: `https` URIs; `http` only
/// to a loopback address (`127.0.0.1`, `[::1]`, `localhost`, any port; RFC 8252
/// §7.3); private-use schemes of native apps in reverse-domain form
/// (`com.example.app:/callback`, RFC 8252 §7.1). Schemes that run code or
/// read local data in a browser (`javascript:`, `data:`, `file:`,
/// `vbscript:`, `blob:`, `about:`, ...) are never allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedirectUriPolicy {
    /// Allow `http` to hosts other than loopback (default false: the code
    /// would cross the network in the clear; for development setups only).
    pub allow_plain_http: bool,
    /// Allow private-use schemes of native apps (default true).
    pub allow_private_use_schemes: bool,
}

impl Default for RedirectUriPolicy {
    fn default() -> RedirectUriPolicy {
        RedirectUriPolicy {
            allow_plain_http: false,
            allow_private_use_schemes: true,
        }
    }
}

/// Schemes a browser runs or reads locally: never a redirect target.
const DANGEROUS_SCHEMES: [&str; 9] = [
    "javascript",
    "data",
    "file",
    "vbscript",
    "blob",
    "about",
    "filesystem",
    "view-source",
    "jar",
];

impl RedirectUriPolicy {
    /// The default policy with plain `http` allowed or not.
    pub fn allow_plain_http(mut self, allow: bool) -> RedirectUriPolicy {
        self.allow_plain_http = allow;
        self
    }

    /// The default policy with private-use schemes allowed or not.
    pub fn allow_private_use_schemes(mut self, allow: bool) -> RedirectUriPolicy {
        self.allow_private_use_schemes = allow;
        self
    }

    /// Checks that `uri` may be registered: its shape, then the policy. The
    /// URI is parsed strictly as RFC 3986 says (the `fluent-uri` crate): a
    /// host is a loopback address only when it is written as one
    /// (`127.0.0.1`, `[::1]`, `localhost`), never by a browser's lenient
    /// reading of another spelling (`127.1`, `0x7f.1`).
    pub fn check(&self, uri: &str) -> Result<(), Error> {
        check_redirect_uri(uri)?;
        let disallowed = Error::MalformedRedirectUri {
            reason: InputError::NotAllowed,
        };
        let parsed = Uri::parse(uri).map_err(|_| Error::MalformedRedirectUri {
            reason: InputError::BadStructure,
        })?;
        let scheme = parsed.scheme().as_str().to_ascii_lowercase();
        if DANGEROUS_SCHEMES.contains(&scheme.as_str()) {
            return Err(disallowed);
        }
        let host = parsed.authority().map(|authority| authority.host_parsed());
        let has_host = host
            .as_ref()
            .is_some_and(|host| !matches!(host, Host::RegName(name) if name.as_str().is_empty()));
        match scheme.as_str() {
            "https" if has_host => Ok(()),
            "http"
                if host.as_ref().is_some_and(is_loopback)
                    || (has_host && self.allow_plain_http) =>
            {
                Ok(())
            }
            "https" | "http" => Err(disallowed),
            // RFC 8252 §7.1: "a URI scheme based on a domain name under
            // their control, expressed in reverse order".
            private if self.allow_private_use_schemes && private.contains('.') => Ok(()),
            _ => Err(disallowed),
        }
    }
}

/// RFC 8252 §7.3: `127.0.0.0/8`, `[::1]`, and `localhost` (§8.3 advises
/// against it, but native app libraries still send it).
fn is_loopback(host: &Host<'_>) -> bool {
    match host {
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
        Host::RegName(name) => name.as_str().eq_ignore_ascii_case("localhost"),
        Host::IpvFuture { .. } => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r20_the_default_redirect_policy_refuses_dangerous_and_plain_uris() {
        let policy = RedirectUriPolicy::default();
        for good in [
            "https://pretalx.com",
            "https://example.com/cb?x=1",
            "http://127.0.0.1:8080/callback",
            "http://127.0.0.1/cb",
            "http://[::1]:9000/cb",
            "http://localhost:3000/cb",
            "com.example.app:/oauth2redirect",
            "com.example.app:/",
        ] {
            assert!(policy.check(good).is_ok(), "{good}");
        }
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,hi",
            "file:///etc/passwd",
            "vbscript:msgbox",
            "about:blank",
            "blob:https://example.com/x",
            "http://example.com/cb",
            "http://127.0.0.1.evil.example/cb",
            "http://127.1/cb",
            "http://0x7f.0.0.1/cb",
            "http://localhost.evil.example/cb",
            "myapp:/cb",
            "https:/nohost",
        ] {
            assert!(
                matches!(policy.check(bad), Err(Error::MalformedRedirectUri { .. })),
                "{bad}"
            );
        }
        assert!(
            policy
                .allow_plain_http(true)
                .check("http://example.com/cb")
                .is_ok()
        );
        assert!(
            policy
                .allow_private_use_schemes(false)
                .check("com.example.app:/cb")
                .is_err()
        );
    }

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
