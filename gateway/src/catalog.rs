//! The tools the gateway offers: every upstream's tools under a prefixed name, each in one of the
//! action groups policies speak of (`read`, `write`, `destructive`).
//!
//! A prefixed name is `<upstream>__<tool>`: `__` is allowed by the MCP tool-name rules (and by the
//! function-name rules of the model APIs agents use), and upstream names are restricted to
//! lowercase letters, digits and `-`, so a name splits back one way only.
//!
//! **Groups never trust an upstream to loosen policy.** A tool's group comes from the
//! configuration (`groups`); without one, from its annotations only if the configuration says
//! the upstream's annotations are trusted; otherwise it is `destructive`, the strictest. (MCP's own
//! defaults agree: a tool without annotations is assumed destructive.)

use std::collections::BTreeMap;

use protocol::mcp::Tool;
use protocol::scope::Scopes;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Between the upstream's name and the tool's in a gateway tool name.
pub const SEPARATOR: &str = "__";
/// Longest tool name MCP allows.
pub const MAX_TOOL_NAME: usize = 128;

/// What a tool does, as policies group actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    Read,
    Write,
    Destructive,
}

impl Group {
    pub const ALL: [Group; 3] = [Group::Read, Group::Write, Group::Destructive];

    pub fn as_str(self) -> &'static str {
        match self {
            Group::Read => "read",
            Group::Write => "write",
            Group::Destructive => "destructive",
        }
    }

    /// The group a tool's annotations claim (MCP defaults: not read-only, destructive).
    fn from_annotations(tool: &Tool) -> Self {
        let hints = tool.annotations.as_ref();
        if hints.and_then(|h| h.read_only_hint) == Some(true) {
            Group::Read
        } else if hints.and_then(|h| h.destructive_hint) == Some(false) {
            Group::Write
        } else {
            Group::Destructive
        }
    }
}

impl Group {
    /// The annotations clients are shown: the upstream's, with `readOnlyHint` and
    /// `destructiveHint` saying what the gateway decided (a client asking for confirmation
    /// before destructive tools, as `mcp-agent run` does, follows the gateway, not the upstream).
    pub fn annotate(self, tool: &Tool) -> protocol::mcp::ToolAnnotations {
        let mut annotations = tool.annotations.clone().unwrap_or_default();
        annotations.read_only_hint = Some(self == Group::Read);
        annotations.destructive_hint = Some(self == Group::Destructive);
        annotations
    }
}

/// One upstream as the configuration describes it, with the tools it listed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpstreamTools {
    /// Take the upstream's `readOnlyHint` / `destructiveHint` as its tools' groups. Off by default:
    /// an upstream could call its delete tool read-only.
    #[serde(default)]
    pub trust_annotations: bool,
    /// Groups by (unprefixed) tool name; they win over annotations.
    #[serde(default)]
    pub groups: BTreeMap<String, Group>,
    /// The scopes each (unprefixed) tool needs at the upstream, space-separated: what the client's
    /// token must carry (else `403 insufficient_scope`, step-up) and all that its hop token is
    /// asked for (least privilege). A tool without an entry gets a hop token with every scope the
    /// client's token and the upstream have in common.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scopes: BTreeMap<String, String>,
    /// The upstream's `tools/list`.
    #[serde(default)]
    pub tools: Vec<Tool>,
}

/// A tool of the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// `<upstream>__<tool>`: what clients and policies call it.
    pub name: String,
    pub upstream: String,
    /// The name the upstream knows it by.
    pub upstream_tool: String,
    pub group: Group,
    /// The scopes the tool needs, from the configuration.
    pub scopes: Option<Scopes>,
    /// As listed to clients: the upstream's tool under the prefixed name.
    pub tool: Tool,
}

/// Why an upstream or a tool was left out of the catalog. Reported, never fatal: one bad tool
/// must not take the others down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub upstream: String,
    pub tool: Option<String>,
    pub reason: String,
}

/// Every tool the gateway can offer, by prefixed name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    entries: BTreeMap<String, Entry>,
}

