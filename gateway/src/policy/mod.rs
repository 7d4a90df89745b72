//! The gateway's policy: Cedar, validated strictly against the catalog's schema, and a decision
//! for every tool call.
//!
//! * **Loading** ([`Policies::load`]) parses the policy text and validates it in Cedar's strict
//!   mode against the schema of the tools that exist ([`schema`]): a policy naming an unknown
//!   tool, argument or attribute is refused with its file and line, and nothing is loaded.
//! * **Deciding** ([`Policies::decide`]): principal = the user (in their groups), action = the
//!   tool (in its group: `read`, `write`, `destructive`), resource = the tool (in its upstream),
//!   context = the call's typed arguments, the time, the client's address, the token's scopes and
//!   `auth_time`. **Any evaluation error is a Deny**: Cedar skips a policy whose evaluation errors,
//!   so an erroring `forbid` would otherwise let the call through.
//! * **Consent obligations**: a permitting policy may carry `@consent("once")` (ask the person
//!   every time) or `@consent("PT24H")` (an approval may be remembered that long). When several
//!   permits decide, the strictest obligation wins, and any one of them carrying an obligation
//!   imposes it.
//! * **Listing** ([`Policies::listable`]): a tool is listed unless a call would be denied whatever
//!   its arguments, so an argument-based denial still lists the tool.
//!
//! Every decision names the determining policies (by `@id` when they have one) and the policy
//! set's hash, for the audit record. [`reload`] keeps the policy in force and swaps it atomically
//! when its file changes.

pub mod reload;
pub mod schema;

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, Entity, EntityUid, PolicyId, PolicySet,
    Request, RestrictedExpression, Schema, ValidationMode, Validator,
};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::catalog::Catalog;
use schema::{ArgType, NAMESPACE, arguments_type, quoted};

/// A problem with a policy file, where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    /// 1-based; 0 when Cedar gave no position.
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// Why a policy set was refused: every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct Refused(pub Vec<Problem>);

/// What a permitting policy asks before the call may go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Consent {
    /// The person approves this call; nothing is remembered.
    Once,
    /// The person approves; the approval may be remembered this long.
    For(Duration),
}

impl Consent {
    /// `once`, or an ISO 8601 duration of days, hours, minutes and seconds (`PT24H`, `P1D`,
    /// `PT30M`).
    pub fn parse(value: &str) -> Option<Self> {
        if value == "once" {
            return Some(Consent::Once);
        }
        let rest = value.strip_prefix('P')?;
        let (days, time) = match rest.split_once('T') {
            Some((days, time)) => (days, time),
            None => (rest, ""),
        };
        let mut seconds: u64 = 0;
        if !days.is_empty() {
            seconds += days.strip_suffix('D')?.parse::<u64>().ok()?.checked_mul(86_400)?;
        }
        let mut number = String::new();
        let mut any = !days.is_empty();
        for c in time.chars() {
            match c {
                '0'..='9' => number.push(c),
                'H' | 'M' | 'S' => {
                    let n: u64 = number.parse().ok()?;
                    number.clear();
                    seconds = seconds.checked_add(n.checked_mul(match c {
                        'H' => 3600,
                        'M' => 60,
                        _ => 1,
                    })?)?;
                    any = true;
                }
                _ => return None,
            }
        }
        (any && number.is_empty() && seconds > 0).then_some(Consent::For(Duration::from_secs(seconds)))
    }

    /// Of two obligations, the one that asks more: `once` over any duration, a shorter over a
    /// longer.
    fn stricter(self, other: Self) -> Self {
        match (self, other) {
            (Consent::Once, _) | (_, Consent::Once) => Consent::Once,
            (Consent::For(a), Consent::For(b)) => Consent::For(a.min(b)),
        }
    }
}

/// Everything a decision is about.
#[derive(Debug, Clone)]
pub struct CallFacts<'a> {
    /// The user's `sub`.
    pub user: &'a str,
    pub groups: &'a [String],
    pub client_id: &'a str,
    /// The gateway's (prefixed) tool name.
    pub tool: &'a str,
    pub arguments: &'a Map<String, Value>,
    /// Unix seconds.
    pub time: i64,
    pub client_address: &'a str,
    pub scopes: &'a [String],
    /// Unix seconds; 0 when the token has none.
    pub auth_time: i64,
}

/// The outcome of one decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The policies that decided it (their `@id`, else Cedar's id).
    pub determining: Vec<String>,
    /// What a permit asks first; `None` when the call may go straight through (or is denied).
    pub consent: Option<Consent>,
    /// Evaluation errors; when there are any, the call is denied.
    pub errors: Vec<String>,
    /// The hash of the policy set that decided.
    pub policy_hash: String,
}

