//! The notes tools: `list_notes` and `read_note` (`notes:read`, read-only), `add_note`
//! (`notes:write`, additive) and `delete_note` (`notes:write`, destructive). Their annotations say
//! so, for clients and gateways that group tools by effect; the scopes are what this server
//! enforces. Every call works on the notes of the token's `sub` only.

use protocol::mcp::{CallToolResult, Tool, ToolAnnotations};
use serde_json::{Map, Value, json};

use super::tools::{CallContext, ToolSpec, read_only, scopes, unexpected};
use crate::notes::{MAX_BODY, MAX_NOTES_PER_USER, MAX_TITLE};

/// The four notes tools.
pub fn catalog() -> Vec<ToolSpec> {
    let id = json!({"type": "integer", "description": "The note's id, from list_notes"});
    let note = json!({
        "type": "object",
        "properties": {
            "id": {"type": "integer"}, "title": {"type": "string"}, "body": {"type": "string"},
            "created_at": {"type": "integer"}, "updated_at": {"type": "integer"}, "updated_by": {"type": "string"}
        },
        "required": ["id", "title", "body", "created_at", "updated_at", "updated_by"]
    });
    let tool = |name: &str, title: &str, description: &str, input: Value, output: Value, annotations| Tool {
        name: name.into(),
        title: Some(title.into()),
        description: Some(description.into()),
        input_schema: input,
        output_schema: Some(output),
        annotations: Some(annotations),
        icons: None,
    };
    vec![
        ToolSpec {
            tool: tool(
                "list_notes",
                "List notes",
                "Lists your notes: id, title and when each was written. Needs the `notes:read` scope.",
                json!({"type": "object", "properties": {}, "additionalProperties": false}),
                json!({
                    "type": "object",
                    "properties": {"notes": {"type": "array", "items": {
                        "type": "object",
                        "properties": {"id": {"type": "integer"}, "title": {"type": "string"}, "updated_at": {"type": "integer"}},
                        "required": ["id", "title", "updated_at"]
                    }}},
                    "required": ["notes"]
                }),
                read_only(),
            ),
            scopes: scopes("notes:read"),
        },
        ToolSpec {
            tool: tool(
                "read_note",
                "Read a note",
                "Returns one of your notes. Needs the `notes:read` scope.",
                json!({"type": "object", "properties": {"id": id}, "required": ["id"], "additionalProperties": false}),
                note.clone(),
                read_only(),
            ),
            scopes: scopes("notes:read"),
        },
        ToolSpec {
            tool: tool(
                "add_note",
                "Add a note",
                "Adds a note to your notes and returns it. Needs the `notes:write` scope.",
                json!({
                    "type": "object",
                    "properties": {
                        "title": {"type": "string", "minLength": 1, "maxLength": MAX_TITLE},
                        "body": {"type": "string", "maxLength": MAX_BODY}
                    },
                    "required": ["title", "body"],
                    "additionalProperties": false
                }),
                note,
                ToolAnnotations {
                    read_only_hint: Some(false),
                    destructive_hint: Some(false),
                    idempotent_hint: Some(false),
                    open_world_hint: Some(false),
                    ..Default::default()
                },
            ),
            scopes: scopes("notes:write"),
        },
        ToolSpec {
            tool: tool(
                "delete_note",
                "Delete a note",
                "Deletes one of your notes for good. Needs the `notes:write` scope.",
                json!({"type": "object", "properties": {"id": id}, "required": ["id"], "additionalProperties": false}),
                json!({"type": "object", "properties": {"deleted": {"type": "integer"}}, "required": ["deleted"]}),
                ToolAnnotations {
                    read_only_hint: Some(false),
                    destructive_hint: Some(true),
                    idempotent_hint: Some(true),
                    open_world_hint: Some(false),
                    ..Default::default()
                },
            ),
            scopes: scopes("notes:write"),
        },
    ]
}

