//! Which of the policies can apply to one call, found before Cedar runs.
//!
//! Cedar evaluates every policy of the set it is given: about a microsecond for a condition of a
//! few terms, so a decision over a thousand policies takes a millisecond. Yet the policies of a
//! gateway are mostly about *someone* or *something*: a group, a user, a client, an address, an
//! argument's value; for any one call nearly all of them cannot apply. The index keeps, per tool,
//! the policies whose action and resource scope match that tool (at load), and per call the ones
//! whose principal scope can be the caller and whose leading conditions are not already false.
//! Cedar decides over that subset.
//!
//! Leaving a policy out must not change a decision, including its errors (any error is a Deny,
//! so an error Cedar would have met must still be met). A policy is left out only when Cedar would
//! find it unsatisfied **without an error**:
//! * its scope does not match: Cedar checks the scope before any condition;
//! * or its first `when`, read as the chain of `&&` Cedar evaluates left to right, reaches a false
//!   term before any term the index cannot evaluate exactly as Cedar does. The index evaluates
//!   two kinds of term, on three strings it always knows: the caller's `principal.client_id`,
//!   `context.client_address` and a declared `String` argument present in the call
//!   (`context.arguments.x`): `==` against a string literal, and `like`. A term of any other kind,
//!   or an argument the call does not carry (Cedar would error, or `has` guards it), stops the
//!   reading there and the policy goes to Cedar.
//!
//! `==` terms on one string are also indexed by their literal, so that a thousand per-client
//! rules cost one hash lookup rather than a thousand comparisons; and the literal runs of every
//! `like` on one string are searched for together, in one pass over the call's string
//! (Aho-Corasick), so that a thousand argument patterns cost one scan of the argument, and the
//! rare pattern whose runs all occur is then matched on its own. The tests compare decisions with
//! the index against decisions over every policy, for generated policies and calls.

use std::collections::HashMap;

use aho_corasick::AhoCorasick;
use cedar_policy::{ActionConstraint, EntityUid, Policy, PolicySet, PrincipalConstraint, ResourceConstraint};
use serde_json::{Map, Value};

use super::EntityTypes;
use super::schema::{ArgType, arguments_type};
use crate::catalog::Catalog;

/// What the index knows of one call.
pub(super) struct Caller<'a> {
    pub principal: &'a EntityUid,
    /// The caller's groups, each once.
    pub groups: &'a [EntityUid],
    pub client_id: &'a str,
    pub client_address: &'a str,
    /// The call's arguments; `None` when deciding without them (a listing).
    pub arguments: Option<&'a Map<String, Value>>,
}

impl Caller<'_> {
    /// The string at `path`, when the call surely has it.
    fn read(&self, path: &Path) -> Option<&str> {
        match path {
            Path::ClientId => Some(self.client_id),
            Path::ClientAddress => Some(self.client_address),
            Path::Argument(name) => self.arguments?.get(name)?.as_str(),
        }
    }
}

/// A string attribute of a call that the index reads as Cedar would.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Path {
    /// `principal.client_id`
    ClientId,
    /// `context.client_address`
    ClientAddress,
    /// `context.arguments.<name>`, for an argument the tool declares as a string.
    Argument(String),
}

/// One leading term of a condition.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Term {
    /// `<path> == "<literal>"` (either way round).
    Equals(Path, String),
    /// `<path> like "<pattern>"`.
    Like(Path, Pattern),
}

/// A `like` pattern as the literal runs between its wildcards (`"a*b*"` is `a`, `b`, and an
/// empty last run), each middle run with its searcher built once.
#[derive(Debug, Clone)]
struct Pattern {
    first: String,
    /// The non-empty runs between the first and the last wildcard (none when there is one
    /// wildcard or none; an empty one, from `**`, matches anywhere and is left out).
    middle: Vec<Run>,
    /// `None` without any wildcard: the text must equal `first`.
    last: Option<String>,
}

/// A literal run between two wildcards.
#[derive(Debug, Clone)]
struct Run {
    finder: memchr::memmem::Finder<'static>,
    /// Its number in the searcher of its path's runs ([`Index::searchers`]).
    id: usize,
}

impl Pattern {
    fn new(mut runs: Vec<String>) -> Self {
        let first = if runs.is_empty() { String::new() } else { runs.remove(0) };
        let last = runs.pop();
        let middle = runs
            .iter()
            .filter(|run| !run.is_empty())
            .map(|run| Run {
                finder: memchr::memmem::Finder::new(run.as_bytes()).into_owned(),
                id: usize::MAX,
            })
            .collect();
        Self { first, middle, last }
    }

