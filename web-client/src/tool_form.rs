//! A form for an MCP tool, built from its input schema: a text field per string property, a
//! number field per number or integer, a checkbox per boolean, a JSON field for anything else.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos::task::spawn_local;
use protocol::mcp::Tool;
use serde_json::{Map, Value};

use crate::flow::{self, Call};
use crate::state::AppState;

/// One input of the form.
#[derive(Debug, Clone, PartialEq)]
struct Field {
    name: String,
    kind: String,
    description: Option<String>,
    required: bool,
}

fn fields(schema: &Value) -> Vec<Field> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|properties| {
            properties
                .iter()
                .map(|(name, property)| Field {
                    name: name.clone(),
                    kind: property.get("type").and_then(Value::as_str).unwrap_or("string").to_owned(),
                    description: property.get("description").and_then(Value::as_str).map(str::to_owned),
                    required: required.contains(&name.as_str()),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Turns what was typed into the arguments object, by the schema's types. Empty optional fields
/// are left out.
fn arguments(fields: &[Field], values: &BTreeMap<String, String>) -> Result<Map<String, Value>, String> {
    let mut arguments = Map::new();
    for field in fields {
        let raw = values.get(&field.name).map(String::as_str).unwrap_or("");
        let value = match field.kind.as_str() {
            "boolean" => Value::Bool(raw == "true"),
            _ if raw.is_empty() && !field.required => continue,
            "string" => Value::String(raw.to_owned()),
            "integer" => raw
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| format!("{} must be an integer", field.name))?,
            "number" => {
                raw.parse::<f64>().map(Value::from).map_err(|_| format!("{} must be a number", field.name))?
            }
            _ => serde_json::from_str(raw).map_err(|_| format!("{} must be JSON", field.name))?,
        };
        arguments.insert(field.name.clone(), value);
    }
    Ok(arguments)
}

#[component]
pub fn ToolForm(tool: Tool) -> impl IntoView {
    let app = use_context::<AppState>().expect("AppState is provided by App");
    let fields = fields(&tool.input_schema);
    let values = RwSignal::new(BTreeMap::<String, String>::new());
    let problem = RwSignal::new(None::<String>);
    let name = tool.name.clone();
    let submit_fields = fields.clone();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match arguments(&submit_fields, &values.get_untracked()) {
            Ok(arguments) => {
                problem.set(None);
                let call = Call::CallTool { url: app.mcp_url.get_untracked(), tool: name.clone(), arguments };
                spawn_local(flow::run(app, call));
            }
            Err(why) => problem.set(Some(why)),
        }
    };
    let form_id = format!("tool-{}", tool.name);
    let button_id = format!("call-tool-{}", tool.name);
    view! {
        <form class="tool" id=form_id on:submit=submit>
            <h3>{tool.title.clone().unwrap_or_else(|| tool.name.clone())} " " <code>{tool.name.clone()}</code></h3>
            {tool.description.clone().map(|d| view! { <p class="detail">{d}</p> })}
            {fields.into_iter().map(|field| {
                let id = format!("tool-{}-{}", tool.name, field.name);
                let key = field.name.clone();
                let label = format!("{}{}", field.name, if field.required { " (required)" } else { "" });
                let description = field.description.clone();
                if field.kind == "boolean" {
                    view! {
                        <div class="check">
                            <input id=id.clone() type="checkbox"
                                on:change=move |ev| {
                                    let checked = event_target_checked(&ev);
                                    values.update(|v| { v.insert(key.clone(), checked.to_string()); });
                                }/>
                            <label for=id>{label}</label>
                        </div>
                    }.into_any()
                } else {
                    let kind = if matches!(field.kind.as_str(), "number" | "integer") { "number" } else { "text" };
                    view! {
                        <label for=id.clone()>{label}</label>
                        <input id=id type=kind required=field.required
                            placeholder=description.unwrap_or_default()
                            on:input=move |ev| {
                                let value = event_target_value(&ev);
                                values.update(|v| { v.insert(key.clone(), value); });
                            }/>
                    }.into_any()
                }
            }).collect_view()}
            {move || problem.get().map(|p| view! { <p class="problem" role="alert">{p}</p> })}
            <div class="actions">
                <button id=button_id type="submit" disabled=move || app.busy.get()>"Call"</button>
            </div>
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn builds_arguments_by_the_schemas_types() {
        let schema = json!({
            "type": "object",
            "properties": {"text": {"type": "string"}, "n": {"type": "integer"}, "x": {"type": "number"},
                           "flag": {"type": "boolean"}, "opt": {"type": "string"}},
            "required": ["text", "n"]
        });
        let fields = fields(&schema);
        let values: BTreeMap<String, String> = [("text", "hi"), ("n", "3"), ("x", "1.5"), ("flag", "true")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into();
        let arguments = arguments(&fields, &values).unwrap();
        assert_eq!(Value::Object(arguments), json!({"text": "hi", "n": 3, "x": 1.5, "flag": true}));
        let bad: BTreeMap<String, String> =
            [("text", "hi"), ("n", "three")].map(|(k, v)| (k.to_owned(), v.to_owned())).into();
        assert!(super::arguments(&fields, &bad).is_err());
    }
}
