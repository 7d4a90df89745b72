//! The Cedar schema of a catalog, so that policies are validated strictly against the tools that
//! really exist and the arguments they really take.
//!
//! ```text
//! namespace Gateway {
//!   entity Group;
//!   entity User in [Group] = { "client_id": String };
//!   entity Upstream;
//!   entity Tool in [Upstream];
//!   action "read"; action "write"; action "destructive";
//!   action "notes__delete_note" in [Action::"destructive"] appliesTo {
//!     principal: User, resource: Tool,
//!     context: { "arguments": { "id": Long }, "time": Long, "client_address": String,
//!                "scopes": Set<String>, "auth_time": Long }
//!   };
//! }
//! ```
//!
//! A tool's arguments become a record typed from its `inputSchema`: `string` → `String`,
//! `integer` → `Long`, `boolean` → `Bool`, `array` → `Set` of its items, `object` → a record of
//! its properties (required ones required). What Cedar cannot type faithfully (`number`, unions,
//! untyped values) is left out, so a policy naming it is refused at validation rather than
//! silently never matching.

use serde_json::Value;

use crate::catalog::{Catalog, Group};

/// Cedar's namespace for everything of the gateway.
pub const NAMESPACE: &str = "Gateway";
/// How deep argument records are typed; deeper values are left out.
const MAX_DEPTH: usize = 8;

/// A Cedar type, as the schema and the request builder need it.
#[derive(Debug, Clone, PartialEq)]
pub enum ArgType {
    String,
    Long,
    Bool,
    Set(Box<ArgType>),
    Record(Vec<Field>),
}

/// A record attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub required: bool,
    pub ty: ArgType,
}

impl ArgType {
    /// The type of a JSON Schema, if Cedar can hold it faithfully.
    pub fn from_json_schema(schema: &Value) -> Option<Self> {
        Self::at_depth(schema, 0)
    }

    fn at_depth(schema: &Value, depth: usize) -> Option<Self> {
        if depth > MAX_DEPTH {
            return None;
        }
        match schema.get("type").and_then(Value::as_str)? {
            "string" => Some(ArgType::String),
            "integer" => Some(ArgType::Long),
            "boolean" => Some(ArgType::Bool),
            "array" => Some(ArgType::Set(Box::new(Self::at_depth(schema.get("items")?, depth + 1)?))),
            "object" => Some(ArgType::Record(Self::fields(schema, depth))),
            _ => None,
        }
    }

    /// The properties of an object schema Cedar can type.
    fn fields(schema: &Value, depth: usize) -> Vec<Field> {
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
            return Vec::new();
        };
        let mut fields: Vec<Field> = properties
            .iter()
            .filter(|(name, _)| is_attribute_name(name))
            .filter_map(|(name, property)| {
                Some(Field {
                    name: name.clone(),
                    required: required.contains(&name.as_str()),
                    ty: Self::at_depth(property, depth + 1)?,
                })
            })
            .collect();
        // By name, so the schema (and its hash in logs) does not depend on JSON key order.
        fields.sort_by(|a, b| a.name.cmp(&b.name));
        fields
    }

    /// The type in Cedar schema syntax.
    fn render(&self) -> String {
        match self {
            ArgType::String => "String".into(),
            ArgType::Long => "Long".into(),
            ArgType::Bool => "Bool".into(),
            ArgType::Set(item) => format!("Set<{}>", item.render()),
            ArgType::Record(fields) => {
                let fields: Vec<String> = fields
                    .iter()
                    .map(|f| {
                        format!("{}{}: {}", quoted(&f.name), if f.required { "" } else { "?" }, f.ty.render())
                    })
                    .collect();
                format!("{{ {} }}", fields.join(", "))
            }
        }
    }

    /// `value` as a Cedar value of this type, the declared record attributes only; a value of
    /// another type is an error (which denies the call). Built directly rather than parsed from
    /// JSON: Cedar's JSON reader was the costliest step of a decision.
    pub fn expression(&self, value: &Value) -> Result<cedar_policy::RestrictedExpression, String> {
        use cedar_policy::RestrictedExpression as E;
        match (self, value) {
            (ArgType::String, Value::String(text)) => Ok(E::new_string(text.clone())),
            (ArgType::Long, Value::Number(number)) => {
                number.as_i64().map(E::new_long).ok_or_else(|| format!("{number} is not a 64-bit integer"))
            }
            (ArgType::Bool, Value::Bool(flag)) => Ok(E::new_bool(*flag)),
            (ArgType::Set(item), Value::Array(items)) => {
                Ok(E::new_set(items.iter().map(|v| item.expression(v)).collect::<Result<Vec<_>, _>>()?))
            }
            (ArgType::Record(fields), Value::Object(object)) => record_expression(fields, object),
            (expected, got) => Err(format!("expected {}, got {got}", expected.render())),
        }
    }

    /// [`ArgType::expression`] of `Value::Object(object)`, without building that value: how a
    /// call's arguments are given.
    pub fn object_expression(
        &self,
        object: &serde_json::Map<String, Value>,
    ) -> Result<cedar_policy::RestrictedExpression, String> {
        match self {
            ArgType::Record(fields) => record_expression(fields, object),
            expected => Err(format!("expected {}, got {}", expected.render(), Value::Object(object.clone()))),
        }
    }
}

