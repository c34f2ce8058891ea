//! `agentwerke approval list|show`: what waits for a human decision, and
//! everything an approver must see before deciding (for an escalated tool
//! call: the tool and its exact arguments).

use std::process::ExitCode;

use serde_json::Value;

use crate::Remote;
use crate::client::Client;
use crate::output::say;

/// Approval subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List approval requests (pending ones by default).
    List {
        /// Only requests with this status: pending, approved, rejected,
        /// changes_requested, cancelled, expired, or `all`.
        #[arg(long, default_value = "pending")]
        status: String,
        /// Only requests of this run.
        #[arg(long)]
        run: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show one approval request: what is asked, by whom, and for an
    /// escalated tool call the tool and the exact arguments it runs with.
    Show {
        /// The approval request id.
        id: String,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
}

/// Runs an approval subcommand.
pub async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::List {
            status,
            run,
            remote,
        } => {
            let client = Client::new(&remote)?;
            let mut query = Vec::new();
            if status != "all" {
                query.push(format!("status={status}"));
            }
            if let Some(run) = run {
                query.push(format!("runId={run}"));
            }
            let items = client.list("/api/approvals", &query, usize::MAX).await?;
            if items.is_empty() {
                eprintln!("no approval requests match");
            }
            for approval in &items {
                say!(
                    "{}  {:<17} run {}  {}",
                    text(&approval["id"]),
                    text(&approval["status"]),
                    text(&approval["runId"]),
                    text(&approval["requestedAction"]),
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Show { id, json, remote } => {
            let client = Client::new(&remote)?;
            let approval = client.get(&format!("/api/approvals/{id}")).await?;
            if json {
                say!("{}", serde_json::to_string_pretty(&approval)?)?;
            } else {
                print_approval(&approval)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_approval(a: &Value) -> anyhow::Result<()> {
    say!("approval  {}", text(&a["id"]))?;
    say!("status    {}", text(&a["status"]))?;
    say!("run       {} at {}", text(&a["runId"]), text(&a["nodeId"]))?;
    say!("asks      {}", text(&a["requestedAction"]))?;
    say!(
        "requested {} by {}",
        text(&a["requestedAt"]),
        text(&a["requester"])
    )?;
    if let Some(role) = a["approverRole"].as_str() {
        say!("approver  {role}")?;
    }
    if a["kind"] == "tool_escalation" {
        say!("agent     {}", text(&a["agent"]))?;
        say!("tool      {}", text(&a["tool"]))?;
        say!("args hash {}", text(&a["argsHash"]))?;
        say!("arguments (exactly what runs if approved):")?;
        for line in serde_json::to_string_pretty(&a["arguments"])?.lines() {
            say!("  {line}")?;
        }
        if a["cause"] == "tool_outcome_unknown" {
            say!(
                "why       the server stopped after this call began and before its outcome was recorded: it may or may not have happened"
            )?;
        }
    }
    if a["kind"] == "budget_escalation" {
        print_budget(a)?;
    } else {
        print_policy_and_risk(a)?;
    }
    if let Some(expires) = a["expiresAt"].as_str() {
        say!("expires   {expires}")?;
    }
    if a["status"] == "pending" {
        say!(
            "decide with: agentwerke approve {} --comment \"...\" (or --reject, --request-changes)",
            text(&a["id"])
        )?;
    } else if !a["decision"].is_null() {
        say!(
            "decided   {} by {} at {}: {}",
            text(&a["decision"]),
            text(&a["decidedBy"]),
            text(&a["decidedAt"]),
            text(&a["comment"])
        )?;
    }
    Ok(())
}

/// What a budget escalation asks: which budget, its limit, what was spent
/// and the estimate of the turn that would pass it.
fn print_budget(a: &Value) -> anyhow::Result<()> {
    let budget = &a["budget"];
    say!("agent     {}", text(&a["agent"]))?;
    say!(
        "budget    the {} {} budget, limit {}",
        text(&budget["scope"]),
        text(&budget["measure"]),
        text(&budget["limit"])
    )?;
    say!(
        "spent     {} before model turn {}, whose prompt is estimated at {}",
        text(&budget["spent"]),
        text(&budget["turn"]),
        text(&budget["estimate"])
    )?;
    say!("why       {}", text(&a["policyRationale"]))?;
    say!(
        "approving lets the step go on past this limit for the rest of its attempt; rejecting fails it with budget.exceeded"
    )?;
    Ok(())
}

/// Why policy asks, and the risk it assessed.
fn print_policy_and_risk(a: &Value) -> anyhow::Result<()> {
    say!("policy    {}", text(&a["policyRationale"]))?;
    say!(
        "risk      {} (score {})",
        text(&a["riskLevel"]),
        text(&a["riskScore"])
    )?;
    for factor in a["riskFactors"].as_array().into_iter().flatten() {
        match factor {
            Value::String(name) => say!("  {name}")?,
            _ => say!(
                "  {:<22} {:>3}  {}",
                text(&factor["name"]),
                text(&factor["weight"]),
                text(&factor["detail"])
            )?,
        }
    }
    let artifacts = a["artifacts"].as_array().map_or(&[][..], Vec::as_slice);
    if !artifacts.is_empty() {
        say!("artifacts")?;
        for artifact in artifacts {
            say!(
                "  {}  sha256 {}  {} bytes",
                text(&artifact["name"]),
                text(&artifact["sha256"]),
                text(&artifact["size"])
            )?;
        }
    }
    Ok(())
}

/// A JSON value as a person reads it: strings without quotes, nothing for null.
pub fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
