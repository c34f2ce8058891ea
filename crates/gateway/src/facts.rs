//! Typed facts derived from a call's arguments, for policies and risk.
//!
//! Policies should not parse URLs or shell commands: that is where policy
//! languages get subtle and wrong. The gateway derives the few facts that
//! matter (destination host, path and whether it stays in the workspace,
//! destructive intent, production target, secret material) in Rust, once,
//! and hands them to Cedar as plain typed values.
//!
//! Facts come from *top-level* argument members with well-known names, so
//! they apply to every tool, built-in or not:
//!
//! | Fact | Members |
//! |---|---|
//! | host | `url`, `uri`, `endpoint` (http/https URLs), `host` |
//! | method | `method` |
//! | path | `path`, `file`, `filePath`, `file_path`, `directory`, `cwd` |
//! | repo | `repo`, `repository` |
//! | environment | `environment`, `env`, else the task's `environment` |
//! | destructive | `method` = DELETE; `command`, `cmd`, `script`, `sql`, `statement`, `args`, `argv`, or `program` followed by `args`, matching [`DESTRUCTIVE_PATTERNS`]; `force: true` |
//! | secret material | anything [`agentwerke_evidence::redact`] would redact; a URL with a password |
//!
//! Derivation errs towards caution: a false "destructive" costs an
//! approval, a missed one costs a production database.

use reqwest::Url;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use agentwerke_evidence::redact::Redactor;
use agentwerke_secrets::SecretRef;

/// Command fragments that mark a call as destructive. Matched
/// case-insensitively, with whitespace collapsed, at a word start.
pub const DESTRUCTIVE_PATTERNS: [&str; 22] = [
    "rm -rf",
    "rm -fr",
    "rm -r",
    "rm --recursive",
    "rmdir",
    "drop table",
    "drop database",
    "drop schema",
    "truncate table",
    "delete from",
    "git push --force",
    "git push -f",
    "--force-with-lease",
    "git reset --hard",
    "git clean -f",
    "mkfs",
    "dd if=",
    "kubectl delete",
    "terraform destroy",
    "helm uninstall",
    "shutdown",
    "format c:",
];

/// Words in a host, path, repo or environment that mean production.
const PRODUCTION_WORDS: [&str; 3] = ["prod", "production", "prd"];

const URL_KEYS: [&str; 3] = ["url", "uri", "endpoint"];
const PATH_KEYS: [&str; 6] = ["path", "file", "filePath", "file_path", "directory", "cwd"];
const REPO_KEYS: [&str; 2] = ["repo", "repository"];
const ENV_KEYS: [&str; 2] = ["environment", "env"];
const COMMAND_KEYS: [&str; 7] = [
    "command",
    "cmd",
    "script",
    "sql",
    "statement",
    "args",
    "argv",
];

/// What a call acts on: the Cedar resource `Target::"<id>"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// `host`, `path`, `repo`, `environment` or `none`.
    pub kind: TargetKind,
    /// The host, normalised path, repo or environment; `none` for none.
    pub id: String,
}

/// Which fact a [`Target`] was taken from (the first present in this order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// A destination host.
    Host,
    /// A file system path.
    Path,
    /// A repository.
    Repo,
    /// A deployment environment.
    Environment,
    /// The call names nothing it acts on.
    None,
}

impl TargetKind {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            TargetKind::Host => "host",
            TargetKind::Path => "path",
            TargetKind::Repo => "repo",
            TargetKind::Environment => "environment",
            TargetKind::None => "none",
        }
    }
}

/// The facts of one call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Facts {
    /// The Cedar resource.
    pub target: Target,
    /// Destination host, lowercased.
    pub host: Option<String>,
    /// HTTP method, uppercased.
    pub method: Option<String>,
    /// The path, normalised lexically and made absolute against the
    /// workspace root.
    pub path: Option<String>,
    /// Whether [`Self::path`] stays under the workspace root.
    pub path_in_workspace: bool,
    /// The repository.
    pub repo: Option<String>,
    /// The environment (the arguments' own, else the task's).
    pub environment: Option<String>,
    /// What made the call destructive; empty if nothing did.
    pub destructive: Vec<String>,
    /// What made the call production-bound, if anything did.
    pub production: Option<String>,
    /// Whether the arguments carry secret material.
    pub secret_material: bool,
}

