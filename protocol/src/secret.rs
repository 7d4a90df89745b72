//! Newtypes for values that must never reach a log.
//!
//! Each type prints as `Name(***)` through `Debug`, so `tracing::debug!(?request)` cannot leak a
//! token by accident; the value is reachable only through an explicit `.secret()` call that a
//! reviewer can grep for.

use serde::{Deserialize, Serialize};

macro_rules! secret_string {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret itself. Call this only to put the value on the wire or hash it.
            pub fn secret(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(***)"))
            }
        }
    };
}

secret_string!(
    /// An OAuth access token (RFC 6749 §1.4); here a JWT per RFC 9068.
    AccessToken
);
secret_string!(
    /// An OAuth refresh token (RFC 6749 §1.5); opaque.
    RefreshToken
);
secret_string!(
    /// An authorization code (RFC 6749 §1.3.1): single use, short lived.
    AuthorizationCode
);
secret_string!(
    /// A token presented for revocation or introspection (RFC 7009, RFC 7662): an access token or
    /// a refresh token, the server finds out which.
    RevocableToken
);
secret_string!(
    /// A password typed into the authorization server's login form.
    Password
);
secret_string!(
    /// A confidential client's secret (RFC 6749 §2.3.1), for authorization servers that issue one.
    ClientSecret
);
secret_string!(
    /// A signed JWT a confidential client authenticates with (`private_key_jwt`, RFC 7523 §2.2).
    /// Not reusable once seen (its `jti` is single use), but still never logged.
    ClientAssertion
);
secret_string!(
    /// The handle of an out-of-band approval request (OpenID CIBA Core §7.3, `auth_req_id`): whoever
    /// holds it, and can authenticate as the client that asked, collects the token once approved.
    AuthReqId
);
secret_string!(
    /// The API key of a model endpoint (an OpenAI-compatible server): sent to that endpoint only.
    ApiKey
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_contains_the_secret() {
        let token = AccessToken::new("eyJhbGciOiJFUzI1NiJ9.secret-payload.sig");
        let printed = format!("{token:?}");
        assert_eq!(printed, "AccessToken(***)");
        assert!(!printed.contains("secret-payload"));
        assert_eq!(token.secret(), "eyJhbGciOiJFUzI1NiJ9.secret-payload.sig");
    }

    #[test]
    fn serializes_as_a_plain_string() {
        let code = AuthorizationCode::new("abc");
        assert_eq!(serde_json::to_string(&code).unwrap(), "\"abc\"");
    }
}
