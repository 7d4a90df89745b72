//! Authorization codes as sealed boxes: what a code is bound to travels inside the code itself,
//! encrypted and authenticated with a key only the authorization server holds, so that issuing a
//! code writes nothing and `GET /authorize` answers from reads alone.
//!
//! What a stored code gave, a sealed one gives too:
//! - **Unguessable and unforgeable**: 256 random bits of salt, and an AES-256-GCM tag under a key
//!   derived from the server's secret; a code altered in any bit does not open.
//! - **Confidential**: the user id, scope and redirect URI inside are encrypted, so a code seen in
//!   a browser's history or a log says nothing about whom it is for.
//! - **Single use** stays the store's job: a code is recorded, by the hash of its text, in the
//!   commit that redeems it (or burns it), and a second presentation finds that record
//!   (`routes/token/code.rs`).
//! - **Short-lived**: the expiry is inside, checked at the token endpoint.
//!
//! Each code gets its own key, HMAC-SHA256(secret, label ‖ salt), used for that one encryption
//! with an all-zero nonce: with a fresh random 256-bit salt per code no key is ever used twice,
//! so there is no nonce budget to count (a single AES-GCM key with random 96-bit nonces is good
//! for about 2³² messages).
//!
//! The format, base64url without padding: `version (1) ‖ salt (32) ‖ ciphertext ‖ tag (16)`,
//! the version byte also authenticated. The plaintext is the binding's six strings, each with its
//! length (u32, little-endian), then `auth_time` and `expires_at` (i64, little-endian).

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use protocol::base64url;

use crate::model::CodeBinding;
use crate::random;

/// The first byte of every code this version issues.
const VERSION: u8 = 1;
const SALT_LEN: usize = 32;
const TAG_LEN: usize = 16;
/// What the per-code key is derived under, so that the secret's other use (approval handles,
/// under [`APPROVAL_HANDLE_LABEL`]) can never yield the same key.
const LABEL: &[u8] = b"mcp-auth authorization code v1";
/// What an approval request's `auth_req_id` is derived under ([`CodeSeal::approval_handle`]).
const APPROVAL_HANDLE_LABEL: &[u8] = b"mcp-auth auth_req_id v1";
/// Longer codes are refused before any decoding: a real one is a few hundred characters, and the
/// token endpoint's form is bounded anyway.
const MAX_CODE_LEN: usize = 16 * 1024;

/// The server's secret for sealing codes: 256 bits, kept in the store so that every replica
/// seals and opens with the same one (`Store::sealing_secret`).
pub struct CodeSeal {
    secret: hmac::Key,
}

impl std::fmt::Debug for CodeSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeSeal(..)")
    }
}

/// Why a secret cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("the code-sealing secret must be 32 bytes, not {0}")]
pub struct BadSecret(usize);

impl CodeSeal {
    pub fn new(secret: &[u8]) -> Result<Self, BadSecret> {
        if secret.len() != 32 {
            return Err(BadSecret(secret.len()));
        }
        Ok(Self { secret: hmac::Key::new(hmac::HMAC_SHA256, secret) })
    }

    /// 32 fresh random bytes: a new secret, for a store that has none yet.
    pub fn generate_secret() -> [u8; 32] {
        random::bytes()
    }

    /// The code for `binding`: a fresh salt each call, so two codes for the same binding differ.
    pub fn seal(&self, binding: &CodeBinding) -> String {
        let salt: [u8; SALT_LEN] = random::bytes();
        let mut sealed = Vec::with_capacity(1 + SALT_LEN + 256 + TAG_LEN);
        sealed.push(VERSION);
        sealed.extend_from_slice(&salt);
        let mut body = encode(binding);
        self.key_for(&salt)
            .seal_in_place_append_tag(zero_nonce(), Aad::from([VERSION]), &mut body)
            // Only fails for inputs beyond AES-GCM's limit of 64 GiB.
            .expect("a code's binding is far below AES-GCM's length limit");
        sealed.extend_from_slice(&body);
        base64url(&sealed)
    }

