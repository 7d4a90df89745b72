//! Out-of-band approval of a tool call: `/bc-authorize`, the person's `/approvals` page, polling
//! `/token` with the CIBA grant, and standing approvals.

use protocol::token::{BackchannelAuthenticationResponse, TokenResponse};
use serde_json::{Value, json};

use crate::gateway::{
    Confidential, GATEWAY, OTHER, UPSTREAM, claims, error_of, key_client, secret_client, secret_client_to,
    spawn_gateway_app, user_token,
};
use crate::helpers::{TestApp, hidden_field};

const CIBA: &str = "urn:openid:params:grant-type:ciba";
const ARGS: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn details(location: &str, tool: &str, summary: &str) -> String {
    details_with(location, tool, summary, ARGS)
}

fn details_with(location: &str, tool: &str, summary: &str, arguments_sha256: &str) -> String {
    json!([{
        "type": "mcp_tool_call", "locations": [location], "actions": ["tools/call"],
        "identifier": tool, "arguments_sha256": arguments_sha256, "arguments_summary": summary,
    }])
    .to_string()
}

/// Asks for approval of `delete_note` on the upstream for the user of `subject`.
async fn ask(
    app: &TestApp,
    client: &Confidential,
    subject: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let details = details(UPSTREAM, "delete_note", "id = 7 <script>alert(1)</script>");
    ask_about(app, client, subject, &details, extra).await
}

/// Asks for approval of the call `details` describes.
async fn ask_about(
    app: &TestApp,
    client: &Confidential,
    subject: &str,
    details: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let sub = claims(subject)["sub"].as_str().unwrap().to_owned();
    let mut form = vec![
        ("login_hint", sub.as_str()),
        ("subject_token", subject),
        ("binding_message", "Delete note 7"),
        ("authorization_details", details),
    ];
    form.extend_from_slice(extra);
    client.authenticate(app, "/bc-authorize", &form).send().await.unwrap()
}