fn record_expression(
    fields: &[Field],
    object: &serde_json::Map<String, Value>,
) -> Result<cedar_policy::RestrictedExpression, String> {
    let mut attributes = Vec::new();
    for field in fields {
        match object.get(&field.name) {
            Some(v) => {
                let typed = field.ty.expression(v).map_err(|e| format!("argument {:?}: {e}", field.name))?;
                attributes.push((field.name.clone(), typed));
            }
            None if field.required => {
                return Err(format!("argument {:?} is missing", field.name));
            }
            None => {}
        }
    }
    cedar_policy::RestrictedExpression::new_record(attributes).map_err(|e| e.to_string())
}

/// The first argument `value` carries that `schema` closes out (`"additionalProperties": false`
/// on its object, or on an object within it reached through `properties` or `items`), as a path
/// (`"opts"."extra"`). The policy sees declared arguments only; one the tool's own schema forbids
/// is refused instead of passed on unseen, since an upstream that took it after all would act on
/// what no policy read.
pub fn undeclared_argument(schema: &Value, arguments: &serde_json::Map<String, Value>) -> Option<String> {
    undeclared_in(schema, arguments, 0)
}

fn undeclared_in(schema: &Value, object: &serde_json::Map<String, Value>, depth: usize) -> Option<String> {
    let properties = schema.get("properties").and_then(Value::as_object);
    // `patternProperties` admits names beyond `properties`; matching its regular expressions is
    // the upstream's business, so such an object counts as open here.
    let closed = schema.get("additionalProperties") == Some(&Value::Bool(false))
        && schema.get("patternProperties").is_none();
    for (name, item) in object {
        match properties.and_then(|p| p.get(name)) {
            Some(property) => {
                if let Some(inner) = undeclared_at(property, item, depth + 1) {
                    return Some(format!("{name:?}.{inner}"));
                }
            }
            None if closed => return Some(format!("{name:?}")),
            None => {}
        }
    }
    None
}

fn undeclared_at(schema: &Value, value: &Value, depth: usize) -> Option<String> {
    if depth > MAX_DEPTH {
        return None;
    }
    match value {
        Value::Object(object) => undeclared_in(schema, object, depth),
        Value::Array(items) => {
            let item_schema = schema.get("items")?;
            items.iter().find_map(|item| undeclared_at(item_schema, item, depth + 1))
        }
        _ => None,
    }
}

/// Attribute names the schema can carry: printable, no control characters, not too long.
fn is_attribute_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 128 && !name.chars().any(char::is_control)
}

/// A Cedar string literal.
pub fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The arguments record of a tool (empty when its schema is not an object).
pub fn arguments_type(input_schema: &Value) -> ArgType {
    match ArgType::from_json_schema(input_schema) {
        Some(record @ ArgType::Record(_)) => record,
        _ => ArgType::Record(Vec::new()),
    }
}

/// The Cedar schema (in Cedar's schema syntax) of `catalog`.
pub fn render(catalog: &Catalog) -> String {
    let mut out = format!(
        "namespace {NAMESPACE} {{\n  entity Group;\n  entity User in [Group] = {{ \"client_id\": String, \"client_registration\": String }};\n  \
         entity Upstream;\n  entity Tool in [Upstream];\n"
    );
    for group in Group::ALL {
        out.push_str(&format!("  action {};\n", quoted(group.as_str())));
    }
    for entry in catalog.entries() {
        out.push_str(&format!(
            "  action {} in [Action::{}] appliesTo {{\n    principal: User, resource: Tool,\n    context: {{ \
             \"arguments\": {}, \"time\": Long, \"client_address\": String, \"scopes\": Set<String>, \
             \"auth_time\": Long }}\n  }};\n",
            quoted(&entry.name),
            quoted(entry.group.as_str()),
            arguments_type(&entry.tool.input_schema).render(),
        ));
    }
    out.push_str("}\n");
    out
}

