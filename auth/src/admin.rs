//! What the `mcp-auth users|clients|keys` commands do, as functions over the store (so they are
//! tested like everything else, and `main.rs` only parses and prints).

use protocol::registration::ClientMetadata;
use protocol::resource::check_resource;
use protocol::secret::{ClientSecret, Password};
use protocol::token::{GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN};

use crate::store::{AuditEvent, AuditKind, Client, ExchangeTargets, Store, User};
use crate::{digest, password, random};

/// Shortest password `users add` and `users passwd` accept.
pub const MIN_PASSWORD_LENGTH: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Invalid(String),
}

fn hash_password(password: &Password) -> Result<String, AdminError> {
    if password.secret().chars().count() < MIN_PASSWORD_LENGTH {
        return Err(AdminError::Invalid(format!(
            "a password needs at least {MIN_PASSWORD_LENGTH} characters"
        )));
    }
    password::hash(password).map_err(|e| AdminError::Invalid(format!("cannot hash the password: {e}")))
}

/// Creates a user in `groups`; fails if the username is taken or a group name is not valid.
pub async fn add_user(
    store: &Store,
    username: &str,
    password: &Password,
    groups: &[String],
    now: i64,
) -> Result<User, AdminError> {
    let username = username.trim();
    if username.is_empty() || username.len() > 64 || username.chars().any(char::is_control) {
        return Err(AdminError::Invalid("a username is 1 to 64 printable characters".into()));
    }
    check_groups(groups)?;
    let user =
        User { id: random::token(), username: username.to_owned(), password_hash: hash_password(password)? };
    if !store.insert_user_if_absent(&user, now).await? {
        return Err(AdminError::Invalid(format!("user {username:?} already exists")));
    }
    store.change_user_groups(&user.id, groups, &[]).await?;
    Ok(user)
}

/// Longest group name accepted.
pub const MAX_GROUP_NAME: usize = 64;

/// Group names are what policies compare byte for byte: 1 to 64 of `A-Z a-z 0-9 . _ - : /`, so
/// they read the same in a token, a log line and a Cedar policy.
pub fn check_groups(groups: &[String]) -> Result<(), AdminError> {
    for group in groups {
        let valid = !group.is_empty()
            && group.len() <= MAX_GROUP_NAME
            && group
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':' | b'/'));
        if !valid {
            return Err(AdminError::Invalid(format!(
                "group {group:?}: a group name is 1 to {MAX_GROUP_NAME} of A-Z a-z 0-9 . _ - : /"
            )));
        }
    }
    Ok(())
}

/// Adds the user to `add` and removes them from `remove`; returns their groups.
pub async fn change_groups(
    store: &Store,
    username: &str,
    add: &[String],
    remove: &[String],
) -> Result<Vec<String>, AdminError> {
    check_groups(add)?;
    let user = store
        .find_user_by_username(username)
        .await?
        .ok_or_else(|| AdminError::Invalid(format!("no user {username:?}")))?;
    Ok(store.change_user_groups(&user.id, add, remove).await?)
}

/// Sets a new password, revoking the user's grants and sessions.
pub async fn change_password(
    store: &Store,
    username: &str,
    password: &Password,
    now: i64,
) -> Result<(), AdminError> {
    let user = store
        .find_user_by_username(username)
        .await?
        .ok_or_else(|| AdminError::Invalid(format!("no user {username:?}")))?;
    store.change_password(&user.id, &hash_password(password)?, now).await?;
    Ok(())
}

/// Registers a public client by hand, validated like a dynamic registration.
pub async fn add_client(
    store: &Store,
    client_id: Option<&str>,
    name: &str,
    redirect_uris: Vec<String>,
    refresh_tokens: bool,
    now: i64,
) -> Result<Client, AdminError> {
    let mut grant_types = vec![GRANT_AUTHORIZATION_CODE.to_owned()];
    if refresh_tokens {
        grant_types.push(GRANT_REFRESH_TOKEN.to_owned());
    }
    let metadata = ClientMetadata {
        redirect_uris,
        client_name: Some(name.to_owned()),
        grant_types: Some(grant_types),
        ..Default::default()
    };
    let metadata = protocol::registration::validate(metadata)
        .map_err(|(code, description)| AdminError::Invalid(format!("{code}: {description}")))?;
    let client_id = checked_client_id(store, client_id).await?;
    let client = Client::preregistered(client_id, metadata, None, Vec::new(), ExchangeTargets::none());
    store.insert_client(&client, &added_by_operator(&client), now).await?;
    Ok(client)
}