/// Whether redaction changed `args` anywhere but at a string that is only
/// a secret reference (`secret:NAME`, or `Bearer secret:NAME` as a header
/// carries it): a reference names a secret the gateway checks against the
/// agent's grants and resolves itself; it holds no value. A whole value
/// replaced because of its key (`"secrets": [...]`) still counts.
fn redacted_beyond_references(args: &Value, redacted: &Value) -> bool {
    match (args, redacted) {
        (Value::String(arg), Value::String(shown)) => arg != shown && !is_reference(arg),
        (Value::Array(args), Value::Array(shown)) => {
            args.len() != shown.len()
                || args
                    .iter()
                    .zip(shown)
                    .any(|(arg, shown)| redacted_beyond_references(arg, shown))
        }
        (Value::Object(args), Value::Object(shown)) => {
            args.len() != shown.len()
                || args.iter().any(|(key, arg)| {
                    shown
                        .get(key)
                        .is_none_or(|shown| redacted_beyond_references(arg, shown))
                })
        }
        (arg, shown) => arg != shown,
    }
}

/// `secret:NAME`, optionally after one word of scheme (`Bearer`).
fn is_reference(text: &str) -> bool {
    let reference = match text.split_once(' ') {
        Some((scheme, rest)) if scheme.chars().all(|c| c.is_ascii_alphabetic()) => rest,
        _ => text,
    };
    SecretRef::parse(reference).is_ok()
}

impl Facts {
    /// Derives the facts of `args` and returns them with the redacted
    /// arguments (redaction is how secret material is detected, so both
    /// come from one pass). Relative paths resolve against
    /// `workspace_root`.
    pub fn derive(
        args: &Value,
        task_environment: Option<&str>,
        workspace_root: &str,
        redactor: &Redactor,
    ) -> (Facts, Value) {
        let mut redacted = args.clone();
        redactor.redact_value(&mut redacted);
        let mut secret_material = redacted_beyond_references(args, &redacted);

        let mut host = None;
        if let Some(url) = first_str(args, &URL_KEYS)
            && let Ok(parsed) = Url::parse(url)
            && matches!(parsed.scheme(), "http" | "https")
        {
            host = parsed.host_str().map(normalize_host);
            secret_material |= parsed.password().is_some();
        }
        if host.is_none() {
            host = first_str(args, &["host"]).map(normalize_host);
        }
        let method = first_str(args, &["method"]).map(str::to_ascii_uppercase);
        let (path, path_in_workspace) = match first_str(args, &PATH_KEYS) {
            Some(raw) => {
                let (path, inside) = resolve_path(raw, workspace_root);
                (Some(path), inside)
            }
            None => (None, false),
        };
        let repo = first_str(args, &REPO_KEYS).map(str::to_owned);
        let environment = first_str(args, &ENV_KEYS)
            .or(task_environment)
            .filter(|e| !e.is_empty())
            .map(str::to_owned);

        let destructive = destructive_reasons(args, method.as_deref());
        let production = production_reason(
            environment.as_deref(),
            host.as_deref(),
            path.as_deref(),
            repo.as_deref(),
        );
        let target = [
            (TargetKind::Host, &host),
            (TargetKind::Path, &path),
            (TargetKind::Repo, &repo),
            (TargetKind::Environment, &environment),
        ]
        .into_iter()
        .find_map(|(kind, value)| {
            value.as_ref().map(|id| Target {
                kind,
                id: id.clone(),
            })
        })
        .unwrap_or(Target {
            kind: TargetKind::None,
            id: "none".to_owned(),
        });

        let facts = Facts {
            target,
            host,
            method,
            path,
            path_in_workspace,
            repo,
            environment,
            destructive,
            production,
            secret_material,
        };
        (facts, redacted)
    }