    /// Cedar's `like`: `*` matches any run of characters, everything else itself. On bytes, which
    /// for UTF-8 text finds the same matches as on characters.
    fn matches(&self, text: &str) -> bool {
        let Some(last) = &self.last else {
            return text == self.first;
        };
        let text = text.as_bytes();
        if text.len() < self.first.len() + last.len()
            || !text.starts_with(self.first.as_bytes())
            || !text.ends_with(last.as_bytes())
        {
            return false;
        }
        let mut between = &text[self.first.len()..text.len() - last.len()];
        for run in &self.middle {
            match run.finder.find(between) {
                Some(at) => between = &between[at + run.finder.needle().len()..],
                None => return false,
            }
        }
        true
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        let needles = |p: &Self| p.middle.iter().map(|r| r.finder.needle().to_vec()).collect::<Vec<_>>();
        self.first == other.first && self.last == other.last && needles(self) == needles(other)
    }
}

impl Eq for Pattern {}

impl Term {
    fn path(&self) -> &Path {
        match self {
            Term::Equals(path, _) | Term::Like(path, _) => path,
        }
    }

    /// Cedar's value of the term, or `None` when the index cannot tell.
    fn holds(&self, caller: &Caller<'_>, found: &Found) -> Option<bool> {
        let value = caller.read(self.path())?;
        Some(match self {
            Term::Equals(_, literal) => value == literal,
            Term::Like(path, pattern) => {
                pattern.middle.iter().all(|run| found.has(path, run.id)) && pattern.matches(value)
            }
        })
    }
}

/// Which literal runs of `like` patterns occur in the call's strings: one bit per run, by path.
/// A path that was not searched has every run (the pattern is then matched on its own).
struct Found(Vec<(Path, Vec<u64>)>);

impl Found {
    fn has(&self, path: &Path, run: usize) -> bool {
        match self.0.iter().find(|(p, _)| p == path) {
            Some((_, bits)) => bits.get(run / 64).is_some_and(|word| word & (1 << (run % 64)) != 0),
            None => true,
        }
    }
}

/// A policy as one tool's index keeps it: which one, and the leading terms of its first `when`
/// that the index can evaluate.
#[derive(Debug, Clone)]
struct Candidate {
    policy: usize,
    terms: Vec<Term>,
}

impl Candidate {
    /// Could Cedar find this policy satisfied, or meet an error in it? False only when a leading
    /// term is surely false and every term before it surely true.
    fn may_apply(&self, caller: &Caller<'_>, found: &Found) -> bool {
        for term in &self.terms {
            match term.holds(caller, found) {
                Some(true) => continue,
                Some(false) => return false,
                None => return true,
            }
        }
        true
    }
}

/// The policies whose action and resource scope match one tool, by what else they need.
#[derive(Debug, Clone, Default)]
struct ToolIndex {
    /// Any principal, and no leading `==` to index by.
    anyone: Vec<Candidate>,
    /// A principal scope naming a user or a group: under that entity.
    by_principal: HashMap<EntityUid, Vec<Candidate>>,
    /// Any principal and a leading `<path> == "<literal>"`: under the path, then the literal.
    by_value: HashMap<Path, HashMap<String, Vec<Candidate>>>,
    /// The paths some `like` of these policies searches for runs in.
    searched: Vec<Path>,
}

/// Every policy, and for each tool of the catalog where to find those that can apply to a call.
#[derive(Debug, Clone)]
pub(super) struct Index {
    policies: Vec<Policy>,
    tools: HashMap<String, ToolIndex>,
    /// Per path, one searcher for the literal runs of every `like` on it ([`Run::id`]).
    searchers: HashMap<Path, AhoCorasick>,
}

/// A policy's principal scope, as the index files it.
enum Principal {
    Anyone,
    /// The caller is this user, or in this group.
    Under(EntityUid),
    /// No caller can match (the scope names another type).
    Nobody,
}

