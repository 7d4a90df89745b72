//! Password hashing with argon2id (RFC 9106, OWASP's first recommendation), PHC string format.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use protocol::secret::Password;

/// Hashes a password with a fresh random salt and argon2's default (OWASP) parameters.
pub fn hash(password: &Password) -> Result<String, argon2::password_hash::Error> {
    let hash: PasswordHash = Argon2::default().hash_password(password.secret().as_bytes())?;
    Ok(hash.to_string())
}

/// Verifies in constant time (argon2 compares the full output). A malformed stored hash verifies
/// nothing.
pub fn verify(password: &Password, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|parsed| Argon2::default().verify_password(password.secret().as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_with_argon2id_and_verifies_only_the_right_password() {
        let stored = hash(&Password::new("correct horse")).unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(verify(&Password::new("correct horse"), &stored));
        assert!(!verify(&Password::new("wrong horse"), &stored));
        assert!(!verify(&Password::new("correct horse"), "not a phc string"));
    }
}