    /// Whether anything made the call destructive.
    pub fn is_destructive(&self) -> bool {
        !self.destructive.is_empty()
    }

    /// Whether the call is bound for production.
    pub fn is_production(&self) -> bool {
        self.production.is_some()
    }

    /// The systems the call would touch, for approvers and evidence.
    pub fn affected_systems(&self) -> Vec<String> {
        let mut systems = Vec::new();
        let parts = [
            ("host", &self.host),
            ("path", &self.path),
            ("repo", &self.repo),
            ("environment", &self.environment),
        ];
        for (kind, value) in parts {
            if let Some(value) = value {
                systems.push(format!("{kind}:{value}"));
            }
        }
        systems
    }
}

fn first_str<'a>(args: &'a Value, keys: &[&str]) -> Option<&'a str> {
    let map = args.as_object()?;
    keys.iter()
        .find_map(|k| map.get(*k).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
}

/// A host as policies and egress rules compare it: lowercase, without
/// IPv6 brackets or the root's trailing dot.
pub(crate) fn normalize_host(host: &str) -> String {
    host.trim_end_matches('.')
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

/// Lexical resolution: no file system access, so a symlink can still lead
/// out of the workspace; the sandbox, not the gateway, stops that.
fn resolve_path(raw: &str, workspace_root: &str) -> (String, bool) {
    if raw.starts_with('~') {
        return (raw.to_owned(), false);
    }
    let root = normalize_absolute(workspace_root);
    let joined = if raw.starts_with('/') {
        raw.to_owned()
    } else {
        format!("{root}/{raw}")
    };
    let path = normalize_absolute(&joined);
    let inside = path == root || root == "/" || path.starts_with(&format!("{root}/"));
    (path, inside)
}

fn normalize_absolute(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    format!("/{}", parts.join("/"))
}

fn destructive_reasons(args: &Value, method: Option<&str>) -> Vec<String> {
    let mut reasons = Vec::new();
    if method == Some("DELETE") {
        reasons.push("DELETE".to_owned());
    }
    if let Some(map) = args.as_object() {
        for key in COMMAND_KEYS {
            let Some(text) = map.get(key).and_then(command_text) else {
                continue;
            };
            for pattern in DESTRUCTIVE_PATTERNS {
                if contains_at_word_start(&text, pattern) && !reasons.iter().any(|r| r == pattern) {
                    reasons.push(pattern.to_owned());
                }
            }
        }
        // A program and its arguments (`exec.run`) are one command line.
        if let Some(program) = map.get("program").and_then(Value::as_str) {
            let args = map.get("args").and_then(command_text).unwrap_or_default();
            let text =
                command_text(&Value::String(format!("{program} {args}"))).unwrap_or_default();
            for pattern in DESTRUCTIVE_PATTERNS {
                if contains_at_word_start(&text, pattern) && !reasons.iter().any(|r| r == pattern) {
                    reasons.push(pattern.to_owned());
                }
            }
        }
        if map.get("force") == Some(&Value::Bool(true)) {
            reasons.push("force: true".to_owned());
        }
    }
    reasons
}

/// A command as one lowercased line with single spaces.
fn command_text(value: &Value) -> Option<String> {
    let raw = match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" "),
        _ => return None,
    };
    Some(
        raw.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase(),
    )
}

fn contains_at_word_start(text: &str, pattern: &str) -> bool {
    text.match_indices(pattern).any(|(i, _)| {
        text[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric())
    })
}

fn production_reason(
    environment: Option<&str>,
    host: Option<&str>,
    path: Option<&str>,
    repo: Option<&str>,
) -> Option<String> {
    let parts = [
        ("environment", environment),
        ("host", host),
        ("path", path),
        ("repo", repo),
    ];
    parts.into_iter().find_map(|(kind, value)| {
        let value = value?;
        let mentions = value
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|word| PRODUCTION_WORDS.contains(&word.to_ascii_lowercase().as_str()));
        mentions.then(|| format!("{kind} {value}"))
    })
}

#[cfg(test)]
#[path = "facts_tests.rs"]
mod tests;
