//! What the gateway refuses at load beyond Cedar's strict validation, each where it stands:
//!
//! * an entity literal of a tool or an upstream the catalog does not have
//!   (`resource in Gateway::Upstream::"teams"`, `Gateway::Tool::"demo__delte_note"`): Cedar's
//!   validator checks action ids only, and such a rule would load and never apply. Users and
//!   groups stay open: they come from the authorization server;
//! * an annotation the gateway does not know (`@Consent`, `@consents`): a misspelled obligation
//!   would be ignored, and the call would go through without the approval it asks for;
//! * a `@consent` that is not `once` or a duration [`Consent::parse`] reads, or on a `forbid`
//!   (an obligation is what a permit asks before the call; a forbid has nothing to ask);
//! * a template (`?principal`, `?resource`): the gateway links none, so it would never apply;
//! * an `@id` another policy has too: the audit names the determining policies by id.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{
    Effect, EntityUid, Policy, PolicyId, PolicySet, Schema, ValidationError, ValidationMode, Validator,
};

use super::source::Layout;
use super::{Consent, EntityTypes, first_span, schema};
use crate::catalog::Catalog;

/// The annotation keys the gateway reads.
pub(super) const ANNOTATIONS: [&str; 2] = ["id", "consent"];

/// One refusal: where (a byte offset of the policy text, when known) and why.
#[derive(Debug)]
pub(super) struct Found {
    pub offset: Option<usize>,
    pub message: String,
}

/// What the gateway reads of a policy's annotations, once, at load.
#[derive(Debug, Clone)]
pub(super) struct About {
    /// `@id`.
    pub id: Option<String>,
    /// `@consent`, read.
    pub consent: Option<Consent>,
    pub permit: bool,
}

/// Every entity literal of `policies` that names a tool or an upstream `catalog` does not have.
pub(super) fn unknown_entities(
    policies: &PolicySet,
    catalog: &Catalog,
    types: &EntityTypes,
    text: &str,
    layout: &Layout,
) -> Result<Vec<Found>, String> {
    let tools: HashSet<&str> = catalog.entries().map(|e| e.name.as_str()).collect();
    let upstreams: HashSet<&str> = catalog.entries().map(|e| e.upstream.as_str()).collect();
    let unknown = |uid: &EntityUid| -> Option<String> {
        let (kind, known) = if uid.type_name() == &types.tool {
            ("tool", &tools)
        } else if uid.type_name() == &types.upstream {
            ("upstream", &upstreams)
        } else {
            return None;
        };
        let why = "so a rule naming it would never apply as meant";
        (!known.contains(uid.id().unescaped()))
            .then(|| format!("unknown {kind} {uid}: the catalog has no such {kind}, {why}"))
    };

    // Where: Cedar's validator, against a schema in which the catalog's tools and upstreams are
    // the only ones (see `schema::render_names`), says where each literal naming another stands.
    let (names, _warnings) = Schema::from_cedarschema_str(&schema::render_names(catalog))
        .map_err(|e| format!("the catalog's names are not a valid Cedar schema: {e}"))?;
    let validation = Validator::new(names).validate(policies, ValidationMode::Strict);
    let mut found = Vec::new();
    let mut located: HashSet<&PolicyId> = HashSet::new();
    for error in validation.validation_errors() {
        if let ValidationError::InvalidEnumEntity(_) = error {
            let span = first_span(error);
            let named = span
                .and_then(|(offset, len)| text.get(offset..offset + len))
                .and_then(|literal| EntityUid::from_str(literal).ok())
                .and_then(|uid| unknown(&uid));
            found.push(Found {
                offset: span.map(|(offset, _)| offset),
                message: named.unwrap_or_else(|| error.to_string()),
            });
            located.insert(error.policy_id());
        }
    }
    // What: the literals themselves, so that nothing depends on the validator's reach; a policy
    // the validator said nothing about (a catalog without tools) is refused where it starts.
    for policy in policies.policies() {
        if located.contains(policy.id()) {
            continue;
        }
        let mut unknowns: Vec<String> = policy.entity_literals().iter().filter_map(unknown).collect();
        unknowns.sort();
        unknowns.dedup();
        found
            .extend(unknowns.into_iter().map(|message| Found { offset: layout.start(policy.id()), message }));
    }
    Ok(found)
}

/// Every template of `policies`.
pub(super) fn templates(policies: &PolicySet, layout: &Layout) -> Vec<Found> {
    policies
        .templates()
        .map(|template| Found {
            offset: layout.start(template.id()),
            message: "a template (`?principal`, `?resource`) is never linked by the gateway, so it would \
                      never apply: name the principal or resource"
                .to_owned(),
        })
        .collect()
}

/// The annotations of `policy`, read, and what is wrong with them.
pub(super) fn about(policy: &Policy, layout: &Layout) -> (About, Vec<Found>) {
    let permit = policy.effect() == Effect::Permit;
    let mut about = About { id: None, consent: None, permit };
    let mut found = Vec::new();
    for (key, value) in policy.annotations() {
        let mut refuse = |message: String| {
            found.push(Found { offset: layout.annotation(policy.id(), key), message });
        };
        match key {
            "id" => about.id = Some(value.to_owned()),
            "consent" if !permit => refuse(format!(
                "@consent({value:?}) on a forbid: an obligation is what a permit asks before the call \
                 goes through; a forbid has nothing to ask"
            )),
            "consent" => match Consent::parse(value) {
                Some(consent) => about.consent = Some(consent),
                None => refuse(format!(
                    "@consent({value:?}) is neither \"once\" nor a duration such as \"PT24H\", \"P1D\", \
                     \"PT30M\" or \"P1DT12H\" (days, hours, minutes, seconds, in that order)"
                )),
            },
            unknown => refuse(format!(
                "unknown annotation @{unknown}: the gateway knows {} only, and would ignore it",
                ANNOTATIONS.map(|k| format!("@{k}")).join(" and ")
            )),
        }
    }
    (about, found)
}

/// `about` of every policy, by id.
pub(super) fn abouts(policies: &PolicySet, layout: &Layout) -> (HashMap<PolicyId, About>, Vec<Found>) {
    let mut all = HashMap::new();
    let mut found = Vec::new();
    // By place in the file, so that of two policies with one `@id` the later is refused.
    let mut ordered: Vec<&Policy> = policies.policies().collect();
    ordered.sort_by_key(|policy| layout.start(policy.id()));
    let mut ids: HashSet<String> = HashSet::new();
    for policy in ordered {
        let (about, problems) = about(policy, layout);
        if let Some(id) = &about.id
            && !ids.insert(id.clone())
        {
            found.push(Found {
                offset: layout.annotation(policy.id(), "id"),
                message: format!(
                    "@id({id:?}) is another policy's too: the audit names the policies that decided \
                     by their ids, which must tell them apart"
                ),
            });
        }
        all.insert(policy.id().clone(), about);
        found.extend(problems);
    }
    (all, found)
}
