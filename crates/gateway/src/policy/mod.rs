//! The policy stage: Cedar policies over typed call facts.
//!
//! A [`PolicySet`] is policy text plus what every decision must name: its
//! version and the SHA-256 of its text. It is parsed and validated once
//! (strictly, against the [`PolicySchema`] of the tool registry) and then
//! evaluated per call with no IO and no allocation beyond the Cedar request.
//!
//! A set whose text does not parse or validate can still be *loaded*
//! ([`PolicySet::load`]): it then rejects every call with reason
//! `policy_set_unusable`. That is how a broken policy set fails closed
//! without taking the server down.

mod compile;
mod eval;
mod schema;

use std::fmt;
use std::sync::Arc;

use cedar_policy::Authorizer;

use agentwerke_evidence::canonical::sha256_hex;

use crate::decision::Reason;
use crate::error::{Error, PolicyIssue};

pub use eval::{PolicyRequest, PolicyVerdict};
pub use schema::{BASE_SCHEMA, PolicySchema};

/// The default policy set shipped with the gateway.
pub const DEFAULT_POLICIES: &str = include_str!("../../policies/default.cedar");

/// The version [`PolicySet::default_set`] reports.
pub const DEFAULT_POLICIES_VERSION: &str = "builtin-1";

/// A versioned, hashed, validated Cedar policy set. Cheap to clone.
#[derive(Clone)]
pub struct PolicySet {
    inner: Arc<Inner>,
}

struct Inner {
    version: String,
    hash: String,
    text: String,
    schema: Arc<PolicySchema>,
    compiled: Result<compile::Compiled, Vec<PolicyIssue>>,
    authorizer: Authorizer,
}

impl PolicySet {
    /// Parses and validates `text` against `schema`. Every policy needs a
    /// unique `@id`; `@decision`, `@risk` and `@approver_role` must have
    /// valid values. Returns every problem found.
    pub fn parse(
        version: impl Into<String>,
        text: impl Into<String>,
        schema: Arc<PolicySchema>,
    ) -> Result<Self, Error> {
        let set = Self::load(version, text, schema);
        match &set.inner.compiled {
            Ok(_) => Ok(set),
            Err(issues) => Err(Error::InvalidPolicySet(issues.clone())),
        }
    }

    /// Like [`Self::parse`], but never fails: a set with problems is
    /// returned unusable and rejects every call (see [`Self::issues`]).
    pub fn load(
        version: impl Into<String>,
        text: impl Into<String>,
        schema: Arc<PolicySchema>,
    ) -> Self {
        let text = text.into();
        let compiled = compile::compile(&text, &schema);
        Self::from_parts(version.into(), text, schema, compiled)
    }

    /// The shipped default policy set ([`DEFAULT_POLICIES`]).
    pub fn default_set(schema: Arc<PolicySchema>) -> Result<Self, Error> {
        Self::parse(DEFAULT_POLICIES_VERSION, DEFAULT_POLICIES, schema)
    }

    fn from_parts(
        version: String,
        text: String,
        schema: Arc<PolicySchema>,
        compiled: Result<compile::Compiled, Vec<PolicyIssue>>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                hash: sha256_hex(text.as_bytes()),
                version,
                text,
                schema,
                compiled,
                authorizer: Authorizer::new(),
            }),
        }
    }

    /// The version the operator gave it.
    pub fn version(&self) -> &str {
        &self.inner.version
    }

    /// SHA-256 (hex) of the text.
    pub fn hash(&self) -> &str {
        &self.inner.hash
    }

    /// The policy text.
    pub fn text(&self) -> &str {
        &self.inner.text
    }

    /// The schema it was validated against.
    pub fn schema(&self) -> &PolicySchema {
        &self.inner.schema
    }

    pub(crate) fn schema_arc(&self) -> &Arc<PolicySchema> {
        &self.inner.schema
    }

    /// Problems that make the set unusable; empty if it is usable.
    pub fn issues(&self) -> &[PolicyIssue] {
        match &self.inner.compiled {
            Ok(_) => &[],
            Err(issues) => issues,
        }
    }

    /// The `@id`s of its policies, sorted.
    pub fn policy_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = match &self.inner.compiled {
            Ok(c) => c.meta.values().map(|m| m.id.clone()).collect(),
            Err(_) => Vec::new(),
        };
        ids.sort();
        ids
    }

    /// Evaluates one call. Pure: no IO, no clock.
    pub fn evaluate(&self, req: &PolicyRequest<'_>) -> PolicyVerdict {
        match &self.inner.compiled {
            Ok(compiled) => {
                eval::evaluate(compiled, &self.inner.schema, &self.inner.authorizer, req)
            }
            Err(issues) => PolicyVerdict::reject(
                Reason::PolicySetUnusable,
                format!(
                    "policy set {} is unusable, every call is rejected until it is fixed: {}",
                    self.version(),
                    issues
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                Vec::new(),
            ),
        }
    }
}

impl fmt::Debug for PolicySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicySet")
            .field("version", &self.version())
            .field("hash", &self.hash())
            .field("policies", &self.policy_ids())
            .field("issues", &self.issues())
            .finish()
    }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
