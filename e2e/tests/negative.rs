//! Hostile requests against the running servers (issue 7). Every case names the rule it checks and
//! must get the error the spec asks for: an RFC 6749 §5.2 JSON error from the OAuth endpoints, an
//! error page (never a redirect to an unverified URI) from the browser pages, a JSON-RPC error
//! from `/mcp`, an RFC 6750 challenge from anything behind a bearer token, or an HTTP status for
//! what HTTP itself refuses. Never a `5xx`, never a hang: every request here has [`NO_HANG`] to be
//! answered.
//!
//! reqwest sends what it can; [`raw`] writes bytes to a TCP socket for what reqwest refuses to
//! produce (broken headers, raw non-ASCII bytes, chunked bodies, requests that never finish).

use std::time::{Duration, Instant};

use e2e::Stack;
use e2e::headless::{HeadlessUser, hidden_field};
use e2e::{DEMO_PASSWORD, DEMO_USER};
use protocol::error::ErrorCode;
use protocol::secret::AccessToken;
use reqwest::redirect::Policy;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// However hostile the request, an answer (or a closed connection) comes within this.
const NO_HANG: Duration = Duration::from_secs(10);
/// The authorization server's body limit (auth/src/routes/mod.rs).
const AUTH_BODY_LIMIT: usize = 64 * 1024;
const FORM: &str = "application/x-www-form-urlencoded";
const REDIRECT_URI: &str = "http://127.0.0.1:1/callback";

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).build().expect("client")
}

async fn send(request: reqwest::RequestBuilder) -> reqwest::Response {
    let response = tokio::time::timeout(NO_HANG, request.send())
        .await
        .expect("answered within NO_HANG")
        .expect("an HTTP answer");
    assert!(!response.status().is_server_error(), "{} for {}", response.status(), response.url());
    response
}

/// `host:port` of a base URL.
fn authority(base: &str) -> &str {
    base.trim_start_matches("http://")
}

/// Writes `request` to a fresh connection and reads until the server closes it or [`NO_HANG`]
/// passes. Returns the status code (0 if the server closed without answering) and the text.
async fn raw(base: &str, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(authority(base)).await.expect("connect");
    // The server may answer and close before it has read everything (431): a failed write is
    // part of what is being tested, not an error of the test.
    let _ = stream.write_all(request).await;
    let mut received = Vec::new();
    let read = tokio::time::timeout(NO_HANG, async {
        let mut buffer = [0u8; 8192];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server neither answered nor closed within NO_HANG");
    let text = String::from_utf8_lossy(&received).into_owned();
    let status = text.strip_prefix("HTTP/1.1 ").and_then(|s| s.get(..3)).and_then(|s| s.parse().ok());
    (status.unwrap_or(0), text)
}

/// A GET request head with `extra` header lines (each ending in `\r\n`).
fn raw_get(base: &str, target: &str, extra: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n{extra}\r\n", authority(base))
        .into_bytes()
}

/// Builds a raw request for a server's base URL.
type RawRequest = Box<dyn Fn(&str) -> Vec<u8>>;
/// (rule, content type, body, HTTP status, JSON-RPC error code if one is promised)
type McpCase = (&'static str, &'static str, Vec<u8>, u16, Option<i64>);

/// The JSON error body of an OAuth endpoint (RFC 6749 §5.2).
async fn oauth_error(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(content_type.starts_with("application/json"), "{status} with content type {content_type:?}");
    let body: Value = response.json().await.expect("a JSON error body");
    (status, body["error"].as_str().unwrap_or_default().to_owned())
}

fn introspection_user(stack: &Stack) -> String {
    url::form_urlencoded::byte_serialize(stack.resource.as_bytes()).collect()
}

/// Registers a public client redirecting to [`REDIRECT_URI`]; returns its id.
async fn register(stack: &Stack, name: &str) -> String {
    let response = send(
        client()
            .post(format!("{}/register", stack.issuer))
            .json(&json!({"redirect_uris": [REDIRECT_URI], "client_name": name})),
    )
    .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["client_id"].as_str().unwrap().to_owned()
}

async fn token(stack: &Stack) -> AccessToken {
    let user = HeadlessUser::new();
    let url = format!("{}/echo?text=x", stack.resource);
    let challenge = e2e::challenge_of(&send(user.http.get(&url)).await);
    user.authorize_from_challenge(&url, &challenge).await.expect("a token")
}

/// A body of the given declared type for one of the OAuth endpoints.
struct BodyCase {
    rule: &'static str,
    path: &'static str,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    /// Send the resource server's introspection credential (HTTP Basic).
    credential: bool,
    status: u16,
    /// The acceptable `error` codes.
    errors: &'static [&'static str],
}

fn case(
    rule: &'static str,
    path: &'static str,
    content_type: Option<&'static str>,
    body: impl Into<Vec<u8>>,
    status: u16,
    errors: &'static [&'static str],
) -> BodyCase {
    BodyCase { rule, path, content_type, body: body.into(), credential: false, status, errors }
}

