//! What each scope lets a client do, in words a person reads on the consent
//! page. A real server keeps this next to its API's permission checks.

/// The description of `scope`, or a generic one for a scope this server does
/// not describe.
pub fn describe(scope: &str) -> String {
    let known = match scope {
        // pretix
        "read" => "See your events, orders and settings",
        "write" => "Change your events, orders and settings",
        "profile" => "See your name, email address, language and time zone",
        // Eventpop
        "public" => "See your public profile",
        // Prioticket
        "https://www.prioticketapis.com/auth/distributor.booking" => {
            "Create and manage bookings as a distributor"
        }
        other => return format!("Use the permission named \u{201c}{other}\u{201d}"),
    };
    known.to_owned()
}