impl Index {
    pub fn build(policies: &PolicySet, catalog: &Catalog, types: &EntityTypes) -> Result<Self, String> {
        let (user_type, tool_type) = (&types.user, &types.tool);
        let policies: Vec<Policy> = policies.policies().cloned().collect();

        // What does not depend on the tool: whom each policy is about, and its leading terms.
        let mut about = Vec::with_capacity(policies.len());
        for policy in &policies {
            let principal = match policy.principal_constraint() {
                PrincipalConstraint::Any => Principal::Anyone,
                PrincipalConstraint::Is(kind) if kind == *user_type => Principal::Anyone,
                // `==` a group is never the caller, who is a user.
                PrincipalConstraint::Eq(entity) if entity.type_name() == user_type => {
                    Principal::Under(entity)
                }
                // A user has no parents but groups, and groups have none.
                PrincipalConstraint::In(entity) => Principal::Under(entity),
                PrincipalConstraint::IsIn(kind, entity) if kind == *user_type => Principal::Under(entity),
                _ => Principal::Nobody,
            };
            let est = policy.to_json().map_err(|e| e.to_string())?;
            about.push((principal, leading_terms(&est)));
        }
        let searchers = number_runs(about.iter_mut().flat_map(|(_, terms)| terms.iter_mut()))?;

        let mut tools = HashMap::new();
        for entry in catalog.entries() {
            let (action, group) =
                (types.uid(&types.action, &entry.name), types.uid(&types.action, entry.group.as_str()));
            let (tool, upstream) =
                (types.uid(&types.tool, &entry.name), types.uid(&types.upstream, &entry.upstream));
            let string_arguments: Vec<String> = match arguments_type(&entry.tool.input_schema) {
                ArgType::Record(fields) => {
                    fields.into_iter().filter(|f| f.ty == ArgType::String).map(|f| f.name).collect()
                }
                _ => Vec::new(),
            };
            let mut index = ToolIndex::default();
            for (number, policy) in policies.iter().enumerate() {
                let action_matches = match policy.action_constraint() {
                    ActionConstraint::Any => true,
                    ActionConstraint::Eq(a) => a == action,
                    ActionConstraint::In(actions) => actions.iter().any(|a| *a == action || *a == group),
                };
                let resource_matches = match policy.resource_constraint() {
                    ResourceConstraint::Any => true,
                    ResourceConstraint::Eq(r) => r == tool,
                    ResourceConstraint::In(r) => r == tool || r == upstream,
                    ResourceConstraint::Is(kind) => kind == *tool_type,
                    ResourceConstraint::IsIn(kind, r) => kind == *tool_type && (r == tool || r == upstream),
                };
                if !action_matches || !resource_matches {
                    continue;
                }
                let (principal, terms) = &about[number];
                // An argument's terms hold only for the tools that declare it a string.
                let terms: Vec<Term> = terms
                    .iter()
                    .take_while(|t| match t.path() {
                        Path::Argument(name) => string_arguments.contains(name),
                        _ => true,
                    })
                    .cloned()
                    .collect();
                let candidate = Candidate { policy: number, terms };
                match principal {
                    Principal::Nobody => {}
                    Principal::Under(entity) => {
                        index.by_principal.entry(entity.clone()).or_default().push(candidate)
                    }
                    Principal::Anyone => match candidate.terms.first() {
                        Some(Term::Equals(path, literal)) => index
                            .by_value
                            .entry(path.clone())
                            .or_default()
                            .entry(literal.clone())
                            .or_default()
                            .push(candidate),
                        _ => index.anyone.push(candidate),
                    },
                }
            }
            let mut searched: Vec<Path> = Vec::new();
            let candidates = index.anyone.iter().chain(index.by_principal.values().flatten());
            let valued = index.by_value.values().flat_map(|v| v.values()).flatten();
            for term in candidates.chain(valued).flat_map(|c| &c.terms) {
                if let Term::Like(path, pattern) = term
                    && !pattern.middle.is_empty()
                    && !searched.contains(path)
                {
                    searched.push(path.clone());
                }
            }
            index.searched = searched;
            tools.insert(entry.name.clone(), index);
        }
        Ok(Self { policies, tools, searchers })
    }

