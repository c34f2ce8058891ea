//! `agentwerke secret`: set and list secrets through the Settings API.
//!
//! A value is read from standard input (or, at a terminal, from a prompt
//! that does not echo), never from the command line: arguments end up in
//! shell history and in every process listing.

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use agentwerke_secrets::{SecretName, SecretValue};
use anyhow::Context;
use reqwest::Method;
use serde_json::json;

use super::approval::text;
use crate::Remote;
use crate::client::Client;
use crate::output::say;

/// `secret` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create or rotate a stored secret; the value comes from standard
    /// input (one trailing line break is dropped) or a prompt.
    Set {
        /// The secret's name (`[A-Za-z][A-Za-z0-9_.-]{0,127}`).
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Every secret: name, source, status, fingerprint, last change.
    List {
        /// Print the Settings API's JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
}

/// Runs a `secret` subcommand.
pub async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Set { name, remote } => {
            let name = SecretName::parse(&name)?;
            let client = Client::new(&remote)?;
            let value = read_value(&name)?;
            let request = client
                .request(Method::PUT, &format!("/api/settings/secrets/{name}"))?
                .json(&json!({"value": value.expose()}));
            drop(value);
            let entry = client.send(request).await?;
            say!(
                "secret {} is set; fingerprint {}",
                text(&entry["name"]),
                text(&entry["fingerprint"])
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::List { json, remote } => {
            let settings = Client::new(&remote)?.get("/api/settings").await?;
            if json {
                say!("{}", serde_json::to_string_pretty(&settings)?)?;
                return Ok(ExitCode::SUCCESS);
            }
            let secrets = settings["secrets"].as_array().cloned().unwrap_or_default();
            if secrets.is_empty() {
                say!("no secrets")?;
            }
            for secret in &secrets {
                say!(
                    "{:<32} {:<6} {:<10} {:<29} {} {}",
                    text(&secret["name"]),
                    text(&secret["source"]),
                    text(&secret["status"]),
                    secret["fingerprint"].as_str().unwrap_or("-"),
                    secret["updatedAt"].as_str().unwrap_or("-"),
                    secret["updatedBy"].as_str().unwrap_or("-"),
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The value: from a prompt that does not echo when standard input is a
/// terminal, else all of standard input with one trailing line break
/// dropped (what `echo` and most editors add).
fn read_value(name: &SecretName) -> anyhow::Result<SecretValue> {
    let text = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("value of secret {name}: "))
            .context("cannot read the value from the terminal")?
    } else {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the value from standard input (it must be UTF-8)")?;
        let trimmed = text
            .strip_suffix("\r\n")
            .or_else(|| text.strip_suffix('\n'))
            .unwrap_or(&text)
            .len();
        text.truncate(trimmed);
        text
    };
    Ok(SecretValue::new(text)?)
}
