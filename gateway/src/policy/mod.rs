//! The gateway's policy: Cedar, validated strictly against the catalog's schema, and a decision
//! for every tool call.
//!
//! * **Loading** ([`Policies::load`]) parses the policy text and validates it in Cedar's strict
//!   mode against the schema of the tools that exist ([`schema`]): a policy naming an unknown
//!   tool, argument or attribute is refused with its file and line, and nothing is loaded. So is
//!   what Cedar's validation lets through and the gateway would otherwise ignore (`checks.rs`): an
//!   entity literal of a tool or an upstream the catalog does not have, an annotation other than
//!   `@id` and `@consent`, a `@consent` that does not read or stands on a `forbid`, a template.
//! * **Deciding** ([`Policies::decide`]): principal = the user (in their groups), action = the
//!   tool (in its group: `read`, `write`, `destructive`), resource = the tool (in its upstream),
//!   context = the call's typed arguments, the time, the client's address, the token's scopes and
//!   `auth_time`. **Any evaluation error is a Deny**: Cedar skips a policy whose evaluation errors,
//!   so an erroring `forbid` would otherwise let the call through. The determining policies of such
//!   a denial are the ones that errored.
//! * **Consent obligations**: a permitting policy may carry `@consent("once")` (ask the person
//!   every time) or `@consent("PT24H")` (an approval may be remembered that long), read at load.
//!   When several permits decide, the strictest obligation wins, and any one of them carrying an
//!   obligation imposes it.
//! * **Listing** ([`Policies::listable`]): a tool is listed unless a call would be denied whatever
//!   its arguments, so an argument-based denial still lists the tool.
//!
//! Every decision names the determining policies (by `@id` when they have one) and the policy
//! set's hash, for the audit record. [`reload`] keeps the policy in force and swaps it atomically
//! when its file changes.

mod checks;
mod index;
mod memo;
pub mod reload;
pub mod schema;
mod source;

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use cedar_policy::{
    AuthorizationError, Authorizer, Context, Decision as CedarDecision, Entities, Entity, EntityId,
    EntityTypeName, EntityUid, EvaluationError, PolicyId, PolicySet, Request, RestrictedExpression, Schema,
    ValidationMode, Validator,
};
use protocol::scope::Scopes;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::catalog::{Catalog, Entry};
use checks::About;
use index::{Caller, Index};
use memo::Memo;
use schema::{ArgType, NAMESPACE, arguments_type};

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
    /// `once`, or an ISO 8601 duration of days, hours, minutes and seconds: `P` then `nD`, then
    /// `T` and at least one of `nH`, `nM`, `nS` in that order (`PT24H`, `P1D`, `PT30M`,
    /// `P1DT12H`). Each unit at most once, no sign, no fraction, no `T` without a time after it;
    /// years, months and weeks are not durations of fixed length and are not read. The whole
    /// must be more than zero seconds and fit in 64 bits.
    pub fn parse(value: &str) -> Option<Self> {
        if value == "once" {
            return Some(Consent::Once);
        }
        let rest = value.strip_prefix('P')?;
        let (days, time) = match rest.split_once('T') {
            Some((_, "")) => return None,
            Some((days, time)) => (days, time),
            None => (rest, ""),
        };
        if days.is_empty() && time.is_empty() {
            return None;
        }
        let seconds =
            units(days, &[('D', 86_400)])?.checked_add(units(time, &[('H', 3600), ('M', 60), ('S', 1)])?)?;
        (seconds > 0).then_some(Consent::For(Duration::from_secs(seconds)))
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

/// The seconds of `text`, a run of `<digits><unit>` with each unit of `allowed` at most once and in
/// its order (`1H30M`, not `30M1H` nor `1H1H`); `None` for anything else or an overflow.
fn units(mut text: &str, mut allowed: &[(char, u64)]) -> Option<u64> {
    let mut seconds: u64 = 0;
    while !text.is_empty() {
        let digits = text.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let unit = text[digits..].chars().next()?;
        let at = allowed.iter().position(|(u, _)| *u == unit)?;
        let n: u64 = text[..digits].parse().ok()?;
        seconds = seconds.checked_add(n.checked_mul(allowed[at].1)?)?;
        allowed = &allowed[at + 1..];
        text = &text[digits + unit.len_utf8()..];
    }
    Some(seconds)
}

/// The scopes a call of `entry` carries, as its policy sees them (`context.scopes`): the token's,
/// and the tool's own, which a client lacking them is asked to step up to (`403
/// insufficient_scope`) before the call goes through. A call, a listing and `policy explain` all
/// build them here, so they decide alike.
pub fn call_scopes(token: &Scopes, entry: &Entry) -> Vec<String> {
    match &entry.scopes {
        Some(needed) => token.union(needed).iter().map(str::to_owned).collect(),
        None => token.iter().map(str::to_owned).collect(),
    }
}

/// `principal.client_registration` when the token does not say how its client was registered
/// (issued before the AS said so, or by an AS that does not): no `==` on a known kind matches it.
pub const UNKNOWN_REGISTRATION: &str = "unknown";

/// Everything a decision is about.
#[derive(Debug, Clone)]
pub struct CallFacts<'a> {
    /// The user's `sub`.
    pub user: &'a str,
    pub groups: &'a [String],
    pub client_id: &'a str,
    /// How that client was registered at the AS (the token's `client_registration`:
    /// `preregistered`, `dynamic` or `metadata_document`), or [`UNKNOWN_REGISTRATION`].
    pub client_registration: &'a str,
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
    /// The policies that decided it (their `@id`, else Cedar's id): the permits that allow it; the
    /// forbids that deny it; else, when evaluation errors deny it, the policies that errored.
    pub determining: Vec<String>,
    /// What a permit asks first; `None` when the call may go straight through (or is denied).
    pub consent: Option<Consent>,
    /// Evaluation errors; when there are any, the call is denied.
    pub errors: Vec<String>,
    /// Why the arguments do not fit the tool's input schema, when they do not (the call is then
    /// denied before any policy is asked). The text may quote the arguments.
    pub invalid_arguments: Option<String>,
    /// The hash of the policy set that decided.
    pub policy_hash: String,
}

