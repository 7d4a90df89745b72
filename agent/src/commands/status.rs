//! `mcp-agent status`: what the token store holds (never the tokens).

use std::path::PathBuf;

use crate::error::Result;
use crate::store::{Grant, Store};

/// The store's contents, without secrets to print by mistake: grants are printed field by field.
#[derive(Debug)]
pub struct StatusReport {
    pub home: PathBuf,
    pub grants: Vec<Grant>,
    /// `(issuer, client_id)` of each registration made with RFC 7591.
    pub registrations: Vec<(String, String)>,
    /// When the report was made, for "expires in".
    pub now: u64,
}

pub fn run(store: &Store, now: u64) -> Result<StatusReport> {
    let files = store.all()?;
    let registrations = files
        .iter()
        .filter_map(|f| f.registration.as_ref().map(|r| (f.issuer.clone(), r.client.client_id.clone())))
        .collect();
    let grants = files.into_iter().flat_map(|f| f.grants.into_values()).collect();
    Ok(StatusReport { home: store.dir().to_path_buf(), grants, registrations, now })
}