    /// What `code` is bound to, if this server sealed it. `None` for anything else: another
    /// server's code, an altered one, a truncated one, text that is not base64url in its one
    /// canonical spelling (so that one code cannot be presented as two different strings, whose
    /// hashes the store would count as two codes).
    pub fn open(&self, code: &str) -> Option<CodeBinding> {
        if code.len() > MAX_CODE_LEN {
            return None;
        }
        let mut sealed = URL_SAFE_NO_PAD.decode(code).ok()?;
        if sealed.len() < 1 + SALT_LEN + TAG_LEN || sealed[0] != VERSION || base64url(&sealed) != code {
            return None;
        }
        let mut body = sealed.split_off(1 + SALT_LEN);
        let key = self.key_for(&sealed[1..]);
        let plain = key.open_in_place(zero_nonce(), Aad::from([VERSION]), &mut body).ok()?;
        decode(plain)
    }

    /// The `auth_req_id` of the approval request `request_id` (a fresh random id):
    /// HMAC-SHA256 under the server's secret, as unguessable as 256 random bits to anyone without
    /// the secret, yet derivable again by any replica. So the store keeps only its hash, as it
    /// does for every secret, and a client asking again for a call that already waits for the
    /// person can be given the same handle (`approvals::open`).
    pub fn approval_handle(&self, request_id: &str) -> String {
        let mut context = hmac::Context::with_key(&self.secret);
        context.update(APPROVAL_HANDLE_LABEL);
        context.update(request_id.as_bytes());
        base64url(context.sign().as_ref())
    }

    fn key_for(&self, salt: &[u8]) -> LessSafeKey {
        let mut context = hmac::Context::with_key(&self.secret);
        context.update(LABEL);
        context.update(salt);
        let derived = context.sign();
        // A 32-byte HMAC-SHA256 tag is exactly an AES-256 key.
        LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, derived.as_ref())
                .expect("an HMAC-SHA256 tag is a 32-byte AES-256 key"),
        )
    }
}

/// Each derived key encrypts exactly one message, so a fixed nonce is safe (see the module docs).
fn zero_nonce() -> Nonce {
    Nonce::assume_unique_for_key([0u8; NONCE_LEN])
}

