//! Back-channel logout from the change feed: a user signs in to two
//! applications in one browser session, then logs out at the provider; the
//! feed names both (client, sid) pairs, and this prints the logout tokens'
//! claims a host would sign and send.
//!
//! ```text
//! cargo run --example backchannel_logout
//! ```

mod notices;

use grantdb::{
    AuthSession, AuthorizationRequest, CodeExchange, Config, GrantType, NewClient, Store,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = Store::in_memory(Config::default())?;
    for name in ["pretix", "eventpop"] {
        let app = store.register_client(
            NewClient::confidential(name)
                .redirect_uri(format!("https://{name}.example/callback"))
                .grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken]),
        )?;
        let client = store.authenticate_client(
            &app.client.id,
            app.secret.as_ref().map(grantdb::Secret::expose),
        )?;
        let code = store.issue_code(
            AuthorizationRequest::new(app.client.id, "alice")
                .auth_session(AuthSession::new().sid("browser-42")),
        )?;
        store.exchange_code(CodeExchange::new(code.code.expose(), &client))?;
    }
    // The user logs out at the provider (R26).
    let cursor = store.changes_since(0, 1)?.next;
    store.revoke_session("browser-42")?;
    let changes = store.changes_since(cursor, 1_000)?.changes;
    for claims in notices::logout_claims("https://id.example", &changes) {
        println!("{}", serde_json::to_string(&claims)?);
    }
    Ok(())
}
