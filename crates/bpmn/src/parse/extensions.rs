//! Agentwerke extension elements: `agentTask`, `approvalTask`, `externalEvent`.
//!
//! They live in `extensionElements` under [`AGENTWERKE_NS`] with any prefix.
//! A missing required attribute, a value outside an enum, or a number that
//! does not parse is an error naming the attribute, the allowed values and
//! where it is; the extension is then left out of the model (validation does
//! not report it missing a second time). Unknown attributes are warnings.

use roxmltree::Node;

use crate::diagnostic::Diagnostic;
use crate::model::{
    AGENTWERKE_NS, AgentTaskSpec, ApprovalExpiry, ApprovalSpec, BudgetExceeded, ExecutionMode,
    ExpiryOutcome, ExternalEvent, PermissionLevel, SandboxProfile, TaskBudgets, ToolEscalation,
};

use agentwerke_types::hosts;

use super::{Reader, bpmn_child, text_of};
use crate::timer::IsoDuration;

const AGENT_TASK_ATTRS: &[&str] = &[
    "agent",
    "action",
    "purposeType",
    "policyTag",
    "environment",
    "requiresEvidence",
    "executionMode",
    "sandboxProfile",
    "permissionLevel",
    "allowedTools",
    "deniedTools",
    "toolEscalation",
    "prompt",
    "maxRetries",
    "retryBackoffSeconds",
    "timeoutSeconds",
    "strictVariables",
    "stepTokenBudget",
    "stepCostBudget",
    "runTokenBudget",
    "runCostBudget",
    "onBudgetExceeded",
    "egressHosts",
];
const APPROVAL_TASK_ATTRS: &[&str] = &[
    "purposeType",
    "policyTag",
    "approverRole",
    "expiresAfter",
    "onExpiry",
];
const EXTERNAL_EVENT_ATTRS: &[&str] = &["messageName", "correlationKeyTemplate"];

/// Where each extension may appear.
const PLACEMENT: &[(&str, &[&str])] = &[
    ("agentTask", &["serviceTask", "scriptTask"]),
    ("approvalTask", &["userTask"]),
    ("externalEvent", &["receiveTask", "intermediateCatchEvent"]),
];

/// Our elements directly inside `extensionElements` of `host`.
fn ours<'a, 'input>(host: Node<'a, 'input>) -> impl Iterator<Item = Node<'a, 'input>> {
    bpmn_child(host, "extensionElements")
        .into_iter()
        .flat_map(|ext| ext.children())
        .filter(|c| c.is_element() && c.tag_name().namespace() == Some(AGENTWERKE_NS))
}

/// The first extension element named `name` on `host`.
pub(super) fn find<'a, 'input>(host: Node<'a, 'input>, name: &str) -> Option<Node<'a, 'input>> {
    ours(host).find(|c| c.tag_name().name() == name)
}

/// Reads one extension's attributes, recording problems against the host.
struct Attrs<'r, 'a, 'input> {
    reader: &'r mut Reader<'a, 'input>,
    host_id: Option<&'a str>,
    ext: Node<'a, 'input>,
    ok: bool,
}

