//! The `clients` table. Redirect URIs and metadata are JSON text.

use super::SqliteBackend;
use super::audit::{INSERT_EVENT, bind_event};
use crate::model::{AuditEvent, Client, Registration};
use crate::store::{ClientStore, StoreError, StoreFuture};
use crate::store::{exchange_targets, exchange_to_column, from_json, to_json};

#[derive(sqlx::FromRow)]
struct ClientRow {
    client_id: String,
    client_name: Option<String>,
    redirect_uris: String,
    registration: String,
    metadata: String,
    secret_hash: Option<String>,
    acts_for: String,
    exchange_to: Option<String>,
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;
    fn try_from(row: ClientRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| format!("client {}: {what}", row.client_id);
        Ok(Client {
            redirect_uris: from_json(&row.redirect_uris, || corrupt("redirect_uris"))?,
            metadata: from_json(&row.metadata, || corrupt("metadata"))?,
            registration: Registration::parse(&row.registration)
                .ok_or_else(|| StoreError::Corrupt(corrupt("registration")))?,
            acts_for: from_json(&row.acts_for, || corrupt("acts_for"))?,
            exchange_to: exchange_targets(row.exchange_to.as_deref(), || corrupt("exchange_to"))?,
            secret_hash: row.secret_hash,
            client_name: row.client_name,
            client_id: row.client_id,
        })
    }
}

const COLUMNS: &str =
    "client_id, client_name, redirect_uris, registration, metadata, secret_hash, acts_for, exchange_to";

impl ClientStore for SqliteBackend {
    fn find_client<'a>(&'a self, client_id: &'a str) -> StoreFuture<'a, Option<Client>> {
        Box::pin(async move {
            let row =
                sqlx::query_as::<_, ClientRow>(&format!("SELECT {COLUMNS} FROM clients WHERE client_id = ?"))
                    .bind(client_id)
                    .fetch_optional(&self.pool)
                    .await?;
            row.map(Client::try_from).transpose()
        })
    }

    /// The client and its event in one job, hence one commit.
    fn insert_client<'a>(
        &'a self,
        client: &'a Client,
        event: &'a AuditEvent,
        now: i64,
    ) -> StoreFuture<'a, ()> {
        let (client, event) = (client.clone(), event.clone());
        self.writer.write(move |c| {
            Box::pin(async move {
                // The client and its event in one round trip.
                let sql = statements!(
                    "INSERT INTO clients (client_id, client_name, redirect_uris, registration, metadata, secret_hash, acts_for, exchange_to, created_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    INSERT_EVENT
                );
                let query = sqlx::query(sql)
                    .bind(&client.client_id)
                    .bind(&client.client_name)
                    .bind(to_json(&client.redirect_uris)?)
                    .bind(client.registration.as_str())
                    .bind(to_json(&client.metadata)?)
                    .bind(&client.secret_hash)
                    .bind(to_json(&client.acts_for)?)
                    .bind(exchange_to_column(&client.exchange_to)?)
                    .bind(now);
                bind_event(query, &event, now).execute(&mut *c).await?;
                Ok(())
            })
        })
    }

    fn client_metadata_expiry<'a>(&'a self, client_id: &'a str) -> StoreFuture<'a, Option<i64>> {
        Box::pin(async move {
            let expiry: Option<(Option<i64>,)> =
                sqlx::query_as("SELECT metadata_expires_at FROM clients WHERE client_id = ?")
                    .bind(client_id)
                    .fetch_optional(&self.pool)
                    .await?;
            Ok(expiry.and_then(|(at,)| at))
        })
    }

    fn upsert_fetched_client<'a>(
        &'a self,
        client: &'a Client,
        expires_at: i64,
        now: i64,
    ) -> StoreFuture<'a, ()> {
        let client = client.clone();
        self.writer.write(move |c| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO clients (client_id, client_name, redirect_uris, registration, metadata, created_at, metadata_expires_at)
                     VALUES (?, ?, ?, 'metadata_document', ?, ?, ?)
                     ON CONFLICT(client_id) DO UPDATE SET client_name = excluded.client_name,
                         redirect_uris = excluded.redirect_uris, metadata = excluded.metadata,
                         metadata_expires_at = excluded.metadata_expires_at",
                )
                .bind(&client.client_id)
                .bind(&client.client_name)
                .bind(to_json(&client.redirect_uris)?)
                .bind(to_json(&client.metadata)?)
                .bind(now)
                .bind(expires_at)
                .execute(&mut *c)
                .await?;
                Ok(())
            })
        })
    }

    fn list_clients(&self) -> StoreFuture<'_, Vec<Client>> {
        Box::pin(async move {
            let rows =
                sqlx::query_as::<_, ClientRow>(&format!("SELECT {COLUMNS} FROM clients ORDER BY created_at"))
                    .fetch_all(&self.pool)
                    .await?;
            rows.into_iter().map(Client::try_from).collect()
        })
    }

    /// Codes, grants and consents go with the client (foreign keys).
    fn delete_client<'a>(&'a self, client_id: &'a str) -> StoreFuture<'a, bool> {
        let client_id = client_id.to_owned();
        self.writer.write(move |c| {
            Box::pin(async move {
                let result = sqlx::query("DELETE FROM clients WHERE client_id = ?")
                    .bind(client_id)
                    .execute(&mut *c)
                    .await?;
                Ok(result.rows_affected() == 1)
            })
        })
    }

    fn set_exchange_targets<'a>(
        &'a self,
        client_id: &'a str,
        targets: &'a [String],
    ) -> StoreFuture<'a, bool> {
        let client_id = client_id.to_owned();
        let targets = to_json(&targets);
        self.writer.write(move |c| {
            Box::pin(async move {
                let result = sqlx::query(
                    "UPDATE clients SET exchange_to = ? WHERE client_id = ? AND acts_for <> '[]'",
                )
                .bind(targets?)
                .bind(client_id)
                .execute(&mut *c)
                .await?;
                Ok(result.rows_affected() == 1)
            })
        })
    }

    fn record_client_assertion<'a>(
        &'a self,
        client_id: &'a str,
        jti: &'a str,
        expires_at: i64,
    ) -> StoreFuture<'a, bool> {
        let (client_id, jti) = (client_id.to_owned(), jti.to_owned());
        self.writer.write(move |c| {
            Box::pin(async move {
                let result = sqlx::query(
                    "INSERT INTO client_assertions (client_id, jti, expires_at) VALUES (?, ?, ?)
                 ON CONFLICT (client_id, jti) DO NOTHING",
                )
                .bind(client_id)
                .bind(jti)
                .bind(expires_at)
                .execute(&mut *c)
                .await?;
                Ok(result.rows_affected() == 1)
            })
        })
    }
}
