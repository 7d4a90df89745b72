//! The `WWW-Authenticate` challenge a resource server sends with `401` and `403` (RFC 9110 §11.6.1,
//! RFC 6750 §3, RFC 9728 §5.1).
//!
//! For MCP the challenge is where discovery starts: its `resource_metadata` parameter points the
//! client at the protected resource metadata, and `scope` tells it what to ask for.

use crate::error::ErrorCode;
use crate::scope::Scopes;

/// One challenge: an auth scheme and its parameters, in the order they were sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: Vec<(String, String)>,
    /// The `token68` form (`Basic abc==`); unused by Bearer, kept for completeness.
    pub token68: Option<String>,
}

impl Challenge {
    /// The value of a parameter; names are case-insensitive (RFC 9110 §11.2).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Why a header value could not be read as a list of challenges.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    #[error("expected an auth scheme at byte {0}")]
    ExpectedScheme(usize),
    #[error("expected a parameter value at byte {0}")]
    ExpectedValue(usize),
    #[error("quoted string starting at byte {0} is not terminated")]
    UnterminatedQuote(usize),
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 9110 `token68` characters (before the trailing `=` padding).
fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn skip_ws_and_commas(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.pos += 1;
        }
    }

    fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&pred) {
            self.pos += 1;
        }
        // Only ASCII bytes satisfy the predicates used here, so this slice is valid UTF-8.
        std::str::from_utf8(&self.bytes[start..self.pos]).unwrap_or_default()
    }

    fn quoted_string(&mut self) -> Result<String, ChallengeError> {
        let start = self.pos;
        self.pos += 1; // opening quote
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(ChallengeError::UnterminatedQuote(start)),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(String::from_utf8_lossy(&out).into_owned());
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(escaped) => {
                            out.push(escaped);
                            self.pos += 1;
                        }
                        None => return Err(ChallengeError::UnterminatedQuote(start)),
                    }
                }
                Some(other) => {
                    out.push(other);
                    self.pos += 1;
                }
            }
        }
    }
}

/// Parses one `WWW-Authenticate` header value, which may hold several challenges
/// (`Bearer realm="x", error="y", Basic realm="z"`).
pub fn parse_challenges(header: &str) -> Result<Vec<Challenge>, ChallengeError> {
    let mut cur = Cursor { bytes: header.as_bytes(), pos: 0 };
    let mut challenges = Vec::new();
    cur.skip_ws_and_commas();
    while cur.peek().is_some() {
        let scheme = cur.take_while(is_tchar);
        if scheme.is_empty() {
            return Err(ChallengeError::ExpectedScheme(cur.pos));
        }
        let mut challenge = Challenge { scheme: scheme.to_owned(), params: Vec::new(), token68: None };
        cur.skip_ws();
        challenge.token68 = take_token68(&mut cur);
        if challenge.token68.is_none() {
            read_params(&mut cur, &mut challenge.params)?;
        }
        challenges.push(challenge);
        cur.skip_ws_and_commas();
    }
    Ok(challenges)
}

/// `token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`, standing alone
/// between the scheme and the next comma or the end of the value.
fn take_token68(cur: &mut Cursor<'_>) -> Option<String> {
    let start = cur.pos;
    let body = cur.take_while(is_token68_char);
    let padding = cur.take_while(|b| b == b'=');
    let end = cur.pos;
    cur.skip_ws();
    if !body.is_empty() && matches!(cur.peek(), None | Some(b',')) {
        cur.pos = end;
        Some(format!("{body}{padding}"))
    } else {
        cur.pos = start;
        None
    }
}

/// `#auth-param`, stopping before a bare token (the scheme of the next challenge).
fn read_params(cur: &mut Cursor<'_>, params: &mut Vec<(String, String)>) -> Result<(), ChallengeError> {
    loop {
        cur.skip_ws_and_commas();
        let item_start = cur.pos;
        let name = cur.take_while(is_tchar);
        if name.is_empty() {
            return Ok(());
        }
        cur.skip_ws();
        if cur.peek() != Some(b'=') {
            cur.pos = item_start;
            return Ok(());
        }
        cur.pos += 1;
        cur.skip_ws();
        let value = match cur.peek() {
            Some(b'"') => cur.quoted_string()?,
            Some(b) if is_tchar(b) => cur.take_while(is_tchar).to_owned(),
            _ => return Err(ChallengeError::ExpectedValue(cur.pos)),
        };
        params.push((name.to_owned(), value));
    }
}

/// The parameters of a `Bearer` challenge this project reads and writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BearerChallenge {
    pub realm: Option<String>,
    /// RFC 9728 §5.1: where the protected resource metadata lives.
    pub resource_metadata: Option<String>,
    /// The scope needed (RFC 6750 §3); kept raw so an odd value from a foreign server is still shown.
    pub scope: Option<String>,
    pub error: Option<ErrorCode>,
    pub error_description: Option<String>,
}

