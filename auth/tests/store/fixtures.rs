//! What most contract tests start from: a fresh database with one user and one client, and a clock.

use mcp_auth::clock::{Clock as _, ManualClock};
use mcp_auth::model::{
    AuditEvent, AuditKind, BrowserSession, Client, CodeBinding, ExchangeTargets, Grant, IssuedAccessToken,
    NewRefreshToken, PendingAuthorization, Redemption, Registration, User,
};
use mcp_auth::random;
use mcp_auth::store::Store;
use mcp_auth::store::testing::TestDatabase;
use protocol::registration::ClientMetadata;

pub const RESOURCE: &str = "https://mcp.example/";
pub const REDIRECT_URI: &str = "https://app.example/callback";

/// A fresh database with a user and a client in it.
pub struct Fixture {
    _database: TestDatabase,
    pub store: Store,
    pub clock: ManualClock,
    pub user: User,
    pub client: Client,
}

impl Fixture {
    pub async fn new() -> Self {
        let database = TestDatabase::fresh().await;
        let store = database.store();
        let clock = ManualClock::starting_now();
        let user = add_user(&store, "alice", clock.now()).await;
        let client = add_client(&store, clock.now()).await;
        Self { _database: database, store, clock, user, client }
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// A code bound to the fixture's user and client, expiring in a minute: its hash and what it
    /// is bound to, as the token endpoint has them once it has opened the code. Nothing is stored:
    /// a sealed code gets its row only when it is spent.
    pub async fn code(&self) -> (String, CodeBinding) {
        self.code_living(60).await
    }

    /// A code expiring in `lifetime` seconds.
    pub async fn code_living(&self, lifetime: i64) -> (String, CodeBinding) {
        let binding = CodeBinding {
            client_id: self.client.client_id.clone(),
            user_id: self.user.id.clone(),
            redirect_uri: REDIRECT_URI.into(),
            scope: "echo".into(),
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            resource: RESOURCE.into(),
            auth_time: self.now(),
            expires_at: self.now() + lifetime,
        };
        (unique("code"), binding)
    }

    /// A grant living `lifetime` seconds, redeemed from a fresh code as the token endpoint does,
    /// with its first access token (5 minutes) and refresh token.
    pub async fn grant(&self, lifetime: i64) -> Issued {
        let (code_hash, binding) = self.code().await;
        self.redeem_into_grant(&code_hash, &binding, lifetime).await.expect("a fresh code is redeemed")
    }

    /// A code spent and turned into a grant in one commit, as the token endpoint does; `None` if
    /// the code was spent already (or its user or client is gone).
    pub async fn redeem_into_grant(
        &self,
        code_hash: &str,
        code: &CodeBinding,
        lifetime: i64,
    ) -> Option<Issued> {
        let (issued, event) = self.new_grant(code_hash, lifetime);
        let Issued { grant, access, refresh, .. } = &issued;
        let redeemed = self
            .store
            .redeem_code_into_grant(code_hash, code, grant, access, Some(refresh), &event, self.now())
            .await
            .unwrap();
        redeemed.then_some(issued)
    }

    /// The code spent without a grant, as the token endpoint does with a request that does not
    /// match it, or found spent (a replay).
    pub async fn spend(&self, code_hash: &str, code: &CodeBinding) -> Redemption {
        self.store.spend_code(code_hash, code, self.now()).await.unwrap()
    }

    /// A grant of the fixture's user and client living `lifetime` seconds, its first tokens and
    /// the event of their issue, not yet stored.
    fn new_grant(&self, code_hash: &str, lifetime: i64) -> (Issued, AuditEvent) {
        let now = self.now();
        let grant = Grant {
            id: unique("grant"),
            client_id: self.client.client_id.clone(),
            user_id: self.user.id.clone(),
            scope: "echo".into(),
            resource: RESOURCE.into(),
            auth_time: now,
            expires_at: now + lifetime,
            revoked_at: None,
        };
        let access = access_token(&grant.id, now, 300);
        let refresh = NewRefreshToken { token_hash: unique("refresh"), expires_at: now + lifetime };
        let event =
            AuditEvent::new(AuditKind::TokenIssued).grant(&grant.id).detail(format!("jti {}", access.jti));
        (Issued { code_hash: code_hash.to_owned(), grant, access, refresh }, event)
    }

    /// Rotates `old`: the successor (living as long as the grant) and a new access token (5
    /// minutes), or `None` if `old` was spent.
    pub async fn rotate(
        &self,
        grant: &Grant,
        old: &NewRefreshToken,
    ) -> Option<(NewRefreshToken, IssuedAccessToken)> {
        self.rotate_with(grant, old, grant.expires_at - self.now(), 300).await
    }

    /// [`Fixture::rotate`] with the lifetimes of the new tokens.
    pub async fn rotate_with(
        &self,
        grant: &Grant,
        old: &NewRefreshToken,
        refresh_lifetime: i64,
        access_lifetime: i64,
    ) -> Option<(NewRefreshToken, IssuedAccessToken)> {
        let now = self.now();
        let next = NewRefreshToken { token_hash: unique("refresh"), expires_at: now + refresh_lifetime };
        let access = access_token(&grant.id, now, access_lifetime);
        let event =
            AuditEvent::new(AuditKind::RefreshRotated).grant(&grant.id).detail(format!("jti {}", access.jti));
        self.store
            .rotate_refresh_token(&old.token_hash, &grant.id, &next, &access, &event, now)
            .await
            .unwrap()
            .then_some((next, access))
    }

    /// An anonymous browser session living `lifetime` seconds.
    pub async fn session(&self, lifetime: i64) -> BrowserSession {
        let session = BrowserSession {
            id_hash: unique("session"),
            csrf_token: unique("csrf"),
            user_id: None,
            authenticated_at: None,
            expires_at: self.now() + lifetime,
        };
        self.store.insert_session(&session, self.now()).await.unwrap();
        session
    }

    /// A pending authorization request of `session`, living `lifetime` seconds.
    pub async fn request(&self, session: &BrowserSession, lifetime: i64) -> PendingAuthorization {
        let request = PendingAuthorization {
            id: unique("request"),
            session_hash: session.id_hash.clone(),
            client_id: self.client.client_id.clone(),
            redirect_uri: REDIRECT_URI.into(),
            scope: "echo".into(),
            state: Some("xyz".into()),
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            resource: RESOURCE.into(),
            expires_at: self.now() + lifetime,
        };
        self.store.insert_authorization_request(&request, self.now()).await.unwrap();
        request
    }
}

/// A grant and the tokens it was created with.
pub struct Issued {
    pub code_hash: String,
    pub grant: Grant,
    pub access: IssuedAccessToken,
    pub refresh: NewRefreshToken,
}

pub fn access_token(grant_id: &str, now: i64, lifetime: i64) -> IssuedAccessToken {
    IssuedAccessToken {
        jti: unique("jti"),
        grant_id: grant_id.to_owned(),
        scope: "echo".into(),
        issued_at: now,
        expires_at: now + lifetime,
        revoked_at: None,
        parent_jti: None,
    }
}

/// A value no other test uses (the store treats hashes as opaque strings).
pub fn unique(what: &str) -> String {
    format!("{what}-{}", random::token())
}

pub async fn add_user(store: &Store, username: &str, now: i64) -> User {
    let user =
        User { id: unique("user"), username: username.into(), password_hash: "$argon2id$not-checked".into() };
    assert!(store.insert_user_if_absent(&user, now).await.unwrap());
    user
}

pub async fn add_client(store: &Store, now: i64) -> Client {
    let client_id = unique("client");
    let client = Client {
        client_id,
        client_name: Some("Test client".into()),
        redirect_uris: vec![REDIRECT_URI.into()],
        registration: Registration::Dynamic,
        metadata: ClientMetadata { redirect_uris: vec![REDIRECT_URI.into()], ..Default::default() },
        secret_hash: None,
        acts_for: Vec::new(),
        exchange_to: ExchangeTargets::none(),
    };
    let event = AuditEvent::new(AuditKind::ClientRegistered).client(&client.client_id);
    store.insert_client(&client, &event, now).await.unwrap();
    client
}
