//! OAuth clients: pre-registered, or registered dynamically (RFC 7591).

use protocol::registration::ClientMetadata;

use super::{Store, StoreError};

/// How a client came to exist; shown to operators and decides nothing about trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    Preregistered,
    Dynamic,
    /// The client id is the URL of a Client ID Metadata Document the AS fetched.
    MetadataDocument,
}

impl Registration {
    fn as_str(self) -> &'static str {
        match self {
            Registration::Preregistered => "preregistered",
            Registration::Dynamic => "dynamic",
            Registration::MetadataDocument => "metadata_document",
        }
    }
}

/// A public client (this server issues no client secrets).
#[derive(Debug, Clone)]
pub struct Client {
    pub client_id: String,
    pub client_name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub registration: Registration,
    pub metadata: ClientMetadata,
}

impl Client {
    /// Exact, byte-for-byte comparison (OAuth 2.1 §4.1.1, RFC 9700 §4.1.3): no prefix matching, no
    /// normalisation, so an attacker cannot register `…/callback` and use `…/callback/../evil`.
    /// The one exception is the port of a loopback IP redirect URI (below).
    pub fn has_redirect_uri(&self, candidate: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|registered| registered == candidate || same_but_loopback_port(registered, candidate))
    }

    /// The name to show on the consent page: the registered name, else the client id.
    pub fn display_name(&self) -> &str {
        self.client_name.as_deref().unwrap_or(&self.client_id)
    }
}

/// `http://127.0.0.1[:port]rest` → (`127.0.0.1`, `rest`); likewise `[::1]`. `None` for anything
/// else, `localhost` included (RFC 8252 §8.3 recommends the IP literal).
fn split_loopback(uri: &str) -> Option<(&str, &str)> {
    let after_scheme = uri.strip_prefix("http://")?;
    let end = after_scheme.find(['/', '?', '#']).unwrap_or(after_scheme.len());
    let (authority, rest) = after_scheme.split_at(end);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        let close = v6.find(']')?;
        let (host, after) = authority.split_at(close + 2);
        if !(after.is_empty()
            || after
                .strip_prefix(':')
                .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())))
        {
            return None;
        }
        host
    } else {
        let (host, port) = authority.split_once(':').unwrap_or((authority, ""));
        if !port.bytes().all(|b| b.is_ascii_digit()) || authority.ends_with(':') {
            return None;
        }
        host
    };
    matches!(host, "127.0.0.1" | "[::1]").then_some((host, rest))
}

/// RFC 8252 §7.3, OAuth 2.1 §8.4.2: a native app listening on a loopback IP address gets a port
/// from the OS at run time, so for `http://127.0.0.1` and `http://[::1]` redirect URIs the port may
/// differ from the registered one. Everything else (scheme, host literal, path, query) must still
/// be byte-identical.
fn same_but_loopback_port(registered: &str, candidate: &str) -> bool {
    match (split_loopback(registered), split_loopback(candidate)) {
        (Some(registered), Some(candidate)) => registered == candidate,
        _ => false,
    }
}

#[derive(sqlx::FromRow)]
struct ClientRow {
    client_id: String,
    client_name: Option<String>,
    redirect_uris: String,
    registration: String,
    metadata: String,
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;
    fn try_from(row: ClientRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("client {}: {what}", row.client_id));
        Ok(Client {
            redirect_uris: serde_json::from_str(&row.redirect_uris).map_err(|_| corrupt("redirect_uris"))?,
            metadata: serde_json::from_str(&row.metadata).map_err(|_| corrupt("metadata"))?,
            registration: match row.registration.as_str() {
                "preregistered" => Registration::Preregistered,
                "dynamic" => Registration::Dynamic,
                "metadata_document" => Registration::MetadataDocument,
                _ => return Err(corrupt("registration")),
            },
            client_name: row.client_name,
            client_id: row.client_id,
        })
    }
}

impl Store {
    pub async fn find_client(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        let row = sqlx::query_as::<_, ClientRow>(
            "SELECT client_id, client_name, redirect_uris, registration, metadata FROM clients WHERE client_id = ?",
        )
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(Client::try_from).transpose()
    }

    pub async fn insert_client(&self, client: &Client, now: i64) -> Result<(), StoreError> {
        let redirect_uris =
            serde_json::to_string(&client.redirect_uris).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let metadata =
            serde_json::to_string(&client.metadata).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO clients (client_id, client_name, redirect_uris, registration, metadata, created_at)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&client.client_id)
        .bind(&client.client_name)
        .bind(redirect_uris)
        .bind(client.registration.as_str())
        .bind(metadata)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

impl Store {
    /// When the fetched metadata document of a client stops being fresh (`None` for clients that
    /// were not fetched).
    pub async fn client_metadata_expiry(&self, client_id: &str) -> Result<Option<i64>, StoreError> {
        let expiry: Option<(Option<i64>,)> =
            sqlx::query_as("SELECT metadata_expires_at FROM clients WHERE client_id = ?")
                .bind(client_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(expiry.and_then(|(at,)| at))
    }

    /// Stores a client fetched from its metadata document, replacing the previous copy.
    pub async fn upsert_fetched_client(
        &self,
        client: &Client,
        expires_at: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let redirect_uris =
            serde_json::to_string(&client.redirect_uris).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let metadata =
            serde_json::to_string(&client.metadata).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO clients (client_id, client_name, redirect_uris, registration, metadata, created_at, metadata_expires_at)
             VALUES (?, ?, ?, 'metadata_document', ?, ?, ?)
             ON CONFLICT(client_id) DO UPDATE SET client_name = excluded.client_name,
                 redirect_uris = excluded.redirect_uris, metadata = excluded.metadata,
                 metadata_expires_at = excluded.metadata_expires_at",
        )
        .bind(&client.client_id)
        .bind(&client.client_name)
        .bind(redirect_uris)
        .bind(metadata)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        let rows = sqlx::query_as::<_, ClientRow>(
            "SELECT client_id, client_name, redirect_uris, registration, metadata FROM clients ORDER BY created_at",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Client::try_from).collect()
    }

    /// Deletes the client; its codes, grants and consents go with it (foreign keys).
    pub async fn delete_client(&self, client_id: &str) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM clients WHERE client_id = ?")
            .bind(client_id)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_ip_redirects_may_change_port_and_nothing_else() {
        assert!(same_but_loopback_port("http://127.0.0.1/callback", "http://127.0.0.1:51234/callback"));
        assert!(same_but_loopback_port("http://127.0.0.1:8000/callback", "http://127.0.0.1:9/callback"));
        assert!(same_but_loopback_port("http://[::1]/cb?x=1", "http://[::1]:4000/cb?x=1"));
        for (registered, candidate) in [
            ("http://127.0.0.1/callback", "http://127.0.0.1:5000/callback/"),
            ("http://127.0.0.1/callback", "http://127.0.0.1:5000/other"),
            ("http://127.0.0.1/callback", "http://127.0.0.2:5000/callback"),
            ("http://127.0.0.1/callback", "https://127.0.0.1:5000/callback"),
            ("http://localhost/callback", "http://localhost:5000/callback"),
            ("http://127.0.0.1/callback", "http://127.0.0.1.evil.example:5000/callback"),
            ("http://127.0.0.1/callback", "http://127.0.0.1:/callback"),
            ("http://127.0.0.1/callback", "http://127.0.0.1:50x/callback"),
            ("https://app.example/cb", "https://app.example:444/cb"),
        ] {
            assert!(!same_but_loopback_port(registered, candidate), "{registered} vs {candidate}");
        }
    }
}
