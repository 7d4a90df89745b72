//! Token signing keys. Generated once and kept, so tokens survive a restart of the server.

/// A signing key with its schedule.
#[derive(Clone)]
pub struct StoredKey {
    pub kid: String,
    pub algorithm: String,
    /// PKCS#8 DER. Leaves the store only to build the signer.
    pub private_key_der: Vec<u8>,
    pub public_jwk: String,
    pub created_at: i64,
    /// Signs from this time on; published from creation.
    pub activates_at: i64,
    /// Unpublished from this time on; `None` while it is the current key.
    pub retires_at: Option<i64>,
}

/// Everything but the private key.
impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("activates_at", &self.activates_at)
            .field("retires_at", &self.retires_at)
            .finish()
    }
}
