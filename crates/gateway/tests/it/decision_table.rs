//! The decision table: one row per situation the gateway must get right,
//! run through `Gateway::decide` with the default policy set unless a row
//! says otherwise.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use serde_json::{Value, json};

use agentwerke_gateway::{
    DecisionKind::{self, Allow, Escalate, Reject},
    Gateway, Halts, PermissionLevel as L, Reason as R, SandboxProfile as P, Stage as S,
    TaskSurface,
};

use crate::support::{TaskExt, call, gateway_with, registry, task};

/// Which policy set a row runs under.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Policies {
    Default,
    /// Permits everything, but one forbid overflows at attempt > 1.
    Overflow,
    /// Does not parse: loaded fail-closed.
    Broken,
    /// No policies at all.
    Empty,
    /// `permit(principal, action, resource);`
    PermitAll,
}

impl Policies {
    fn text(self) -> Option<&'static str> {
        match self {
            Policies::Default => None,
            Policies::Overflow => Some(
                r#"@id("all") permit(principal, action, resource);
                   @id("overflow") forbid(principal, action, resource)
                   when { context.attempt * 9223372036854775807 > 0 };"#,
            ),
            Policies::Broken => Some("@id(\"x\") permit(principal, action resource);"),
            Policies::Empty => Some(""),
            Policies::PermitAll => Some(r#"@id("all") permit(principal, action, resource);"#),
        }
    }
}

struct Row {
    what: &'static str,
    task: TaskSurface,
    tool: &'static str,
    args: Value,
    env: Option<&'static str>,
    expect: (DecisionKind, S, R),
    agent: &'static str,
    attempt: u32,
    policies: Policies,
    halts: Halts,
}

fn row() -> Row {
    Row {
        what: "",
        task: task(L::Full, P::RepoWrite),
        tool: "",
        args: json!({}),
        env: Some("staging"),
        expect: (Reject, S::Halted, R::Halted),
        agent: "coder",
        attempt: 1,
        policies: Policies::Default,
        halts: Halts::none(),
    }
}

fn read() -> (&'static str, Value) {
    ("knowledge.search", json!({"query": "deploy runbook"}))
}
fn write() -> (&'static str, Value) {
    (
        "artifact.write",
        json!({"path": "notes.md", "content": "hi"}),
    )
}
fn exec() -> (&'static str, Value) {
    ("shell.exec", json!({"command": "git status"}))
}
fn network() -> (&'static str, Value) {
    (
        "http.request",
        json!({"url": "https://api.example.com/v1/items"}),
    )
}
fn integration() -> (&'static str, Value) {
    (
        "github.create_pr",
        json!({"repo": "acme/app", "title": "Fix typo"}),
    )
}
fn secret() -> (&'static str, Value) {
    ("vault.read", json!({"name": "db"}))
}

fn halts(global: bool, agents: &[&str], workflows: &[&str]) -> Halts {
    let set = |xs: &[&str]| xs.iter().map(|x| (*x).to_owned()).collect::<BTreeSet<_>>();
    Halts {
        global,
        agents: set(agents),
        workflows: set(workflows),
    }
}

