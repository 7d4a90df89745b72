//! What `tools/list` answers: the upstreams' live tools that the catalog offers (same schema as
//! the policy was validated against) and that a call would not be denied outright, under their
//! gateway names. The policy judges each tool with the token's scopes plus the tool's own, as a
//! call does: a tool that needs a step-up is listed. A tool whose denial depends on the arguments is listed; a denied tool and an
//! unknown one are both simply absent.

use std::collections::BTreeMap;

use protocol::mcp::Tool;
use protocol::scope::Scopes;
use serde_json::Map;

use crate::catalog::Skipped;
use crate::policy::{CallFacts, Policies};

/// Who asks, as the policy sees them (no tool and no arguments yet).
#[derive(Debug, Clone)]
pub struct Asker<'a> {
    pub user: &'a str,
    pub groups: &'a [String],
    pub client_id: &'a str,
    pub client_registration: &'a str,
    pub time: i64,
    pub client_address: &'a str,
    /// The token's scopes. Each tool is judged with its own scopes added: a tool the user could
    /// call after a step-up is listed (calling it answers `403 insufficient_scope` first).
    pub scopes: &'a Scopes,
    pub auth_time: i64,
}

/// The tools to list for `asker`, given each upstream's live `tools/list` (by upstream name), in
/// name order; and what was left out of the live lists and why (for the log).
pub fn visible_tools(
    policies: &Policies,
    live: &BTreeMap<String, Vec<Tool>>,
    asker: &Asker<'_>,
) -> (Vec<Tool>, Vec<Skipped>) {
    let no_arguments = Map::new();
    let mut tools = Vec::new();
    let mut skipped = Vec::new();
    for (upstream, listed) in live {
        let (offered, left_out) = policies.catalog().offered(upstream, listed);
        skipped.extend(left_out);
        for entry in offered {
            let scopes = crate::policy::call_scopes(asker.scopes, entry);
            let facts = CallFacts {
                user: asker.user,
                groups: asker.groups,
                client_id: asker.client_id,
                client_registration: asker.client_registration,
                tool: &entry.name,
                arguments: &no_arguments,
                time: asker.time,
                client_address: asker.client_address,
                scopes: &scopes,
                auth_time: asker.auth_time,
            };
            if policies.listable(&facts) {
                tools.push(entry.tool.clone());
            }
        }
    }
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    (tools, skipped)
}
