//! A demo user store: the example checks passwords itself, as a real server
//! would against its own user database; grantdb only stores tokens.

use serde::Serialize;

/// A user's profile, as pretix's `/api/v1/me` returns it.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    /// Login and subject.
    pub email: String,
    /// Display name.
    pub fullname: String,
    /// Preferred locale.
    pub locale: String,
    /// Staff flag.
    pub is_staff: bool,
    /// Time zone.
    pub timezone: String,
}

struct User {
    password: &'static str,
    profile: Profile,
}

/// The demo users.
pub struct Users(Vec<User>);

impl Users {
    /// pretix's example user and Ticketpark's.
    pub fn demo() -> Users {
        let user = |email: &str, password, fullname: &str, locale: &str, timezone: &str| User {
            password,
            profile: Profile {
                email: email.to_owned(),
                fullname: fullname.to_owned(),
                locale: locale.to_owned(),
                is_staff: false,
                timezone: timezone.to_owned(),
            },
        };
        Users(vec![
            user(
                "admin@localhost",
                "admin",
                "John Doe",
                "de",
                "Europe/Berlin",
            ),
            user(
                "john@domain.ch",
                "secretabc123",
                "John Example",
                "de-ch",
                "Europe/Zurich",
            ),
        ])
    }

    /// The subject, if the password is right. (A demo: a real server compares
    /// password hashes in constant time.)
    pub fn check(&self, username: &str, password: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|u| u.profile.email == username && u.password == password)
            .map(|u| u.profile.email.as_str())
    }

    /// A subject's profile.
    pub fn profile(&self, subject: &str) -> Option<&Profile> {
        self.0
            .iter()
            .map(|u| &u.profile)
            .find(|p| p.email == subject)
    }
}