/// A validated policy set and the schema it was validated against.
#[derive(Debug, Clone)]
pub struct Policies {
    policies: PolicySet,
    /// Which policies can apply to a call ([`index`]): a decision runs over those only, so its
    /// cost grows with the rules that concern the call, not with all rules.
    index: Index,
    /// Cedar's entity types, named once (parsing a name costs more than the rest of a uid).
    types: EntityTypes,
    /// Per tool, the entities a call of it always has: its action (in its group's action) and the
    /// tool (in its upstream). Built and checked against the schema once, so that a call adds only
    /// the caller's and skips Cedar's schema check of the entities, which was a third of a
    /// decision.
    tool_entities: HashMap<String, Vec<Entity>>,
    /// `@id`, `@consent` and the effect of each policy, read once at load (Cedar re-parses an
    /// annotation key on every lookup).
    about: HashMap<PolicyId, About>,
    /// Each tool's arguments as Cedar types, from its input schema, once.
    argument_types: HashMap<String, ArgType>,
    schema: Schema,
    catalog: Catalog,
    hash: String,
    /// Per caller and tool, the call's entities; per choice of the index, the policy set
    /// ([`memo`]). Shared by clones, which hold the same policies.
    entities: Arc<Memo<String, Entities>>,
    policy_sets: Arc<Memo<Vec<usize>, PolicySet>>,
}