/// How a confidential client will authenticate.
#[derive(Debug, Clone)]
pub enum ConfidentialAuth {
    /// `client_secret_basic` with a secret generated now and shown once.
    Secret,
    /// `private_key_jwt` with the keys at this URL.
    JwksUri(String),
    /// `private_key_jwt` with these public keys (a JWK Set).
    Jwks(serde_json::Value),
}

/// A confidential client to register (`clients add --confidential`).
#[derive(Debug, Clone)]
pub struct NewConfidentialClient {
    pub client_id: Option<String>,
    pub name: String,
    pub auth: ConfidentialAuth,
    /// The resources it acts for: it may exchange tokens issued for them, and introspect them.
    pub acts_for: Vec<String>,
    /// The resources it may obtain tokens for, by exchange or an approved call (a gateway's
    /// upstreams). Needs `acts_for`: only tokens given to it can be exchanged.
    pub exchange_to: Vec<String>,
    /// `None`: token exchange and CIBA.
    pub grant_types: Option<Vec<String>>,
    pub redirect_uris: Vec<String>,
}

/// Registers a confidential client. Returns it and, for `client_secret_basic`, its secret: shown
/// now, stored only as a hash, never retrievable again.
pub async fn add_confidential_client(
    store: &Store,
    new: NewConfidentialClient,
    now: i64,
) -> Result<(Client, Option<ClientSecret>), AdminError> {
    let (method, jwks_uri, jwks) = match new.auth {
        ConfidentialAuth::Secret => (protocol::registration::CLIENT_SECRET_BASIC, None, None),
        ConfidentialAuth::JwksUri(uri) => (protocol::registration::PRIVATE_KEY_JWT, Some(uri), None),
        ConfidentialAuth::Jwks(jwks) => (protocol::registration::PRIVATE_KEY_JWT, None, Some(jwks)),
    };
    let metadata = ClientMetadata {
        redirect_uris: new.redirect_uris,
        client_name: Some(new.name),
        token_endpoint_auth_method: Some(method.to_owned()),
        grant_types: new.grant_types,
        jwks_uri,
        jwks,
        ..Default::default()
    };
    let metadata = protocol::registration::validate_confidential(metadata)
        .map_err(|(code, description)| AdminError::Invalid(format!("{code}: {description}")))?;
    if let Some(jwks) = &metadata.jwks {
        let keys: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone())
            .map_err(|e| AdminError::Invalid(format!("jwks cannot be read: {e}")))?;
        if let Some(bad) = keys.keys.iter().find(|k| jsonwebtoken::DecodingKey::from_jwk(k).is_err()) {
            return Err(AdminError::Invalid(format!("jwks: key {:?} cannot be used", bad.common.key_id)));
        }
    }
    for resource in &new.acts_for {
        check_resource(resource).map_err(|e| AdminError::Invalid(format!("--acts-for {resource}: {e}")))?;
    }
    for resource in &new.exchange_to {
        check_resource(resource)
            .map_err(|e| AdminError::Invalid(format!("--exchange-to {resource}: {e}")))?;
    }
    if new.acts_for.is_empty() && !new.exchange_to.is_empty() {
        return Err(AdminError::Invalid(
            "--exchange-to needs --acts-for: a client exchanges only tokens issued for a resource it acts for"
                .into(),
        ));
    }
    let client_id = checked_client_id(store, new.client_id.as_deref()).await?;
    let secret =
        (method == protocol::registration::CLIENT_SECRET_BASIC).then(|| ClientSecret::new(random::token()));
    let secret_hash = secret.as_ref().map(|s| digest::sha256(s.secret()));
    let exchange_to = ExchangeTargets::Listed(new.exchange_to);
    let client = Client::preregistered(client_id, metadata, secret_hash, new.acts_for, exchange_to);
    store.insert_client(&client, &added_by_operator(&client), now).await?;
    Ok((client, secret))
}