impl<'a, 'input> Attrs<'_, 'a, 'input> {
    fn where_(&self) -> String {
        format!(
            "`{}` on `{}`",
            self.ext.tag_name().name(),
            self.host_id.unwrap_or("?")
        )
    }

    fn error(&mut self, code: &'static str, message: String) {
        self.ok = false;
        let position = self.reader.position(self.ext);
        self.reader
            .diagnostics
            .push(Diagnostic::error(code, message, self.host_id, position));
    }

    /// The attribute, unqualified or in our namespace, trimmed; empty is absent.
    fn get(&self, name: &str) -> Option<&'a str> {
        self.ext
            .attributes()
            .find(|a| a.name() == name && a.namespace().is_none_or(|ns| ns == AGENTWERKE_NS))
            .map(|a| a.value().trim())
            .filter(|v| !v.is_empty())
    }

    fn required(&mut self, name: &str) -> String {
        match self.get(name) {
            Some(v) => v.to_owned(),
            None => {
                let msg = format!(
                    "{} is missing the required attribute `{name}`",
                    self.where_()
                );
                self.error("bpmn.missing_attribute", msg);
                String::new()
            }
        }
    }

    fn optional(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_owned)
    }

    fn choice<T: Copy>(&mut self, name: &str, default: T, allowed: &[(&str, T)]) -> T {
        let Some(value) = self.get(name) else {
            return default;
        };
        if let Some((_, v)) = allowed.iter().find(|(text, _)| *text == value) {
            return *v;
        }
        let names: Vec<&str> = allowed.iter().map(|(text, _)| *text).collect();
        let msg = format!(
            "{} has `{name}=\"{value}\"`; allowed values are {}",
            self.where_(),
            names.join(", ")
        );
        self.error("bpmn.invalid_attribute", msg);
        default
    }

    /// `expiresAfter` (a non-zero ISO 8601 duration) and `onExpiry` of an
    /// approval task; `onExpiry` alone has nothing to apply to.
    fn expiry(&mut self) -> Option<ApprovalExpiry> {
        let on_expiry = self.choice(
            "onExpiry",
            ExpiryOutcome::Reject,
            &[
                ("reject", ExpiryOutcome::Reject),
                ("approve", ExpiryOutcome::Approve),
                ("requestChanges", ExpiryOutcome::RequestChanges),
            ],
        );
        let Some(text) = self.get("expiresAfter") else {
            if self.get("onExpiry").is_some() {
                let msg = format!(
                    "{} has `onExpiry` but no `expiresAfter`: say after how long the \
                     approval expires, e.g. expiresAfter=\"PT4H\"",
                    self.where_()
                );
                self.error("bpmn.invalid_expiry", msg);
            }
            return None;
        };
        match IsoDuration::parse(text) {
            Ok(duration) if !duration.is_zero() => Some(ApprovalExpiry {
                expires_after: text.to_owned(),
                duration,
                on_expiry,
            }),
            Ok(_) => {
                let msg = format!(
                    "{} has `expiresAfter=\"{text}\"`, which is zero: an approval \
                     must be open for some time",
                    self.where_()
                );
                self.error("bpmn.invalid_expiry", msg);
                None
            }
            Err(error) => {
                let msg = format!(
                    "{} has `expiresAfter=\"{text}\"`, which is not an ISO 8601 \
                     duration such as PT4H or P2D: {error}",
                    self.where_()
                );
                self.error("bpmn.invalid_expiry", msg);
                None
            }
        }
    }

    /// The task's model-spending limits: token budgets are whole numbers of
    /// 1 or more, cost budgets positive numbers of US dollars; a budget of
    /// 0 would let no model turn through, so it is refused too.
    fn budgets(&mut self) -> TaskBudgets {
        let on_exceed = self.get("onBudgetExceeded").map(|_| {
            self.choice(
                "onBudgetExceeded",
                BudgetExceeded::Fail,
                &[
                    ("fail", BudgetExceeded::Fail),
                    ("escalate", BudgetExceeded::Escalate),
                ],
            )
        });
        TaskBudgets {
            step_tokens: self.token_budget("stepTokenBudget"),
            step_cost_usd: self.cost_budget("stepCostBudget"),
            run_tokens: self.token_budget("runTokenBudget"),
            run_cost_usd: self.cost_budget("runCostBudget"),
            on_exceed,
        }
    }

    fn token_budget(&mut self, name: &str) -> Option<u64> {
        let value = self.get(name)?;
        match value.parse::<u64>() {
            Ok(tokens) if tokens > 0 => Some(tokens),
            _ => {
                let msg = format!(
                    "{} has `{name}=\"{value}\"`; a token budget is a whole number of 1 or more",
                    self.where_()
                );
                self.error("bpmn.invalid_budget", msg);
                None
            }
        }
    }

    fn cost_budget(&mut self, name: &str) -> Option<f64> {
        let value = self.get(name)?;
        match value.parse::<f64>() {
            Ok(usd) if usd.is_finite() && usd > 0.0 => Some(usd),
            _ => {
                let msg = format!(
                    "{} has `{name}=\"{value}\"`; a cost budget is a number of US dollars above 0, e.g. 0.50",
                    self.where_()
                );
                self.error("bpmn.invalid_budget", msg);
                None
            }
        }
    }

    fn boolean(&mut self, name: &str) -> bool {
        self.choice(
            name,
            false,
            &[("true", true), ("false", false), ("1", true), ("0", false)],
        )
    }

    fn number<T: std::str::FromStr>(&mut self, name: &str) -> Option<T> {
        let value = self.get(name)?;
        match value.parse::<T>() {
            Ok(n) => Some(n),
            Err(_) => {
                let msg = format!(
                    "{} has `{name}=\"{value}\"`; expected a whole number of 0 or more",
                    self.where_()
                );
                self.error("bpmn.invalid_attribute", msg);
                None
            }
        }
    }

    fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| {
                v.split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `egressHosts`: host names and `*.` suffix patterns, comma or
    /// whitespace separated, lowercased; a bad entry is an error naming it.
    fn hosts(&mut self, name: &str) -> Vec<String> {
        let mut hosts = Vec::new();
        for entry in self.list(name) {
            match hosts::host_pattern(&entry) {
                Ok(host) => hosts.push(host),
                Err(reason) => {
                    let msg = format!("{} has `{entry}` in `{name}`: {reason}", self.where_());
                    self.error("bpmn.invalid_attribute", msg);
                }
            }
        }
        hosts
    }

    fn warn_unknown(&mut self, known: &[&str]) {
        let unknown: Vec<String> = self
            .ext
            .attributes()
            .filter(|a| a.namespace().is_none_or(|ns| ns == AGENTWERKE_NS))
            .filter(|a| !known.contains(&a.name()))
            .map(|a| a.name().to_owned())
            .collect();
        for name in unknown {
            let position = self.reader.position(self.ext);
            let msg = format!(
                "{} has the unknown attribute `{name}`, which is ignored; known attributes are {}",
                self.where_(),
                known.join(", ")
            );
            self.reader.diagnostics.push(Diagnostic::warning(
                "bpmn.unknown_attribute",
                msg,
                self.host_id,
                position,
            ));
        }
    }
}