async fn started(app: &TestApp, client: &Confidential, subject: &str) -> BackchannelAuthenticationResponse {
    let response = ask(app, client, subject, &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

async fn poll(
    app: &TestApp,
    client: &Confidential,
    started: &BackchannelAuthenticationResponse,
) -> reqwest::Response {
    client.token(app, &[("grant_type", CIBA), ("auth_req_id", started.auth_req_id.secret())]).await
}

/// The ids of the requests on the person's `/approvals` page, and the page.
async fn approvals_page(app: &TestApp, browser: &reqwest::Client) -> (Vec<String>, String) {
    let response = browser.get(app.url("/approvals")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'")
    );
    let page = response.text().await.unwrap();
    let ids = page.match_indices("action=\"/approvals/").map(|(at, marker)| {
        let rest = &page[at + marker.len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    });
    (ids.collect(), page)
}

async fn answer(
    app: &TestApp,
    browser: &reqwest::Client,
    id: &str,
    csrf: Option<&str>,
    decision: &str,
) -> reqwest::Response {
    let mut form = vec![("decision", decision)];
    if let Some(csrf) = csrf {
        form.push(("csrf_token", csrf));
    }
    browser.post(app.url(&format!("/approvals/{id}"))).form(&form).send().await.unwrap()
}

/// Answers the first request on the person's page with `decision`.
async fn answer_first(app: &TestApp, decision: &str) -> reqwest::Response {
    let (ids, page) = approvals_page(app, &app.browser).await;
    let csrf = hidden_field(&page, "csrf_token").unwrap();
    answer(app, &app.browser, &ids[0], Some(&csrf), decision).await
}

/// Asks for approval of the usual call, has the person answer `decision` on the page (which is
/// returned) and collects the token.
async fn approve_and_collect(app: &TestApp, gateway: &Confidential, token: &str, decision: &str) -> String {
    let request = started(app, gateway, token).await;
    let (ids, page) = approvals_page(app, &app.browser).await;
    let csrf = hidden_field(&page, "csrf_token").unwrap();
    assert_eq!(answer(app, &app.browser, &ids[0], Some(&csrf), decision).await.status(), 303);
    assert_eq!(poll(app, gateway, &request).await.status(), 200);
    page
}

#[tokio::test]
async fn a_person_approves_a_described_call_and_the_client_collects_a_token_bound_to_it_once() {
    let app = spawn_gateway_app().await;
    let gateway = secret_client(&app, "gateway", &[GATEWAY]).await;
    let subject = user_token(&app, GATEWAY, "echo notes:write").await;
    let request = started(&app, &gateway, subject.access_token.secret()).await;
    assert_eq!((request.expires_in, request.interval), (300, Some(5)));

    assert_eq!(error_of(poll(&app, &gateway, &request).await).await, (400, "authorization_pending".into()));
    // Again at once: faster than the interval.
    assert_eq!(error_of(poll(&app, &gateway, &request).await).await, (400, "slow_down".into()));

    // The person (signed in during the authorization above) sees the call, escaped.
    let (ids, page) = approvals_page(&app, &app.browser).await;
    assert_eq!(ids.len(), 1);
    assert!(page.contains("delete_note") && page.contains("Delete note 7") && page.contains(UPSTREAM));
    assert!(page.contains("gateway &lt;b&gt;"), "the client's name, escaped");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !page.contains("<script>"));
    assert!(
        page.contains("Approve and remember for 1 hour")
            && page.contains("Approve and remember for 24 hours")
    );
    let csrf = hidden_field(&page, "csrf_token").unwrap();
    let approved = answer(&app, &app.browser, &ids[0], Some(&csrf), "once").await;
    assert_eq!(approved.status(), 303);
    assert_eq!(approvals_page(&app, &app.browser).await.0.len(), 0, "answered, no longer pending");

    // The interval grew by 5 s with the slow_down.
    app.clock.advance(10);
    let response = poll(&app, &gateway, &request).await;
    assert_eq!(response.status(), 200);
    let token: TokenResponse = response.json().await.unwrap();
    assert!(token.refresh_token.is_none() && token.expires_in.unwrap() <= 60);
    let issued = claims(token.access_token.secret());
    assert_eq!(issued["aud"], UPSTREAM);
    assert_eq!(issued["act"]["sub"], "gateway");
    assert_eq!(issued["client_registration"], "dynamic", "the subject's client, not the gateway");
    assert_eq!(issued["scope"], "echo notes:write", "all the subject's scopes the upstream knows");
    let detail = &issued["authorization_details"][0];
    assert_eq!(
        (&detail["type"], &detail["identifier"], &detail["arguments_sha256"], &detail["locations"]),
        (&json!("mcp_tool_call"), &json!("delete_note"), &json!(ARGS), &json!([UPSTREAM]))
    );
    assert_eq!(token.authorization_details.unwrap()[0].identifier.as_deref(), Some("delete_note"));

    app.clock.advance(10);
    assert_eq!(error_of(poll(&app, &gateway, &request).await).await, (400, "invalid_grant".into()), "once");
    let kinds: Vec<String> = app.store.audit_events(50).await.unwrap().into_iter().map(|e| e.kind).collect();
    for kind in ["approval_requested", "approval_approved", "approval_token_issued"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
}

#[tokio::test]
async fn a_denied_or_expired_request_says_so_to_the_poller() {
    let app = spawn_gateway_app().await;
    let gateway = key_client(&app, "gateway", &[GATEWAY]).await;
    let subject = user_token(&app, GATEWAY, "echo").await;

    let denied = started(&app, &gateway, subject.access_token.secret()).await;
    let (ids, page) = approvals_page(&app, &app.browser).await;
    let csrf = hidden_field(&page, "csrf_token").unwrap();
    assert_eq!(answer(&app, &app.browser, &ids[0], Some(&csrf), "deny").await.status(), 303);
    assert_eq!(error_of(poll(&app, &gateway, &denied).await).await, (400, "access_denied".into()));
    // Answering again changes nothing.
    assert_eq!(answer(&app, &app.browser, &ids[0], Some(&csrf), "once").await.status(), 410);

    let expiring = ask(&app, &gateway, subject.access_token.secret(), &[("requested_expiry", "30")]).await;
    let expiring: BackchannelAuthenticationResponse = expiring.json().await.unwrap();
    assert_eq!(expiring.expires_in, 30);
    app.clock.advance(31);
    assert_eq!(error_of(poll(&app, &gateway, &expiring).await).await, (400, "expired_token".into()));

    // Someone else's handle.
    let other = secret_client(&app, "other", &[GATEWAY]).await;
    let unknown =
        other.token(&app, &[("grant_type", CIBA), ("auth_req_id", denied.auth_req_id.secret())]).await;
    assert_eq!(error_of(unknown).await, (400, "invalid_grant".into()));
}

#[tokio::test]
async fn only_the_persons_own_browser_session_with_its_csrf_token_can_answer() {
    let mut app = spawn_gateway_app().await;
    let gateway = secret_client(&app, "gateway", &[GATEWAY]).await;
    let subject = user_token(&app, GATEWAY, "echo").await;
    let request = started(&app, &gateway, subject.access_token.secret()).await;
    let (ids, page) = approvals_page(&app, &app.browser).await;
    let id = ids[0].clone();

    // A bearer token is not a session: the page sends the caller to sign in, nothing changes.
    let bearer_only = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = bearer_only
        .post(app.url(&format!("/approvals/{id}")))
        .bearer_auth(subject.access_token.secret())
        .form(&[("decision", "once")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert!(response.headers()["location"].to_str().unwrap().starts_with("/login"));
    let listing = bearer_only
        .get(app.url("/approvals"))
        .bearer_auth(subject.access_token.secret())
        .send()
        .await
        .unwrap();
    assert_eq!(listing.status(), 303);

    // The person's own session without the CSRF token: refused.
    assert_eq!(answer(&app, &app.browser, &id, None, "once").await.status(), 403);
    assert_eq!(answer(&app, &app.browser, &id, Some("forged"), "once").await.status(), 403);
    // An answer that was not offered.
    let csrf = hidden_field(&page, "csrf_token").unwrap();
    assert_eq!(answer(&app, &app.browser, &id, Some(&csrf), "remember-31536000").await.status(), 400);

    // Another user, signed in properly, cannot answer it, nor see it.
    mcp_auth::admin::add_user(&app.store, "eve", &protocol::secret::Password::new("eve's password"), &[], 0)
        .await
        .unwrap();
    app.forget_browser();
    let login_page =
        app.browser.get(app.url("/login?return_to=/approvals")).send().await.unwrap().text().await.unwrap();
    let signed_in = app
        .browser
        .post(app.url("/login"))
        .form(&[
            ("csrf_token", hidden_field(&login_page, "csrf_token").unwrap()),
            ("return_to", "/approvals".into()),
            ("username", "eve".into()),
            ("password", "eve's password".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.headers()["location"], "/approvals", "back to the approvals after signing in");
    let (eves, _) = approvals_page(&app, &app.browser).await;
    assert!(eves.is_empty(), "eve has nothing to approve");
    let eve_account = app.browser.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
    let eve_csrf = hidden_field(&eve_account, "csrf_token").unwrap();
    assert_eq!(answer(&app, &app.browser, &id, Some(&eve_csrf), "once").await.status(), 403);
    assert_eq!(app.browser.get(app.url(&format!("/approvals/{id}"))).send().await.unwrap().status(), 404);
    assert!(app.store.audit_events(20).await.unwrap().iter().any(|e| e.kind == "approval_refused"));

    // Still pending for its owner.
    assert_eq!(error_of(poll(&app, &gateway, &request).await).await, (400, "authorization_pending".into()));
}

#[tokio::test]
async fn a_standing_approval_answers_at_once_for_the_same_client_only_until_withdrawn() {
    let app = spawn_gateway_app().await;
    let gateway = secret_client(&app, "gateway", &[GATEWAY]).await;
    let other = secret_client(&app, "other-gateway", &[GATEWAY]).await;
    let subject = user_token(&app, GATEWAY, "echo notes:write").await;
    let token = subject.access_token.secret();

    // Nothing standing yet: prompt=none says so at once.
    let silent = ask(&app, &gateway, token, &[("prompt", "none")]).await;
    assert_eq!(error_of(silent).await, (400, "consent_required".into()));

    let first = started(&app, &gateway, token).await;
    let (ids, page) = approvals_page(&app, &app.browser).await;
    let csrf = hidden_field(&page, "csrf_token").unwrap();
    assert_eq!(answer(&app, &app.browser, &ids[0], Some(&csrf), "remember-3600").await.status(), 303);
    assert_eq!(poll(&app, &gateway, &first).await.status(), 200);

    // The same client, the same tool: approved without asking, even with prompt=none.
    for extra in [&[][..], &[("prompt", "none")][..]] {
        let response = ask(&app, &gateway, token, extra).await;
        assert_eq!(response.status(), 200, "{extra:?}");
        let again: BackchannelAuthenticationResponse = response.json().await.unwrap();
        let collected = poll(&app, &gateway, &again).await;
        assert_eq!(collected.status(), 200);
    }
    assert!(approvals_page(&app, &app.browser).await.0.is_empty(), "nobody was asked");

    // prompt=consent: the person is asked whatever stands.
    let asked = ask(&app, &gateway, token, &[("prompt", "consent")]).await;
    assert_eq!(asked.status(), 200);
    let asked: BackchannelAuthenticationResponse = asked.json().await.unwrap();
    assert_eq!(error_of(poll(&app, &gateway, &asked).await).await, (400, "authorization_pending".into()));
    let (ids, page) = approvals_page(&app, &app.browser).await;
    assert_eq!(ids.len(), 1, "waiting for the person");
    // Asked for this very call: nothing to remember is offered, and remembering asked for anyway
    // is refused and changes nothing; the person approves once.
    assert!(!page.contains("remember-") && page.contains("each time"), "{page}");
    for not_offered in ["remember-86400", "remember-same-3600"] {
        assert_eq!(answer(&app, &app.browser, &ids[0], Some(&csrf), not_offered).await.status(), 400);
    }
    assert_eq!(approvals_page(&app, &app.browser).await.0, ids, "still waiting");
    assert_eq!(answer(&app, &app.browser, &ids[0], Some(&csrf), "once").await.status(), 303);
    app.clock.advance(10);
    assert_eq!(poll(&app, &gateway, &asked).await.status(), 200, "approved once");
    let account = app.browser.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
    assert_eq!(account.matches("name=\"approval_id\"").count(), 1, "only the earlier standing approval");

    // Another client is not covered.
    let silent = ask(&app, &other, token, &[("prompt", "none")]).await;
    assert_eq!(error_of(silent).await, (400, "consent_required".into()));

    // Listed on the account page, and withdrawable there.
    let account = app.browser.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(account.contains("delete_note"));
    let approval_id = hidden_field(&account, "approval_id").unwrap();
    let withdrawn = app
        .browser
        .post(app.url("/account/approvals/withdraw"))
        .form(&[("csrf_token", csrf.as_str()), ("approval_id", approval_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(withdrawn.status(), 303);
    let silent = ask(&app, &gateway, token, &[("prompt", "none")]).await;
    assert_eq!(error_of(silent).await, (400, "consent_required".into()));

    // It expires, too.
    let second = started(&app, &gateway, token).await;
    let (ids, _) = approvals_page(&app, &app.browser).await;
    assert_eq!(answer(&app, &app.browser, &ids[0], Some(&csrf), "remember-3600").await.status(), 303);
    assert_eq!(poll(&app, &gateway, &second).await.status(), 200);
    app.clock.advance(3601);
    let fresh = user_token(&app, GATEWAY, "echo notes:write").await;
    let silent = ask(&app, &gateway, fresh.access_token.secret(), &[("prompt", "none")]).await;
    assert_eq!(error_of(silent).await, (400, "consent_required".into()));
}

#[tokio::test]
async fn a_backchannel_request_is_refused_what_it_may_not_ask() {
    let app = spawn_gateway_app().await;
    let gateway = secret_client(&app, "gateway", &[GATEWAY]).await;
    let stranger = secret_client(&app, "stranger", &[OTHER]).await;
    let subject = user_token(&app, GATEWAY, "echo").await;
    let token = subject.access_token.secret();
    let sub = claims(token)["sub"].as_str().unwrap().to_owned();
    let send = |client: &Confidential, form: Vec<(&'static str, String)>| {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let request = client.authenticate(&app, "/bc-authorize", &form);
        async move { error_of(request.send().await.unwrap()).await }
    };
    let base = |details_json: String| {
        vec![
            ("login_hint", sub.clone()),
            ("subject_token", token.to_owned()),
            ("authorization_details", details_json),
        ]
    };
    let good = details(UPSTREAM, "delete_note", "x");

    assert_eq!(send(&stranger, base(good.clone())).await, (400, "invalid_grant".into()), "not its audience");
    let mut wrong_user = base(good.clone());
    wrong_user[0].1 = "someone-else".into();
    assert_eq!(send(&gateway, wrong_user).await, (400, "unknown_user_id".into()));
    // Registered for a location the server does not know: that one is the server's refusal.
    let unknowing =
        secret_client_to(&app, "unknowing", &[GATEWAY], &[UPSTREAM, "http://127.0.0.1:9999"]).await;
    let unknown_place = details("http://127.0.0.1:9999", "delete_note", "x");
    assert_eq!(send(&unknowing, base(unknown_place)).await, (400, "invalid_authorization_details".into()));
    // A location the client was not registered to obtain tokens for (`--exchange-to`), though
    // the server knows it and a client listing it may ask.
    let narrow = secret_client_to(&app, "narrow", &[GATEWAY], &[UPSTREAM]).await;
    let elsewhere = details(OTHER, "delete_note", "x");
    assert_eq!(send(&narrow, base(elsewhere.clone())).await, (400, "invalid_authorization_details".into()));
    assert_eq!(ask_about(&app, &gateway, token, &elsewhere, &[]).await.status(), 200);
    let two: Value = serde_json::from_str(&good).unwrap();
    let two = json!([two[0], two[0]]).to_string();
    assert_eq!(send(&gateway, base(two)).await, (400, "invalid_authorization_details".into()));
    let mut widened = base(good.clone());
    widened.push(("scope", "notes:write".into()));
    assert_eq!(send(&gateway, widened).await, (400, "invalid_scope".into()));
    let mut long_message = base(good.clone());
    long_message.push(("binding_message", "x".repeat(101)));
    assert_eq!(send(&gateway, long_message).await, (400, "invalid_binding_message".into()));

    // A public client, and nobody at all.
    let public = app.register_client().await;
    let response = app
        .browser
        .post(app.url("/bc-authorize"))
        .form(&[
            ("client_id", public.as_str()),
            ("login_hint", sub.as_str()),
            ("subject_token", token),
            ("authorization_details", good.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(response).await, (400, "unauthorized_client".into()));
    let anonymous = app
        .browser
        .post(app.url("/bc-authorize"))
        .form(&[
            ("login_hint", sub.as_str()),
            ("subject_token", token),
            ("authorization_details", good.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(anonymous).await, (401, "invalid_client".into()));
    let refused = app.store.audit_events(50).await.unwrap();
    assert!(refused.iter().any(|e| e.kind == "approval_request_refused"));
}

#[tokio::test]
async fn an_approved_call_yields_no_token_once_the_grant_is_revoked() {
    let app = spawn_gateway_app().await;
    let gateway = secret_client(&app, "gateway", &[GATEWAY]).await;
    let subject = user_token(&app, GATEWAY, "echo").await;
    let request = started(&app, &gateway, subject.access_token.secret()).await;
    assert_eq!(answer_first(&app, "once").await.status(), 303);
    let grant = app
        .store
        .find_access_token(claims(subject.access_token.secret())["jti"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap()
        .1;
    app.store.revoke_grant(&grant.id, "test", app.clock_now()).await.unwrap();
    assert_eq!(error_of(poll(&app, &gateway, &request).await).await, (400, "invalid_grant".into()));
}

/// The user revokes the token the gateway acted on while the request waits: the request ends at
/// once (the page no longer offers it, the poller hears `expired_token`), rather than waiting for
/// the token's record to be swept and becoming collectable.
#[tokio::test]
async fn revoking_the_subject_token_ends_the_requests_asked_on_it() {
    let app = spawn_gateway_app().await;
    let gateway = secret_client(&app, "gateway", &[GATEWAY]).await;
    let subject = user_token(&app, GATEWAY, "echo").await;
    let token = subject.access_token.secret();
    let request = started(&app, &gateway, token).await;
    assert_eq!(approvals_page(&app, &app.browser).await.0.len(), 1);

    let app_client = claims(token)["client_id"].as_str().unwrap().to_owned();
    let revoked = app
        .browser
        .post(app.url("/revoke"))
        .form(&[("token", token), ("client_id", app_client.as_str()), ("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert!(approvals_page(&app, &app.browser).await.0.is_empty(), "nothing left to approve");
    assert_eq!(error_of(poll(&app, &gateway, &request).await).await, (400, "expired_token".into()));
}

/// Gateways in a row: the first exchanged the user's token T0 for T1, and the second asks for
/// approval on T1. Revoking T0 ends the request (answered or not), and T1 can ask no more.
#[tokio::test]
async fn revoking_the_users_token_ends_the_requests_asked_on_a_token_exchanged_from_it() {
    let app = spawn_gateway_app().await;
    let gw1 = secret_client_to(&app, "gw1", &[GATEWAY], &[OTHER]).await;
    let gw2 = secret_client_to(&app, "gw2", &[OTHER], &[UPSTREAM]).await;
    let t0 = user_token(&app, GATEWAY, "echo").await;
    let t0 = t0.access_token.secret();
    let t1: TokenResponse = gw1.exchange(&app, t0, OTHER, None).await.json().await.unwrap();
    let t1 = t1.access_token.secret();
    let request = started(&app, &gw2, t1).await;
    assert_eq!(answer_first(&app, "once").await.status(), 303);

    let app_client = claims(t0)["client_id"].as_str().unwrap().to_owned();
    let revoked = app
        .browser
        .post(app.url("/revoke"))
        .form(&[("token", t0), ("client_id", app_client.as_str()), ("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(error_of(poll(&app, &gw2, &request).await).await, (400, "expired_token".into()));
    assert_eq!(error_of(ask(&app, &gw2, t1, &[]).await).await, (400, "invalid_grant".into()));
}

/// CIBA has no cancel: a client that no longer wants a request (the person declined at the
/// client) revokes its `auth_req_id` (RFC 7009), and the person's page no longer offers it.
#[tokio::test]
async fn a_client_withdraws_its_own_request_by_revoking_its_auth_req_id() {
    let app = spawn_gateway_app().await;
    let gateway = secret_client(&app, "gateway", &[GATEWAY]).await;
    let stranger = secret_client(&app, "stranger", &[GATEWAY]).await;
    let subject = user_token(&app, GATEWAY, "echo").await;
    let token = subject.access_token.secret();
    let revoke = |client: &Confidential, request: &BackchannelAuthenticationResponse| {
        let form = [("token", request.auth_req_id.secret())];
        let request = client.authenticate(&app, "/revoke", &form);
        async move { request.send().await.unwrap().status() }
    };

    let request = started(&app, &gateway, token).await;
    assert_eq!(revoke(&stranger, &request).await, 200, "as for any token it does not know");
    // A public client naming itself (anyone can) withdraws nothing either.
    let public = app.register_client().await;
    let form = [("token", request.auth_req_id.secret()), ("client_id", public.as_str())];
    assert_eq!(app.browser.post(app.url("/revoke")).form(&form).send().await.unwrap().status(), 200);
    assert_eq!(
        approvals_page(&app, &app.browser).await.0.len(),
        1,
        "another client's revocation changes nothing"
    );
    assert_eq!(revoke(&gateway, &request).await, 200);
    assert!(approvals_page(&app, &app.browser).await.0.is_empty(), "nothing left to approve");
    assert_eq!(error_of(poll(&app, &gateway, &request).await).await, (400, "expired_token".into()));

    // Approved but not collected: withdrawn too, and no token comes of it.
    let request = started(&app, &gateway, token).await;
    assert_eq!(answer_first(&app, "once").await.status(), 303);
    assert_eq!(revoke(&gateway, &request).await, 200);
    assert_eq!(error_of(poll(&app, &gateway, &request).await).await, (400, "expired_token".into()));

    // Denied: the person's answer stands.
    let request = started(&app, &gateway, token).await;
    assert_eq!(answer_first(&app, "deny").await.status(), 303);
    assert_eq!(revoke(&gateway, &request).await, 200);
    assert_eq!(error_of(poll(&app, &gateway, &request).await).await, (400, "access_denied".into()));

    // Withdrawn is final: the person's answer, had the page still been open, finds it gone.
    let request = started(&app, &gateway, token).await;
    let (ids, page) = approvals_page(&app, &app.browser).await;
    let csrf = hidden_field(&page, "csrf_token").unwrap();
    assert_eq!(revoke(&gateway, &request).await, 200);
    answer(&app, &app.browser, &ids[0], Some(&csrf), "once").await;
    assert_eq!(error_of(poll(&app, &gateway, &request).await).await, (400, "expired_token".into()));

    let events = app.store.audit_events(50).await.unwrap();
    let withdrawn: Vec<_> = events.iter().filter(|e| e.kind == "approval_withdrawn").collect();
    assert_eq!(withdrawn.len(), 3, "{events:?}");
    assert!(withdrawn.iter().all(|e| e.client_id.as_deref() == Some("gateway")
        && e.user_id.is_some()
        && e.grant_id.is_some()
        && e.detail.as_deref().is_some_and(|d| d.starts_with("approval request "))));
    let approved = events.iter().filter(|e| e.kind == "approval_approved").count();
    assert_eq!(approved, 1, "only the one approved before it was withdrawn: {events:?}");
}

/// An approved request is collected only while the client is still registered to obtain tokens
/// for its location (`clients exchange-to` may have changed that since it asked).
#[tokio::test]
async fn an_approval_is_not_collected_once_the_client_may_no_longer_target_its_location() {
    let app = spawn_gateway_app().await;
    let gateway = secret_client_to(&app, "gateway", &[GATEWAY], &[UPSTREAM, OTHER]).await;
    let subject = user_token(&app, GATEWAY, "echo").await;
    let request = started(&app, &gateway, subject.access_token.secret()).await;
    assert_eq!(answer_first(&app, "once").await.status(), 303);
    let narrowed = vec![OTHER.to_owned()];
    mcp_auth::admin::set_exchange_targets(&app.store, "gateway", narrowed, app.clock_now()).await.unwrap();
    assert_eq!(error_of(poll(&app, &gateway, &request).await).await, (400, "invalid_grant".into()));
}

#[tokio::test]
async fn a_client_cannot_bury_a_person_under_pending_requests() {
    let app = spawn_gateway_app().await;
    let gateway = secret_client(&app, "gateway", &[GATEWAY]).await;
    let other = secret_client(&app, "other-gateway", &[GATEWAY]).await;
    let subject = user_token(&app, GATEWAY, "echo").await;
    let token = subject.access_token.secret();
    // Each a different call (the same call again would be given the request that waits).
    let call = |n: i64| details_with(UPSTREAM, "delete_note", &format!("id = {n}"), &format!("{n:064x}"));
    let max = mcp_auth::approvals::MAX_PENDING_PER_CLIENT;
    for n in 0..max {
        assert_eq!(ask_about(&app, &gateway, token, &call(n), &[]).await.status(), 200);
    }
    let refused = ask_about(&app, &gateway, token, &call(max), &[]).await;
    assert_eq!(error_of(refused).await, (400, "access_denied".into()));
    // The same call as one that waits is no new request: it is given that one.
    assert_eq!(ask_about(&app, &gateway, token, &call(0), &[]).await.status(), 200);

    // Once the person answers one, the client may ask again.
    assert_eq!(answer_first(&app, "deny").await.status(), 303);
    assert_eq!(ask_about(&app, &gateway, token, &call(max + 1), &[]).await.status(), 200);
    let refused = ask_about(&app, &gateway, token, &call(max + 2), &[]).await;
    assert_eq!(error_of(refused).await, (400, "access_denied".into()));

    // The limit is per client.
    assert_eq!(ask_about(&app, &other, token, &call(max + 3), &[]).await.status(), 200);
}

/// A client asking again for a call that waits for the person (a gateway restarted, or another
/// replica of it) is given that request, with the same handle, rather than a second one for the
/// person to answer; once it is collected, the same call asks anew.
#[tokio::test]
async fn asking_again_for_a_call_that_waits_is_given_that_request() {
    let app = spawn_gateway_app().await;
    let gateway = secret_client(&app, "gateway", &[GATEWAY]).await;
    let other = secret_client(&app, "other-gateway", &[GATEWAY]).await;
    let subject = user_token(&app, GATEWAY, "echo notes:write").await;
    let token = subject.access_token.secret();

    let first = started(&app, &gateway, token).await;
    app.clock.advance(30);
    let again = started(&app, &gateway, token).await;
    assert_eq!(again.auth_req_id.secret(), first.auth_req_id.secret());
    assert_eq!(again.expires_in, first.expires_in - 30, "its own expiry, not a new one");
    assert_eq!(approvals_page(&app, &app.browser).await.0.len(), 1, "the person sees it once");

    // Anything else about it different, and it is another request: other arguments, asked for
    // this very call, a shorter memory, another client.
    let handles = [
        ask_about(
            &app,
            &gateway,
            token,
            &details_with(UPSTREAM, "delete_note", "id = 8", &"1".repeat(64)),
            &[],
        )
        .await,
        ask(&app, &gateway, token, &[("prompt", "consent")]).await,
        ask(&app, &gateway, token, &[("approval_max_age", "600")]).await,
        ask(&app, &other, token, &[]).await,
    ];
    for response in handles {
        assert_eq!(response.status(), 200);
        let other: BackchannelAuthenticationResponse = response.json().await.unwrap();
        assert_ne!(other.auth_req_id.secret(), first.auth_req_id.secret());
    }
    let (ids, page) = approvals_page(&app, &app.browser).await;
    assert_eq!(ids.len(), 5);

    // Approved and not yet collected: asked again, it is the same, and collected once.
    let csrf = hidden_field(&page, "csrf_token").unwrap();
    assert_eq!(answer(&app, &app.browser, &ids[0], Some(&csrf), "once").await.status(), 303);
    let approved = started(&app, &gateway, token).await;
    assert_eq!(approved.auth_req_id.secret(), first.auth_req_id.secret());
    assert_eq!(poll(&app, &gateway, &approved).await.status(), 200);
    app.clock.advance(10);
    assert_eq!(
        error_of(poll(&app, &gateway, &first).await).await,
        (400, "invalid_grant".into()),
        "collected once"
    );

    // Collected: the same call is a new request for the person.
    let fresh = started(&app, &gateway, token).await;
    assert_ne!(fresh.auth_req_id.secret(), first.auth_req_id.secret());
    let (ids, _) = approvals_page(&app, &app.browser).await;
    assert_eq!(ids.len(), 5);

    // One a standing approval answered is not given again (its client's first poll failed, say):
    // whether a standing approval still covers the call is asked anew.
    app.clock.advance(10);
    assert_eq!(answer(&app, &app.browser, &ids[4], Some(&csrf), "remember-3600").await.status(), 303);
    assert_eq!(poll(&app, &gateway, &fresh).await.status(), 200);
    let standing = started(&app, &gateway, token).await;
    let account = app.browser.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
    let approval_id = hidden_field(&account, "approval_id").unwrap();
    let form = [("csrf_token", csrf.as_str()), ("approval_id", approval_id.as_str())];
    let withdrawn =
        app.browser.post(app.url("/account/approvals/withdraw")).form(&form).send().await.unwrap();
    assert_eq!(withdrawn.status(), 303);
    let asked_anew = started(&app, &gateway, token).await;
    assert_ne!(asked_anew.auth_req_id.secret(), standing.auth_req_id.secret());
    assert_eq!(approvals_page(&app, &app.browser).await.0.len(), 5, "waiting for the person again");
}

#[tokio::test]
async fn a_standing_approval_for_these_arguments_covers_this_call_and_no_other() {
    let app = spawn_gateway_app().await;
    let gateway = secret_client(&app, "gateway", &[GATEWAY]).await;
    let subject = user_token(&app, GATEWAY, "echo notes:write").await;
    let token = subject.access_token.secret();
    let page = approve_and_collect(&app, &gateway, token, "remember-same-3600").await;
    assert!(page.contains("Approve these arguments for 1 hour"));

    assert_eq!(ask(&app, &gateway, token, &[("prompt", "none")]).await.status(), 200, "the same call");
    let other = details_with(UPSTREAM, "delete_note", "id = 8", &"0".repeat(64));
    let silent = ask_about(&app, &gateway, token, &other, &[("prompt", "none")]).await;
    assert_eq!(error_of(silent).await, (400, "consent_required".into()), "other arguments ask again");
    let account = app.browser.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(account.contains("with the approved arguments only"));
}

#[tokio::test]
async fn approval_max_age_lets_only_a_recent_standing_approval_answer() {
    let app = spawn_gateway_app().await;
    let gateway = secret_client(&app, "gateway", &[GATEWAY]).await;
    let subject = user_token(&app, GATEWAY, "echo notes:write").await;
    let token = subject.access_token.secret();

    approve_and_collect(&app, &gateway, token, "remember-3600").await;

    // Remembered a minute ago: an answer for a client that accepts an hour, not for one that
    // accepts thirty seconds.
    app.clock.advance(60);
    let recent_enough = ask(&app, &gateway, token, &[("prompt", "none"), ("approval_max_age", "3600")]).await;
    assert_eq!(recent_enough.status(), 200);
    let too_old = ask(&app, &gateway, token, &[("prompt", "none"), ("approval_max_age", "30")]).await;
    assert_eq!(error_of(too_old).await, (400, "consent_required".into()));
    let malformed = ask(&app, &gateway, token, &[("approval_max_age", "an hour")]).await;
    assert_eq!(error_of(malformed).await, (400, "invalid_request".into()));
}

/// A client that lets only a recent standing approval answer (`approval_max_age`, a gateway's
/// `@consent("PT1H")` or shorter) is asked with no offer to remember for longer: the page offers
/// what a standing approval would keep for its whole life, and refuses anything longer.
#[tokio::test]
async fn the_page_offers_to_remember_no_longer_than_the_client_lets_an_approval_answer() {
    let app = spawn_gateway_app().await;
    let gateway = secret_client(&app, "gateway", &[GATEWAY]).await;
    let subject = user_token(&app, GATEWAY, "echo notes:write").await;
    let token = subject.access_token.secret();

    // Without a limit, the configured choices (an hour, a day).
    assert_eq!(ask(&app, &gateway, token, &[]).await.status(), 200);
    let (ids, page) = approvals_page(&app, &app.browser).await;
    assert!(page.contains("value=\"remember-86400\"") && page.contains("value=\"remember-3600\""), "{page}");
    let csrf = hidden_field(&page, "csrf_token").unwrap();
    assert_eq!(answer(&app, &app.browser, &ids[0], Some(&csrf), "deny").await.status(), 303);

    // Four minutes at most: four minutes is what is offered, in both forms, and said.
    let asked: BackchannelAuthenticationResponse =
        ask(&app, &gateway, token, &[("approval_max_age", "240")]).await.json().await.unwrap();
    let (ids, page) = approvals_page(&app, &app.browser).await;
    let offered: Vec<&str> = page.match_indices("value=\"remember-").map(|(at, _)| &page[at + 7..]).collect();
    assert_eq!(offered.len(), 2, "{page}");
    assert!(
        offered
            .iter()
            .all(|value| value.starts_with("remember-240\"") || value.starts_with("remember-same-240\""))
    );
    assert!(page.contains("for at most 4 minutes"), "{page}");
    for longer in ["remember-3600", "remember-same-86400", "remember-241"] {
        assert_eq!(answer(&app, &app.browser, &ids[0], Some(&csrf), longer).await.status(), 400, "{longer}");
    }
    let events = app.store.audit_events(20).await.unwrap();
    let refused = events.iter().filter(|e| e.kind == "approval_refused").count();
    assert_eq!(refused, 3, "each refused choice is on the trail: {events:?}");
    assert_eq!(answer(&app, &app.browser, &ids[0], Some(&csrf), "remember-240").await.status(), 303);
    assert_eq!(poll(&app, &gateway, &asked).await.status(), 200);

    // Remembered for as long as it answers: within four minutes, then no more.
    app.clock.advance(239);
    let again = ask(&app, &gateway, token, &[("prompt", "none"), ("approval_max_age", "240")]).await;
    assert_eq!(again.status(), 200, "{:?}", again.text().await);
    app.clock.advance(2);
    let account = app.browser.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
    assert!(!account.contains("delete_note"), "expired with its usefulness: {account}");
    let fresh = user_token(&app, GATEWAY, "echo notes:write").await;
    let token = fresh.access_token.secret();

    // Two hours at most: an hour, and two hours in place of the day.
    ask(&app, &gateway, token, &[("approval_max_age", "7200")]).await;
    let (_, page) = approvals_page(&app, &app.browser).await;
    assert!(page.contains("value=\"remember-3600\"") && page.contains("value=\"remember-7200\""), "{page}");
    assert!(!page.contains("remember-86400") && page.contains("for at most 2 hours"), "{page}");
}

/// A token bound to one approved call is good for that call at its server: exchanging it (by a
/// client that acts for that server, a second gateway say) would buy an unbound token.
#[tokio::test]
async fn a_token_bound_to_an_approved_call_cannot_be_exchanged() {
    let app = spawn_gateway_app().await;
    let gateway = secret_client(&app, "gateway", &[GATEWAY]).await;
    let relay = key_client(&app, "relay", &[UPSTREAM]).await;
    let subject = user_token(&app, GATEWAY, "echo notes:write").await;
    let request = started(&app, &gateway, subject.access_token.secret()).await;
    assert_eq!(answer_first(&app, "once").await.status(), 303);
    let bound: TokenResponse = poll(&app, &gateway, &request).await.json().await.unwrap();
    assert!(claims(bound.access_token.secret())["authorization_details"].is_array());

    for target in [OTHER, UPSTREAM] {
        let response = relay.exchange(&app, bound.access_token.secret(), target, None).await;
        assert_eq!(error_of(response).await, (400, "invalid_request".into()), "{target}");
    }
    // Nor the subject of another approval request, which would hang outside the chain that
    // revoking the user's token reaches.
    for target in [OTHER, UPSTREAM] {
        let details = details(target, "delete_note", "id = 7");
        let response = ask_about(&app, &relay, bound.access_token.secret(), &details, &[]).await;
        assert_eq!(error_of(response).await, (400, "invalid_request".into()), "{target}");
    }
}
