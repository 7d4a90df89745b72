//! What the `mcp-auth users|clients|keys` commands do, as functions over the store (so they are
//! tested like everything else, and `main.rs` only parses and prints).

use protocol::registration::ClientMetadata;
use protocol::secret::Password;
use protocol::token::{GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN};

use crate::store::{Client, Registration, Store, User};
use crate::{password, random};

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

/// Creates a user; fails if the username is taken.
pub async fn add_user(
    store: &Store,
    username: &str,
    password: &Password,
    now: i64,
) -> Result<User, AdminError> {
    let username = username.trim();
    if username.is_empty() || username.len() > 64 || username.chars().any(char::is_control) {
        return Err(AdminError::Invalid("a username is 1 to 64 printable characters".into()));
    }
    let user =
        User { id: random::token(), username: username.to_owned(), password_hash: hash_password(password)? };
    if store.insert_user_if_absent(&user, now).await? {
        Ok(user)
    } else {
        Err(AdminError::Invalid(format!("user {username:?} already exists")))
    }
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
    let client = Client {
        client_id,
        client_name: metadata.client_name.clone(),
        redirect_uris: metadata.redirect_uris.clone(),
        registration: Registration::Preregistered,
        metadata,
    };
    store.insert_client(&client, now).await?;
    Ok(client)
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
        let user = add_user(&store, "alice", &Password::new("correct horse"), 1).await.unwrap();
        assert!(user.password_hash.starts_with("$argon2id$v=19$"), "{}", user.password_hash);
        assert!(!user.password_hash.contains("correct horse"));
        assert!(add_user(&store, "alice", &Password::new("another one"), 1).await.is_err());
        assert!(add_user(&store, "bob", &Password::new("short"), 1).await.is_err());
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
        assert_eq!(client.registration, Registration::Preregistered);
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
        assert!(store.delete_client("my-app").await.unwrap());
    }
}