fn with_credential(mut case: BodyCase) -> BodyCase {
    case.credential = true;
    case
}

fn many_parameters(count: usize) -> String {
    (0..count).map(|i| format!("p{i}=x")).collect::<Vec<_>>().join("&")
}

fn nested_json(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

#[tokio::test]
async fn the_oauth_endpoints_answer_hostile_bodies_with_json_errors() {
    let stack = Stack::start(None).await.unwrap();
    let over_limit = "a".repeat(AUTH_BODY_LIMIT + 1);
    let json = Some("application/json");
    let form = Some(FORM);
    let invalid_request: &[&str] = &["invalid_request"];
    let metadata: &[&str] = &["invalid_client_metadata"];
    let cases = vec![
        case(
            "RFC 6749 §3.2: the token request is a form, not JSON",
            "/token",
            json,
            r#"{"grant_type":"refresh_token"}"#,
            400,
            invalid_request,
        ),
        case(
            "RFC 6749 §3.2: a body without a content type is not a form",
            "/token",
            None,
            "grant_type=refresh_token",
            400,
            invalid_request,
        ),
        case(
            "RFC 6749 §3.2: a repeated parameter is invalid_request",
            "/token",
            form,
            "grant_type=refresh_token&refresh_token=a&refresh_token=b&client_id=c",
            400,
            invalid_request,
        ),
        case(
            "RFC 6749 §3.2: a repeated grant_type is invalid_request",
            "/token",
            form,
            "grant_type=authorization_code&grant_type=refresh_token",
            400,
            invalid_request,
        ),
        case(
            "RFC 6749 Appendix B: the form body is UTF-8",
            "/token",
            form,
            b"grant_type=refresh_token&client_id=\xff\xfe".to_vec(),
            400,
            invalid_request,
        ),
        case(
            "percent-encoded invalid UTF-8 decodes to U+FFFD and matches nothing",
            "/token",
            form,
            "grant_type=%FF%FE",
            400,
            &["unsupported_grant_type"],
        ),
        case(
            "NUL bytes in parameters match no client",
            "/token",
            form,
            "grant_type=refresh_token&refresh_token=%00&client_id=%00",
            400,
            &["invalid_client", "invalid_grant"],
        ),
        case(
            "7,000 parameters (55 KB) are read within the body limit and refused",
            "/token",
            form,
            many_parameters(7_000),
            400,
            invalid_request,
        ),
        case(
            "RFC 9110 §15.5.14: a body over 64 KiB is 413, still an OAuth error",
            "/token",
            form,
            over_limit.clone(),
            413,
            invalid_request,
        ),
        case(
            "RFC 7009 §2.1: revocation takes a form",
            "/revoke",
            json,
            r#"{"token":"x"}"#,
            400,
            invalid_request,
        ),
        case(
            "RFC 6749 §3.2: a repeated token at revocation is invalid_request",
            "/revoke",
            form,
            "token=a&token=b&client_id=c",
            400,
            invalid_request,
        ),
        case(
            "RFC 9110 §15.5.14: an oversized revocation is 413",
            "/revoke",
            form,
            over_limit.clone(),
            413,
            invalid_request,
        ),
        case(
            "RFC 7662 §2.1: introspection needs the resource server's credential",
            "/introspect",
            form,
            "token=x",
            401,
            &["invalid_client"],
        ),
        with_credential(case(
            "RFC 6749 §3.2: a repeated token at introspection is invalid_request",
            "/introspect",
            form,
            "token=a&token=b",
            400,
            invalid_request,
        )),
        with_credential(case(
            "RFC 7662 §2.1: introspection takes a form",
            "/introspect",
            json,
            r#"{"token":"x"}"#,
            400,
            invalid_request,
        )),
        with_credential(case(
            "RFC 9110 §15.5.14: an oversized introspection is 413",
            "/introspect",
            form,
            over_limit.clone(),
            413,
            invalid_request,
        )),
        case(
            "RFC 7523 §3: a client assertion that is not a JWT is invalid_client",
            "/token",
            form,
            "grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token=x\
             &subject_token_type=urn:ietf:params:oauth:token-type:access_token&resource=http%3A%2F%2Fx\
             &client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=a.b.c",
            401,
            &["invalid_client"],
        ),
        case(
            "RFC 8693 §2.1: token exchange needs client authentication",
            "/token",
            form,
            "grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token=x\
             &subject_token_type=urn:ietf:params:oauth:token-type:access_token&resource=http%3A%2F%2Fx",
            401,
            &["invalid_client"],
        ),
        with_credential(case(
            "RFC 6749 §2.3: two client authentication methods at once are invalid_request",
            "/token",
            form,
            "grant_type=refresh_token&refresh_token=x\
             &client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=a.b.c",
            400,
            invalid_request,
        )),
        case(
            "OpenID CIBA §7.1: the backchannel request takes a form",
            "/bc-authorize",
            json,
            r#"{"login_hint":"x"}"#,
            400,
            invalid_request,
        ),
        case(
            "OpenID CIBA §7.1: the backchannel request needs client authentication",
            "/bc-authorize",
            form,
            "login_hint=x&subject_token=y&authorization_details=%5B%7B%22type%22%3A%22mcp_tool_call%22%2C%22locations%22%3A%5B%22http%3A%2F%2Fx%22%5D%2C%22actions%22%3A%5B%22tools%2Fcall%22%5D%2C%22identifier%22%3A%22t%22%2C%22arguments_sha256%22%3A%229f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08%22%7D%5D",
            401,
            &["invalid_client"],
        ),
        case(
            "RFC 9396 §5: authorization_details that is not JSON is invalid_authorization_details",
            "/bc-authorize",
            form,
            "login_hint=x&subject_token=y&authorization_details=%7Bnot+json",
            400,
            &["invalid_authorization_details"],
        ),
        case(
            "RFC 9110 §15.5.14: an oversized backchannel request is 413",
            "/bc-authorize",
            form,
            over_limit.clone(),
            413,
            invalid_request,
        ),
        case(
            "RFC 7591 §3.1: registration takes JSON, not a form",
            "/register",
            form,
            "redirect_uris=http%3A%2F%2F127.0.0.1%2Fcb",
            400,
            invalid_request,
        ),
        case(
            "RFC 7591 §3.2.2: malformed JSON is invalid_client_metadata",
            "/register",
            json,
            r#"{"redirect_uris": ["#,
            400,
            metadata,
        ),
        case(
            "RFC 7591 §3.2.2: a string where an array belongs",
            "/register",
            json,
            r#"{"redirect_uris": "http://127.0.0.1/cb"}"#,
            400,
            metadata,
        ),
        case(
            "RFC 8259 §8.1: JSON is UTF-8",
            "/register",
            json,
            b"{\"redirect_uris\":[\"http://127.0.0.1/cb\"],\"client_name\":\"\xff\"}".to_vec(),
            400,
            metadata,
        ),
        case(
            "nesting 10,000 deep hits the parser's recursion limit, not the stack",
            "/register",
            json,
            nested_json(10_000),
            400,
            metadata,
        ),
        case(
            "RFC 9110 §15.5.14: an oversized registration is 413",
            "/register",
            json,
            format!(r#"{{"client_name":"{over_limit}"}}"#),
            413,
            invalid_request,
        ),
    ];
    let http = client();
    for case in &cases {
        let mut request = http.post(format!("{}{}", stack.issuer, case.path)).body(case.body.clone());
        if let Some(content_type) = case.content_type {
            request = request.header("content-type", content_type);
        }
        if case.credential {
            request = request
                .basic_auth(introspection_user(&stack), Some(mcp_auth::config::TEST_INTROSPECTION_SECRET));
        }
        let (status, error) = oauth_error(send(request).await).await;
        assert_eq!(status, case.status, "{}", case.rule);
        assert!(case.errors.contains(&error.as_str()), "{}: error {error:?}", case.rule);
    }
}

#[tokio::test]
async fn the_browser_forms_answer_hostile_bodies_with_error_pages() {
    let stack = Stack::start(None).await.unwrap();
    let over_limit = format!("csrf_token={}", "a".repeat(AUTH_BODY_LIMIT));
    // (rule, content type, body, status)
    let bodies: Vec<(&str, &str, Vec<u8>, u16)> = vec![
        ("a form over 64 KiB is 413", FORM, over_limit.into_bytes(), 413),
        ("a form must be declared as one", "application/json", b"{}".to_vec(), 415),
        (
            "RFC 6749 §3.1: a repeated field makes the form ambiguous",
            FORM,
            b"csrf_token=a&csrf_token=b".to_vec(),
            400,
        ),
        ("the form is UTF-8", FORM, b"csrf_token=\xff".to_vec(), 400),
    ];
    let http = client();
    for path in ["/login", "/consent", "/account/consents/withdraw", "/logout"] {
        for (rule, content_type, body, status) in &bodies {
            let response = send(
                http.post(format!("{}{path}", stack.issuer))
                    .header("content-type", *content_type)
                    .body(body.clone()),
            )
            .await;
            assert_eq!(response.status(), *status, "{path}: {rule}");
            assert!(response.headers().get("location").is_none(), "{path}: {rule}: no redirect");
            let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
            assert!(content_type.starts_with("text/html"), "{path}: {rule}: a page, not {content_type}");
        }
    }
    for path in ["/login?request=a&request=b", "/consent?request=a&request=b"] {
        let response = send(http.get(format!("{}{path}", stack.issuer))).await;
        assert_eq!(response.status(), 400, "{path}: a repeated request id is refused");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    }
}

#[tokio::test]
async fn hostile_authorization_requests_get_an_error_page_or_a_safe_redirect() {
    let stack = Stack::start(None).await.unwrap();
    let client_id = register(&stack, "negative tests").await;
    let redirect = url::form_urlencoded::byte_serialize(REDIRECT_URI.as_bytes()).collect::<String>();
    let good = format!(
        "response_type=code&client_id={client_id}&redirect_uri={redirect}&code_challenge_method=S256\
         &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&resource={}",
        url::form_urlencoded::byte_serialize(stack.resource.as_bytes()).collect::<String>()
    );
    // Before the redirect URI is trusted, failures are pages (RFC 6749 §4.1.2.1, RFC 9700 §4.1.1).
    let pages = [
        ("RFC 6749 §3.1: a repeated client_id", format!("{good}&client_id=other")),
        (
            "RFC 6749 §3.1: a repeated redirect_uri",
            format!("{good}&redirect_uri=https%3A%2F%2Fevil.example%2F"),
        ),
        ("RFC 6749 §3.1: a repeated state, even with a trusted redirect", format!("{good}&state=a&state=b")),
        ("invalid UTF-8 in client_id matches no client", "client_id=%FF%FE&redirect_uri=x".to_owned()),
        ("a NUL byte in client_id matches no client", "client_id=a%00b".to_owned()),
        (
            "a CR/LF in redirect_uri is not a registered URI",
            format!("client_id={client_id}&redirect_uri={redirect}%0D%0ALocation:%20https://evil.example"),
        ),
        (
            "a userinfo trick in redirect_uri is not a registered URI",
            format!(
                "client_id={client_id}&redirect_uri=http%3A%2F%2F127.0.0.1%3A1%40evil.example%2Fcallback"
            ),
        ),
        ("1,000 unknown parameters, no client", many_parameters(1_000)),
    ];
    let http = client();
    for (rule, query) in &pages {
        let response = send(http.get(format!("{}/authorize?{query}", stack.issuer))).await;
        assert_eq!(response.status(), 400, "{rule}");
        assert!(response.headers().get("location").is_none(), "{rule}: never a redirect");
    }

    // After it, the errors of a client anyone could register are a page with a link back to it,
    // never a redirect before anyone signed in (RFC 9700 §4.11.2: no open redirector); what the
    // request carried is encoded into that link, never spliced into a header or the page (RFC 6749
    // §4.1.2.1, RFC 9110 §5.5). Operators' clients get the redirect (auth's API tests).
    let injection = "x%0D%0ASet-Cookie:%20owned=1%0D%0A%0D%0A<script>";
    let offered = [
        (
            "§4.1.2.1: CR/LF in state comes back encoded",
            format!("{good}&scope=echo&state={injection}").replace("code_challenge_method=S256&", ""),
            "invalid_request",
        ),
        (
            "§4.1.2.1: CR/LF in scope is invalid_scope",
            format!("{good}&scope=echo{injection}&state={injection}"),
            "invalid_scope",
        ),
        (
            "RFC 8707 §2: CR/LF in resource is invalid_target",
            format!("{good}&scope=echo&state={injection}").replace("resource=", "resource=x%0D%0A"),
            "invalid_target",
        ),
    ];
    for (rule, query, error) in &offered {
        let response = send(http.get(format!("{}/authorize?{query}", stack.issuer))).await;
        assert_eq!(response.status(), 400, "{rule}");
        assert!(response.headers().get("location").is_none(), "{rule}: never a redirect");
        assert!(response.headers().get("set-cookie").is_none(), "{rule}: no header was injected");
        let page = response.text().await.unwrap();
        assert!(!page.contains("<script>"), "{rule}: the state is escaped on the page");
        let link = page
            .split_once(r#"id="return-to-client" href=""#)
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(href, _)| href.replace("&amp;", "&"))
            .unwrap_or_else(|| panic!("{rule}: a link back to the client in {page}"));
        assert!(link.starts_with(REDIRECT_URI), "{rule}: {link}");
        assert!(!link.contains(['\r', '\n', '<']), "{rule}: {link}");
        let params: std::collections::HashMap<String, String> =
            url::Url::parse(&link).unwrap().query_pairs().into_owned().collect();
        assert_eq!(params["error"], *error, "{rule}");
        assert_eq!(params["state"], "x\r\nSet-Cookie: owned=1\r\n\r\n<script>", "{rule}: state round-trips");
    }

    // Longer than the request-target limit, and longer than the whole head.
    let long =
        send(http.get(format!("{}/authorize?{good}&state={}", stack.issuer, "s".repeat(9 * 1024)))).await;
    assert_eq!(long.status(), 414, "a 9 KiB request target is 414");
    let (status, _) = raw(
        &stack.issuer,
        &raw_get(&stack.issuer, &format!("/authorize?state={}", "s".repeat(40 * 1024)), ""),
    )
    .await;
    assert_eq!(status, 431, "a 40 KiB request line does not fit the 32 KiB head");
}

#[tokio::test]
async fn registrations_that_would_mislead_the_user_are_refused() {
    let stack = Stack::start(None).await.unwrap();
    let bad_uri = "invalid_redirect_uri";
    let bad_metadata = "invalid_client_metadata";
    // (rule, redirect URI, client name, expected error)
    let cases: Vec<(&str, &str, &str, &str)> = vec![
        ("IDN homograph (Cyrillic а in apple.com) is not ASCII", "https://аpple.com/cb", "App", bad_uri),
        ("full-width host letters are not ASCII", "https://ｅｘａｍｐｌｅ.com/cb", "App", bad_uri),
        ("full-width path letters would be percent-encoded", "https://app.example.com/ｃｂ", "App", bad_uri),
        (
            "percent-encoded dot segments would be resolved",
            "https://app.example.com/cb/%2e%2e/admin",
            "App",
            bad_uri,
        ),
        ("plain dot segments would be resolved", "https://app.example.com/cb/../admin", "App", bad_uri),
        (
            "userinfo makes good.example look like the host",
            "https://good.example@evil.example/cb",
            "App",
            bad_uri,
        ),
        ("a backslash is a slash to browsers", "https://good.example\\@evil.example/cb", "App", bad_uri),
        ("OAuth 2.1 §2.3.1: no fragment", "https://app.example.com/cb#frag", "App", bad_uri),
        (
            "CR/LF would be dropped by the parser",
            "https://app.example.com/cb\r\nSet-Cookie: x=1",
            "App",
            bad_uri,
        ),
        ("a NUL byte would be percent-encoded", "https://app.example.com/cb\u{0}", "App", bad_uri),
        ("a tab would be dropped by the parser", "https://app.example.com/c\tb", "App", bad_uri),
        ("javascript: is not a redirect URI", "javascript:alert(1)", "App", bad_uri),
        ("OAuth 2.1 §1.5: plain http only for loopback", "http://app.example.com/cb", "App", bad_uri),
        ("a right-to-left override reorders the name", REDIRECT_URI, "Evil\u{202E}ppA", bad_metadata),
        ("a bidi isolate reorders the name", REDIRECT_URI, "\u{2067}App\u{2069}", bad_metadata),
        ("a zero-width space makes two names look alike", REDIRECT_URI, "Go\u{200B}ogle", bad_metadata),
        ("C0 control characters", REDIRECT_URI, "App\u{7}", bad_metadata),
        ("a NUL byte in the name", REDIRECT_URI, "App\u{0}", bad_metadata),
        ("a line break in the name", REDIRECT_URI, "App\r\nSet-Cookie: x=1", bad_metadata),
        ("C1 control characters", REDIRECT_URI, "App\u{85}", bad_metadata),
    ];
    let overlong = "x".repeat(101);
    let http = client();
    let mut all = cases.clone();
    all.push(("over 100 characters", REDIRECT_URI, &overlong, bad_metadata));
    for (rule, uri, name, expected) in &all {
        let response = send(
            http.post(format!("{}/register", stack.issuer))
                .json(&json!({"redirect_uris": [uri], "client_name": name})),
        )
        .await;
        let (status, error) = oauth_error(response).await;
        assert_eq!((status, error.as_str()), (400, *expected), "{rule}");
    }
}

/// Logs the demo user in for `client_id` and returns the consent page's response.
async fn consent_page(stack: &Stack, client_id: &str, redirect_uri: &str) -> reqwest::Response {
    let user = HeadlessUser::new();
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let authorize = format!(
        "{}/authorize?response_type=code&client_id={client_id}&redirect_uri={}&code_challenge_method=S256\
         &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&resource={}&scope=echo&state=s",
        stack.issuer,
        encode(redirect_uri),
        encode(&stack.resource)
    );
    let response = send(user.http.get(authorize)).await;
    assert_eq!(response.status(), 303);
    let login = format!("{}{}", stack.issuer, response.headers()["location"].to_str().unwrap());
    let page = send(user.http.get(login)).await.text().await.unwrap();
    let form = [
        ("request", hidden_field(&page, "request").unwrap()),
        ("csrf_token", hidden_field(&page, "csrf_token").unwrap()),
        ("username", DEMO_USER.to_owned()),
        ("password", DEMO_PASSWORD.to_owned()),
    ];
    let response = send(user.http.post(format!("{}/login", stack.issuer)).form(&form)).await;
    assert_eq!(response.status(), 303);
    let consent = format!("{}{}", stack.issuer, response.headers()["location"].to_str().unwrap());
    send(user.http.get(consent)).await
}

#[tokio::test]
async fn names_and_uris_that_are_accepted_are_shown_escaped_on_the_consent_page() {
    let stack = Stack::start(None).await.unwrap();
    let name = r#"<script>alert(1)</script>"><img src=x onerror=alert(1)> & 'Café'"#;
    // Punycode is ASCII and therefore accepted; the page shows it as punycode, never as the
    // Unicode look-alike.
    let punycode = "https://xn--80ak6aa92e.com/cb";
    let response = send(
        client()
            .post(format!("{}/register", stack.issuer))
            .json(&json!({"redirect_uris": [punycode], "client_name": name})),
    )
    .await;
    assert_eq!(response.status(), 201);
    let registered: Value = response.json().await.unwrap();
    assert_eq!(registered["client_name"], name, "stored as given");
    let client_id = registered["client_id"].as_str().unwrap();

    let page = consent_page(&stack, client_id, punycode).await;
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("form-action 'self' https://xn--80ak6aa92e.com;"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script>alert") && !html.contains("<img"), "markup from the name is escaped");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img"), "{html}");
    assert!(html.contains("https://xn--80ak6aa92e.com"), "the origin is shown in ASCII");
}

#[tokio::test]
async fn broken_and_oversized_request_heads_get_400_or_431_from_both_servers() {
    let stack = Stack::start(None).await.unwrap();
    let many_headers: String = (0..101).map(|i| format!("X-H{i}: v\r\n")).collect();
    let big_header = format!("X-Big: {}\r\n", "b".repeat(40 * 1024));
    // (rule, request, status)
    let cases: Vec<(&str, RawRequest, u16)> = vec![
        ("a header section over 32 KiB is 431", Box::new(move |base| raw_get(base, "/", &big_header)), 431),
        ("more than 100 headers is 431", Box::new(move |base| raw_get(base, "/", &many_headers)), 431),
        (
            "RFC 9112 §5: a bare CR inside a field value",
            Box::new(|base| raw_get(base, "/", "X-A: a\rb\r\n")),
            400,
        ),
        ("RFC 9110 §5.5: a NUL in a field value", Box::new(|base| raw_get(base, "/", "X-A: a\0b\r\n")), 400),
        (
            "RFC 9112 §5.2: obsolete line folding",
            Box::new(|base| raw_get(base, "/", "X-A: a\r\n b\r\n")),
            400,
        ),
        (
            "RFC 9112 §3.2: a raw non-ASCII byte in the request target",
            Box::new(|base| {
                let mut request = raw_get(base, "/authorize?client_id=X", "");
                let at = request.iter().position(|&b| b == b'X').unwrap();
                request[at] = 0xFF;
                request
            }),
            400,
        ),
        (
            "RFC 9112 §6.3: two different Content-Lengths",
            Box::new(|base| {
                format!(
                    "POST /token HTTP/1.1\r\nHost: {}\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
                    authority(base)
                )
                .into_bytes()
            }),
            400,
        ),
    ];
    for base in [&stack.issuer, &stack.resource] {
        for (rule, request, status) in &cases {
            let (got, text) = raw(base, &request(base)).await;
            assert_eq!(
                got,
                *status,
                "{base}: {rule}: {}",
                text.lines().next().unwrap_or("(closed without an answer)")
            );
        }
    }
    // RFC 9112 §6.3: with both Transfer-Encoding and Content-Length, the chunked coding wins and
    // the connection is closed after the answer, so no second request can be smuggled in.
    let ambiguous = format!(
        "POST /token HTTP/1.1\r\nHost: {}\r\nContent-Type: {FORM}\r\nContent-Length: 40\r\n\
         Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
        authority(&stack.issuer)
    );
    let (status, text) = raw(&stack.issuer, ambiguous.as_bytes()).await;
    assert_eq!(status, 400, "the empty chunked body has no grant_type: {text}");
    assert_eq!(text.matches("HTTP/1.1 ").count(), 1, "one request, one answer: {text}");

    // Still serving after all that.
    assert_eq!(send(client().get(format!("{}/jwks.json", stack.issuer))).await.status(), 200);
}

#[tokio::test]
async fn the_mcp_endpoint_and_bearer_checks_answer_hostile_requests_with_spec_errors() {
    let stack = Stack::start(None).await.unwrap();
    let token = token(&stack).await;
    let mcp = format!("{}/mcp", stack.resource);
    let http = client();
    let post = |content_type: &str, body: Vec<u8>| {
        http.post(&mcp)
            .bearer_auth(token.secret())
            .header("content-type", content_type)
            .header("accept", "application/json, text/event-stream")
            .body(body)
    };
    let cases: Vec<McpCase> = vec![
        ("Streamable HTTP: a POST body is application/json", "text/plain", b"{}".to_vec(), 415, Some(-32000)),
        ("Streamable HTTP: a form is not JSON-RPC", FORM, b"a=b".to_vec(), 415, Some(-32000)),
        ("JSON-RPC §5.1: malformed JSON is a parse error", "application/json", b"{\"jsonrpc\":".to_vec(), 400, Some(-32700)),
        ("RFC 8259 §8.1: invalid UTF-8 is a parse error", "application/json", b"{\"a\":\"\xff\"}".to_vec(), 400, Some(-32700)),
        ("a NUL byte outside a string is a parse error", "application/json", b"{\0}".to_vec(), 400, Some(-32700)),
        ("nesting 10,000 deep is a parse error, not a stack overflow", "application/json", nested_json(10_000).into_bytes(), 400, Some(-32700)),
        ("JSON-RPC §4: a bare number is not a request", "application/json", b"42".to_vec(), 400, Some(-32600)),
        ("a message over 256 KiB is 413", "application/json",
         serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "p".repeat(256 * 1024)}})).unwrap(), 413, Some(-32600)),
        ("a NUL inside a string is just a character", "application/json",
         serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": "\u{0}\r\n", "method": "\u{0}"})).unwrap(), 400, None),
    ];
    for (rule, content_type, body, status, code) in &cases {
        let response = send(post(content_type, body.clone())).await;
        assert_eq!(response.status(), *status, "{rule}");
        let message: Value = response.json().await.expect(rule);
        assert!(message["error"]["code"].is_i64(), "{rule}: a JSON-RPC error: {message}");
        if let Some(code) = code {
            assert_eq!(message["error"]["code"], *code, "{rule}: {message}");
        }
    }

    // The body is read only after the token is checked: without one, 401 whatever the body.
    let response =
        send(http.post(&mcp).header("content-type", "application/json").body(vec![b'x'; 300 * 1024])).await;
    assert_eq!(response.status(), 401, "RFC 6750 §3: the challenge comes first");

    // A chunked body with no length announced is cut at the limit too.
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        authority(&stack.resource),
        token.secret()
    );
    let mut request = head.into_bytes();
    for _ in 0..80 {
        request.extend_from_slice(format!("1000\r\n{}\r\n", "x".repeat(4096)).as_bytes());
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let (status, _) = raw(&stack.resource, &request).await;
    assert_eq!(status, 413, "a 320 KiB chunked body is refused");

    // Bearer tokens (RFC 6750): whatever the token says about itself, the challenge stays one
    // well-formed header.
    let header = protocol::base64url(br#"{"alg":"ES256","typ":"at+jwt","kid":"k\"\r\nSet-Cookie: owned=1"}"#);
    let forged = format!("{header}.{}.{}", protocol::base64url(b"{}"), protocol::base64url(b"sig"));
    let bearers = [
        ("RFC 6750 §3.1: a token naming a key with quotes and CR/LF", forged),
        ("RFC 6750 §3.1: a token that is not a JWT", "not-a-jwt".to_owned()),
        ("RFC 6750 §2.1: a token of 20 KiB is read and refused", "a".repeat(20 * 1024)),
    ];
    for (rule, bearer) in &bearers {
        for url in [mcp.clone(), format!("{}/echo?text=x", stack.resource)] {
            let response = send(http.get(&url).bearer_auth(bearer)).await;
            assert_eq!(response.status(), 401, "{rule}");
            assert!(response.headers().get("set-cookie").is_none(), "{rule}: nothing injected");
            let challenge = e2e::challenge_of(&response);
            assert_eq!(challenge.error.as_ref().map(ErrorCode::as_str), Some("invalid_token"), "{rule}");
        }
    }
    let (status, _) = raw(
        &stack.resource,
        &raw_get(
            &stack.resource,
            "/echo?text=x",
            &format!("Authorization: Bearer {}\r\n", "a".repeat(40 * 1024)),
        ),
    )
    .await;
    assert_eq!(status, 431, "a 40 KiB token does not fit the 32 KiB head");

    // Query strings that are not UTF-8 or carry NULs reach the echo tool as text, or are refused.
    for query in ["text=%FF%FE", "text=%00", "text=a&text=b", &many_parameters(500)] {
        let response =
            send(http.get(format!("{}/echo?{query}", stack.resource)).bearer_auth(token.secret())).await;
        assert!(response.status() == 200 || response.status() == 400, "/echo?{query}: {}", response.status());
    }
}

#[tokio::test]
async fn slow_clients_are_cut_off_and_do_not_hold_the_servers() {
    let stack = Stack::start(None).await.unwrap();
    // A head that never finishes: hyper closes the connection after HEADER_READ_TIMEOUT (15 s).
    let slow_head = async {
        let mut stream = TcpStream::connect(authority(&stack.issuer)).await.unwrap();
        stream.write_all(b"GET /jwks.json HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
        let started = Instant::now();
        let mut buffer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(25), stream.read_to_end(&mut buffer)).await;
        assert!(read.is_ok(), "a slow head is closed, not kept forever");
        assert!(started.elapsed() >= Duration::from_secs(10), "not before the timeout");
    };
    // A body that never finishes: the request times out with 408 after REQUEST_TIMEOUT (30 s).
    let slow_body = |base: String, path: &'static str, content_type: &'static str, extra: String| async move {
        let mut stream = TcpStream::connect(authority(&base)).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\nContent-Length: 1000\r\n{extra}Connection: close\r\n\r\ngrant_type=",
            authority(&base)
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut buffer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(40), stream.read_to_end(&mut buffer)).await;
        assert!(read.is_ok(), "{path}: a slow body is cut off");
        let text = String::from_utf8_lossy(&buffer);
        assert!(text.starts_with("HTTP/1.1 408"), "{path}: {}", text.lines().next().unwrap_or("(closed)"));
    };
    let token = token(&stack).await;
    let bearer = format!("Authorization: Bearer {}\r\n", token.secret());
    tokio::join!(
        slow_head,
        slow_body(stack.issuer.clone(), "/token", FORM, String::new()),
        slow_body(stack.resource.clone(), "/mcp", "application/json", bearer),
    );
    // Meanwhile and afterwards, others are served.
    assert_eq!(send(client().get(format!("{}/jwks.json", stack.issuer))).await.status(), 200);
}
