//! The client address behind a load balancer: the forwarding header is read only from a
//! `--trusted-proxy` peer, and only the one `--forwarded-header` names (`X-Forwarded-For` by
//! default); then the audit trail and the per-address login throttle use the address it names.

use mcp_auth::clock::ManualClock;
use mcp_auth::config::Settings;
use serve::client_addr::{ForwardedHeader, TrustedProxies};

use crate::helpers::{DEMO_PASSWORD, RESOURCE, TestApp, hidden_field, pkce, spawn_app, spawn_app_with};

/// A fresh login page (new authorization request) for `app`.
async fn login_page(app: &TestApp, client_id: &str) -> String {
    let (_, challenge) = pkce();
    let authorize = app.get_authorize(&app.authorize_query(client_id, &challenge, &[])).await;
    app.follow(&authorize).await.text().await.unwrap()
}

/// Posts the login form of `page` with `X-Forwarded-For: forwarded_for`, as a proxy would.
async fn login_via(
    app: &TestApp,
    page: &str,
    forwarded_for: &str,
    username: &str,
    password: &str,
) -> reqwest::StatusCode {
    login_with_headers(app, page, &[("x-forwarded-for", forwarded_for)], username, password).await
}

/// Posts the login form of `page` with these headers.
async fn login_with_headers(
    app: &TestApp,
    page: &str,
    headers: &[(&str, &str)],
    username: &str,
    password: &str,
) -> reqwest::StatusCode {
    let form = [
        ("request", hidden_field(page, "request").unwrap()),
        ("csrf_token", hidden_field(page, "csrf_token").unwrap()),
        ("username", username.to_owned()),
        ("password", password.to_owned()),
    ];
    let mut request = app.browser.post(app.url("/login")).form(&form);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap().status()
}

async fn failed_login_addresses(app: &TestApp) -> Vec<String> {
    let events = app.store.audit_events(100).await.unwrap();
    events.into_iter().filter(|e| e.kind == "login_failed").filter_map(|e| e.ip).collect()
}

#[tokio::test]
async fn without_a_trusted_proxy_x_forwarded_for_is_ignored_by_the_audit_trail_and_the_throttle() {
    let app = spawn_app().await;
    let client = app.register_client().await;
    let page = login_page(&app, &client).await;
    // Twenty failures, each claiming another address: all of them are the one peer's.
    for i in 0..20 {
        let status = login_via(&app, &page, &format!("203.0.113.{i}"), &format!("user{i}"), "wrong").await;
        assert_eq!(status, 200);
    }
    let addresses = failed_login_addresses(&app).await;
    assert_eq!(addresses.len(), 20);
    assert!(addresses.iter().all(|ip| ip == "127.0.0.1"), "{addresses:?}");
    // Claiming a fresh address does not escape the peer's lock.
    assert_eq!(login_via(&app, &page, "198.51.100.1", "demo", DEMO_PASSWORD).await, 429);
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_audited_and_throttled_on_its_own() {
    let settings = Settings {
        trusted_proxies: ["127.0.0.1/32".parse().unwrap()].into_iter().collect(),
        ..Settings::for_tests(RESOURCE)
    };
    let app = spawn_app_with(settings, ManualClock::starting_now()).await;
    let client = app.register_client().await;
    let page = login_page(&app, &client).await;
    // The client prepends a forged address; the proxy (the test, on loopback) appends the real one.
    for i in 0..20 {
        let forwarded = "192.0.2.99, 203.0.113.7";
        assert_eq!(login_via(&app, &page, forwarded, &format!("user{i}"), "wrong").await, 200);
    }
    let addresses = failed_login_addresses(&app).await;
    assert_eq!(addresses.len(), 20);
    assert!(addresses.iter().all(|ip| ip == "203.0.113.7"), "{addresses:?}");

    // That address is locked; another user behind the same proxy is not.
    assert_eq!(login_via(&app, &page, "203.0.113.7", "demo", DEMO_PASSWORD).await, 429);
    assert_eq!(login_via(&app, &page, "198.51.100.1", "demo", DEMO_PASSWORD).await, 303);
    let events = app.store.audit_events(100).await.unwrap();
    let throttled = events.iter().find(|e| e.kind == "login_throttled").expect("login_throttled recorded");
    assert_eq!(throttled.ip.as_deref(), Some("203.0.113.7"));
    let succeeded = events.iter().find(|e| e.kind == "login_succeeded").expect("login_succeeded recorded");
    assert_eq!(succeeded.ip.as_deref(), Some("198.51.100.1"));
}

/// The proxy (the test, on loopback) appends `X-Forwarded-For` and passes on the `Forwarded` header
/// the client wrote, as nginx and AWS's load balancers do.
const CLIENT_SENT_FORWARDED: [(&str, &str); 2] =
    [("forwarded", "for=192.0.2.43"), ("x-forwarded-for", "203.0.113.7")];

async fn behind_loopback_reading(header: ForwardedHeader) -> TestApp {
    let proxies: TrustedProxies = ["127.0.0.1/32".parse().unwrap()].into_iter().collect();
    let settings = Settings { trusted_proxies: proxies.with_header(header), ..Settings::for_tests(RESOURCE) };
    spawn_app_with(settings, ManualClock::starting_now()).await
}

#[tokio::test]
async fn a_forwarded_header_the_client_sent_is_ignored_by_default() {
    let app = behind_loopback_reading(ForwardedHeader::default()).await;
    let client = app.register_client().await;
    let page = login_page(&app, &client).await;
    assert_eq!(login_with_headers(&app, &page, &CLIENT_SENT_FORWARDED, "demo", "wrong").await, 200);
    assert_eq!(failed_login_addresses(&app).await, ["203.0.113.7"]);
}

#[tokio::test]
async fn with_forwarded_chosen_only_forwarded_is_read() {
    let app = behind_loopback_reading(ForwardedHeader::Forwarded).await;
    let client = app.register_client().await;
    let page = login_page(&app, &client).await;
    assert_eq!(login_with_headers(&app, &page, &CLIENT_SENT_FORWARDED, "demo", "wrong").await, 200);
    assert_eq!(login_via(&app, &page, "198.51.100.1", "demo", "wrong").await, 200);
    // Newest first: X-Forwarded-For alone named nobody, so the peer.
    assert_eq!(failed_login_addresses(&app).await, ["127.0.0.1", "192.0.2.43"]);
}
