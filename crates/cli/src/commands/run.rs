//! `agentwerke run start|show|list`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Map, Value, json};

use crate::Remote;
use crate::client::Client;
use crate::commands::approval::text;
use crate::output::say;

/// Run subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Start a run of a workflow's latest published version (Operator).
    Start {
        /// Workflow id.
        workflow: String,
        /// An input as key=value (value parsed as JSON when it is JSON); repeatable.
        #[arg(long = "input", short = 'i', value_parser = parse_input)]
        inputs: Vec<(String, Value)>,
        /// All inputs as one JSON object.
        #[arg(long, conflicts_with = "inputs")]
        inputs_json: Option<String>,
        /// Follow the run until it stops moving (waits for approval, events, or ends).
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show one run: status, steps, pending approvals and questions, outputs,
    /// decisions, answers, the gateway's decisions and the tool-call journal.
    Show {
        /// Run id.
        id: String,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Cancel a run: open work stops, open approvals and questions close (Operator).
    Cancel {
        /// Run id.
        id: String,
        /// Why; recorded in the audit trail.
        #[arg(long, short = 'm')]
        reason: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Retry the failed step of a failed run (Operator).
    Retry {
        /// Run id.
        id: String,
        /// The failed step's work id; defaults to the last failed step.
        #[arg(long)]
        step: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Print a run's hash-chained audit log, oldest first.
    Audit {
        /// Run id.
        id: String,
        /// Print the raw JSON records.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// List runs, newest first.
    List {
        /// Only runs with this status.
        #[arg(long)]
        status: Option<String>,
        /// Only runs of this workflow.
        #[arg(long)]
        workflow: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[command(flatten)]
        remote: Remote,
    },
}

fn parse_input(s: &str) -> Result<(String, Value), String> {
    let (key, value) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}' is not key=value"))?;
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
    Ok((key.to_owned(), value))
}

/// Runs a run subcommand.
pub async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Start {
            workflow,
            inputs,
            inputs_json,
            wait,
            remote,
        } => {
            let inputs = match inputs_json {
                Some(text) => serde_json::from_str(&text).context("--inputs-json is not JSON")?,
                None => Value::Object(inputs.into_iter().collect::<Map<_, _>>()),
            };
            let client = Client::new(&remote)?;
            let started = client
                .post(
                    "/api/runs",
                    &json!({"workflowId": workflow, "inputs": inputs}),
                )
                .await?;
            let id = started["runId"].as_str().unwrap_or_default().to_owned();
            say!("started run {id}")?;
            if wait {
                return follow(&client, &id).await;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Show { id, json, remote } => {
            let client = Client::new(&remote)?;
            let run = client.get(&format!("/api/runs/{id}")).await?;
            if json {
                say!("{}", serde_json::to_string_pretty(&run)?)?;
            } else {
                let audit = client
                    .list(&format!("/api/runs/{id}/audit"), &[], usize::MAX)
                    .await?;
                print_details(&run, &audit)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Cancel { id, reason, remote } => {
            let client = Client::new(&remote)?;
            client
                .post(
                    &format!("/api/runs/{id}/cancel"),
                    &json!({"reason": reason}),
                )
                .await?;
            say!("run {id}: cancellation accepted")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Retry { id, step, remote } => {
            let client = Client::new(&remote)?;
            let body = match step {
                Some(step) => json!({"workId": step}),
                None => json!({}),
            };
            let accepted = client.post(&format!("/api/runs/{id}/retry"), &body).await?;
            say!("run {id}: retrying step {}", text(&accepted["workId"]))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit { id, json, remote } => {
            let client = Client::new(&remote)?;
            let audit = client
                .list(&format!("/api/runs/{id}/audit"), &[], usize::MAX)
                .await?;
            for record in &audit {
                if json {
                    say!("{record}")?;
                } else {
                    say!(
                        "{:>4}  {}  {:<24} {:<28} {}",
                        text(&record["seq"]),
                        text(&record["at"]),
                        text(&record["kind"]),
                        text(&record["actor"]),
                        record["data"]
                    )?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::List {
            status,
            workflow,
            limit,
            remote,
        } => {
            let client = Client::new(&remote)?;
            let mut query = Vec::new();
            if let Some(status) = status {
                query.push(format!("status={status}"));
            }
            if let Some(workflow) = workflow {
                query.push(format!("workflowId={workflow}"));
            }
            let items = client.list("/api/runs", &query, limit as usize).await?;
            if items.is_empty() {
                eprintln!("no runs match");
            }
            for run in &items {
                say!(
                    "{}  {:<18} {:<20} {}",
                    run["id"].as_str().unwrap_or(""),
                    run["status"].as_str().unwrap_or(""),
                    run["workflowId"].as_str().unwrap_or(""),
                    run["startedAt"].as_str().unwrap_or("")
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Polls the run and prints each step as it changes, until the run ends or
/// waits for someone else.
async fn follow(client: &Client, id: &str) -> anyhow::Result<ExitCode> {
    let mut seen = String::new();
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.enable_steady_tick(Duration::from_millis(120));
    loop {
        let run = client.get(&format!("/api/runs/{id}")).await?;
        let status = run["status"].as_str().unwrap_or("unknown").to_owned();
        let line = progress_line(&run);
        if line != seen {
            spinner.println(&line);
            seen = line;
        }
        spinner.set_message(format!("run {id}: {status}"));
        match status.as_str() {
            "running" => tokio::time::sleep(Duration::from_millis(300)).await,
            "completed" => {
                spinner.finish_and_clear();
                say!("run {id} completed")?;
                return Ok(ExitCode::SUCCESS);
            }
            "awaiting_approval" | "waiting_user" | "waiting_event" | "waiting_timer" => {
                spinner.finish_and_clear();
                print_run(&run)?;
                return Ok(ExitCode::SUCCESS);
            }
            "failed" | "cancelled" | "rejected" => {
                spinner.finish_and_clear();
                print_run(&run)?;
                return Ok(ExitCode::from(1));
            }
            other => bail!("run {id} has an unknown status '{other}'"),
        }
    }
}

fn progress_line(run: &Value) -> String {
    let steps: Vec<String> = run["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            format!(
                "{} {}",
                s["nodeId"].as_str().unwrap_or("?"),
                s["status"].as_str().unwrap_or("?")
            )
        })
        .collect();
    format!(
        "  [{}] {}",
        run["status"].as_str().unwrap_or(""),
        steps.join(" -> ")
    )
}

fn print_run(run: &Value) -> std::io::Result<()> {
    say!("run       {}", run["id"].as_str().unwrap_or(""))?;
    say!(
        "workflow  {} v{}",
        run["workflowId"].as_str().unwrap_or(""),
        run["workflowVersion"]
    )?;
    say!("status    {}", run["status"].as_str().unwrap_or(""))?;
    for step in run["steps"].as_array().into_iter().flatten() {
        say!(
            "  step {:<16} {:<14} {:<10} attempt {}{}",
            step["nodeId"].as_str().unwrap_or(""),
            step["type"].as_str().unwrap_or(""),
            step["status"].as_str().unwrap_or(""),
            step["attempt"],
            step["error"]["message"]
                .as_str()
                .map(|m| format!("  error: {m}"))
                .unwrap_or_default()
        )?;
    }
    for approval in run["pendingApprovals"].as_array().into_iter().flatten() {
        say!(
            "  pending approval {} at {}: {}",
            approval["id"].as_str().unwrap_or(""),
            approval["nodeId"].as_str().unwrap_or(""),
            approval["requestedAction"].as_str().unwrap_or("")
        )?;
        say!(
            "    decide with: agentwerke approve {} --comment \"...\"",
            approval["id"].as_str().unwrap_or("")
        )?;
    }
    for question in run["pendingQuestions"].as_array().into_iter().flatten() {
        say!(
            "  waiting for an answer {} from {} at {}: {}",
            question["id"].as_str().unwrap_or(""),
            question["agent"].as_str().unwrap_or(""),
            question["nodeId"].as_str().unwrap_or(""),
            question["question"].as_str().unwrap_or("")
        )?;
        say!(
            "    answer with: agentwerke answer {} \"...\"",
            question["id"].as_str().unwrap_or("")
        )?;
    }
    Ok(())
}

/// `run show`: the summary, then what a reviewer asks next: each step's
/// output, the decisions with their comments, the questions and answers,
/// and every tool call with the gateway's decision.
fn print_details(run: &Value, audit: &[Value]) -> std::io::Result<()> {
    print_run(run)?;
    let outputs: Vec<&Value> = run["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| !s["output"].is_null())
        .collect();
    if !outputs.is_empty() {
        say!("outputs")?;
    }
    for step in outputs {
        let output = &step["output"];
        let shown = output["text"]
            .as_str()
            .map_or_else(|| output.to_string(), str::to_owned);
        say!("  {}: {}", text(&step["nodeId"]), shown)?;
    }
    let decided: Vec<&Value> = run["approvals"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| !a["decision"].is_null())
        .collect();
    if !decided.is_empty() {
        say!("decisions")?;
    }
    for approval in decided {
        say!(
            "  {} at {}: {} by {} at {}: {}",
            text(&approval["id"]),
            text(&approval["nodeId"]),
            text(&approval["decision"]),
            text(&approval["decidedBy"]),
            text(&approval["decidedAt"]),
            text(&approval["comment"]),
        )?;
    }
    let answered: Vec<&Value> = run["conversation"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|q| !q["answer"].is_null())
        .collect();
    if !answered.is_empty() {
        say!("questions")?;
    }
    for question in answered {
        say!(
            "  {} asked: {}  answered by {}: {}",
            text(&question["agent"]),
            text(&question["question"]),
            text(&question["answeredBy"]),
            text(&question["answer"]),
        )?;
    }
    let calls: Vec<&Value> = audit
        .iter()
        .filter(|r| r["kind"] == "tool.called")
        .collect();
    if !calls.is_empty() {
        say!("tool calls")?;
    }
    for call in calls {
        let data = &call["data"];
        say!(
            "  {} {} {}: {} ({}) {}",
            text(&data["nodeId"]),
            text(&data["tool"]),
            data["arguments"],
            text(&data["decision"]),
            text(&data["status"]),
            text(&data["rationale"]),
        )?;
    }
    print_journal(run)
}

/// The tool-call journal: each call a step started, how many times, and
/// what came of it. Arguments are shown as the server stored them
/// (redacted); the output only by its digest.
fn print_journal(run: &Value) -> std::io::Result<()> {
    let calls = run["toolCalls"].as_array().map_or(&[][..], Vec::as_slice);
    if calls.is_empty() {
        return Ok(());
    }
    say!("tool-call journal")?;
    for call in calls {
        let node = run["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["workId"] == call["workId"])
            .map_or_else(|| text(&call["workId"]), |s| text(&s["nodeId"]));
        let executions = call["executions"].as_u64().unwrap_or_default();
        say!(
            "  {} {} at {} attempt {}: {}, {} execution{}, started {}{}",
            text(&call["callId"]),
            text(&call["tool"]),
            node,
            call["attempt"],
            text(&call["status"]),
            executions,
            if executions == 1 { "" } else { "s" },
            text(&call["startedAt"]),
            call["finishedAt"]
                .as_str()
                .map(|at| format!(", finished {at}"))
                .unwrap_or_default(),
        )?;
        say!("    arguments {}", call["arguments"])?;
        let outcome = &call["outcome"];
        if outcome.is_null() {
            say!("    outcome   none recorded")?;
            continue;
        }
        let mut summary = format!(
            "{} ({})",
            text(&outcome["status"]),
            text(&outcome["decision"])
        );
        if let Some(approval) = call["approvalId"].as_str() {
            summary.push_str(&format!(", approved in {approval}"));
        }
        if let Some(ms) = outcome["durationMs"].as_u64() {
            summary.push_str(&format!(", {ms} ms"));
        }
        if let Some(digest) = outcome["outputSha256"].as_str() {
            summary.push_str(&format!(", output sha256 {digest}"));
        }
        if let Some(error) = outcome["error"].as_str() {
            summary.push_str(&format!(", error: {error}"));
        }
        say!("    outcome   {summary}")?;
        if outcome["status"] != "executed" {
            say!("    why       {}", text(&outcome["rationale"]))?;
        }
    }
    Ok(())
}