/// Sets the resources a client that acts for others may obtain tokens for
/// (`clients exchange-to`): replacing its list, or giving one to a client registered before the
/// list existed, without removing it (which would end its users' grants and standing approvals).
pub async fn set_exchange_targets(
    store: &Store,
    client_id: &str,
    targets: Vec<String>,
    now: i64,
) -> Result<(), AdminError> {
    for resource in &targets {
        check_resource(resource).map_err(|e| AdminError::Invalid(format!("{resource}: {e}")))?;
    }
    if !store.set_exchange_targets(client_id, &targets).await? {
        return Err(AdminError::Invalid(format!(
            "no client {client_id:?} that acts for a resource (clients add --confidential --acts-for)"
        )));
    }
    let event = AuditEvent::new(AuditKind::ClientExchangeTargetsSet)
        .client(client_id)
        .detail(format!("set by the operator: exchanges to {targets:?}"));
    store.record_audit(&event, now).await?;
    Ok(())
}

/// The audit event of a client the operator added, written with it: registrations are on the
/// trail whoever made them.
fn added_by_operator(client: &Client) -> AuditEvent {
    let mut detail = format!(
        "added by the operator ({}); redirect_uris {:?}",
        client.auth_method().as_str(),
        client.redirect_uris
    );
    if !client.acts_for.is_empty() {
        detail.push_str(&format!("; acts for {:?}; exchanges to {:?}", client.acts_for, client.exchange_to));
    }
    AuditEvent::new(AuditKind::ClientRegistered).client(&client.client_id).detail(detail)
}

