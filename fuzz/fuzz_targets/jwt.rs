//! Bearer tokens as the resource server receives them, up to the signature check: the JOSE header
//! (`typ`, `alg`, `kid`) as the server reads it with `jsonwebtoken`, the SPA's unverified decode
//! for display, and the RFC 9068 claims with the server's issuer, audience and time checks and
//! the scope claim; and an RFC 7662 introspection answer through the same checks. Input: a compact
//! JWT, or a claims or introspection JSON object.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_server::auth::claims::{self, Expectations};
use mcp_server::auth::introspection;
use protocol::introspection::IntrospectionResponse;
use protocol::jwt::{AccessTokenClaims, JwkSet, decode_unverified};
use protocol::scope::Scopes;

const EXPECTED: Expectations<'static> =
    Expectations { issuer: "http://localhost:9000", audience: "http://localhost:9090" };
const NOW: u64 = 1_750_000_000;

fn check_claims(claims: &AccessTokenClaims) {
    for now in [0, NOW, u64::MAX] {
        let _ = claims::check(claims, &EXPECTED, now);
    }
    if let Some(scope) = &claims.scope
        && let Ok(scopes) = Scopes::parse(scope)
    {
        let rendered = scopes.to_string();
        assert_eq!(Scopes::parse(&rendered).as_ref(), Ok(&scopes), "scope round trip");
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(claims) = serde_json::from_slice::<AccessTokenClaims>(data) {
        check_claims(&claims);
    }
    let _ = serde_json::from_slice::<JwkSet>(data);
    if let Ok(answer) = serde_json::from_slice::<IntrospectionResponse>(data) {
        for now in [0, NOW, u64::MAX] {
            if let Ok(verified) =
                introspection::check(answer.clone(), EXPECTED.issuer, EXPECTED.audience, now)
            {
                // An accepted answer is for this resource, from this issuer, and not expired.
                assert_eq!(verified.claims.iss, EXPECTED.issuer);
                assert!(verified.claims.aud.contains(EXPECTED.audience));
                assert!(verified.claims.exp > now);
            }
        }
    }
    let Ok(token) = std::str::from_utf8(data) else { return };
    let token = token.trim();

    // What `Validator::verify_uncached` does before it looks for a key.
    if let Ok(header) = jsonwebtoken::decode_header(token) {
        let _ = claims::is_access_token_typ(header.typ.as_deref());
        let _ = header.alg == jsonwebtoken::Algorithm::ES256 && header.kid.is_some();
    }
    if let Ok(unverified) = decode_unverified(token) {
        if let Ok(claims) = serde_json::from_value::<AccessTokenClaims>(unverified.claims) {
            check_claims(&claims);
        }
        let typ = unverified.header.get("typ").and_then(|t| t.as_str());
        let _ = claims::is_access_token_typ(typ);
    }
});
