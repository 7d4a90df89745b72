//! Form and query bodies: the token, revocation and introspection forms and the authorize query
//! (parsed refusing repeated parameters, then the authorization request checks of the AS), and the
//! query of the redirect back to a client (the callback's `state` and RFC 9207 `iss` checks).

#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use protocol::authorization::validation;
use protocol::authorization::{CallbackParams, ExpectedCallback};
use protocol::form::parse_unique;
use protocol::resource::{check_redirect_uri, check_resource};
use protocol::scope::Scopes;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else { return };

    if let Ok(params) = parse_unique(body) {
        assert!(params.values().all(|v| !v.is_empty()), "empty values count as absent");
        // Encoding what was parsed and parsing it again gives the same parameters.
        let encoded = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&params).finish();
        assert_eq!(parse_unique(&encoded).as_ref(), Ok(&params), "form round trip");
        authorization_request(&params);
    }

    // The client side: the query string of the redirect back from the AS, read as the agent
    // reads it (refusing repeats) and as the SPA reads it.
    let agent = parse_unique(body)
        .ok()
        .and_then(|map| serde_json::to_value(map).and_then(serde_json::from_value::<CallbackParams>).ok());
    let spa = serde_urlencoded::from_str::<CallbackParams>(body).ok();
    for callback in agent.into_iter().chain(spa) {
        for issuer_parameter_required in [false, true] {
            let expected =
                ExpectedCallback { state: "s", issuer: "http://localhost:9000", issuer_parameter_required };
            let _ = callback.clone().into_code(&expected);
        }
    }
});

/// The two steps of `GET /authorize` after the form is parsed.
fn authorization_request(params: &HashMap<String, String>) {
    let registered = ["http://localhost:8080/callback".to_owned(), "http://127.0.0.1/callback".to_owned()];
    const RESOURCE: &str = "http://localhost:9090";
    let offered = Scopes::parse("echo profile").expect("a valid scope");
    if let Ok(redirect_uri) = validation::check_client_redirect(params, Some(&registered)) {
        assert_eq!(Some(redirect_uri), params.get("redirect_uri").map(String::as_str));
        // Byte for byte a registered URI, except for the port of the loopback IP one.
        assert!(
            registered.iter().any(|r| r == redirect_uri) || redirect_uri.starts_with("http://127.0.0.1:"),
            "{redirect_uri:?} is not registered"
        );
    }
    assert!(validation::check_client_redirect(params, None).is_err(), "an unknown client is never trusted");
    if let Ok(request) = validation::validate(params, |resource| (resource == RESOURCE).then_some(&offered)) {
        assert!(offered.is_superset(&request.scope), "never more scope than offered");
        assert_eq!(request.resource, RESOURCE);
    }
    if let Some(uri) = params.get("redirect_uri") {
        let _ = check_redirect_uri(uri);
    }
    if let Some(resource) = params.get("resource") {
        let _ = check_resource(resource);
    }
}
