//! Integrity: section digests, the chain head, and one Ed25519 signature.
//!
//! Signing everything as one blob would say *that* a pack changed, not
//! *where*. So each section is digested separately (object sections whole,
//! array sections per item, with `run.steps` split out of `run`), the audit
//! log is reduced to its chain head, and the signature covers only the
//! small, canonical statement
//! `{schemaVersion, runId, generatedAt, chainHead, digests, keyId}`.
//! A verifier that finds the signature valid trusts the digests, and the
//! first digest that disagrees names the altered section or item.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::canonical::{digest_value, to_canonical_vec};
use crate::chain::{AuditRecord, ChainHead};
use crate::keys::{encode_public_key, key_id};
use crate::pack::EvidencePack;

/// The only signature algorithm of v1.
pub const ALGORITHM: &str = "ed25519";

/// The `integrity` block of a signed pack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Integrity {
    /// Always [`ALGORITHM`].
    pub algorithm: String,
    /// First 16 hex digits of SHA-256 of the public key.
    pub key_id: String,
    /// The signing key's public half, base64 (32 bytes).
    pub public_key: String,
    /// Last record of `auditLog`.
    pub chain_head: ChainHead,
    /// Per-section digests.
    pub digests: Digests,
    /// Base64 Ed25519 signature over [`signed_payload`].
    pub signature: String,
}

/// SHA-256 (hex) of the canonical JSON of each section. Object sections
/// have one digest; array sections one per item, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Digests {
    /// `workflow`.
    pub workflow: String,
    /// `run` without `steps`.
    pub run: String,
    /// `run.steps[i]`.
    pub run_steps: Vec<String>,
    /// `prompts[i]`.
    pub prompts: Vec<String>,
    /// `approvals[i]`.
    pub approvals: Vec<String>,
    /// `conversation[i]`. Left out when empty, like the section itself: the
    /// signed digests of packs written before the section existed have no
    /// such key, and a pack without questions must sign the same statement.
    /// An absent key is read as "no items were signed".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conversation: Vec<String>,
    /// `policyDecisions[i]`.
    pub policy_decisions: Vec<String>,
    /// `toolCalls[i]`.
    pub tool_calls: Vec<String>,
    /// `sandboxExecutions[i]`.
    pub sandbox_executions: Vec<String>,
    /// `sandboxSessions[i]`. Left out when empty, like the section itself
    /// (see `conversation`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sandbox_sessions: Vec<String>,
    /// `modelUsage[i]`.
    pub model_usage: Vec<String>,
    /// `artifacts[i]`.
    pub artifacts: Vec<String>,
    /// `auditLog[i]`.
    pub audit_log: Vec<String>,
}

/// How a section is digested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// One digest of the whole object (minus `without`).
    Object { without: Option<&'static str> },
    /// One digest per array item.
    Items,
}

/// A digested part of the pack.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Section {
    /// Key in `integrity.digests`.
    pub(crate) digest_key: &'static str,
    /// How reports name it: `run.steps`, `approvals`.
    pub(crate) path: &'static str,
    /// Top-level key holding it.
    pub(crate) top: &'static str,
    /// Key inside `top`, for nested sections.
    pub(crate) nested: Option<&'static str>,
    pub(crate) kind: Kind,
    /// Added to v1 after its release and written only when non-empty: an
    /// absent section counts as an empty list, and an absent digest list
    /// as "no items signed". Only array sections can be optional.
    pub(crate) optional: bool,
}

const fn items(key: &'static str) -> Section {
    Section {
        digest_key: key,
        path: key,
        top: key,
        nested: None,
        kind: Kind::Items,
        optional: false,
    }
}

/// An array section that may be absent (see [`Section::optional`]).
const fn optional_items(key: &'static str) -> Section {
    Section {
        optional: true,
        ..items(key)
    }
}

/// Every digested section, in `Digests` order.
pub(crate) const SECTIONS: [Section; 13] = [
    Section {
        digest_key: "workflow",
        path: "workflow",
        top: "workflow",
        nested: None,
        kind: Kind::Object { without: None },
        optional: false,
    },
    Section {
        digest_key: "run",
        path: "run",
        top: "run",
        nested: None,
        kind: Kind::Object {
            without: Some("steps"),
        },
        optional: false,
    },
    Section {
        digest_key: "runSteps",
        path: "run.steps",
        top: "run",
        nested: Some("steps"),
        kind: Kind::Items,
        optional: false,
    },
    items("prompts"),
    items("approvals"),
    optional_items("conversation"),
    items("policyDecisions"),
    items("toolCalls"),
    items("sandboxExecutions"),
    optional_items("sandboxSessions"),
    items("modelUsage"),
    items("artifacts"),
    items("auditLog"),
];

/// A section's digest as computed from a pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SectionDigest {
    One(String),
    Items(Vec<String>),
}

/// Digests `section` of `pack`; `None` if it is absent (and not optional)
/// or of the wrong type (an object where items are expected, or the
/// reverse). An absent optional section digests as an empty list.
pub(crate) fn section_digest(pack: &Value, section: &Section) -> Option<SectionDigest> {
    let Some(mut value) = pack.get(section.top) else {
        return section.optional.then(|| SectionDigest::Items(Vec::new()));
    };
    if let Some(nested) = section.nested {
        value = value.get(nested)?;
    }
    match section.kind {
        Kind::Object { without } => {
            let object = value.as_object()?;
            let digested = match without {
                Some(key) => {
                    let mut trimmed = object.clone();
                    trimmed.remove(key);
                    Cow::Owned(Value::Object(trimmed))
                }
                None => Cow::Borrowed(value),
            };
            Some(SectionDigest::One(digest_value(&digested)))
        }
        Kind::Items => Some(SectionDigest::Items(
            value.as_array()?.iter().map(digest_value).collect(),
        )),
    }
}