/// Most callers (user, groups, client, tool) whose entities are kept, and most choices of
/// policies whose set is kept. An entry is a caller's three entities, or copies of the chosen
/// policies (Cedar keeps each one's text with it): with policies of a few hundred bytes and tens
/// chosen per call, tens of MB at worst.
const MEMO_CAPACITY: usize = 4096;

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
        let types = EntityTypes::new().map_err(|e| Refused(vec![problem(None, e)]))?;
        let validation = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
        let mut problems: Vec<Problem> =
            validation.validation_errors().map(|e| problem(first_offset(e), e.to_string())).collect();
        let layout = source::Layout::scan(text);
        let mut found = checks::unknown_entities(&policies, catalog, &types, text, &layout)
            .map_err(|e| Refused(vec![problem(None, e)]))?;
        found.extend(checks::templates(&policies, &layout));
        let (about, wrong) = checks::abouts(&policies, &layout);
        found.extend(wrong);
        problems.extend(found.into_iter().map(|f| problem(f.offset, f.message)));
        if !problems.is_empty() {
            problems.sort_by_key(|p| p.line);
            return Err(Refused(problems));
        }
        let hash = text_hash(text);
        let index = Index::build(&policies, catalog, &types).map_err(|e| Refused(vec![problem(None, e)]))?;
        let tool_entities =
            tool_entities(catalog, &types, &schema).map_err(|e| Refused(vec![problem(None, e)]))?;
        let argument_types =
            catalog.entries().map(|e| (e.name.clone(), arguments_type(&e.tool.input_schema))).collect();
        Ok(Self {
            policies,
            index,
            types,
            tool_entities,
            about,
            argument_types,
            schema,
            catalog: catalog.clone(),
            hash,
            entities: Arc::new(Memo::new(MEMO_CAPACITY)),
            policy_sets: Arc::new(Memo::new(MEMO_CAPACITY)),
        })
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
        self.decide_over(facts, Selection::Indexed)
    }

    fn decide_over(&self, facts: &CallFacts<'_>, selection: Selection) -> Decision {
        let denied = |errors: Vec<String>| Decision {
            allowed: false,
            determining: Vec::new(),
            consent: None,
            errors,
            invalid_arguments: None,
            policy_hash: self.hash.clone(),
        };
        let Some(types) = self.argument_types.get(facts.tool) else {
            return denied(vec![format!("no tool {:?}", facts.tool)]);
        };
        let closed_out = self
            .catalog
            .get(facts.tool)
            .and_then(|entry| schema::undeclared_argument(&entry.tool.input_schema, facts.arguments));
        let typed = match closed_out {
            Some(path) => Err(format!("argument {path} is not one the tool's input schema allows")),
            None => types.object_expression(facts.arguments),
        };
        let arguments = match typed {
            Ok(arguments) => arguments,
            Err(why) => {
                let error = format!("the arguments do not fit the tool's types: {why}");
                return Decision { invalid_arguments: Some(why), ..denied(vec![error]) };
            }
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
        match self.evaluate(facts, context, selection) {
            Ok(decision) => decision,
            Err(error) => denied(vec![error]),
        }
    }

    /// Would a call of `facts.tool` be denied whatever its arguments? If not, the tool is listed.
    /// Evaluated without arguments: a policy that reads them errors, and such an error means "it
    /// depends on the arguments", not "denied".
    pub fn listable(&self, facts: &CallFacts<'_>) -> bool {
        self.listable_over(facts, Selection::Indexed)
    }

    fn listable_over(&self, facts: &CallFacts<'_>, selection: Selection) -> bool {
        if self.catalog.get(facts.tool).is_none() {
            return false;
        }
        let context = json!({
            "time": facts.time, "client_address": facts.client_address,
            "scopes": facts.scopes, "auth_time": facts.auth_time,
        });
        let Ok(outcome) = self.run(facts, CallContext::Untyped(context), selection) else {
            return false;
        };
        // A call differs from this request by its arguments only, and Cedar evaluates a policy the
        // same way up to where it reads them: an error met before that is met by every call, and
        // any error is a Deny.
        if outcome.errors.iter().any(|e| !e.lacks_arguments) {
            return false;
        }
        match outcome.decision {
            // A permit applies; a forbid that errored reads the arguments, which decide.
            CedarDecision::Allow => true,
            // A forbid that needs no arguments applies: hidden.
            CedarDecision::Deny if !outcome.reasons.is_empty() => false,
            // No permit applies: listed only if one that reads the arguments may (a forbid that
            // reads them can only deny).
            CedarDecision::Deny => outcome.errors.iter().any(|e| self.is_permit(&e.policy)),
        }
    }

    fn is_permit(&self, id: &PolicyId) -> bool {
        self.about.get(id).is_some_and(|about| about.permit)
    }

    /// Runs Cedar on one request, over the policies `selection` gives it (see [`Selection`]).
    fn run(
        &self,
        facts: &CallFacts<'_>,
        context: CallContext,
        selection: Selection,
    ) -> Result<Outcome, String> {
        let uid = |kind: &EntityTypeName, id: &str| self.types.uid(kind, id);
        let principal = uid(&self.types.user, facts.user);
        let action = uid(&self.types.action, facts.tool);
        let resource = uid(&self.types.tool, facts.tool);
        let arguments = match &context {
            CallContext::Typed(_) => Some(facts.arguments),
            CallContext::Untyped(_) => None,
        };
        let (context, schema) = match context {
            // Built by `ArgType::expression` from the types the schema was rendered from, so it
            // fits the action's context type by construction: checking it again against the
            // schema was a tenth of a decision. The reference path of the tests checks it.
            CallContext::Typed(context) => (context, selection.checks().then_some(&self.schema)),
            CallContext::Untyped(json) => {
                (Context::from_json_value(json, None).map_err(|e| e.to_string())?, None)
            }
        };
        let request = Request::new(principal.clone(), action, resource.clone(), context, schema)
            .map_err(|e| e.to_string())?;

        let groups: HashSet<EntityUid> = facts.groups.iter().map(|g| uid(&self.types.group, g)).collect();
        let group_list: Vec<EntityUid> = groups.iter().cloned().collect();
        // The groups need no entity of their own: `in` reads the principal's ancestors, and a
        // group has no attributes and no parents. (Cedar's transitive closure over the entities
        // is the costliest step left of a decision, so fewer entities is faster.)
        let user = || {
            let client = RestrictedExpression::new_string(facts.client_id.to_owned());
            let registration = RestrictedExpression::new_string(facts.client_registration.to_owned());
            let attributes =
                [("client_id".to_owned(), client), ("client_registration".to_owned(), registration)];
            Entity::new(principal.clone(), attributes.into(), groups.clone()).map_err(|e| e.to_string())
        };
        let no_tool = || format!("no tool {:?}", facts.tool);

        let (selected, entities) = match selection {
            Selection::Indexed => {
                let caller = Caller {
                    principal: &principal,
                    groups: &group_list,
                    client_id: facts.client_id,
                    client_address: facts.client_address,
                    arguments,
                };
                let chosen = self.index.select(facts.tool, &caller).ok_or_else(no_tool)?;
                let selected =
                    self.policy_sets.get_or_build(chosen.as_slice(), || self.index.policy_set(&chosen))?;
                let caller_key = memo::key(
                    [facts.tool, facts.user, facts.client_id, facts.client_registration]
                        .into_iter()
                        .chain(facts.groups.iter().map(String::as_str)),
                );
                let entities = self.entities.get_or_build(caller_key.as_str(), || {
                    let mut entities = vec![user()?];
                    entities.extend(self.tool_entities.get(facts.tool).ok_or_else(no_tool)?.iter().cloned());
                    // The caller's entity is built just above, of the schema's types and
                    // attributes, and the tool's were checked by `load`: no check per call.
                    Entities::from_entities(entities, None).map_err(|e| e.to_string())
                })?;
                (Some(selected), entities)
            }
            // The reference the index and the prebuilt entities are tested against: every policy,
            // and the entities checked against the schema (which adds the actions itself).
            #[cfg(test)]
            Selection::Everything => {
                let mut entities: Vec<Entity> =
                    group_list.iter().map(|g| Entity::new_no_attrs(g.clone(), Default::default())).collect();
                entities.push(user()?);
                let upstream = self.catalog.get(facts.tool).map(|e| e.upstream.as_str()).unwrap_or_default();
                let upstream = uid(&self.types.upstream, upstream);
                entities.push(Entity::new_no_attrs(upstream.clone(), Default::default()));
                entities.push(Entity::new_no_attrs(resource, [upstream].into()));
                let entities =
                    Entities::from_entities(entities, Some(&self.schema)).map_err(|e| e.to_string())?;
                (None, Arc::new(entities))
            }
        };

        let policies = selected.as_deref().unwrap_or(&self.policies);
        let response = Authorizer::new().is_authorized(&request, policies, &entities);
        Ok(Outcome {
            decision: response.decision(),
            reasons: response.diagnostics().reason().cloned().collect(),
            errors: response.diagnostics().errors().map(PolicyError::new).collect(),
        })
    }

    /// Cedar's answer made the gateway's decision: any error denies; the obligations of the
    /// determining permits apply.
    fn evaluate(
        &self,
        facts: &CallFacts<'_>,
        context: CallContext,
        selection: Selection,
    ) -> Result<Decision, String> {
        let Outcome { decision, reasons, errors } = self.run(facts, context, selection)?;
        let allowed = decision == CedarDecision::Allow && errors.is_empty();
        let consent = if allowed {
            reasons
                .iter()
                .filter_map(|id| self.about.get(id).and_then(|a| a.consent))
                .reduce(Consent::stricter)
        } else {
            None
        };
        // What decided: the permits that allow; the forbids that deny; else the policies whose
        // errors deny (Cedar names the satisfied permits when a forbid errored, which allowed
        // nothing).
        let forbidden = decision == CedarDecision::Deny && !reasons.is_empty();
        let determining: Vec<&PolicyId> = if allowed || forbidden {
            reasons.iter().collect()
        } else {
            let mut erring: Vec<&PolicyId> = Vec::new();
            for error in &errors {
                if !erring.contains(&&error.policy) {
                    erring.push(&error.policy);
                }
            }
            erring
        };
        Ok(Decision {
            allowed,
            determining: determining.into_iter().map(|id| self.display_id(id)).collect(),
            consent,
            errors: errors.into_iter().map(|e| e.message).collect(),
            invalid_arguments: None,
            policy_hash: self.hash.clone(),
        })
    }

    /// A policy's `@id`, else Cedar's own id.
    fn display_id(&self, id: &PolicyId) -> String {
        self.about.get(id).and_then(|a| a.id.clone()).unwrap_or_else(|| id.to_string())
    }
}