/// Is `name` a valid upstream name: 1 to 32 of `a-z 0-9 -`?
pub fn is_upstream_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Is `name` a valid MCP tool name (2025-11-25: 1 to 128 of `A-Z a-z 0-9 _ - .`)?
pub fn is_tool_name(name: &str) -> bool {
    (1..=MAX_TOOL_NAME).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// The icons of an upstream's tool to pass on to clients (MCP 2025-11-25 `Icon`s): those safe to
/// show anywhere, rebuilt from their known fields only (`src`, and `mimeType`, `sizes` and
/// `theme` when well-formed), or `None` if none is left. MCP asks consumers to beware of icons
/// from untrusted origins and of SVG, which can carry script; the gateway's clients may be
/// browsers. Kept: `https` URLs with a host, and raster images inline (`data:image/png`, `jpeg`,
/// `gif`, `webp`). Dropped: `http` (mixed content, and a tracker learns who looks),
/// `javascript:`, `file:`, SVG, any other `data:`, and anything that is not an icon object.
pub fn safe_icons(icons: Option<&Value>) -> Option<Value> {
    let kept: Vec<Value> = icons?
        .as_array()?
        .iter()
        .filter_map(|icon| {
            let src = icon.get("src")?.as_str()?;
            if !is_safe_icon_src(src) {
                return None;
            }
            let mut kept = Map::new();
            kept.insert("src".into(), Value::from(src));
            if let Some(mime_type) = icon.get("mimeType").filter(|m| m.is_string()) {
                kept.insert("mimeType".into(), mime_type.clone());
            }
            if let Some(sizes) = icon
                .get("sizes")
                .filter(|s| s.as_array().is_some_and(|sizes| sizes.iter().all(Value::is_string)))
            {
                kept.insert("sizes".into(), sizes.clone());
            }
            if let Some(theme) = icon.get("theme").filter(|t| matches!(t.as_str(), Some("light" | "dark"))) {
                kept.insert("theme".into(), theme.clone());
            }
            Some(Value::Object(kept))
        })
        .collect();
    (!kept.is_empty()).then_some(Value::Array(kept))
}

fn is_safe_icon_src(src: &str) -> bool {
    let lower = src.get(..16).unwrap_or(src).to_ascii_lowercase();
    if lower.starts_with("https://") {
        return url::Url::parse(src).is_ok_and(|url| url.scheme() == "https" && url.host().is_some());
    }
    ["data:image/png;", "data:image/jpeg;", "data:image/gif;", "data:image/webp;"]
        .iter()
        .any(|prefix| lower.starts_with(prefix))
}

impl Catalog {
    /// The catalog of these upstreams, and what was left out and why.
    pub fn build(upstreams: &BTreeMap<String, UpstreamTools>) -> (Self, Vec<Skipped>) {
        let mut entries = BTreeMap::new();
        let mut skipped = Vec::new();
        for (upstream, listed) in upstreams {
            if !is_upstream_name(upstream) {
                skipped.push(Skipped {
                    upstream: upstream.clone(),
                    tool: None,
                    reason: "an upstream name is 1 to 32 of a-z 0-9 -".into(),
                });
                continue;
            }
            for tool in &listed.tools {
                let name = format!("{upstream}{SEPARATOR}{}", tool.name);
                if !is_tool_name(&tool.name) || !is_tool_name(&name) {
                    skipped.push(Skipped {
                        upstream: upstream.clone(),
                        tool: Some(tool.name.clone()),
                        reason: format!("{name:?} is not a valid MCP tool name (1 to {MAX_TOOL_NAME} of A-Z a-z 0-9 _ - .)"),
                    });
                    continue;
                }
                // A client of the stateless form must leave such a tool out; offered, every call
                // of it there would be refused (-32020), or its header would mean nothing.
                if let Err(why) = mcp_endpoint::stateless::check_header_marks(&tool.input_schema) {
                    skipped.push(Skipped {
                        upstream: upstream.clone(),
                        tool: Some(tool.name.clone()),
                        reason: format!("its input schema's x-mcp-header marks are invalid: {why}"),
                    });
                    continue;
                }
                let group = match listed.groups.get(&tool.name) {
                    Some(group) => *group,
                    None if listed.trust_annotations => Group::from_annotations(tool),
                    None => Group::Destructive,
                };
                let scopes = match listed.scopes.get(&tool.name).map(|s| Scopes::parse(s)) {
                    None => None,
                    Some(Ok(scopes)) => Some(scopes),
                    Some(Err(_)) => {
                        skipped.push(Skipped {
                            upstream: upstream.clone(),
                            tool: Some(tool.name.clone()),
                            reason: "its scopes are not a valid scope list".into(),
                        });
                        continue;
                    }
                };
                let entry = Entry {
                    name: name.clone(),
                    upstream: upstream.clone(),
                    upstream_tool: tool.name.clone(),
                    group,
                    scopes,
                    tool: Tool {
                        name: name.clone(),
                        annotations: Some(group.annotate(tool)),
                        icons: safe_icons(tool.icons.as_ref()),
                        ..tool.clone()
                    },
                };
                if entries.insert(name.clone(), entry).is_some() {
                    skipped.push(Skipped {
                        upstream: upstream.clone(),
                        tool: Some(tool.name.clone()),
                        reason: "listed twice; the last one is kept".into(),
                    });
                }
            }
        }
        (Self { entries }, skipped)
    }

    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.get(name)
    }

    /// Every tool, by name.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// What of `upstream`'s catalog its live `tools/list` still offers: the entries whose tool it
    /// lists with the same input schema the policy was validated against. A tool it no longer
    /// lists is not offered; one whose schema changed is not offered either (its arguments would
    /// be typed by a schema that is no longer true) and is reported, as is a tool the catalog does
    /// not know (no policy was validated for it).
    pub fn offered<'a>(&'a self, upstream: &str, live: &[Tool]) -> (Vec<&'a Entry>, Vec<Skipped>) {
        let mut offered = Vec::new();
        let mut skipped = Vec::new();
        for tool in live {
            let name = format!("{upstream}{SEPARATOR}{}", tool.name);
            let skip = |reason: &str| Skipped {
                upstream: upstream.to_owned(),
                tool: Some(tool.name.clone()),
                reason: reason.to_owned(),
            };
            match self.entries.get(&name) {
                None => skipped.push(skip("not in the catalog: no policy was validated for it")),
                Some(entry) if entry.tool.input_schema != tool.input_schema => skipped.push(skip(
                    "its input schema differs from the catalog's: update the catalog and check the policy",
                )),
                Some(entry) => offered.push(entry),
            }
        }
        (offered, skipped)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// What [`update`] changed in one upstream's catalog entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A tool the upstream lists now: added with no group (so `destructive`, unless the
    /// configuration trusts annotations) and no scopes, for the operator to classify.
    Added(String),
    /// A tool the upstream no longer lists: removed, with its group and scopes.
    Removed(String),
    /// A tool whose listing changed (schema, description, annotations): replaced. A changed
    /// input schema retypes its arguments, so the policy must be checked again.
    Changed { tool: String, input_schema: bool },
}