/// Calls notes tool `name` (its scope already checked); `None` if `name` is not a notes tool.
pub async fn call(
    name: &str,
    arguments: &Map<String, Value>,
    context: &CallContext<'_>,
) -> Option<CallToolResult> {
    let owner = context.token.claims.sub.as_str();
    let notes = context.notes;
    let outcome = match name {
        "list_notes" => match unexpected(arguments, &[]) {
            Some(error) => Ok(error),
            None => notes.list(owner).await.map(|list| {
                let lines: Vec<String> = list.iter().map(|n| format!("#{} {}", n.id, n.title)).collect();
                let text = if lines.is_empty() { "No notes.".to_owned() } else { lines.join("\n") };
                structured(text, json!({"notes": list}))
            }),
        },
        "read_note" => match id_argument(arguments) {
            Err(error) => Ok(error),
            Ok(id) => notes.read(owner, id).await.map(|note| match note {
                Some(note) => structured(format!("{}\n\n{}", note.title, note.body), json!(note)),
                None => no_such_note(id),
            }),
        },
        "add_note" => match note_arguments(arguments) {
            Err(error) => Ok(error),
            Ok((title, body)) => notes.add(owner, title, body, &written_by(context), context.now).await.map(
                |note| match note {
                    Some(note) => structured(format!("Added note #{}.", note.id), json!(note)),
                    None => CallToolResult::error(format!(
                        "you keep {MAX_NOTES_PER_USER} notes already; delete some first"
                    )),
                },
            ),
        },
        "delete_note" => match id_argument(arguments) {
            Err(error) => Ok(error),
            Ok(id) => notes.delete(owner, id).await.map(|deleted| {
                if deleted {
                    tracing::info!(note = id, by = %written_by(context), "note deleted");
                    structured(format!("Deleted note #{id}."), json!({"deleted": id}))
                } else {
                    no_such_note(id)
                }
            }),
        },
        _ => return None,
    };
    Some(outcome.unwrap_or_else(|error| {
        tracing::error!(%error, tool = name, "the notes database failed");
        CallToolResult::error("the notes store failed; try again later")
    }))
}

fn structured(text: String, content: Value) -> CallToolResult {
    let mut result = CallToolResult::text(text);
    result.structured_content = Some(content);
    result
}

/// Someone else's note and a missing one read the same.
fn no_such_note(id: i64) -> CallToolResult {
    CallToolResult::error(format!("you have no note #{id}"))
}

/// The `id` argument, the only one.
fn id_argument(arguments: &Map<String, Value>) -> Result<i64, CallToolResult> {
    if let Some(error) = unexpected(arguments, &["id"]) {
        return Err(error);
    }
    arguments.get("id").and_then(Value::as_i64).ok_or_else(|| CallToolResult::error("id must be an integer"))
}

/// `title` and `body`, within their limits.
fn note_arguments(arguments: &Map<String, Value>) -> Result<(&str, &str), CallToolResult> {
    if let Some(error) = unexpected(arguments, &["title", "body"]) {
        return Err(error);
    }
    let text = |name: &str| arguments.get(name).and_then(Value::as_str);
    let (Some(title), Some(body)) = (text("title"), text("body")) else {
        return Err(CallToolResult::error("title and body must be strings"));
    };
    if title.trim().is_empty() || title.chars().count() > MAX_TITLE {
        return Err(CallToolResult::error(format!("title must be 1 to {MAX_TITLE} characters")));
    }
    if body.chars().count() > MAX_BODY {
        return Err(CallToolResult::error(format!("body must be at most {MAX_BODY} characters")));
    }
    Ok((title, body))
}

/// Who is writing: the token's client, then each actor that passed the call on, in the order
/// the call travelled (the RFC 8693 `act` chain lists the current actor first).
fn written_by(context: &CallContext<'_>) -> String {
    let claims = &context.token.claims;
    let mut actors: Vec<&str> = claims.actors().map(|a| a.sub.as_str()).collect();
    actors.reverse();
    std::iter::once(claims.client_id.as_str()).chain(actors).collect::<Vec<_>>().join(" via ")
}
