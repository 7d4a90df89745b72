//! The axum side: [`Authorized<S>`] puts token validation in front of a handler, reading what it
//! needs ([`ResourceGuard`]) from any application state through `FromRef`, so the MCP server and
//! the gateway each keep their own state type.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use protocol::scope::Scopes;

use crate::error::{BearerError, Rejection};
use crate::validator::Validator;
use crate::verified::VerifiedToken;

/// What the extractor needs from the application: the validator, and where this resource's RFC
/// 9728 metadata lives (every challenge names it). One `Arc`, so that taking it from the
/// application's state for every request is one reference count.
#[derive(Clone)]
pub struct ResourceGuard(Arc<Guard>);

struct Guard {
    validator: Arc<Validator>,
    resource_metadata_url: String,
}

impl ResourceGuard {
    pub fn new(validator: Arc<Validator>, resource_metadata_url: impl Into<String>) -> Self {
        Self(Arc::new(Guard { validator, resource_metadata_url: resource_metadata_url.into() }))
    }

    pub fn validator(&self) -> &Validator {
        &self.0.validator
    }

    /// The resource's RFC 9728 metadata URL, named in every challenge.
    pub fn resource_metadata_url(&self) -> &str {
        &self.0.resource_metadata_url
    }

    /// The answer for `error`, with `scope` as what the request needed.
    pub fn rejection(&self, error: BearerError, scope: Scopes) -> Rejection {
        Rejection { error, resource_metadata: self.0.resource_metadata_url.clone(), scope }
    }
}

/// The scopes a route needs, as a type, so the extractor knows what to demand.
pub trait ScopeRequirement: Send + Sync + 'static {
    const SCOPES: &'static [&'static str];
}

/// A verified token carrying `S::SCOPES`; the handler never runs otherwise, and the client gets
/// the right challenge.
pub struct Authorized<S: ScopeRequirement>(pub Arc<VerifiedToken>, pub PhantomData<S>);

impl<S, State> FromRequestParts<State> for Authorized<S>
where
    S: ScopeRequirement,
    ResourceGuard: FromRef<State>,
    State: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, Self::Rejection> {
        let guard = ResourceGuard::from_ref(state);
        let needed = || Scopes::from_tokens(S::SCOPES).unwrap_or_default();
        let token = guard
            .validator()
            .verify_request(&parts.headers, parts.uri.query())
            .await
            .map_err(|error| guard.rejection(error, needed()))?;
        // The common case allocates nothing: the route's constant scopes are looked up one by one.
        if !token.has_all(S::SCOPES) {
            let needed = needed();
            // `require` names the union for step-up. Should the route's constants not parse as
            // scope tokens (`needed` then empty), the request is still refused: fail closed.
            let error = token
                .require(&needed)
                .err()
                .unwrap_or_else(|| BearerError::InsufficientScope(needed.clone()));
            let error = guard.validator().refused(error);
            return Err(guard.rejection(error, needed));
        }
        Ok(Self(token, PhantomData))
    }
}
