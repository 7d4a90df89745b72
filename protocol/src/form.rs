//! `application/x-www-form-urlencoded` parameters with OAuth's rule on repetition.
//!
//! RFC 6749 §3.1 and §3.2: "Request and response parameters MUST NOT be included more than once."
//! A generic form extractor keeps the first or last value silently; an attacker who can append a
//! parameter to a URL then decides which one the server sees. Parsing through this function turns
//! a repeated parameter into an error the server can report.

use std::collections::HashMap;

/// A parameter appeared more than once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parameter `{0}` is included more than once")]
pub struct RepeatedParameter(pub String);

/// Decodes `a=1&b=2` into a map, refusing repeated names. Empty values count as absent, as
/// RFC 6749 §3.1 says parameters sent without a value must be treated as omitted.
pub fn parse_unique(input: &str) -> Result<HashMap<String, String>, RepeatedParameter> {
    let mut params = HashMap::new();
    for (name, value) in form_urlencoded_pairs(input) {
        if value.is_empty() {
            continue;
        }
        if params.contains_key(&name) {
            return Err(RepeatedParameter(name));
        }
        params.insert(name, value);
    }
    Ok(params)
}

fn form_urlencoded_pairs(input: &str) -> impl Iterator<Item = (String, String)> + '_ {
    url::form_urlencoded::parse(input.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_and_plus_encoding() {
        let params = parse_unique("scope=echo+profile&redirect_uri=http%3A%2F%2Flocalhost%2Fcb").unwrap();
        assert_eq!(params["scope"], "echo profile");
        assert_eq!(params["redirect_uri"], "http://localhost/cb");
    }

    #[test]
    fn refuses_a_repeated_parameter() {
        assert_eq!(parse_unique("state=a&state=b"), Err(RepeatedParameter("state".into())));
    }

    #[test]
    fn empty_values_are_treated_as_omitted() {
        let params = parse_unique("scope=&state=x&scope=echo").unwrap();
        assert_eq!(params.get("scope").map(String::as_str), Some("echo"));
    }
}
