//! The `agentwerke` binary: the composition root.

// A binary exports nothing, so `pub` here only means "shared between modules".
#![allow(unreachable_pub)]

mod client;
mod commands;
mod config;
mod keys;
mod log;
mod output;
mod profiles;
mod sample;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The server's work is many small JSON values and rows handed between
/// threads; glibc's allocator spent about a fifth of the CPU on them
/// (see the throughput benchmark), mimalloc a fraction of that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Agentwerke: governed runs of BPMN workflows, with approvals and signed evidence.
#[derive(Debug, Parser)]
#[command(name = "agentwerke", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the API server and the run workers on the configured database.
    Serve(commands::serve::Args),
    /// Mint a development token from the local signing key in the data folder.
    Token(commands::token::Args),
    /// Validate, import, publish and list workflows.
    #[command(subcommand)]
    Workflow(commands::workflow::Command),
    /// Start, show, list, cancel, retry and audit runs.
    #[command(subcommand)]
    Run(commands::run::Command),
    /// List approval requests and show one with everything to review.
    #[command(subcommand)]
    Approval(commands::approval::Command),
    /// Decide an approval request (approve by default).
    Approve(commands::approve::Args),
    /// Answer an agent's blocking question; the waiting step resumes.
    Answer(commands::answer::Args),
    /// Download and verify evidence packs.
    #[command(subcommand)]
    Evidence(commands::evidence::Command),
    /// Export and verify the global audit stream (workflow, policy and
    /// gateway changes).
    #[command(subcommand)]
    Audit(commands::audit::Command),
    /// Set and list secrets (Admin); values are read from standard input,
    /// never from the command line, and never shown.
    #[command(subcommand)]
    Secret(commands::secret::Command),
    /// List the agent profiles in force on the server.
    #[command(subcommand)]
    Agent(commands::agent::Command),
    /// Check the configuration and the agent profile folder without
    /// starting the server; every problem is printed with file and line.
    Check(commands::agent::CheckArgs),
}

/// Options shared by every command that talks to a server.
#[derive(Debug, Clone, clap::Args)]
pub struct Remote {
    /// The server's base URL.
    #[arg(long, env = "AGENTWERKE_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// A bearer token (see `agentwerke token`).
    #[arg(long, env = "AGENTWERKE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

fn main() -> ExitCode {
    // The server starts its own binary as the sandbox helper, inside the
    // sandbox: it confines itself and becomes the command.
    if std::env::args_os().nth(1).as_deref() == Some(commands::serve::SANDBOX_HELPER_ARG.as_ref()) {
        agentwerke_sandbox::helper_main();
    }
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => commands::serve::run(args).await,
            Command::Token(args) => commands::token::run(args),
            Command::Workflow(cmd) => commands::workflow::run(cmd).await,
            Command::Run(cmd) => commands::run::run(cmd).await,
            Command::Approval(cmd) => commands::approval::run(cmd).await,
            Command::Approve(args) => commands::approve::run(args).await,
            Command::Answer(args) => commands::answer::run(args).await,
            Command::Evidence(cmd) => commands::evidence::run(cmd).await,
            Command::Audit(cmd) => commands::audit::run(cmd).await,
            Command::Secret(cmd) => commands::secret::run(cmd).await,
            Command::Agent(cmd) => commands::agent::run(cmd).await,
            Command::Check(args) => commands::agent::check(args),
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
