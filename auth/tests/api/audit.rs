use crate::helpers::{pkce, spawn_app};

#[tokio::test]
async fn the_flow_leaves_an_audit_trail_with_request_ids_and_no_secrets() {
    let app = spawn_app().await;
    let client = app.register_refreshing_client().await;
    let tokens = app.first_tokens(&client).await;
    let refresh = tokens.refresh_token.clone().unwrap();
    app.refresh(&client, refresh.secret(), &[]).await;
    app.refresh(&client, refresh.secret(), &[]).await; // reuse

    let events = app.store.audit_events(100).await.unwrap();
    let kinds: Vec<&str> = events.iter().rev().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "client_registered",
            "login_succeeded",
            "consent_granted",
            "token_issued",
            "refresh_rotated",
            "refresh_reuse_detected"
        ]
    );
    for event in &events {
        assert!(event.request_id.as_deref().is_some_and(|id| id.len() == 16), "{event:?}");
        assert_eq!(event.client_id.as_deref(), Some(client.as_str()));
        let all = format!("{event:?}");
        assert!(!all.contains(tokens.access_token.secret()) && !all.contains(refresh.secret()));
    }
    assert!(events.iter().any(|e| e.user_id.is_some() && e.grant_id.is_some()));
}

#[tokio::test]
async fn failed_logins_are_audited_with_the_address_but_not_what_was_typed() {
    let app = spawn_app().await;
    let client = app.register_client().await;
    let (_, challenge) = pkce();
    let authorize = app.get_authorize(&app.authorize_query(&client, &challenge, &[])).await;
    let page = app.follow(&authorize).await.text().await.unwrap();
    app.submit_login(&page, "my-secret-password-typed-as-username", "hunter2").await;
    let events = app.store.audit_events(10).await.unwrap();
    let failed = events.iter().find(|e| e.kind == "login_failed").expect("login_failed recorded");
    assert_eq!(failed.ip.as_deref(), Some("127.0.0.1"));
    let all = format!("{events:?}");
    assert!(!all.contains("my-secret-password-typed-as-username") && !all.contains("hunter2"));
}