/// Replaces `upstream`'s tools in a catalog with what its `tools/list` says now (`live`), keeping
/// the operator's groups and scopes of the tools that stay; what changed, in name order.
pub fn update(catalog: &mut BTreeMap<String, UpstreamTools>, upstream: &str, live: Vec<Tool>) -> Vec<Change> {
    let entry = catalog.entry(upstream.to_owned()).or_default();
    let old: BTreeMap<String, Tool> = entry.tools.drain(..).map(|t| (t.name.clone(), t)).collect();
    let new: BTreeMap<String, Tool> = live.into_iter().map(|t| (t.name.clone(), t)).collect();
    let mut changes = Vec::new();
    for (name, tool) in &new {
        match old.get(name) {
            None => changes.push(Change::Added(name.clone())),
            Some(before) if before != tool => changes.push(Change::Changed {
                tool: name.clone(),
                input_schema: before.input_schema != tool.input_schema,
            }),
            Some(_) => {}
        }
    }
    for name in old.keys().filter(|name| !new.contains_key(*name)) {
        changes.push(Change::Removed(name.clone()));
        entry.groups.remove(name);
        entry.scopes.remove(name);
    }
    changes.sort_by(|a, b| change_name(a).cmp(change_name(b)));
    entry.tools = new.into_values().collect();
    changes
}