fn encode(b: &CodeBinding) -> Vec<u8> {
    let strings = [&b.client_id, &b.user_id, &b.redirect_uri, &b.scope, &b.code_challenge, &b.resource];
    let mut out = Vec::with_capacity(strings.iter().map(|s| 4 + s.len()).sum::<usize>() + 16 + TAG_LEN);
    for s in strings {
        // Every field comes from a request bounded far below 4 GiB (the body limit).
        let len = u32::try_from(s.len()).expect("a binding's field is shorter than 4 GiB");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    out.extend_from_slice(&b.auth_time.to_le_bytes());
    out.extend_from_slice(&b.expires_at.to_le_bytes());
    out
}

/// The inverse of [`encode`], strict: every byte accounted for. Only ever given plaintext that
/// authenticated, but written as if it were hostile all the same.
fn decode(mut rest: &[u8]) -> Option<CodeBinding> {
    let mut string = || -> Option<String> {
        let (len, tail) = rest.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
        if tail.len() < len {
            return None;
        }
        let (text, tail) = tail.split_at(len);
        rest = tail;
        String::from_utf8(text.to_vec()).ok()
    };
    let (client_id, user_id, redirect_uri, scope, code_challenge, resource) =
        (string()?, string()?, string()?, string()?, string()?, string()?);
    let (auth_time, tail) = rest.split_first_chunk::<8>()?;
    let (expires_at, tail) = tail.split_first_chunk::<8>()?;
    if !tail.is_empty() {
        return None;
    }
    Some(CodeBinding {
        client_id,
        user_id,
        redirect_uri,
        scope,
        code_challenge,
        resource,
        auth_time: i64::from_le_bytes(*auth_time),
        expires_at: i64::from_le_bytes(*expires_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding() -> CodeBinding {
        CodeBinding {
            client_id: "https://client.example/metadata.json".into(),
            user_id: "user-1".into(),
            redirect_uri: "http://127.0.0.1:33418/callback?x=é".into(),
            scope: "notes:read notes:write".into(),
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            resource: "http://localhost:9090".into(),
            auth_time: 1_700_000_000,
            expires_at: i64::MAX,
        }
    }

    fn seal() -> CodeSeal {
        CodeSeal::new(&CodeSeal::generate_secret()).unwrap()
    }

    fn same(a: &CodeBinding, b: &CodeBinding) -> bool {
        format!("{a:?}") == format!("{b:?}")
    }

    #[test]
    fn a_code_opens_to_what_it_was_sealed_with_and_says_nothing_in_the_clear() {
        let seal = seal();
        let code = seal.seal(&binding());
        assert!(same(&seal.open(&code).unwrap(), &binding()));
        let bytes = URL_SAFE_NO_PAD.decode(&code).unwrap();
        for field in ["user-1", "notes:read", "client.example", "callback", "E9Melhoa"] {
            assert!(!bytes.windows(field.len()).any(|w| w == field.as_bytes()), "{field} in the clear");
        }
    }

    #[test]
    fn an_approval_handle_is_the_same_for_one_request_and_secret_only() {
        let (secret, other) = (CodeSeal::generate_secret(), CodeSeal::generate_secret());
        let (one, again) = (CodeSeal::new(&secret).unwrap(), CodeSeal::new(&secret).unwrap());
        let handle = one.approval_handle("request-1");
        assert_eq!(handle, again.approval_handle("request-1"), "any replica derives it again");
        assert_eq!(handle.len(), 43, "256 bits, base64url");
        assert!(!handle.contains("request-1"));
        assert_ne!(handle, one.approval_handle("request-2"));
        assert_ne!(handle, CodeSeal::new(&other).unwrap().approval_handle("request-1"));
    }

    #[test]
    fn two_codes_for_one_binding_differ() {
        let seal = seal();
        assert_ne!(seal.seal(&binding()), seal.seal(&binding()));
    }

    #[test]
    fn another_servers_code_does_not_open() {
        let code = seal().seal(&binding());
        assert!(seal().open(&code).is_none());
    }

    #[test]
    fn a_code_altered_anywhere_does_not_open() {
        let seal = seal();
        let bytes = URL_SAFE_NO_PAD.decode(seal.seal(&binding())).unwrap();
        for i in 0..bytes.len() {
            let mut altered = bytes.clone();
            altered[i] ^= 0x01;
            assert!(seal.open(&URL_SAFE_NO_PAD.encode(&altered)).is_none(), "byte {i}");
        }
        for len in 0..bytes.len() {
            assert!(seal.open(&URL_SAFE_NO_PAD.encode(&bytes[..len])).is_none(), "length {len}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(seal.open(&URL_SAFE_NO_PAD.encode(&longer)).is_none());
    }

    #[test]
    fn one_code_has_one_spelling() {
        let seal = seal();
        let code = seal.seal(&binding());
        assert!(seal.open(&format!("{code}=")).is_none());
        assert!(seal.open(&format!("{code}\n")).is_none());
        // The last character may carry unused low bits; no other value of it opens.
        let (head, last) = code.split_at(code.len() - 1);
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/";
        for other in alphabet.chars().filter(|c| c.to_string() != last) {
            assert!(seal.open(&format!("{head}{other}")).is_none(), "{other}");
        }
    }

    #[test]
    fn anything_else_is_refused_without_a_panic() {
        let seal = seal();
        for junk in ["", "a", "!!!!", &"A".repeat(MAX_CODE_LEN + 1), &"A".repeat(200), "AQ"] {
            assert!(seal.open(junk).is_none());
        }
    }

    #[test]
    fn the_plaintext_decoder_accounts_for_every_byte() {
        let plain = encode(&binding());
        assert!(same(&decode(&plain).unwrap(), &binding()));
        for len in 0..plain.len() {
            assert!(decode(&plain[..len]).is_none(), "length {len}");
        }
        let mut longer = plain.clone();
        longer.push(0);
        assert!(decode(&longer).is_none());
        let mut huge = plain.clone();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&huge).is_none());
    }

    #[test]
    fn a_secret_is_32_bytes() {
        assert!(CodeSeal::new(&[0; 31]).is_err());
        assert!(CodeSeal::new(&[0; 33]).is_err());
        assert!(CodeSeal::new(&[0; 32]).is_ok());
    }
}