/// For each tool of `catalog`, the entities every call of it has ([`Policies::tool_entities`]),
/// checked against `schema`: the tool and its upstream as Cedar's schema check takes them, and
/// the tool's action exactly as the schema declares it (in its group's action).
fn tool_entities(
    catalog: &Catalog,
    types: &EntityTypes,
    schema: &Schema,
) -> Result<HashMap<String, Vec<Entity>>, String> {
    let uid = |kind: &EntityTypeName, id: &str| types.uid(kind, id);
    let declared = schema.action_entities().map_err(|e| e.to_string())?;
    let mut by_tool = HashMap::new();
    for entry in catalog.entries() {
        let (action, group) = (uid(&types.action, &entry.name), uid(&types.action, entry.group.as_str()));
        let (tool, upstream) = (uid(&types.tool, &entry.name), uid(&types.upstream, &entry.upstream));
        let resources = [
            Entity::new_no_attrs(tool, [upstream.clone()].into()),
            Entity::new_no_attrs(upstream, Default::default()),
        ];
        Entities::from_entities(resources.iter().cloned(), Some(schema))
            .map_err(|e| format!("tool {:?}: {e}", entry.name))?;
        let actions = [
            Entity::new_no_attrs(action, [group.clone()].into()),
            Entity::new_no_attrs(group, Default::default()),
        ];
        for action in &actions {
            if declared.get(&action.uid()) != Some(action) {
                return Err(format!("tool {:?}: the schema does not declare {action}", entry.name));
            }
        }
        // A call needs only those with parents: the action (in its group) and the tool (in its
        // upstream). `in` reads an entity's ancestors; the group and the upstream have none.
        let [action, _] = actions;
        let [tool, _] = resources;
        by_tool.insert(entry.name.clone(), vec![action, tool]);
    }
    Ok(by_tool)
}

