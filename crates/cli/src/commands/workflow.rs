//! `agentwerke workflow validate|import|publish`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use agentwerke_bpmn::{Diagnostic, Limits, Severity};
use agentwerke_runtime::definitions::check;
use agentwerke_runtime::gateway::builtin_tools;
use anyhow::Context;
use reqwest::Method;
use serde_json::json;

use crate::Remote;
use crate::client::Client;
use crate::output::say;

/// Workflow subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check a BPMN file offline and list every problem; exits 1 when it is not executable.
    Validate {
        /// The BPMN file.
        file: PathBuf,
        /// Print the diagnostics as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Import a BPMN file as a new draft version (Admin).
    Import {
        /// The BPMN file.
        file: PathBuf,
        /// Workflow id; defaults to the executable process id.
        #[arg(long)]
        id: Option<String>,
        /// Publish the imported version right away.
        #[arg(long)]
        publish: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// List workflows with their latest and published versions.
    List {
        #[command(flatten)]
        remote: Remote,
    },
    /// Publish a draft version; runs start on the latest published one (Admin).
    Publish {
        /// Workflow id.
        id: String,
        /// Version number.
        version: i64,
        #[command(flatten)]
        remote: Remote,
    },
}

/// Runs a workflow subcommand.
pub async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Validate { file, json } => validate(&file, json),
        Command::Import {
            file,
            id,
            publish,
            remote,
        } => {
            let xml =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let client = Client::new(&remote)?;
            let mut path = "/api/workflows".to_owned();
            if let Some(id) = &id {
                path.push_str(&format!("?id={id}"));
            }
            let imported = client
                .send(
                    client
                        .request(Method::POST, &path)?
                        .header("content-type", "application/xml")
                        .body(xml),
                )
                .await?;
            let workflow = imported["workflowId"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let version = imported["version"].as_i64().unwrap_or_default();
            say!(
                "imported {workflow} version {version} (sha256 {})",
                imported["bpmnSha256"].as_str().unwrap_or("")
            )?;
            if publish {
                client
                    .post(
                        &format!("/api/workflows/{workflow}/versions/{version}/publish"),
                        &json!({}),
                    )
                    .await?;
                say!("published {workflow} version {version}")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::List { remote } => {
            let client = Client::new(&remote)?;
            let items = client.list("/api/workflows", &[], usize::MAX).await?;
            if items.is_empty() {
                eprintln!("no workflows yet: agentwerke workflow import FILE --publish");
            }
            for workflow in &items {
                let published = workflow["publishedVersion"]
                    .as_i64()
                    .map_or_else(|| "unpublished".to_owned(), |v| format!("published v{v}"));
                say!(
                    "{:<24} latest v{:<4} {:<16} {}",
                    workflow["id"].as_str().unwrap_or(""),
                    workflow["latestVersion"],
                    published,
                    workflow["name"].as_str().unwrap_or(""),
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Publish {
            id,
            version,
            remote,
        } => {
            let client = Client::new(&remote)?;
            client
                .post(
                    &format!("/api/workflows/{id}/versions/{version}/publish"),
                    &json!({}),
                )
                .await?;
            say!("published {id} version {version}")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn validate(file: &PathBuf, as_json: bool) -> anyhow::Result<ExitCode> {
    let xml = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    // Offline, the built-in tools are the ones every server has.
    let checked = check(&xml, &Limits::default(), &builtin_tools()?);
    if as_json {
        say!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "valid": checked.is_executable(), "diagnostics": checked.diagnostics
            }))?
        )?;
    } else {
        for d in &checked.diagnostics {
            say!("{}", describe(file, d))?;
        }
        let errors = checked.diagnostics.iter().filter(|d| d.is_error()).count();
        let warnings = checked.diagnostics.len() - errors;
        if checked.is_executable() {
            say!("{}: executable ({warnings} warning(s))", file.display())?;
        } else {
            say!(
                "{}: not executable: {errors} error(s), {warnings} warning(s)",
                file.display()
            )?;
        }
    }
    Ok(if checked.is_executable() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn describe(file: &Path, d: &Diagnostic) -> String {
    let severity = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let element = d
        .element_id
        .as_deref()
        .map(|id| format!(" [{id}]"))
        .unwrap_or_default();
    format!(
        "{}:{}:{}: {severity} {}{element}: {}",
        file.display(),
        d.line,
        d.column,
        d.code,
        d.message
    )
}