/// The client id to register under: the one given (checked, and free) or a random one.
async fn checked_client_id(store: &Store, client_id: Option<&str>) -> Result<String, AdminError> {
    let client_id = client_id.map_or_else(random::token, str::to_owned);
    if client_id.is_empty() || client_id.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(AdminError::Invalid("a client id has no spaces or control characters".into()));
    }
    if protocol::cimd::is_metadata_document_url(&client_id) {
        return Err(AdminError::Invalid(
            "a URL client id means a Client ID Metadata Document; publish the document instead".into(),
        ));
    }
    if store.find_client(&client_id).await?.is_some() {
        return Err(AdminError::Invalid(format!("client {client_id:?} already exists")));
    }
    Ok(client_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::TestDatabase;

    async fn store() -> TestDatabase {
        TestDatabase::fresh().await
    }

    #[tokio::test]
    async fn users_are_stored_with_argon2id_hashes_and_unique_names() {
        let store = store().await;
        let user = add_user(&store, "alice", &Password::new("correct horse"), &[], 1).await.unwrap();
        assert!(user.password_hash.starts_with("$argon2id$v=19$"), "{}", user.password_hash);
        assert!(!user.password_hash.contains("correct horse"));
        assert!(add_user(&store, "alice", &Password::new("another one"), &[], 1).await.is_err());
        assert!(add_user(&store, "bob", &Password::new("short"), &[], 1).await.is_err());
        assert_eq!(store.list_users().await.unwrap().len(), 1);
        assert!(store.delete_user("alice").await.unwrap());
        assert!(!store.delete_user("alice").await.unwrap());
    }

    #[tokio::test]
    async fn clients_added_by_hand_are_validated_like_registrations() {
        let store = store().await;
        let client =
            add_client(&store, Some("my-app"), "My app", vec!["https://app.example/cb".into()], true, 1)
                .await
                .unwrap();
        assert_eq!(client.registration, crate::store::Registration::Preregistered);
        assert_eq!(client.metadata.grant_types.as_deref().map(<[String]>::len), Some(2));
        assert!(
            add_client(&store, Some("my-app"), "Again", vec!["https://app.example/cb".into()], true, 1)
                .await
                .is_err()
        );
        assert!(
            add_client(&store, None, "Insecure", vec!["http://app.example/cb".into()], true, 1)
                .await
                .is_err()
        );
        // On the audit trail once, as a registration made by the operator.
        let events = store.audit_events(10).await.unwrap();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(
            (events[0].kind.as_str(), events[0].client_id.as_deref()),
            ("client_registered", Some("my-app"))
        );
        assert!(events[0].detail.as_deref().is_some_and(|d| d.starts_with("added by the operator (none)")));
        assert!(store.delete_client("my-app").await.unwrap());
    }

    #[tokio::test]
    async fn groups_are_checked_added_and_removed() {
        let store = store().await;
        let groups = vec!["admins".to_owned(), "team:ops".to_owned()];
        let user = add_user(&store, "carol", &Password::new("a long password"), &groups, 1).await.unwrap();
        assert_eq!(store.groups_of_user(&user.id).await.unwrap(), groups);
        let bad = add_user(&store, "dave", &Password::new("a long password"), &["a b".into()], 1).await;
        assert!(bad.is_err() && store.find_user_by_username("dave").await.unwrap().is_none());
        let now =
            change_groups(&store, "carol", &["readers".into(), "admins".into()], &["team:ops".into()]).await;
        assert_eq!(now.unwrap(), ["admins", "readers"]);
        assert!(change_groups(&store, "carol", &["<script>".into()], &[]).await.is_err());
        assert!(change_groups(&store, "nobody", &[], &[]).await.is_err());
    }

    #[tokio::test]
    async fn a_confidential_client_gets_its_secret_once_and_the_store_only_a_hash() {
        let store = store().await;
        let new = NewConfidentialClient {
            client_id: Some("gateway".into()),
            name: "Gateway".into(),
            auth: ConfidentialAuth::Secret,
            acts_for: vec!["http://localhost:9100".into()],
            exchange_to: vec!["http://localhost:9090".into()],
            grant_types: None,
            redirect_uris: Vec::new(),
        };
        let (client, secret) = add_confidential_client(&store, new.clone(), 1).await.unwrap();
        let secret = secret.expect("a client_secret_basic client gets a secret");
        let stored = store.find_client("gateway").await.unwrap().unwrap();
        assert_eq!(stored.secret_hash.as_deref(), Some(digest::sha256(secret.secret()).as_str()));
        assert!(stored.is_confidential() && stored.acts_for("http://localhost:9100"));
        assert_eq!(stored.exchange_to, ExchangeTargets::Listed(vec!["http://localhost:9090".into()]));
        assert!(
            !stored.exchange_to.allow("http://localhost:9091")
                && stored.exchange_to.allow("http://localhost:9090")
        );
        assert_eq!(client.metadata.grant_types, stored.metadata.grant_types);
        assert!(add_confidential_client(&store, new.clone(), 1).await.is_err(), "the id is taken");

        let private_key = NewConfidentialClient {
            client_id: Some("other".into()),
            auth: ConfidentialAuth::Jwks(
                serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", "d": "jpsQnnGQmL-YBIffH1136cLNvaj3EWAgX8BT1FJdzAE"}]}),
            ),
            ..new.clone()
        };
        assert!(add_confidential_client(&store, private_key, 1).await.is_err(), "a private key is refused");
        let bad_resource = NewConfidentialClient {
            client_id: Some("third".into()),
            acts_for: vec!["not a url".into()],
            ..new.clone()
        };
        assert!(add_confidential_client(&store, bad_resource, 1).await.is_err());
        let bad_target = NewConfidentialClient {
            client_id: Some("fourth".into()),
            exchange_to: vec!["http://localhost:9090#fragment".into()],
            ..new.clone()
        };
        assert!(add_confidential_client(&store, bad_target, 1).await.is_err());
        let targets_without_acting =
            NewConfidentialClient { client_id: Some("fifth".into()), acts_for: Vec::new(), ..new };
        let refused = add_confidential_client(&store, targets_without_acting, 1).await.unwrap_err();
        assert!(refused.to_string().contains("--exchange-to needs --acts-for"), "{refused}");
        assert!(store.find_client("fifth").await.unwrap().is_none());
    }
}