/// The entity types of the schema, named once.
#[derive(Debug, Clone)]
pub(super) struct EntityTypes {
    pub(super) user: EntityTypeName,
    pub(super) group: EntityTypeName,
    pub(super) action: EntityTypeName,
    pub(super) tool: EntityTypeName,
    pub(super) upstream: EntityTypeName,
}

impl EntityTypes {
    /// The entity `id` of type `kind`, without parsing anything.
    fn uid(&self, kind: &EntityTypeName, id: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(kind.clone(), EntityId::new(id))
    }

    fn new() -> Result<Self, String> {
        let name =
            |kind: &str| EntityTypeName::from_str(&format!("{NAMESPACE}::{kind}")).map_err(|e| e.to_string());
        Ok(Self {
            user: name("User")?,
            group: name("Group")?,
            action: name("Action")?,
            tool: name("Tool")?,
            upstream: name("Upstream")?,
        })
    }
}

/// How a decision is made: over the policies the index finds can apply, with the entities and
/// context as built for speed; or (the reference the tests compare it with) over every policy,
/// with every entity and the context checked against the schema.
#[derive(Debug, Clone, Copy)]
enum Selection {
    Indexed,
    #[cfg(test)]
    Everything,
}

impl Selection {
    /// Check the request against the schema, and give Cedar every entity?
    fn checks(self) -> bool {
        match self {
            Selection::Indexed => false,
            #[cfg(test)]
            Selection::Everything => true,
        }
    }
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
    errors: Vec<PolicyError>,
}

/// A policy whose evaluation errored.
struct PolicyError {
    policy: PolicyId,
    /// Cedar's words, naming the policy.
    message: String,
    /// The error is reading `context.arguments` where there are none: a listing's request, whose
    /// answer then depends on the arguments.
    lacks_arguments: bool,
}

impl PolicyError {
    fn new(error: &AuthorizationError) -> Self {
        let AuthorizationError::PolicyEvaluationError(error) = error;
        // Cedar says which attribute a record lacks in its message only. Only a listing's context
        // lacks one (a call's is checked against the schema, and strict validation refuses reading
        // an attribute that may be absent without `has`), and `arguments` is the one it lacks; if
        // Cedar's words ever change, the error counts as one every call meets, which hides the
        // tool rather than showing one that is denied (a test says so).
        let lacks_arguments = matches!(error.inner(), EvaluationError::RecordAttrDoesNotExist(e)
            if e.to_string() == "record does not have the attribute `arguments`");
        Self { policy: error.policy_id().clone(), message: error.to_string(), lacks_arguments }
    }
}

/// The SHA-256 of a policy text, in hex: the policy set's hash, and how a reload knows the file
/// changed.
pub fn text_hash(text: &str) -> String {
    protocol::hex(&Sha256::digest(text.as_bytes()))
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len())).map_or(1, |before| before.matches('\n').count() + 1)
}

/// Where Cedar says a problem is: the first labelled span.
fn first_offset(diagnostic: &dyn miette::Diagnostic) -> Option<usize> {
    first_span(diagnostic).map(|(offset, _)| offset)
}

