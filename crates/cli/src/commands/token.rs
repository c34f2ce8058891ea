//! `agentwerke token`: a development token for local use.

use std::process::ExitCode;
use std::time::Duration;

use agentwerke_auth::{DevKey, Role, mint_dev_token_with_groups};
use anyhow::{Context, bail};

use crate::config::ConfigArgs;
use crate::output::say;

/// Token options.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    /// The role to grant: Viewer, Operator, Approver or Admin; repeat for
    /// several.
    #[arg(long = "role", required = true, value_parser = parse_role)]
    roles: Vec<Role>,
    /// A group to name in the token as an identity provider would (such as
    /// release-manager), for approvals whose approver role asks for it; it
    /// grants nothing else. Repeat for several.
    #[arg(long = "group", value_parser = parse_group)]
    groups: Vec<String>,
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

fn parse_group(s: &str) -> Result<String, String> {
    let name = s.trim();
    if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == ',') {
        return Err(format!("'{s}' is not a group name: no spaces or commas"));
    }
    if Role::parse(name).is_some() {
        return Err(format!("'{name}' is a role; pass it with --role"));
    }
    Ok(name.to_owned())
}

/// Prints a token signed by the data folder's development key.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // Only the data folder and the auth settings matter here: a bind
    // address `serve` would refuse is no reason to refuse a token.
    let config = args.config.raw()?;
    if !config.auth.dev.enabled {
        bail!(
            "development tokens are disabled in this configuration (auth.dev.enabled = false); \
             get a token from your identity provider instead"
        );
    }
    let path = config.auth.dev.key_path(&config.data_dir);
    if !path.exists() {
        bail!(
            "there is no development key at {}: `agentwerke serve` creates it on its first \
             start. Pass the same --data-dir, --config or AGENTWERKE_DATA_DIR as the server \
             (it prints its data folder when it starts)",
            path.display()
        );
    }
    let key = DevKey::load(&path)
        .with_context(|| format!("cannot load the development key {}", path.display()))?;
    eprintln!(
        "signed with the development key {} (data folder {})",
        path.display(),
        config.data_dir.display()
    );
    let now = agentwerke_runtime::Clock::now(&agentwerke_runtime::SystemClock);
    let token = mint_dev_token_with_groups(
        &key,
        &args.subject,
        &args.roles,
        &args.groups,
        Duration::from_secs(args.ttl_minutes * 60),
        now,
    );
    say!("{token}")?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_single_names_that_are_no_role() {
        assert_eq!(
            parse_group(" release-manager "),
            Ok("release-manager".to_owned())
        );
        assert!(parse_group("").is_err());
        assert!(parse_group("release manager").is_err());
        assert!(parse_group("a,b").is_err());
        assert!(parse_group("approver").unwrap_err().contains("--role"));
    }
}
