//! `WWW-Authenticate` values as a client receives them from a resource server: every challenge
//! parsed, the Bearer one picked out, its scope read, and the render → parse round trip checked.
//! Input: header values separated by newlines (a response may carry several headers).

#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::challenge::{BearerChallenge, parse_challenges};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let values: Vec<&str> = text.split('\n').collect();
    for value in &values {
        if let Ok(challenges) = parse_challenges(value) {
            for challenge in &challenges {
                assert!(!challenge.scheme.is_empty(), "a challenge always has a scheme");
                assert!(challenge.token68.is_none() || challenge.params.is_empty());
            }
        }
    }
    let Ok(Some(bearer)) = BearerChallenge::from_header_values(values.iter().copied()) else { return };
    let _ = bearer.scopes();

    // What we render is always a single clean header line that parses back to the same
    // challenge, up to the characters rendering replaces.
    let rendered = bearer.to_header_value();
    assert!(rendered.bytes().all(|b| b == b' ' || b.is_ascii_graphic()), "{rendered:?}");
    let reparsed = BearerChallenge::from_header_values([rendered.as_str()])
        .expect("a rendered challenge parses")
        .expect("a rendered challenge is a Bearer challenge");
    assert_eq!(reparsed.to_header_value(), rendered, "rendering is stable");
    let clean = |v: &Option<String>| {
        v.as_deref()
            .is_none_or(|v| v.chars().all(|c| c == ' ' || (c.is_ascii_graphic() && c != '"' && c != '\\')))
    };
    let error = bearer.error.as_ref().map(|e| e.as_str().to_owned());
    if [&bearer.realm, &bearer.resource_metadata, &bearer.scope, &bearer.error_description, &error]
        .into_iter()
        .all(clean)
    {
        assert_eq!(reparsed, bearer, "a clean challenge survives the round trip");
    }
});