/// A validated policy set and the schema it was validated against.
#[derive(Debug, Clone)]
pub struct Policies {
    policies: PolicySet,
    /// Per tool, the policies whose action scope can match it (the rest could not be satisfied
    /// by a call of that tool, and Cedar would not even evaluate their conditions): a decision
    /// runs over these only, so its cost grows with the rules about one tool, not with all rules.
    by_tool: HashMap<String, PolicySet>,
    /// `@id` and `@consent` of each policy, read once at load (Cedar re-parses an annotation key
    /// on every lookup).
    annotations: HashMap<PolicyId, Annotations>,
    /// Each tool's arguments as Cedar types, from its input schema, once.
    argument_types: HashMap<String, ArgType>,
    schema: Schema,
    catalog: Catalog,
    hash: String,
}

#[derive(Debug, Clone, Default)]
struct Annotations {
    id: Option<String>,
    consent: Option<String>,
}

impl Policies {
    /// Parses `text` (read from `file`) and validates it strictly against `catalog`'s schema.
    pub fn load(file: &str, text: &str, catalog: &Catalog) -> Result<Self, Refused> {
        let problem = |offset: Option<usize>, message: String| Problem {
            file: file.to_owned(),
            line: offset.map_or(0, |o| line_of(text, o)),
            message,
        };
        let policies = PolicySet::from_str(text).map_err(|errors| {
            Refused(errors.iter().map(|e| problem(first_offset(e), e.to_string())).collect())
        })?;
        let schema_text = schema::render(catalog);
        let (schema, _warnings) = Schema::from_cedarschema_str(&schema_text).map_err(|e| {
            // The schema is generated; failing here is a bug, reported rather than panicking.
            Refused(vec![problem(None, format!("the tools' schema is not valid Cedar: {e}"))])
        })?;
        let validation = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
        let problems: Vec<Problem> =
            validation.validation_errors().map(|e| problem(first_offset(e), e.to_string())).collect();
        if !problems.is_empty() {
            return Err(Refused(problems));
        }
        let hash = Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        let annotations = policies
            .policies()
            .map(|p| {
                let read = |key: &str| p.annotation(key).map(str::to_owned);
                (p.id().clone(), Annotations { id: read("id"), consent: read("consent") })
            })
            .collect();
        let by_tool = slice_by_tool(&policies, catalog).map_err(|e| Refused(vec![problem(None, e)]))?;
        let argument_types =
            catalog.entries().map(|e| (e.name.clone(), arguments_type(&e.tool.input_schema))).collect();
        Ok(Self { policies, by_tool, annotations, argument_types, schema, catalog: catalog.clone(), hash })
    }

    /// The SHA-256 of the policy text, recorded with every decision.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    pub fn len(&self) -> usize {
        self.policies.policies().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The decision on a call. Unknown tools, arguments that do not fit the tool's types, and
    /// every evaluation error are a Deny.
    pub fn decide(&self, facts: &CallFacts<'_>) -> Decision {
        let denied = |errors: Vec<String>| Decision {
            allowed: false,
            determining: Vec::new(),
            consent: None,
            errors,
            policy_hash: self.hash.clone(),
        };
        let Some(types) = self.argument_types.get(facts.tool) else {
            return denied(vec![format!("no tool {:?}", facts.tool)]);
        };
        let arguments = match types.expression(&Value::Object(facts.arguments.clone())) {
            Ok(arguments) => arguments,
            Err(why) => return denied(vec![format!("the arguments do not fit the tool's types: {why}")]),
        };
        let context = Context::from_pairs([
            ("arguments".to_owned(), arguments),
            ("time".to_owned(), RestrictedExpression::new_long(facts.time)),
            ("client_address".to_owned(), RestrictedExpression::new_string(facts.client_address.to_owned())),
            (
                "scopes".to_owned(),
                RestrictedExpression::new_set(
                    facts.scopes.iter().map(|s| RestrictedExpression::new_string(s.clone())),
                ),
            ),
            ("auth_time".to_owned(), RestrictedExpression::new_long(facts.auth_time)),
        ]);
        let context = match context {
            Ok(context) => CallContext::Typed(context),
            Err(error) => return denied(vec![error.to_string()]),
        };
        match self.evaluate(facts, context) {
            Ok(decision) => decision,
            Err(error) => denied(vec![error]),
        }
    }