#[allow(clippy::too_many_lines)]
fn rows() -> Vec<Row> {
    let mut rows = Vec::new();

    // Each permission level x each category (harmless arguments, staging).
    let categories = [read(), write(), exec(), network(), integration(), secret()];
    let expected = [
        // read, write, exec, network, integration, secret
        (L::ReadOnly, [true, false, false, false, false, false]),
        (L::ReadWrite, [true, true, false, false, true, false]),
        (L::Full, [true, true, true, true, true, false]),
    ];
    for (level, granted) in expected {
        for ((tool, args), granted) in categories.iter().cloned().zip(granted) {
            let expect = if granted {
                (Allow, S::Policy, R::Permitted)
            } else if tool == "vault.read" {
                (Reject, S::Surface, R::SecretNotGranted)
            } else {
                (Reject, S::Surface, R::PermissionLevel)
            };
            rows.push(Row {
                what: "permission level x category",
                task: task(level, P::RepoWrite),
                tool,
                args,
                expect,
                ..row()
            });
        }
    }

    let (w, wa) = write();
    let (r, ra) = read();
    let (x, xa) = exec();
    let (n, na) = network();
    let (s, sa) = secret();
    rows.extend([
        // allowedTools / deniedTools
        Row {
            what: "allowedTools names the tool",
            task: task(L::ReadWrite, P::RepoWrite).allow(&["artifact.write"]),
            tool: w,
            args: wa.clone(),
            expect: (Allow, S::Policy, R::Permitted),
            ..row()
        },
        Row {
            what: "allowedTools pattern covers the tool",
            task: task(L::ReadOnly, P::Offline).allow(&["artifact.*"]),
            tool: "artifact.read",
            args: json!({"path": "notes.md"}),
            expect: (Allow, S::Policy, R::Permitted),
            ..row()
        },
        Row {
            what: "allowedTools does not list the tool",
            task: task(L::Full, P::RepoWrite).allow(&["artifact.*"]),
            tool: r,
            args: ra.clone(),
            expect: (Reject, S::Surface, R::NotAllowedTool),
            ..row()
        },
        Row {
            what: "allowedTools cannot raise the permission level",
            task: task(L::ReadOnly, P::RepoWrite).allow(&["shell.exec"]),
            tool: x,
            args: xa.clone(),
            expect: (Reject, S::Surface, R::PermissionLevel),
            ..row()
        },
        Row {
            what: "deniedTools wins at full permission",
            task: task(L::Full, P::RepoWrite).deny(&["shell.exec"]),
            tool: x,
            args: xa.clone(),
            expect: (Reject, S::Surface, R::DeniedTool),
            ..row()
        },
        Row {
            what: "deniedTools * denies everything",
            task: task(L::Full, P::RepoWrite).deny(&["*"]),
            tool: r,
            args: ra.clone(),
            expect: (Reject, S::Surface, R::DeniedTool),
            ..row()
        },
        Row {
            what: "deniedTools is never escalated",
            task: task(L::Full, P::RepoWrite).deny(&["shell.*"]).escalate(),
            tool: x,
            args: xa.clone(),
            expect: (Reject, S::Surface, R::DeniedTool),
            ..row()
        },
        Row {
            what: "denied beats allowed",
            task: task(L::Full, P::RepoWrite)
                .allow(&["shell.exec"])
                .deny(&["shell.exec"]),
            tool: x,
            args: xa.clone(),
            expect: (Reject, S::Surface, R::DeniedTool),
            ..row()
        },
        // secret
        Row {
            what: "secret named exactly, task tagged secrets: escalate",
            task: task(L::ReadOnly, P::Offline)
                .allow(&["vault.read"])
                .tag("secrets"),
            tool: s,
            args: sa.clone(),
            expect: (Escalate, S::Policy, R::Escalated),
            ..row()
        },
        Row {
            what: "secret named exactly, untagged: policy forbids",
            task: task(L::Full, P::Offline).allow(&["vault.read"]),
            tool: s,
            args: sa.clone(),
            expect: (Reject, S::Policy, R::Forbidden),
            ..row()
        },
        Row {
            what: "secret through a pattern is not granted",
            task: task(L::Full, P::Offline).allow(&["vault.*"]).tag("secrets"),
            tool: s,
            args: sa.clone(),
            expect: (Reject, S::Surface, R::SecretNotGranted),
            ..row()
        },
        // sandbox profiles
        Row {
            what: "network under offline",
            task: task(L::Full, P::Offline),
            tool: n,
            args: na.clone(),
            expect: (Reject, S::Surface, R::NetworkOffline),
            ..row()
        },
        Row {
            what: "network under offline, task escalates",
            task: task(L::Full, P::Offline).escalate(),
            tool: n,
            args: na.clone(),
            expect: (Escalate, S::Surface, R::NetworkOffline),
            ..row()
        },
        Row {
            what: "network under repo-read",
            task: task(L::Full, P::RepoRead),
            tool: n,
            args: na.clone(),
            expect: (Allow, S::Policy, R::Permitted),
            ..row()
        },
        Row {
            what: "network under deployment",
            task: task(L::Full, P::Deployment),
            tool: n,
            args: na.clone(),
            expect: (Allow, S::Policy, R::Permitted),
            ..row()
        },
        Row {
            what: "read under offline",
            task: task(L::ReadOnly, P::Offline),
            tool: r,
            args: ra.clone(),
            expect: (Allow, S::Policy, R::Permitted),
            ..row()
        },
        Row {
            what: "agent may not use deployment",
            task: task(L::Full, P::Deployment),
            agent: "reader",
            tool: r,
            args: ra.clone(),
            expect: (Reject, S::Surface, R::SandboxProfile),
            ..row()
        },
        Row {
            what: "agent may not use repo-write, even when escalating",
            task: task(L::Full, P::RepoWrite).escalate(),
            agent: "reader",
            tool: r,
            args: ra.clone(),
            expect: (Reject, S::Surface, R::SandboxProfile),
            ..row()
        },
        Row {
            what: "agent may use repo-read",
            task: task(L::ReadOnly, P::RepoRead),
            agent: "reader",
            tool: r,
            args: ra.clone(),
            expect: (Allow, S::Policy, R::Permitted),
            ..row()
        },
        Row {
            what: "unknown agent fails closed",
            task: task(L::Full, P::Offline).escalate(),
            agent: "ghost",
            tool: r,
            args: ra.clone(),
            expect: (Reject, S::Surface, R::UnknownAgent),
            ..row()
        },
        // production vs staging
        Row {
            what: "write to production escalates",
            task: task(L::ReadWrite, P::RepoWrite).purpose("deployment"),
            env: Some("production"),
            tool: w,
            args: wa.clone(),
            expect: (Escalate, S::Policy, R::Escalated),
            ..row()
        },
        Row {
            what: "read in production is allowed",
            env: Some("production"),
            tool: r,
            args: ra.clone(),
            expect: (Allow, S::Policy, R::Permitted),
            ..row()
        },
        Row {
            what: "harmless exec in production escalates",
            env: Some("production"),
            tool: x,
            args: xa.clone(),
            expect: (Escalate, S::Policy, R::Escalated),
            ..row()
        },
        Row {
            what: "request to a prod host from staging escalates",
            tool: n,
            args: json!({"url": "https://api.prod.example.com/v1"}),
            expect: (Escalate, S::Policy, R::Escalated),
            ..row()
        },
        Row {
            what: "integration without environment is allowed",
            env: None,
            tool: "github.create_pr",
            args: json!({"repo": "acme/app"}),
            expect: (Allow, S::Policy, R::Permitted),
            ..row()
        },
        // destructive vs harmless
        Row {
            what: "destructive command in staging escalates",
            tool: x,
            args: json!({"command": "rm -rf build/"}),
            expect: (Escalate, S::Policy, R::Escalated),
            ..row()
        },
        Row {
            what: "destructive command in production is forbidden",
            env: Some("production"),
            tool: x,
            args: json!({"command": "rm -rf /srv/app"}),
            expect: (Reject, S::Policy, R::Forbidden),
            ..row()
        },
        Row {
            what: "HTTP DELETE in staging escalates",
            tool: n,
            args: json!({"url": "https://api.example.com/items/1", "method": "DELETE"}),
            expect: (Escalate, S::Policy, R::Escalated),
            ..row()
        },
        Row {
            what: "HTTP DELETE to production is forbidden",
            env: Some("production"),
            tool: n,
            args: json!({"url": "https://api.example.com/items/1", "method": "DELETE"}),
            expect: (Reject, S::Policy, R::Forbidden),
            ..row()
        },
        Row {
            what: "force push argv is destructive",
            tool: x,
            args: json!({"argv": ["git", "push", "--force"]}),
            expect: (Escalate, S::Policy, R::Escalated),
            ..row()
        },
        Row {
            what: "drop table on a prod repo is forbidden",
            env: None,
            tool: x,
            args: json!({"sql": "DROP TABLE users", "repo": "acme/db-prod"}),
            expect: (Reject, S::Policy, R::Forbidden),
            ..row()
        },
        Row {
            what: "credentials in arguments are forbidden",
            tool: n,
            args: json!({"url": "https://api.example.com/", "headers": {"Authorization": "Bearer abcdefghijklmnop"}}),
            expect: (Reject, S::Policy, R::Forbidden),
            ..row()
        },
        // secrets in arguments: refused before any policy
        Row {
            what: "a known secret value in arguments is refused",
            tool: w,
            args: json!({"path": "notes.md", "content": "pw is hunter2-the-secret"}),
            expect: (Reject, S::Secrets, R::SecretInArguments),
            ..row()
        },
        Row {
            what: "a known secret value is refused even when every call is permitted",
            tool: w,
            args: json!({"path": "notes.md", "content": {"hunter2-the-secret": 1}}),
            policies: Policies::PermitAll,
            expect: (Reject, S::Secrets, R::SecretInArguments),
            ..row()
        },
        Row {
            what: "a PEM private key is refused even when every call is permitted",
            tool: w,
            args: json!({"path": "id_ed25519", "content": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n-----END OPENSSH PRIVATE KEY-----\n"}),
            policies: Policies::PermitAll,
            expect: (Reject, S::Secrets, R::SecretInArguments),
            ..row()
        },
        Row {
            what: "a PEM private key to an unknown tool is refused as a secret",
            tool: "shell.sudo",
            args: json!({"stdin": "-----BEGIN RSA PRIVATE KEY-----\nMIIE"}),
            expect: (Reject, S::Secrets, R::SecretInArguments),
            ..row()
        },
        Row {
            what: "the kill switch still comes first",
            tool: w,
            args: json!({"content": "hunter2-the-secret"}),
            halts: halts(true, &[], &[]),
            expect: (Reject, S::Halted, R::Halted),
            ..row()
        },
        Row {
            what: "a public certificate is not a secret",
            tool: w,
            args: json!({"path": "notes.md", "content": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"}),
            expect: (Allow, S::Policy, R::Permitted),
            ..row()
        },
        Row {
            what: "cloud metadata endpoint is forbidden",
            tool: n,
            args: json!({"url": "http://169.254.169.254/latest/meta-data/"}),
            expect: (Reject, S::Policy, R::Forbidden),
            ..row()
        },
        Row {
            what: "write outside the workspace escalates",
            tool: x,
            args: json!({"command": "touch x", "cwd": "/etc"}),
            expect: (Escalate, S::Policy, R::Escalated),
            ..row()
        },
        // surface escalation
        Row {
            what: "read-only task escalates a write",
            task: task(L::ReadOnly, P::Offline).escalate(),
            tool: w,
            args: wa.clone(),
            expect: (Escalate, S::Surface, R::PermissionLevel),
            ..row()
        },
        Row {
            what: "escalation never overrides a forbid",
            task: task(L::ReadOnly, P::Offline).escalate(),
            env: Some("production"),
            tool: x,
            args: json!({"command": "rm -rf /"}),
            expect: (Reject, S::Policy, R::Forbidden),
            ..row()
        },
        Row {
            what: "not in allowedTools, task escalates",
            task: task(L::Full, P::RepoWrite).allow(&["artifact.*"]).escalate(),
            tool: r,
            args: ra.clone(),
            expect: (Escalate, S::Surface, R::NotAllowedTool),
            ..row()
        },
        // unknown tool, bad input
        Row {
            what: "unknown tool",
            tool: "shell.sudo",
            args: json!({"command": "id"}),
            expect: (Reject, S::UnknownTool, R::UnknownTool),
            ..row()
        },
        Row {
            what: "unknown tool is not escalated",
            task: task(L::Full, P::RepoWrite).escalate(),
            tool: "shell.sudo",
            expect: (Reject, S::UnknownTool, R::UnknownTool),
            ..row()
        },
        Row {
            what: "missing required argument",
            tool: r,
            args: json!({"limit": 3}),
            expect: (Reject, S::Schema, R::SchemaInvalid),
            ..row()
        },
        Row {
            what: "argument of the wrong type",
            tool: w,
            args: json!({"path": "a", "content": 5}),
            expect: (Reject, S::Schema, R::SchemaInvalid),
            ..row()
        },
        Row {
            what: "non-http url",
            tool: n,
            args: json!({"url": "ftp://example.com/file"}),
            expect: (Reject, S::Schema, R::SchemaInvalid),
            ..row()
        },
        Row {
            what: "arguments that are not an object",
            tool: x,
            args: json!(["rm", "-rf"]),
            expect: (Reject, S::Schema, R::SchemaInvalid),
            ..row()
        },
        Row {
            what: "schema is checked before the surface",
            task: task(L::ReadOnly, P::Offline),
            tool: w,
            args: json!({"path": "a"}),
            expect: (Reject, S::Schema, R::SchemaInvalid),
            ..row()
        },
        // policy errors and other policy sets
        Row {
            what: "evaluation error rejects",
            tool: r,
            args: ra.clone(),
            attempt: 2,
            policies: Policies::Overflow,
            expect: (Reject, S::Policy, R::PolicyError),
            ..row()
        },
        Row {
            what: "same set without the error allows",
            tool: r,
            args: ra.clone(),
            attempt: 0,
            policies: Policies::Overflow,
            expect: (Allow, S::Policy, R::Permitted),
            ..row()
        },
        Row {
            what: "unparseable policy set rejects",
            tool: r,
            args: ra.clone(),
            policies: Policies::Broken,
            expect: (Reject, S::Policy, R::PolicySetUnusable),
            ..row()
        },
        Row {
            what: "no policy matches",
            tool: r,
            args: ra.clone(),
            policies: Policies::Empty,
            expect: (Reject, S::Policy, R::NoPermit),
            ..row()
        },
        Row {
            what: "permit-all cannot widen the surface",
            task: task(L::ReadOnly, P::Offline),
            tool: x,
            args: xa.clone(),
            policies: Policies::PermitAll,
            expect: (Reject, S::Surface, R::PermissionLevel),
            ..row()
        },
        Row {
            what: "permit-all allows inside the surface, even destructive",
            tool: x,
            args: json!({"command": "rm -rf /"}),
            env: Some("production"),
            policies: Policies::PermitAll,
            expect: (Allow, S::Policy, R::Permitted),
            ..row()
        },
        // kill switch
        Row {
            what: "global halt",
            tool: r,
            args: ra.clone(),
            halts: halts(true, &[], &[]),
            expect: (Reject, S::Halted, R::Halted),
            ..row()
        },
        Row {
            what: "agent halt",
            tool: r,
            args: ra.clone(),
            halts: halts(false, &["coder"], &[]),
            expect: (Reject, S::Halted, R::Halted),
            ..row()
        },
        Row {
            what: "workflow halt",
            tool: r,
            args: ra.clone(),
            halts: halts(false, &[], &["wf"]),
            expect: (Reject, S::Halted, R::Halted),
            ..row()
        },
        Row {
            what: "halt comes before everything",
            tool: "shell.sudo",
            args: json!(5),
            halts: halts(true, &[], &[]),
            expect: (Reject, S::Halted, R::Halted),
            ..row()
        },
        Row {
            what: "halts for others do not apply",
            tool: r,
            args: ra,
            halts: halts(false, &["reader"], &["other-wf"]),
            expect: (Allow, S::Policy, R::Permitted),
            ..row()
        },
    ]);
    rows
}

#[test]
fn decision_table() {
    let rows = rows();
    assert!(rows.len() >= 40, "only {} rows", rows.len());
    let calls = Arc::new(AtomicUsize::new(0));
    let mut gateways: Vec<(Policies, Gateway)> = Vec::new();
    let mut failures = Vec::new();
    for (i, row) in rows.into_iter().enumerate() {
        let gateway = match gateways.iter().find(|(p, _)| *p == row.policies) {
            Some((_, g)) => g.clone(),
            None => {
                let g = gateway_with(registry(&calls), row.policies.text());
                gateways.push((row.policies, g.clone()));
                g
            }
        };
        let mut task = row.task;
        task.environment = row.env.map(str::to_owned);
        let mut call = call(row.tool, row.args, task);
        call.agent = row.agent.to_owned();
        call.attempt = row.attempt;
        let d = gateway.decide(&call, &row.halts);
        let got = (d.kind, d.stage, d.reason);
        if got != row.expect {
            failures.push(format!(
                "#{i} {}: expected {:?}, got {got:?} ({})",
                row.what, row.expect, d.rationale
            ));
        }
        assert_eq!(d.args_hash.len(), 64);
        assert_eq!(d.policy_set_hash, gateway.policies().hash());
        assert_eq!(d.policy_set_version, gateway.policies().version());
        assert!(
            !d.rationale.is_empty(),
            "#{i} {} has no rationale",
            row.what
        );
    }
    assert!(
        failures.is_empty(),
        "{} row(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // `decide` is pure: nothing ran.
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[test]
fn escalations_carry_approver_role_and_risk() {
    let calls = Arc::new(AtomicUsize::new(0));
    let gateway = gateway_with(registry(&calls), None);
    let mut t = task(L::ReadWrite, P::RepoWrite).purpose("analysis");
    t.environment = Some("production".to_owned());
    let (tool, args) = write();
    let d = gateway.decide(&call(tool, args, t), &Halts::none());
    assert_eq!(d.kind, Escalate);
    assert_eq!(d.determining_policies, ["escalate-production-changes"]);
    assert_eq!(d.approver_role.as_deref(), Some("release-manager"));
    assert_eq!(d.risk_level, agentwerke_gateway::RiskLevel::High);
    let names: Vec<_> = d.risk.factors.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        ["tool_category", "purpose_misaligned", "production_target"]
    );
    assert_eq!(d.risk.score, 10 + 20 + 25);
    assert_eq!(
        d.affected_systems,
        ["path:/workspace/notes.md", "environment:production"]
    );
}
