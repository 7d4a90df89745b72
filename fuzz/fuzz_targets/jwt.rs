//! Bearer tokens as a resource server receives them, up to the signature check: the JOSE header
//! (`typ`, `alg`, `kid`, `crit`) as the bearer crate decides it, the SPA's unverified decode for
//! display, and the RFC 9068 claims with the issuer, audience, time and actor-chain checks and the
//! scope claim; and an RFC 7662 introspection answer through the same checks. Input: a compact
//! JWT, or a claims or introspection JSON object. Everything here is `protocol`: the same
//! functions `mcp-bearer` runs, without its crypto and network dependencies.

#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::introspection::IntrospectionResponse;
use protocol::jwt::validation::{self, Expectations, MAX_ACTOR_DEPTH};
use protocol::jwt::{AccessTokenClaims, ES256, JwkSet, decode_unverified};
use protocol::scope::Scopes;

const EXPECTED: Expectations<'static> =
    Expectations { issuer: "http://localhost:9000", audience: "http://localhost:9090" };
const NOW: u64 = 1_750_000_000;

fn check_claims(claims: &AccessTokenClaims) {
    for now in [0, NOW, u64::MAX] {
        if validation::check_claims(claims, &EXPECTED, now).is_ok() {
            // An accepted token is for this resource, from this issuer, within its window, and
            // its actor chain is bounded.
            assert_eq!(claims.iss, EXPECTED.issuer);
            assert!(claims.aud.contains(EXPECTED.audience));
            assert!(claims.exp.saturating_add(validation::LEEWAY) > now);
            assert!(claims.actors().count() <= MAX_ACTOR_DEPTH);
        }
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
            if let Ok(claims) = answer.clone().into_claims(&EXPECTED, now) {
                // An accepted answer is for this resource, from this issuer, and not expired.
                assert_eq!(claims.iss, EXPECTED.issuer);
                assert!(claims.aud.contains(EXPECTED.audience));
                assert!(claims.exp > now);
            }
        }
    }
    let Ok(token) = std::str::from_utf8(data) else { return };
    let token = token.trim();

    // What `mcp_bearer::Validator` does before it looks for a key.
    if let Ok(header) = validation::parse_header(token)
        && let Ok(kid) = validation::check_header(&header)
    {
        // Accepted only as an ES256 access token naming its key, with no critical extension.
        assert_eq!(header.alg, ES256);
        assert!(validation::is_access_token_typ(header.typ.as_deref()));
        assert!(header.crit.is_none());
        assert_eq!(Some(kid), header.kid.as_deref());
    }
    if let Ok(unverified) = decode_unverified(token) {
        if let Ok(claims) = serde_json::from_value::<AccessTokenClaims>(unverified.claims) {
            check_claims(&claims);
        }
        let typ = unverified.header.get("typ").and_then(|t| t.as_str());
        let _ = validation::is_access_token_typ(typ);
    }
});