/// The first labelled span of a problem: its offset and length.
fn first_span(diagnostic: &dyn miette::Diagnostic) -> Option<(usize, usize)> {
    diagnostic.labels().and_then(|mut labels| labels.next()).map(|label| (label.offset(), label.len()))
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

    /// A call at time 0 from 127.0.0.1, by a token without scopes or `auth_time`.
    fn call_by<'a>(
        user: &'a str,
        groups: &'a [String],
        client_id: &'a str,
        tool: &'a str,
        arguments: &'a Map<String, Value>,
    ) -> CallFacts<'a> {
        CallFacts {
            user,
            groups,
            client_id,
            client_registration: "dynamic",
            tool,
            arguments,
            time: 0,
            client_address: "127.0.0.1",
            scopes: &[],
            auth_time: 0,
        }
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
                policies.index.scoped(tool).iter().map(|p| p.annotation("id").unwrap().to_owned()).collect();
            ids.sort();
            ids
        };
        assert_eq!(ids("n__list"), ["any", "reads"]);
        assert_eq!(ids("n__wipe"), ["any", "either", "wipe"]);
        // And the decisions are what the whole set says.
        let no_arguments = Map::new();
        let facts = |tool| call_by("u", &[], "c", tool, &no_arguments);
        assert!(policies.decide(&facts("n__list")).allowed);
        let wipe = policies.decide(&facts("n__wipe"));
        assert!(!wipe.allowed && wipe.determining == ["wipe"], "{wipe:?}");
    }

    /// The entities and policy sets kept from one call are never another caller's: the same
    /// calls, asked in turns and again, get what each caller gets alone (a memo keyed by less
    /// than the user, each group, the client and the tool would mix them up).
    #[test]
    fn what_a_decision_keeps_for_the_next_call_is_never_another_callers() {
        let text = r#"
            @id("any") permit(principal, action, resource);
            @id("g1") forbid(principal in Gateway::Group::"g1", action, resource);
            @id("u1") forbid(principal == Gateway::User::"u1", action == Gateway::Action::"n__wipe", resource);
            @id("c1") forbid(principal, action, resource) when { principal.client_id == "c1" };
        "#;
        let policies = Policies::load("p.cedar", text, &catalog()).unwrap();
        let no_arguments = Map::new();
        let decide = |user: &str, groups: &[String], client: &str, tool: &str| {
            let decision = policies.decide(&call_by(user, groups, client, tool, &no_arguments));
            (decision.allowed, decision.determining)
        };
        let g1 = ["g1".to_owned()];
        let g0 = ["g0".to_owned()];
        // (user, groups, client, tool, allowed, determining policy)
        type Call<'a> = (&'a str, &'a [String], &'a str, &'a str, bool, &'a str);
        let calls: [Call; 8] = [
            ("u0", &[], "c0", "n__list", true, "any"),
            ("u0", &g1, "c0", "n__list", false, "g1"),
            ("u0", &g0, "c0", "n__list", true, "any"),
            ("u0", &[], "c1", "n__list", false, "c1"),
            ("u1", &[], "c0", "n__list", true, "any"),
            ("u1", &[], "c0", "n__wipe", false, "u1"),
            // The parts of a key run together would make these two the same.
            ("u", &[], "1c0", "n__list", true, "any"),
            ("u1", &[], "c0", "n__list", true, "any"),
        ];
        for round in 0..3 {
            for (user, groups, client, tool, allowed, by) in calls {
                assert_eq!(
                    decide(user, groups, client, tool),
                    (allowed, vec![by.to_owned()]),
                    "round {round}: {user} in {groups:?} through {client} calling {tool}"
                );
            }
        }
        assert!(policies.entities.len() >= 6 && policies.policy_sets.len() >= 2);
    }

    /// Two upstreams: `a` with a tool taking a required string (`say`), one taking an optional
    /// string and a number (`note`) and one taking nothing (`drop`); `b` with a `say` of its own.
    fn varied_catalog() -> Catalog {
        let tool = |name: &str, schema: Value| -> protocol::mcp::Tool {
            serde_json::from_value(json!({"name": name, "inputSchema": schema})).unwrap()
        };
        let say = json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]});
        let note =
            json!({"type": "object", "properties": {"title": {"type": "string"}, "n": {"type": "integer"}}});
        let upstream = |tools: Vec<protocol::mcp::Tool>, groups: &[(&str, Group)]| UpstreamTools {
            groups: groups.iter().map(|(t, g)| ((*t).to_owned(), *g)).collect(),
            tools,
            ..Default::default()
        };
        let upstreams = BTreeMap::from([
            (
                "a".to_owned(),
                upstream(
                    vec![
                        tool("say", say.clone()),
                        tool("note", note),
                        tool("drop", json!({"type": "object"})),
                    ],
                    &[("say", Group::Read), ("note", Group::Write), ("drop", Group::Destructive)],
                ),
            ),
            ("b".to_owned(), upstream(vec![tool("say", say)], &[("say", Group::Read)])),
        ]);
        let (catalog, skipped) = Catalog::build(&upstreams);
        assert!(skipped.is_empty());
        catalog
    }

    /// A small deterministic generator (xorshift), so a failure names a reproducible case.
    struct Dice(u64);
    impl Dice {
        fn roll(&mut self, sides: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % sides as u64) as usize
        }
        fn pick<'a>(&mut self, of: &[&'a str]) -> &'a str {
            of[self.roll(of.len())]
        }
    }

    /// One policy of many shapes: every scope form, conditions the index reads (first, later,
    /// after one it cannot read), conditions it cannot read, `unless`, obligations, and
    /// conditions that fail at run time (an overflow) behind a term the index reads.
    fn random_policy(dice: &mut Dice, number: usize) -> String {
        let effect = dice.pick(&["permit", "permit", "forbid"]);
        let principal = dice.pick(&[
            "principal",
            "principal",
            "principal == Gateway::User::\"u1\"",
            "principal in Gateway::User::\"u2\"",
            "principal in Gateway::Group::\"g1\"",
            "principal in Gateway::Group::\"g2\"",
            "principal is Gateway::User",
            "principal is Gateway::User in Gateway::Group::\"g3\"",
        ]);
        // Conditions on `text` need an action scope where `text` is a required string.
        let (action, text) = match dice.roll(6) {
            0 => ("action", false),
            1 => ("action in Gateway::Action::\"read\"", false),
            2 => ("action in [Gateway::Action::\"a__note\", Gateway::Action::\"destructive\"]", false),
            3 => ("action == Gateway::Action::\"a__note\"", false),
            _ => (
                dice.pick(&[
                    "action == Gateway::Action::\"a__say\"",
                    "action == Gateway::Action::\"b__say\"",
                ]),
                true,
            ),
        };
        let resource = dice.pick(&[
            "resource",
            "resource",
            "resource == Gateway::Tool::\"a__say\"",
            "resource in Gateway::Upstream::\"a\"",
            "resource in Gateway::Upstream::\"b\"",
            "resource is Gateway::Tool",
            "resource is Gateway::Tool in Gateway::Upstream::\"a\"",
        ]);
        let mut terms: Vec<String> = Vec::new();
        for _ in 0..dice.roll(4) {
            let k = dice.roll(4);
            let term = match dice.roll(if text { 9 } else { 7 }) {
                0 => format!("principal.client_id == \"c{k}\""),
                1 => format!("\"10.0.0.{k}\" == context.client_address"),
                2 => format!("principal.client_id like \"c{k}*\""),
                3 => "context.scopes.contains(\"write\")".to_owned(),
                4 => "context.auth_time + 9223372036854775807 > 0".to_owned(),
                5 => format!("context.client_address like \"*.{k}\""),
                6 => "context.time > 100".to_owned(),
                7 => format!("context.arguments.text like \"*w{k}*\""),
                _ => format!("context.arguments.text == \"w{k}\""),
            };
            terms.push(term);
        }
        let mut text = String::new();
        if effect == "permit" && dice.roll(4) == 0 {
            text.push_str(dice.pick(&["@consent(\"once\")\n", "@consent(\"PT1H\")\n"]));
        }
        text.push_str(&format!("@id(\"p{number}\")\n{effect}({principal}, {action}, {resource})"));
        if !terms.is_empty() {
            text.push_str(&format!(" when {{ {} }}", terms.join(" && ")));
        }
        if dice.roll(5) == 0 {
            text.push_str(&format!(" unless {{ principal.client_id == \"c{}\" }}", dice.roll(4)));
        }
        text.push_str(";\n");
        text
    }

    /// A decision as it can be compared: the determining policies and errors in order.
    fn comparable(mut decision: Decision) -> Decision {
        decision.determining.sort();
        decision.errors.sort();
        decision
    }

    #[test]
    fn the_index_never_changes_a_decision_nor_a_listing() {
        let catalog = varied_catalog();
        let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
        let mut compared = 0;
        // Errors, allowed, allowed with an obligation, denied: each must come up, or the
        // comparison proves little.
        let mut seen = [0; 4];
        for round in 0..40 {
            let text: String = (0..40).map(|n| random_policy(&mut dice, round * 100 + n)).collect();
            let policies = Policies::load("generated.cedar", &text, &catalog)
                .unwrap_or_else(|refused| panic!("{refused}\n{text}"));
            for _ in 0..60 {
                let user = dice.pick(&["u0", "u1", "u2"]);
                let groups: Vec<String> = ["g1", "g2", "g3"]
                    .iter()
                    .filter(|_| dice.roll(2) == 0)
                    .map(|g| (*g).to_owned())
                    .collect();
                let client = format!("c{}", dice.roll(5));
                let address = format!("10.0.0.{}", dice.roll(5));
                let scopes: Vec<String> = if dice.roll(2) == 0 { vec!["write".into()] } else { Vec::new() };
                let tool = dice.pick(&["a__say", "a__note", "a__drop", "b__say"]);
                let word = format!("w{}", dice.roll(5));
                let arguments = match tool {
                    "a__note" if dice.roll(2) == 0 => json!({"title": word, "n": 1}),
                    "a__note" => json!({"n": 2}),
                    "a__drop" => json!({}),
                    _ => json!({"text": if dice.roll(2) == 0 { format!("say {word} now") } else { word }}),
                };
                let arguments = arguments.as_object().cloned().unwrap();
                let facts = CallFacts {
                    user,
                    groups: &groups,
                    client_id: &client,
                    client_registration: "dynamic",
                    tool,
                    arguments: &arguments,
                    time: 50 + 100 * dice.roll(2) as i64,
                    client_address: &address,
                    scopes: &scopes,
                    auth_time: dice.roll(2) as i64,
                };
                let indexed = comparable(policies.decide_over(&facts, Selection::Indexed));
                let everything = comparable(policies.decide_over(&facts, Selection::Everything));
                assert_eq!(indexed, everything, "{facts:?}\n{text}");
                let kind = match (&indexed.allowed, &indexed.consent, indexed.errors.is_empty()) {
                    (_, _, false) => 0,
                    (true, None, _) => 1,
                    (true, Some(_), _) => 2,
                    (false, ..) => 3,
                };
                seen[kind] += 1;
                assert_eq!(
                    policies.listable_over(&facts, Selection::Indexed),
                    policies.listable_over(&facts, Selection::Everything),
                    "listing: {facts:?}\n{text}"
                );
                compared += 1;
            }
        }
        assert_eq!(compared, 2400);
        assert!(seen.iter().all(|&n| n >= 50), "errors, allowed, with consent, denied: {seen:?}");
    }

    #[test]
    fn a_call_is_decided_over_the_policies_about_it_only() {
        let catalog = varied_catalog();
        let text = r#"
            @id("anyone") permit(principal, action, resource);
            @id("g1") forbid(principal in Gateway::Group::"g1", action, resource);
            @id("u1") forbid(principal == Gateway::User::"u1", action, resource);
            @id("c1") forbid(principal, action, resource) when { principal.client_id == "c1" };
            @id("c2-here") forbid(principal, action, resource) when { principal.client_id == "c2" && context.client_address == "10.0.0.2" };
            @id("secret") forbid(principal, action == Gateway::Action::"a__say", resource) when { context.arguments.text like "*secret*" };
            @id("b-only") forbid(principal, action, resource in Gateway::Upstream::"b");
        "#;
        let policies = Policies::load("p.cedar", text, &catalog).unwrap();
        let selected = |user: &str, groups: &[&str], client: &str, text: Option<&str>| -> Vec<String> {
            let principal =
                EntityUid::from_type_name_and_id(policies.types.user.clone(), EntityId::new(user));
            let groups: Vec<EntityUid> = groups
                .iter()
                .map(|g| EntityUid::from_type_name_and_id(policies.types.group.clone(), EntityId::new(g)))
                .collect();
            let arguments = text.map(|t| json!({"text": t}).as_object().cloned().unwrap());
            let caller = Caller {
                principal: &principal,
                groups: &groups,
                client_id: client,
                client_address: "10.0.0.1",
                arguments: arguments.as_ref(),
            };
            let chosen = policies.index.select("a__say", &caller).unwrap();
            let set = policies.index.policy_set(&chosen).unwrap();
            let mut ids: Vec<String> =
                set.policies().map(|p| p.annotation("id").unwrap().to_owned()).collect();
            ids.sort();
            ids
        };
        assert_eq!(selected("u0", &[], "c0", Some("hello")), ["anyone"]);
        assert_eq!(selected("u1", &["g1"], "c1", Some("a secret")), ["anyone", "c1", "g1", "secret", "u1"]);
        assert_eq!(selected("u0", &[], "c2", Some("hello")), ["anyone"], "c2's rule needs another address");
        // A listing has no arguments: the argument rule goes to Cedar, which says it depends.
        assert_eq!(selected("u0", &[], "c0", None), ["anyone", "secret"]);
    }
}