    /// Would a call of `facts.tool` be denied whatever its arguments? If not, the tool is listed.
    /// Evaluated without arguments: a policy that needs them errors, and an error here means "it
    /// depends on the arguments", not "denied".
    pub fn listable(&self, facts: &CallFacts<'_>) -> bool {
        if self.catalog.get(facts.tool).is_none() {
            return false;
        }
        let context = json!({
            "time": facts.time, "client_address": facts.client_address,
            "scopes": facts.scopes, "auth_time": facts.auth_time,
        });
        match self.run(facts, CallContext::Untyped(context)) {
            // Allowed, maybe with errors: some forbid needs the arguments to decide.
            Ok(outcome) if outcome.decision == CedarDecision::Allow => true,
            // Denied by a forbid that needs no arguments: hidden.
            Ok(outcome) if !outcome.reasons.is_empty() => false,
            // No permit applies; if one errored, it needs the arguments.
            Ok(outcome) => !outcome.errors.is_empty(),
            Err(_) => false,
        }
    }

    /// Runs Cedar on one request. `context` is checked against the schema only when it carries
    /// the arguments (a listing leaves them out on purpose); the entities always are, which is
    /// also what gives each tool's action its group.
    fn run(&self, facts: &CallFacts<'_>, context: CallContext) -> Result<Outcome, String> {
        let uid = |kind: &str, id: &str| {
            EntityUid::from_str(&format!("{NAMESPACE}::{kind}::{}", quoted(id))).map_err(|e| e.to_string())
        };
        let principal = uid("User", facts.user)?;
        let action = uid("Action", facts.tool)?;
        let resource = uid("Tool", facts.tool)?;
        let (context, schema) = match context {
            // Checked against the action's context type by `Request::new`.
            CallContext::Typed(context) => (context, Some(&self.schema)),
            CallContext::Untyped(json) => {
                (Context::from_json_value(json, None).map_err(|e| e.to_string())?, None)
            }
        };
        let request = Request::new(principal.clone(), action, resource.clone(), context, schema)
            .map_err(|e| e.to_string())?;

        let groups: HashSet<EntityUid> =
            facts.groups.iter().map(|g| uid("Group", g)).collect::<Result<_, _>>()?;
        let mut entities: Vec<Entity> =
            groups.iter().map(|g| Entity::new_no_attrs(g.clone(), Default::default())).collect();
        let client = RestrictedExpression::new_string(facts.client_id.to_owned());
        entities.push(
            Entity::new(principal, [("client_id".to_owned(), client)].into(), groups)
                .map_err(|e| e.to_string())?,
        );
        let upstream = self.catalog.get(facts.tool).map(|e| e.upstream.clone()).unwrap_or_default();
        let upstream = uid("Upstream", &upstream)?;
        entities.push(Entity::new_no_attrs(upstream.clone(), Default::default()));
        entities.push(Entity::new_no_attrs(resource, [upstream].into()));
        let entities = Entities::from_entities(entities, Some(&self.schema)).map_err(|e| e.to_string())?;

        let policies = self.by_tool.get(facts.tool).unwrap_or(&self.policies);
        let response = Authorizer::new().is_authorized(&request, policies, &entities);
        Ok(Outcome {
            decision: response.decision(),
            reasons: response.diagnostics().reason().cloned().collect(),
            errors: response.diagnostics().errors().map(ToString::to_string).collect(),
        })
    }

    /// Cedar's answer made the gateway's decision: any error denies; the obligations of the
    /// determining permits apply.
    fn evaluate(&self, facts: &CallFacts<'_>, context: CallContext) -> Result<Decision, String> {
        let Outcome { decision, reasons, errors } = self.run(facts, context)?;
        let allowed = decision == CedarDecision::Allow && errors.is_empty();
        let mut consent: Option<Consent> = None;
        let mut obligation_errors = Vec::new();
        if allowed {
            for id in &reasons {
                if let Some(value) = self.annotations.get(id).and_then(|a| a.consent.as_deref()) {
                    match Consent::parse(value) {
                        Some(asked) => consent = Some(consent.map_or(asked, |c| c.stricter(asked))),
                        None => obligation_errors
                            .push(format!("policy {id}: @consent({value:?}) is not \"once\" or a duration")),
                    }
                }
            }
        }
        let determining = reasons.iter().map(|id| self.display_id(id)).collect();
        if !obligation_errors.is_empty() {
            return Ok(Decision {
                allowed: false,
                determining,
                consent: None,
                errors: obligation_errors,
                policy_hash: self.hash.clone(),
            });
        }
        Ok(Decision {
            allowed,
            determining,
            consent: if allowed { consent } else { None },
            errors,
            policy_hash: self.hash.clone(),
        })
    }

