//! `agentwerke token`: a development token for local use.

use std::process::ExitCode;
use std::time::Duration;

use agentwerke_auth::{DevKey, Role, mint_dev_token};
use anyhow::Context;

use crate::config::ConfigArgs;

/// Token options.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    /// The role to grant; repeat for several.
    #[arg(long = "role", required = true, value_parser = parse_role)]
    roles: Vec<Role>,
    /// The subject the token names (who the audit trail says acted).
    #[arg(long, default_value = "dev-user")]
    subject: String,
    /// Lifetime in minutes.
    #[arg(long, default_value_t = 480)]
    ttl_minutes: u64,
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s)
        .ok_or_else(|| format!("'{s}' is not a role; use Viewer, Operator, Approver or Admin"))
}

/// Prints a token signed by the data folder's development key.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = args.config.raw()?.check()?;
    if !config.auth.dev.enabled {
        anyhow::bail!(
            "development tokens are disabled in this configuration (auth.dev.enabled = false); \
             get a token from your identity provider instead"
        );
    }
    let key = DevKey::load_or_create(&config.auth.dev.key_path(&config.data_dir))
        .context("cannot load the development signing key")?;
    let now = agentwerke_runtime::Clock::now(&agentwerke_runtime::SystemClock);
    let token = mint_dev_token(
        &key,
        &args.subject,
        &args.roles,
        Duration::from_secs(args.ttl_minutes * 60),
        now,
    );
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}