    /// The policies that can apply to a call of `tool` by `caller`, by their numbers (for
    /// [`Index::policy_set`]), always in the same order for the same policies; `None` for a tool
    /// not in the catalog.
    pub fn select(&self, tool: &str, caller: &Caller<'_>) -> Option<Vec<usize>> {
        let index = self.tools.get(tool)?;
        let mut lists: Vec<&[Candidate]> = vec![&index.anyone];
        for entity in std::iter::once(caller.principal).chain(caller.groups) {
            lists.extend(index.by_principal.get(entity).map(Vec::as_slice));
        }
        for (path, by_literal) in &index.by_value {
            match caller.read(path) {
                Some(value) => lists.extend(by_literal.get(value).map(Vec::as_slice)),
                // Not known (an argument left out): Cedar reads it, and errs where it must.
                None => lists.extend(by_literal.values().map(Vec::as_slice)),
            }
        }
        let found = Found(
            index
                .searched
                .iter()
                .filter_map(|path| {
                    let (text, searcher) = (caller.read(path)?, self.searchers.get(path)?);
                    let mut bits = vec![0u64; searcher.patterns_len().div_ceil(64)];
                    for found in searcher.find_overlapping_iter(text) {
                        let run = found.pattern().as_usize();
                        bits[run / 64] |= 1 << (run % 64);
                    }
                    Some((path.clone(), bits))
                })
                .collect(),
        );
        Some(lists.into_iter().flatten().filter(|c| c.may_apply(caller, &found)).map(|c| c.policy).collect())
    }

    /// The policies numbered `chosen` (by [`Index::select`]), as a set for Cedar.
    pub fn policy_set(&self, chosen: &[usize]) -> Result<PolicySet, String> {
        let mut set = PolicySet::new();
        for &number in chosen {
            let policy = self.policies.get(number).ok_or_else(|| format!("no policy number {number}"))?;
            set.add(policy.clone()).map_err(|e| e.to_string())?;
        }
        Ok(set)
    }

    /// Every policy whose action and resource scope match `tool`, whoever calls.
    #[cfg(test)]
    pub fn scoped(&self, tool: &str) -> Vec<&Policy> {
        let Some(index) = self.tools.get(tool) else { return Vec::new() };
        let principal = index.by_principal.values().flatten();
        let valued = index.by_value.values().flat_map(|v| v.values()).flatten();
        index.anyone.iter().chain(principal).chain(valued).map(|c| &self.policies[c.policy]).collect()
    }
}

/// Numbers the middle runs of the `like` terms among `terms`, per path (one number per distinct
/// run), and builds each path's searcher of them.
fn number_runs<'a>(terms: impl Iterator<Item = &'a mut Term>) -> Result<HashMap<Path, AhoCorasick>, String> {
    let mut numbers: HashMap<Path, HashMap<Vec<u8>, usize>> = HashMap::new();
    for term in terms {
        if let Term::Like(path, pattern) = term {
            let of_path = numbers.entry(path.clone()).or_default();
            for run in &mut pattern.middle {
                let next = of_path.len();
                run.id = *of_path.entry(run.finder.needle().to_vec()).or_insert(next);
            }
        }
    }
    numbers
        .into_iter()
        .filter(|(_, runs)| !runs.is_empty())
        .map(|(path, runs)| {
            let mut by_number: Vec<(usize, Vec<u8>)> = runs.into_iter().map(|(run, n)| (n, run)).collect();
            by_number.sort_unstable();
            let searcher =
                AhoCorasick::new(by_number.into_iter().map(|(_, run)| run)).map_err(|e| e.to_string())?;
            Ok((path, searcher))
        })
        .collect()
}

/// The terms at the head of a policy's first condition that the index can evaluate, in Cedar's
/// order of evaluation, read from its JSON form (Cedar's documented policy format). Empty when the
/// first condition is an `unless` or starts with anything else.
fn leading_terms(est: &Value) -> Vec<Term> {
    let Some(first) = est.get("conditions").and_then(Value::as_array).and_then(|c| c.first()) else {
        return Vec::new();
    };
    if first.get("kind").and_then(Value::as_str) != Some("when") {
        return Vec::new();
    }
    let Some(body) = first.get("body") else { return Vec::new() };
    let mut conjuncts = Vec::new();
    flatten_and(body, &mut conjuncts);
    conjuncts.into_iter().map_while(term).collect()
}

/// The operands of a chain of `&&`, left to right, which is the order Cedar evaluates them in
/// (it stops at the first false one).
fn flatten_and<'a>(expr: &'a Value, out: &mut Vec<&'a Value>) {
    match expr.get("&&") {
        Some(and) => {
            for side in ["left", "right"] {
                match and.get(side) {
                    Some(operand) => flatten_and(operand, out),
                    // Not a shape Cedar writes: no term, so nothing is read past it.
                    None => out.push(expr),
                }
            }
        }
        None => out.push(expr),
    }
}