    /// A policy's `@id`, else Cedar's own id.
    fn display_id(&self, id: &PolicyId) -> String {
        self.annotations.get(id).and_then(|a| a.id.clone()).unwrap_or_else(|| id.to_string())
    }
}

/// For each tool of `catalog`, the policies whose action scope can match a call of it: any action,
/// the tool's own action, or its group's action (the only action hierarchy the schema has).
fn slice_by_tool(policies: &PolicySet, catalog: &Catalog) -> Result<HashMap<String, PolicySet>, String> {
    use cedar_policy::ActionConstraint;
    let uid = |id: &str| {
        EntityUid::from_str(&format!("{NAMESPACE}::Action::{}", quoted(id))).map_err(|e| e.to_string())
    };
    let mut by_tool = HashMap::new();
    for entry in catalog.entries() {
        let (own, group) = (uid(&entry.name)?, uid(entry.group.as_str())?);
        let mut slice = PolicySet::new();
        for policy in policies.policies() {
            let applies = match policy.action_constraint() {
                ActionConstraint::Any => true,
                ActionConstraint::Eq(action) => action == own,
                ActionConstraint::In(actions) => actions.iter().any(|a| *a == own || *a == group),
            };
            if applies {
                slice.add(policy.clone()).map_err(|e| e.to_string())?;
            }
        }
        by_tool.insert(entry.name.clone(), slice);
    }
    Ok(by_tool)
}

/// A request's context: a call's, with its typed arguments, checked against the schema; or a
/// listing's, without them, not checked (a policy that needs the arguments then errors, which for a
/// listing means "it depends").
enum CallContext {
    Typed(Context),
    Untyped(Value),
}

/// What Cedar answered.
struct Outcome {
    decision: CedarDecision,
    reasons: Vec<PolicyId>,
    errors: Vec<String>,
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len())).map_or(1, |before| before.matches('\n').count() + 1)
}

/// Where Cedar says a problem is: the first labelled span.
fn first_offset(diagnostic: &dyn miette::Diagnostic) -> Option<usize> {
    diagnostic.labels().and_then(|mut labels| labels.next()).map(|label| label.offset())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Group, UpstreamTools};
    use std::collections::BTreeMap;

    fn catalog() -> Catalog {
        let tool = |name: &str| -> protocol::mcp::Tool {
            serde_json::from_value(json!({"name": name, "inputSchema": {"type": "object"}})).unwrap()
        };
        let upstreams = BTreeMap::from([(
            "n".to_owned(),
            UpstreamTools {
                groups: BTreeMap::from([
                    ("list".to_owned(), Group::Read),
                    ("wipe".to_owned(), Group::Destructive),
                ]),
                tools: vec![tool("list"), tool("wipe")],
                ..Default::default()
            },
        )]);
        Catalog::build(&upstreams).0
    }

    #[test]
    fn each_tool_is_decided_over_the_policies_that_can_apply_to_it_only() {
        let text = r#"
            @id("any") permit(principal, action, resource);
            @id("reads") permit(principal, action in Gateway::Action::"read", resource);
            @id("wipe") forbid(principal, action == Gateway::Action::"n__wipe", resource);
            @id("either") permit(principal, action in [Gateway::Action::"n__wipe", Gateway::Action::"destructive"], resource);
        "#;
        let policies = Policies::load("p.cedar", text, &catalog()).unwrap();
        let ids = |tool: &str| -> Vec<String> {
            let mut ids: Vec<String> =
                policies.by_tool[tool].policies().map(|p| p.annotation("id").unwrap().to_owned()).collect();
            ids.sort();
            ids
        };
        assert_eq!(ids("n__list"), ["any", "reads"]);
        assert_eq!(ids("n__wipe"), ["any", "either", "wipe"]);
        // And the decisions are what the whole set says.
        let no_arguments = Map::new();
        let facts = |tool| CallFacts {
            user: "u",
            groups: &[],
            client_id: "c",
            tool,
            arguments: &no_arguments,
            time: 0,
            client_address: "127.0.0.1",
            scopes: &[],
            auth_time: 0,
        };
        assert!(policies.decide(&facts("n__list")).allowed);
        let wipe = policies.decide(&facts("n__wipe"));
        assert!(!wipe.allowed && wipe.determining == ["wipe"], "{wipe:?}");
    }
}
