//! `mcp-gateway key`: the gateway's `private_key_jwt` key, created once (owner-only) and kept, its
//! public half printed as a JWK Set for the authorization server.

use std::process::Command;

fn key(path: &std::path::Path) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_mcp-gateway"))
        .arg("key")
        .arg("--key-file")
        .arg(path)
        .output()
        .expect("mcp-gateway runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_key_is_created_once_kept_private_and_only_its_public_half_is_printed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.key");
    let (ok, first, stderr) = key(&path);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("created a new signing key"), "{stderr}");
    let jwks: serde_json::Value = serde_json::from_str(&first).unwrap();
    let jwk = &jwks["keys"][0];
    assert_eq!(
        (jwk["kty"].as_str(), jwk["crv"].as_str(), jwk["alg"].as_str()),
        (Some("EC"), Some("P-256"), Some("ES256"))
    );
    assert!(jwk.get("d").is_none(), "never the private part: {jwk}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    let (ok, again, stderr) = key(&path);
    assert!(ok && !stderr.contains("created"), "{stderr}");
    assert_eq!(again, first, "the same key on every run");

    std::fs::write(&path, b"not a key").unwrap();
    let (ok, _, stderr) = key(&path);
    assert!(!ok && stderr.contains("not a P-256 PKCS#8 key"), "{stderr}");
}