fn term(expr: &Value) -> Option<Term> {
    if let Some(equals) = expr.get("==") {
        let (left, right) = (equals.get("left")?, equals.get("right")?);
        return match (path(left), path(right)) {
            (Some(path), None) => Some(Term::Equals(path, string_literal(right)?)),
            (None, Some(path)) => Some(Term::Equals(path, string_literal(left)?)),
            _ => None,
        };
    }
    if let Some(like) = expr.get("like") {
        let path = path(like.get("left")?)?;
        let mut runs = vec![String::new()];
        for element in like.get("pattern")?.as_array()? {
            match element {
                Value::String(wildcard) if wildcard == "Wildcard" => runs.push(String::new()),
                Value::Object(literal) => runs.last_mut()?.push_str(literal.get("Literal")?.as_str()?),
                _ => return None,
            }
        }
        return Some(Term::Like(path, Pattern::new(runs)));
    }
    None
}

/// `principal.client_id`, `context.client_address` or `context.arguments.<name>`.
fn path(expr: &Value) -> Option<Path> {
    let (of, attribute) = attribute(expr)?;
    if variable(of) == Some("principal") && attribute == "client_id" {
        return Some(Path::ClientId);
    }
    if variable(of) == Some("context") && attribute == "client_address" {
        return Some(Path::ClientAddress);
    }
    let (arguments_of, arguments) = self::attribute(of)?;
    (variable(arguments_of) == Some("context") && arguments == "arguments")
        .then(|| Path::Argument(attribute.to_owned()))
}

/// `<expr>.<attribute>` as `(expr, attribute)`.
fn attribute(expr: &Value) -> Option<(&Value, &str)> {
    let access = expr.get(".")?;
    Some((access.get("left")?, access.get("attr")?.as_str()?))
}

fn variable(expr: &Value) -> Option<&str> {
    expr.get("Var")?.as_str()
}

fn string_literal(expr: &Value) -> Option<String> {
    expr.get("Value")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn pattern(runs: &[&str]) -> Pattern {
        Pattern::new(runs.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn like_is_cedars_like() {
        let cases: &[(&[&str], &str, bool)] = &[
            (&["abc"], "abc", true),
            (&["abc"], "abcd", false),
            (&["", ""], "", true),
            (&["", ""], "anything", true),
            (&["a", ""], "abc", true),
            (&["a", ""], "bac", false),
            (&["", "c"], "abc", true),
            (&["", "b", ""], "abc", true),
            (&["", "x", ""], "abc", false),
            (&["ab", "ba"], "aba", false), // prefix and suffix may not overlap
            (&["ab", "ba"], "abba", true),
            (&["a", "b", "c"], "aXbYc", true),
            (&["a", "b", "c"], "aXcYb", false),
            (&["", "é", ""], "café au lait", true),
            (&["", "", ""], "", true),
            (&["", "a", "b", ""], "xaxbx", true),
            (&["", "b", "a", ""], "ab", false),
            (&["x", "a", "a", "y"], "xaay", true),
            (&["x", "a", "a", "y"], "xay", false),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(self::pattern(pattern).matches(text), *expected, "{pattern:?} like {text:?}");
        }
    }

    #[test]
    fn the_leading_terms_are_read_from_cedars_json_form() {
        let read = |text: &str| leading_terms(&Policy::from_str(text).unwrap().to_json().unwrap());
        assert_eq!(
            read(
                r#"permit(principal, action, resource) when {
                    principal.client_id == "c" && "10.0.0.1" == context.client_address
                    && context.arguments.text like "*a\*b*" && context.time > 3
                    && principal.client_id == "never read" };"#
            ),
            [
                Term::Equals(Path::ClientId, "c".into()),
                Term::Equals(Path::ClientAddress, "10.0.0.1".into()),
                Term::Like(Path::Argument("text".into()), pattern(&["", "a*b", ""])),
            ]
        );
        assert!(
            read(r#"permit(principal, action, resource) unless { principal.client_id == "c" };"#).is_empty()
        );
        assert!(
            read(r#"permit(principal, action, resource) when { context.arguments has t && context.arguments.t == "x" };"#)
                .is_empty()
        );
        assert!(read("permit(principal, action, resource);").is_empty());
        // `||` is not a conjunction: nothing is read from it.
        assert!(
            read(r#"permit(principal, action, resource) when { principal.client_id == "a" || principal.client_id == "b" };"#)
                .is_empty()
        );
    }
}