impl BearerChallenge {
    /// Finds the first `Bearer` challenge among the `WWW-Authenticate` header values, if any.
    pub fn from_header_values<'a>(
        values: impl IntoIterator<Item = &'a str>,
    ) -> Result<Option<Self>, ChallengeError> {
        for value in values {
            for challenge in parse_challenges(value)? {
                if challenge.scheme.eq_ignore_ascii_case("bearer") {
                    return Ok(Some(Self {
                        realm: challenge.param("realm").map(str::to_owned),
                        resource_metadata: challenge.param("resource_metadata").map(str::to_owned),
                        scope: challenge.param("scope").map(str::to_owned),
                        error: challenge.param("error").map(ErrorCode::parse),
                        error_description: challenge.param("error_description").map(str::to_owned),
                    }));
                }
            }
        }
        Ok(None)
    }

    /// The `scope` parameter as a scope set, if present and well formed.
    pub fn scopes(&self) -> Option<Scopes> {
        self.scope.as_deref().and_then(|s| Scopes::parse(s).ok())
    }

    /// Renders the header value, parameters in a fixed order.
    pub fn to_header_value(&self) -> String {
        let params = [
            ("realm", self.realm.as_deref()),
            ("resource_metadata", self.resource_metadata.as_deref()),
            ("scope", self.scope.as_deref()),
            ("error", self.error.as_ref().map(ErrorCode::as_str)),
            ("error_description", self.error_description.as_deref()),
        ];
        let rendered: Vec<String> =
            params.iter().filter_map(|(name, value)| value.map(|v| format!("{name}={}", quote(v)))).collect();
        if rendered.is_empty() { "Bearer".to_owned() } else { format!("Bearer {}", rendered.join(", ")) }
    }
}

/// Renders a quoted-string. RFC 6750 §3 limits parameter values to printable ASCII without `"` and
/// `\`, so anything else is replaced rather than escaped: a header must never carry a line break.
fn quote(value: &str) -> String {
    let cleaned: String = value
        .chars()
        .map(
            |c| if c == ' ' || c == '!' || (c.is_ascii_graphic() && c != '"' && c != '\\') { c } else { '?' },
        )
        .collect();
    format!("\"{cleaned}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_rfc_9728_example() {
        let header =
            r#"Bearer resource_metadata="https://resource.example.com/.well-known/oauth-protected-resource""#;
        let challenge = BearerChallenge::from_header_values([header]).unwrap().unwrap();
        assert_eq!(
            challenge.resource_metadata.as_deref(),
            Some("https://resource.example.com/.well-known/oauth-protected-resource")
        );
    }

    #[test]
    fn parses_the_rfc_6750_invalid_token_example() {
        let header =
            r#"Bearer realm="example", error="invalid_token", error_description="The access token expired""#;
        let challenge = BearerChallenge::from_header_values([header]).unwrap().unwrap();
        assert_eq!(challenge.realm.as_deref(), Some("example"));
        assert_eq!(challenge.error, Some(ErrorCode::InvalidToken));
        assert_eq!(challenge.error_description.as_deref(), Some("The access token expired"));
    }

    #[test]
    fn finds_bearer_among_several_challenges_and_ignores_scheme_case() {
        let header =
            r#"Basic realm="a", bEaReR scope="echo profile", error=insufficient_scope, DPoP algs="ES256""#;
        let all = parse_challenges(header).unwrap();
        assert_eq!(all.iter().map(|c| c.scheme.as_str()).collect::<Vec<_>>(), ["Basic", "bEaReR", "DPoP"]);
        let bearer = BearerChallenge::from_header_values([header]).unwrap().unwrap();
        assert_eq!(bearer.scopes().unwrap().to_string(), "echo profile");
        assert_eq!(bearer.error, Some(ErrorCode::InsufficientScope));
    }

    #[test]
    fn handles_escapes_token68_and_bare_schemes() {
        let all = parse_challenges(r#"Negotiate abc+/==, Bearer realm="say \"hi\"", Foo"#).unwrap();
        assert_eq!(all[0].token68.as_deref(), Some("abc+/=="));
        assert_eq!(all[1].param("realm"), Some(r#"say "hi""#));
        assert_eq!(all[2].scheme, "Foo");
        assert!(all[2].params.is_empty());
    }

    #[test]
    fn reports_malformed_headers_instead_of_guessing() {
        assert!(matches!(
            parse_challenges(r#"Bearer realm="open"#),
            Err(ChallengeError::UnterminatedQuote(_))
        ));
        assert!(matches!(parse_challenges("=x"), Err(ChallengeError::ExpectedScheme(0))));
        assert!(matches!(parse_challenges("Bearer a=b, c="), Err(ChallengeError::ExpectedValue(_))));
        assert_eq!(BearerChallenge::from_header_values(["Basic realm=\"x\""]).unwrap(), None);
    }

    #[test]
    fn renders_what_it_parses() {
        let challenge = BearerChallenge {
            resource_metadata: Some("http://localhost:9090/.well-known/oauth-protected-resource".into()),
            scope: Some("echo".into()),
            error: Some(ErrorCode::InvalidToken),
            error_description: Some("signature does not verify".into()),
            ..Default::default()
        };
        let header = challenge.to_header_value();
        assert_eq!(
            header,
            r#"Bearer resource_metadata="http://localhost:9090/.well-known/oauth-protected-resource", scope="echo", error="invalid_token", error_description="signature does not verify""#
        );
        assert_eq!(BearerChallenge::from_header_values([header.as_str()]).unwrap(), Some(challenge));
    }

    #[test]
    fn rendering_never_emits_quotes_backslashes_or_line_breaks_from_values() {
        let challenge =
            BearerChallenge { error_description: Some("bad\"\\\r\nvalue".into()), ..Default::default() };
        assert_eq!(challenge.to_header_value(), r#"Bearer error_description="bad????value""#);
    }
}