/// A schema of the names of `catalog` only: its tools and its upstreams as the only entities of
/// their types (Cedar's enumerated entity types), no actions. Cedar's validator checks an entity
/// literal of an enumerated type against its choices and says where it stands; validating against
/// this schema, and keeping those errors only, finds every `Gateway::Tool::"…"` and
/// `Gateway::Upstream::"…"` that names nothing, which the schema of [`render`] cannot (its tools
/// and upstreams must be open types: a tool is in its upstream, and an enumerated type cannot be).
/// A catalog without tools gets the choice `""`, which no upstream or tool can be called (Cedar
/// wants at least one).
pub fn render_names(catalog: &Catalog) -> String {
    let choices = |names: std::collections::BTreeSet<&str>| -> String {
        if names.is_empty() {
            return quoted("");
        }
        names.into_iter().map(quoted).collect::<Vec<_>>().join(", ")
    };
    let tools = choices(catalog.entries().map(|e| e.name.as_str()).collect());
    let upstreams = choices(catalog.entries().map(|e| e.upstream.as_str()).collect());
    format!(
        "namespace {NAMESPACE} {{\n  entity Group;\n  entity User in [Group];\n  \
         entity Upstream enum [{upstreams}];\n  entity Tool enum [{tools}];\n}}\n"
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_schema_types_map_to_cedar_types_and_the_rest_is_left_out() {
        let schema = json!({
            "type": "object",
            "properties": {
                "id": {"type": "integer"}, "title": {"type": "string"}, "force": {"type": "boolean"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "where": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
                "ratio": {"type": "number"}, "either": {"type": ["string", "null"]}, "untyped": {},
                "we\"ird": {"type": "string"}
            },
            "required": ["id", "ratio"]
        });
        assert_eq!(
            arguments_type(&schema).render(),
            "{ \"force\"?: Bool, \"id\": Long, \"tags\"?: Set<String>, \"title\"?: String, \
             \"we\\\"ird\"?: String, \"where\"?: { \"path\": String } }"
        );
        assert_eq!(arguments_type(&json!({"type": "string"})), ArgType::Record(Vec::new()));
    }

    #[test]
    fn an_argument_a_closed_schema_does_not_declare_is_found_at_any_depth() {
        let schema = json!({"type": "object", "additionalProperties": false, "properties": {
            "text": {"type": "string"},
            "opts": {"type": "object", "additionalProperties": false, "properties": {"a": {"type": "string"}}},
            "open": {"type": "object", "properties": {}},
            "list": {"type": "array", "items": {"type": "object", "additionalProperties": false,
                                                "properties": {"n": {"type": "integer"}}}}
        }});
        let found = |arguments: Value| undeclared_argument(&schema, arguments.as_object().unwrap());
        assert_eq!(found(json!({"text": "hi", "opts": {"a": "x"}, "list": [{"n": 1}]})), None);
        assert_eq!(found(json!({"open": {"anything": 1}})), None, "an open object takes anything");
        assert_eq!(found(json!({"text": "hi", "extra": 1})).as_deref(), Some("\"extra\""));
        assert_eq!(found(json!({"opts": {"a": "x", "b": 1}})).as_deref(), Some("\"opts\".\"b\""));
        assert_eq!(found(json!({"list": [{"n": 1}, {"m": 2}]})).as_deref(), Some("\"list\".\"m\""));
        // Without `additionalProperties: false` an extra argument is the upstream's to judge, and
        // so is one `patternProperties` may admit.
        let open = json!({"type": "object", "properties": {"text": {"type": "string"}}});
        assert_eq!(undeclared_argument(&open, json!({"extra": 1}).as_object().unwrap()), None);
        let patterned = json!({"type": "object", "additionalProperties": false,
                               "patternProperties": {"^x-": {"type": "string"}}});
        assert_eq!(undeclared_argument(&patterned, json!({"x-tag": "a"}).as_object().unwrap()), None);
    }

    #[test]
    fn undeclared_arguments_are_dropped_before_policies_see_them() {
        let ty = arguments_type(&json!({"type": "object", "properties": {
            "id": {"type": "integer"}, "opts": {"type": "object", "properties": {"a": {"type": "string"}}}
        }}));
        let typed = ty.expression(&json!({"id": 3, "extra": true, "opts": {"a": "x", "b": 1}})).unwrap();
        let expected = ty.expression(&json!({"id": 3, "opts": {"a": "x"}})).unwrap();
        assert_eq!(format!("{typed:?}"), format!("{expected:?}"));
        assert!(
            ty.expression(&json!({"id": "three"})).unwrap_err().contains("expected Long"),
            "a wrong type fails"
        );
    }

    #[test]
    fn deep_schemas_are_bounded() {
        let mut schema = json!({"type": "string"});
        for _ in 0..20 {
            schema = json!({"type": "object", "properties": {"x": schema}});
        }
        let rendered = arguments_type(&schema).render();
        assert!(rendered.matches('{').count() <= MAX_DEPTH + 1, "{rendered}");
    }
}