/// The bytes the signature covers: the canonical JSON of
/// `{schemaVersion, runId, generatedAt, chainHead, digests, keyId}`, taken
/// from the pack as it stands (missing values count as `null`).
pub fn signed_payload(pack: &Value) -> Vec<u8> {
    let integrity = pack.get("integrity");
    let field = |v: Option<&Value>| v.cloned().unwrap_or(Value::Null);
    to_canonical_vec(&json!({
        "schemaVersion": field(pack.get("schemaVersion")),
        "runId": field(pack.get("runId")),
        "generatedAt": field(pack.get("generatedAt")),
        "chainHead": field(integrity.and_then(|i| i.get("chainHead"))),
        "digests": field(integrity.and_then(|i| i.get("digests"))),
        "keyId": field(integrity.and_then(|i| i.get("keyId"))),
    }))
}

/// Signs `pack` with `key`, replacing any previous `integrity`.
pub fn sign(pack: &mut EvidencePack, key: &SigningKey) {
    pack.integrity = None;
    let mut value = serde_json::to_value(&*pack)
        .expect("evidence packs serialise: all map keys are strings and no Serialize is custom");
    let digests = Digests::of(&value);
    let chain_head = pack
        .audit_log
        .last()
        .map_or_else(ChainHead::genesis, AuditRecord::head);
    let verifying = key.verifying_key();
    let mut integrity = Integrity {
        algorithm: ALGORITHM.to_owned(),
        key_id: key_id(&verifying),
        public_key: encode_public_key(&verifying),
        chain_head,
        digests,
        signature: String::new(),
    };
    value["integrity"] = serde_json::to_value(&integrity)
        .expect("the integrity block serialises: plain strings and lists");
    integrity.signature = STANDARD.encode(key.sign(&signed_payload(&value)).to_bytes());
    pack.integrity = Some(integrity);
}

impl Digests {
    /// Digests of every section of `pack` (absent sections digest as
    /// empty: they cannot occur in a pack built from [`EvidencePack`]).
    pub(crate) fn of(pack: &Value) -> Self {
        let [
            workflow,
            run,
            steps,
            prompts,
            approvals,
            conversation,
            policy,
            tools,
            sandbox,
            sessions,
            usage,
            artifacts,
            audit,
        ] = SECTIONS.map(|s| section_digest(pack, &s));
        let one = |d: Option<SectionDigest>| match d {
            Some(SectionDigest::One(d)) => d,
            _ => String::new(),
        };
        let many = |d: Option<SectionDigest>| match d {
            Some(SectionDigest::Items(ds)) => ds,
            _ => Vec::new(),
        };
        Self {
            workflow: one(workflow),
            run: one(run),
            run_steps: many(steps),
            prompts: many(prompts),
            approvals: many(approvals),
            conversation: many(conversation),
            policy_decisions: many(policy),
            tool_calls: many(tools),
            sandbox_executions: many(sandbox),
            sandbox_sessions: many(sessions),
            model_usage: many(usage),
            artifacts: many(artifacts),
            audit_log: many(audit),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_match_the_digests_struct() {
        // One item in each optional section, so that its digest list is written.
        let digests = serde_json::to_value(Digests::of(&json!({
            "conversation": [{"id": "q-1"}],
            "sandboxSessions": [{"session": "s-1"}],
        })))
        .unwrap();
        let keys: Vec<&str> = digests
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected: Vec<&str> = SECTIONS.iter().map(|s| s.digest_key).collect();
        expected.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, expected);
    }

    #[test]
    fn only_optional_sections_may_be_left_out_and_only_when_empty() {
        let digests = serde_json::to_value(Digests::of(&json!({}))).unwrap();
        let mut absent: Vec<&str> = SECTIONS
            .iter()
            .filter(|s| digests.get(s.digest_key).is_none())
            .map(|s| s.digest_key)
            .collect();
        absent.sort_unstable();
        let mut optional: Vec<&str> = SECTIONS
            .iter()
            .filter(|s| s.optional)
            .map(|s| s.digest_key)
            .collect();
        optional.sort_unstable();
        assert_eq!(absent, optional);
        assert_eq!(optional, ["conversation", "sandboxSessions"]);
        for section in SECTIONS.iter().filter(|s| s.optional) {
            assert_eq!(section.kind, Kind::Items, "{}", section.path);
            assert_eq!(
                section_digest(&json!({}), section),
                Some(SectionDigest::Items(Vec::new()))
            );
        }
        let back: Digests = serde_json::from_value(digests).unwrap();
        assert!(back.conversation.is_empty());
        assert!(back.sandbox_sessions.is_empty());
    }

    #[test]
    fn run_digest_leaves_steps_to_their_own_digests() {
        let a = json!({"run": {"status": "completed", "steps": [{"n": 1}]}});
        let b = json!({"run": {"status": "completed", "steps": [{"n": 2}]}});
        assert_eq!(Digests::of(&a).run, Digests::of(&b).run);
        assert_ne!(Digests::of(&a).run_steps, Digests::of(&b).run_steps);
    }
}