fn change_name(change: &Change) -> &str {
    match change {
        Change::Added(name) | Change::Removed(name) | Change::Changed { tool: name, .. } => name,
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn an_update_keeps_the_operators_groups_and_says_what_changed() {
        let tool = |name: &str, schema: serde_json::Value| -> Tool {
            serde_json::from_value(serde_json::json!({"name": name, "inputSchema": schema})).unwrap()
        };
        let object = serde_json::json!({"type": "object"});
        let typed = serde_json::json!({"type": "object", "properties": {"id": {"type": "integer"}}});
        let mut catalog = BTreeMap::from([(
            "notes".to_owned(),
            UpstreamTools {
                groups: BTreeMap::from([("list".to_owned(), Group::Read), ("gone".to_owned(), Group::Write)]),
                scopes: BTreeMap::from([("list".to_owned(), "notes:read".to_owned())]),
                tools: vec![
                    tool("list", object.clone()),
                    tool("gone", object.clone()),
                    tool("get", object.clone()),
                ],
                ..Default::default()
            },
        )]);
        let changes = update(
            &mut catalog,
            "notes",
            vec![tool("list", object.clone()), tool("get", typed), tool("wipe", object.clone())],
        );
        assert_eq!(
            changes,
            [
                Change::Changed { tool: "get".into(), input_schema: true },
                Change::Removed("gone".into()),
                Change::Added("wipe".into()),
            ]
        );
        let notes = &catalog["notes"];
        assert_eq!(
            notes.groups,
            BTreeMap::from([("list".to_owned(), Group::Read)]),
            "kept, minus the removed"
        );
        assert_eq!(notes.scopes["list"], "notes:read");
        let (built, _) = Catalog::build(&catalog);
        assert_eq!(built.get("notes__wipe").unwrap().group, Group::Destructive, "a new tool is destructive");
        let same = catalog["notes"].tools.clone();
        assert!(update(&mut catalog, "notes", same).is_empty(), "nothing changed");
    }
    use protocol::mcp::ToolAnnotations;
    use serde_json::json;

    use super::*;

    fn tool(name: &str, read_only: Option<bool>, destructive: Option<bool>) -> Tool {
        Tool {
            name: name.into(),
            title: None,
            description: None,
            input_schema: json!({"type": "object"}),
            output_schema: None,
            annotations: Some(ToolAnnotations {
                read_only_hint: read_only,
                destructive_hint: destructive,
                ..Default::default()
            }),
            icons: None,
        }
    }

    #[test]
    fn only_icons_safe_to_show_anywhere_are_passed_on_with_their_known_fields() {
        let listed: Tool = serde_json::from_value(json!({
            "name": "t", "inputSchema": {"type": "object"},
            "icons": [
                {"src": "https://cdn.example/t.png", "mimeType": "image/png", "sizes": ["48x48"], "theme": "dark"},
                {"src": "data:image/png;base64,iVBORw0KGgo=", "sizes": "48x48", "theme": "sepia", "x": 1},
                {"src": "DATA:image/webp;base64,UklGRg=="},
                {"src": "http://cdn.example/t.png"},
                {"src": "javascript:alert(1)"},
                {"src": "data:image/svg+xml;base64,PHN2Zz4="},
                {"src": "data:text/html,<script>alert(1)</script>"},
                {"src": "file:///etc/passwd"},
                {"src": "https://"},
                {"src": "https:evil"},
                {"src": 7},
                "https://cdn.example/bare-string.png",
            ]
        }))
        .unwrap();
        let offered = |tool: Tool| {
            let upstreams = BTreeMap::from([(
                "up".to_owned(),
                UpstreamTools { tools: vec![tool], ..Default::default() },
            )]);
            let (catalog, _) = Catalog::build(&upstreams);
            serde_json::to_value(&catalog.get("up__t").unwrap().tool).unwrap()
        };
        assert_eq!(
            offered(listed)["icons"],
            json!([
                {"src": "https://cdn.example/t.png", "mimeType": "image/png", "sizes": ["48x48"], "theme": "dark"},
                {"src": "data:image/png;base64,iVBORw0KGgo="},
                {"src": "DATA:image/webp;base64,UklGRg=="},
            ])
        );
        for none_safe in [json!([{"src": "http://x/y.png"}]), json!("https://x/y.png"), json!([])] {
            let tool: Tool =
                serde_json::from_value(json!({"name": "t", "inputSchema": {}, "icons": none_safe})).unwrap();
            assert!(offered(tool).get("icons").is_none());
        }
    }

    fn upstreams(trust: bool, groups: &[(&str, Group)]) -> BTreeMap<String, UpstreamTools> {
        let tools = vec![
            tool("list_notes", Some(true), None),
            tool("add_note", Some(false), Some(false)),
            tool("delete_note", Some(true), Some(true)),
            tool("mystery", None, None),
        ];
        let groups = groups.iter().map(|(n, g)| ((*n).to_owned(), *g)).collect();
        BTreeMap::from([(
            "notes".to_owned(),
            UpstreamTools { trust_annotations: trust, groups, tools, ..Default::default() },
        )])
    }

    fn group(catalog: &Catalog, name: &str) -> Group {
        catalog.get(&format!("notes__{name}")).unwrap().group
    }

    #[test]
    fn tools_are_offered_under_prefixed_names_that_split_one_way() {
        let (catalog, skipped) = Catalog::build(&upstreams(false, &[]));
        assert!(skipped.is_empty());
        let entry = catalog.get("notes__list_notes").unwrap();
        assert_eq!((entry.upstream.as_str(), entry.upstream_tool.as_str()), ("notes", "list_notes"));
        assert_eq!(entry.tool.name, "notes__list_notes");
        assert_eq!(catalog.len(), 4);
    }

    #[test]
    fn an_upstreams_hints_never_loosen_the_group_unless_trusted_and_configuration_wins() {
        let (untrusted, _) = Catalog::build(&upstreams(false, &[("list_notes", Group::Read)]));
        assert_eq!(group(&untrusted, "list_notes"), Group::Read, "configured");
        assert_eq!(group(&untrusted, "add_note"), Group::Destructive, "hints ignored");
        let (trusted, _) = Catalog::build(&upstreams(true, &[("delete_note", Group::Destructive)]));
        assert_eq!(group(&trusted, "list_notes"), Group::Read);
        assert_eq!(group(&trusted, "add_note"), Group::Write);
        assert_eq!(
            group(&trusted, "delete_note"),
            Group::Destructive,
            "configuration beats a read-only claim"
        );
        assert_eq!(group(&trusted, "mystery"), Group::Destructive, "MCP's defaults");

        // What clients are shown says what the gateway decided, not what the upstream claimed.
        let add = &untrusted.get("notes__add_note").unwrap().tool;
        let annotations = add.annotations.as_ref().unwrap();
        assert_eq!((annotations.read_only_hint, annotations.destructive_hint), (Some(false), Some(true)));
        let list = untrusted.get("notes__list_notes").unwrap().tool.annotations.clone().unwrap();
        assert_eq!((list.read_only_hint, list.destructive_hint), (Some(true), Some(false)));
    }

    #[test]
    fn bad_upstream_and_tool_names_are_skipped_and_reported() {
        let mut bad = upstreams(false, &[]);
        bad.insert(
            "Not_Valid".into(),
            UpstreamTools { tools: vec![tool("x", None, None)], ..Default::default() },
        );
        bad.get_mut("notes").unwrap().tools.push(tool("has space", None, None));
        bad.get_mut("notes").unwrap().tools.push(tool(&"x".repeat(125), None, None));
        let (catalog, skipped) = Catalog::build(&bad);
        assert_eq!(catalog.len(), 4);
        assert_eq!(skipped.len(), 3, "{skipped:?}");
        assert!(!is_upstream_name("a__b") && is_upstream_name("notes-2"));
    }

    #[test]
    fn a_tool_with_an_invalid_header_mark_is_skipped_and_reported() {
        let mut marked = upstreams(false, &[]);
        let mut spaced = tool("by_region", None, None);
        spaced.input_schema = json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "My Region"}}});
        let mut valid = tool("in_region", None, None);
        valid.input_schema = json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"}}});
        marked.get_mut("notes").unwrap().tools.extend([spaced, valid]);
        let (catalog, skipped) = Catalog::build(&marked);
        assert!(catalog.get("notes__by_region").is_none());
        assert!(catalog.get("notes__in_region").is_some());
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert_eq!(skipped[0].tool.as_deref(), Some("by_region"));
        assert!(skipped[0].reason.contains("x-mcp-header"), "{}", skipped[0].reason);
    }

    #[test]
    fn only_tools_listed_live_with_the_schema_the_policy_knows_are_offered() {
        let (catalog, _) = Catalog::build(&upstreams(false, &[]));
        let mut changed = tool("add_note", None, None);
        changed.input_schema = json!({"type": "object", "properties": {"title": {"type": "string"}}});
        let live = vec![tool("list_notes", None, None), changed, tool("brand_new", None, None)];
        let (offered, skipped) = catalog.offered("notes", &live);
        let names: Vec<&str> = offered.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["notes__list_notes"], "delete_note is no longer listed, add_note changed");
        let reasons: Vec<(&str, &str)> = skipped
            .iter()
            .map(|s| (s.tool.as_deref().unwrap(), s.reason.split(':').next().unwrap()))
            .collect();
        assert_eq!(
            reasons,
            [
                ("add_note", "its input schema differs from the catalog's"),
                ("brand_new", "not in the catalog")
            ]
        );
        assert!(catalog.offered("elsewhere", &live).0.is_empty());
    }
}
