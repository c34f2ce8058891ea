//! `agentwerke agent list` (the server's agent profiles) and
//! `agentwerke check` (the configuration and profile folder, offline).

use std::process::ExitCode;

use agentwerke_profiles::Source;

use super::approval::text;
use crate::Remote;
use crate::client::Client;
use crate::config::ConfigArgs;
use crate::output::say;

/// `agent` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// The agent profiles in force on the server: name, source, model,
    /// sandbox profiles, default tools and skills.
    List {
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
}

/// Runs an `agent` subcommand.
pub async fn run(command: Command) -> anyhow::Result<ExitCode> {
    let Command::List { json, remote } = command;
    let listed = Client::new(&remote)?.get("/api/agents").await?;
    if json {
        say!("{}", serde_json::to_string_pretty(&listed)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let agents = listed["agents"].as_array().cloned().unwrap_or_default();
    if agents.is_empty() {
        say!("no agent profiles")?;
    }
    let list = |value: &serde_json::Value, key: Option<&str>| {
        let items: Vec<String> = value
            .as_array()
            .into_iter()
            .flatten()
            .map(|item| text(key.map_or(item, |key| &item[key])))
            .collect();
        if items.is_empty() {
            "-".to_owned()
        } else {
            items.join(",")
        }
    };
    for agent in &agents {
        say!(
            "{:<24} {:<6} {:<24} sandbox={} tools={} skills={}",
            text(&agent["name"]),
            text(&agent["source"]),
            agent["model"].as_str().unwrap_or("(default model)"),
            list(&agent["sandboxProfiles"], None),
            list(&agent["allowedTools"], None),
            list(&agent["skills"], Some("name")),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `check` options.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    config: ConfigArgs,
}

/// Checks the configuration and loads the profile folder as `serve` would,
/// without opening the database or listening; every problem is printed.
pub fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let config = args.config.raw()?.check()?;
    let (catalogue, _) = crate::profiles::load(&config)?;
    let files = catalogue
        .iter()
        .filter(|p| matches!(p.source, Source::File(_)))
        .count();
    say!(
        "the configuration is valid; {} agent profiles ({} from files, {} from [[agents]])",
        catalogue.len(),
        files,
        catalogue.len() - files
    )?;
    match crate::commands::serve::sandbox_backend(&config) {
        agentwerke_gateway::SandboxBackend::Ready(sandbox) => {
            say!(
                "exec.run: commands run in the sandbox ({:?})",
                sandbox.isolation()
            )?;
        }
        agentwerke_gateway::SandboxBackend::Unavailable { code, reason } => {
            say!("exec.run: unavailable, every call fails closed ({code}: {reason})")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
