-- Authorization codes are sealed (`auth/src/sealed_code.rs`): what a code is bound to travels
-- inside it, encrypted under a secret kept here, and a code gets its row in authorization_codes
-- only when it is spent (its created_at is then the time of that row, not of the code). One
-- secret per purpose; every process on the database reads the same one.
CREATE TABLE sealing_secrets (
    purpose    TEXT PRIMARY KEY,
    secret     BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