impl<'a, 'input> Reader<'a, 'input> {
    fn attrs<'r>(
        &'r mut self,
        host: Node<'a, 'input>,
        ext: Node<'a, 'input>,
    ) -> Attrs<'r, 'a, 'input> {
        Attrs {
            reader: self,
            host_id: host.attribute("id"),
            ext,
            ok: true,
        }
    }

    pub(super) fn read_agent_task(
        &mut self,
        host: Node<'a, 'input>,
        ext: Node<'a, 'input>,
    ) -> Option<AgentTaskSpec> {
        let mut a = self.attrs(host, ext);
        a.warn_unknown(AGENT_TASK_ATTRS);
        let agent = a.required("agent");
        let purpose_type = a.required("purposeType");
        let execution_mode = a.choice(
            "executionMode",
            ExecutionMode::Local,
            &[
                ("local", ExecutionMode::Local),
                ("tool_sandboxed", ExecutionMode::ToolSandboxed),
                ("agent_sandboxed", ExecutionMode::AgentSandboxed),
            ],
        );
        let sandbox_profile = a.choice(
            "sandboxProfile",
            SandboxProfile::Offline,
            &[
                ("offline", SandboxProfile::Offline),
                ("repo-read", SandboxProfile::RepoRead),
                ("repo-write", SandboxProfile::RepoWrite),
                ("deployment", SandboxProfile::Deployment),
            ],
        );
        let permission_level = a.choice(
            "permissionLevel",
            PermissionLevel::ReadOnly,
            &[
                ("read-only", PermissionLevel::ReadOnly),
                ("read-write", PermissionLevel::ReadWrite),
                ("full", PermissionLevel::Full),
            ],
        );
        let tool_escalation = a.choice(
            "toolEscalation",
            ToolEscalation::Reject,
            &[
                ("reject", ToolEscalation::Reject),
                ("escalate", ToolEscalation::Escalate),
            ],
        );
        let requires_evidence = a.boolean("requiresEvidence");
        let strict_variables = a.boolean("strictVariables");
        let max_retries = a.number("maxRetries").unwrap_or(0);
        let retry_backoff_seconds = a.number("retryBackoffSeconds").unwrap_or(0);
        let timeout_seconds = a.number("timeoutSeconds");
        let budgets = a.budgets();
        let egress_hosts = a.hosts("egressHosts");
        if !egress_hosts.is_empty() && sandbox_profile == SandboxProfile::Offline {
            let msg = format!(
                "{} has `egressHosts` under `sandboxProfile=\"offline\"`, which has no network; \
                 choose `repo-read`, `repo-write` or `deployment`, or remove `egressHosts`",
                a.where_()
            );
            a.error("bpmn.invalid_attribute", msg);
        }
        let mut prompt = a.optional("prompt");
        let children: Vec<Node<'a, 'input>> = ext
            .children()
            .filter(|c| c.is_element() && c.tag_name().namespace() == Some(AGENTWERKE_NS))
            .collect();
        let mut metadata = Vec::new();
        for child in children {
            match child.tag_name().name() {
                "prompt" => prompt = Some(text_of(child)),
                "metadata" => {
                    let key = child.attribute("key").map(str::trim).unwrap_or_default();
                    if key.is_empty() {
                        let msg = format!(
                            "`metadata` in {} is missing the required attribute `key`",
                            a.where_()
                        );
                        a.error("bpmn.missing_attribute", msg);
                    } else {
                        let value = child
                            .attribute("value")
                            .map_or_else(|| text_of(child), str::to_owned);
                        metadata.push((key.to_owned(), value));
                    }
                }
                other => {
                    let position = a.reader.position(child);
                    let msg = format!(
                        "{} has the unknown child element `{other}`, which is ignored",
                        a.where_()
                    );
                    a.reader.diagnostics.push(Diagnostic::warning(
                        "bpmn.unknown_extension",
                        msg,
                        a.host_id,
                        position,
                    ));
                }
            }
        }
        let spec = AgentTaskSpec {
            agent,
            action: a.optional("action"),
            purpose_type,
            policy_tag: a.optional("policyTag"),
            environment: a.optional("environment"),
            requires_evidence,
            execution_mode,
            sandbox_profile,
            permission_level,
            allowed_tools: a.list("allowedTools"),
            denied_tools: a.list("deniedTools"),
            tool_escalation,
            prompt: prompt.filter(|p| !p.is_empty()),
            max_retries,
            retry_backoff_seconds,
            timeout_seconds,
            strict_variables,
            metadata,
            budgets: Box::new(budgets),
            egress_hosts,
        };
        a.ok.then_some(spec)
    }

    pub(super) fn read_approval_task(
        &mut self,
        host: Node<'a, 'input>,
        ext: Node<'a, 'input>,
    ) -> Option<ApprovalSpec> {
        let mut a = self.attrs(host, ext);
        a.warn_unknown(APPROVAL_TASK_ATTRS);
        let spec = ApprovalSpec {
            purpose_type: a.required("purposeType"),
            policy_tag: a.required("policyTag"),
            approver_role: a.optional("approverRole"),
            expiry: a.expiry(),
        };
        a.ok.then_some(spec)
    }

    pub(super) fn read_external_event(
        &mut self,
        host: Node<'a, 'input>,
        ext: Node<'a, 'input>,
    ) -> Option<ExternalEvent> {
        let mut a = self.attrs(host, ext);
        a.warn_unknown(EXTERNAL_EVENT_ATTRS);
        let spec = ExternalEvent {
            message_name: a.required("messageName"),
            correlation_key_template: a.optional("correlationKeyTemplate"),
        };
        a.ok.then_some(spec)
    }

    /// Warns about our extensions on elements that do not use them, unknown
    /// extension elements, and repeated ones.
    pub(super) fn warn_misplaced_extensions(&mut self, host: Node<'a, 'input>, element: &str) {
        let mut seen: Vec<&str> = Vec::new();
        for ext in ours(host) {
            let name = ext.tag_name().name();
            let (code, message) = match PLACEMENT.iter().find(|(n, _)| *n == name) {
                None => (
                    "bpmn.unknown_extension",
                    format!("`{name}` is not an Agentwerke extension element; it is ignored"),
                ),
                Some((_, hosts)) if !hosts.contains(&element) => (
                    "bpmn.misplaced_extension",
                    format!(
                        "`{name}` belongs on {}, not on a {element}; it is ignored",
                        hosts.join(" or ")
                    ),
                ),
                Some(_) if seen.contains(&name) => (
                    "bpmn.duplicate_extension",
                    format!("`{name}` appears more than once; only the first is used"),
                ),
                Some(_) => {
                    seen.push(name);
                    continue;
                }
            };
            let position = self.position(ext);
            self.diagnostics.push(Diagnostic::warning(
                code,
                message,
                host.attribute("id"),
                position,
            ));
        }
    }
}
