//! `agentwerke audit export|verify`: the global audit stream (workflow
//! imports and publications, policy changes, gateway halts and resumes) as a
//! signed file, and its offline check.
//!
//! `verify` exits 0 only when the file is intact *and* signed by the key
//! the auditor trusts (`--public-key`, `--public-key-file` or `--server`).
//! Without a trust anchor an intact file exits [`ORIGIN_UNVERIFIED`]: it
//! proves the file was not altered after signing, not who signed it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use agentwerke_evidence::keys::decode_public_key;
use agentwerke_evidence::verify_export;
use anyhow::{Context, bail};
use ed25519_dalek::VerifyingKey;
use serde_json::Value;

use crate::Remote;
use crate::client::Client;

/// Exit code of a file that is intact but whose signer was not checked.
pub const ORIGIN_UNVERIFIED: u8 = 3;

/// Exit code of a file that was altered or signed by another key.
const NOT_VALID: u8 = 1;

/// Audit subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Download the global audit stream, signed by the server's evidence key.
    Export {
        /// Where to write it.
        #[arg(long, short = 'o', default_value = "audit-export.json")]
        output: PathBuf,
        #[command(flatten)]
        remote: Remote,
    },
    /// Verify an audit export offline: every record's hash and link, the
    /// signed chain head and the signature. Exits 0 when intact and signed
    /// by the trusted key, 1 naming every alteration, 3 when intact but no
    /// trusted key was given.
    Verify {
        /// The export file.
        file: PathBuf,
        #[command(flatten)]
        anchor: TrustAnchor,
        /// A bearer token for --server.
        #[arg(long, env = "AGENTWERKE_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
}

/// Who the auditor trusts to have signed the file: one of three ways to
/// name the server's evidence key.
#[derive(Debug, clap::Args)]
#[group(multiple = false)]
pub struct TrustAnchor {
    /// The server's public key (base64, from GET /api/evidence/public-key).
    #[arg(long)]
    public_key: Option<String>,
    /// A file holding the server's public key: the base64 text, or the JSON
    /// that GET /api/evidence/public-key returns.
    #[arg(long, value_name = "PATH")]
    public_key_file: Option<PathBuf>,
    /// Ask this server for its public key (needs a token: --token or
    /// AGENTWERKE_TOKEN).
    #[arg(long, value_name = "URL")]
    server: Option<String>,
}

impl TrustAnchor {
    /// The trusted key and where it came from, or `None` when none was named.
    async fn resolve(
        self,
        token: Option<String>,
    ) -> anyhow::Result<Option<(VerifyingKey, String)>> {
        if let Some(text) = self.public_key {
            let key = decode_public_key(&text)
                .context("--public-key is not a base64 Ed25519 public key")?;
            return Ok(Some((key, "--public-key".to_owned())));
        }
        if let Some(path) = self.public_key_file {
            let key = key_from_file(&path)?;
            return Ok(Some((key, path.display().to_string())));
        }
        if let Some(url) = self.server {
            let remote = Remote {
                url: url.clone(),
                token,
            };
            let answer = Client::new(&remote)?
                .get("/api/evidence/public-key")
                .await?;
            let text = answer["publicKey"]
                .as_str()
                .with_context(|| format!("{url} did not name its public key"))?;
            let key = decode_public_key(text)
                .with_context(|| format!("{url} sent a public key that does not decode"))?;
            return Ok(Some((key, url)));
        }
        Ok(None)
    }
}

/// Reads a key file: base64 text, or `{"publicKey": ...}` as the API shows it.
fn key_from_file(path: &Path) -> anyhow::Result<VerifyingKey> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let base64 = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(object)) => match object.get("publicKey").and_then(Value::as_str) {
            Some(key) => key.to_owned(),
            None => bail!("{} has no \"publicKey\"", path.display()),
        },
        _ => text,
    };
    decode_public_key(&base64).with_context(|| {
        format!(
            "{} does not hold a base64 Ed25519 public key",
            path.display()
        )
    })
}

/// Runs an audit subcommand.
pub async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Export { output, remote } => {
            let bytes = Client::new(&remote)?.get_bytes("/api/audit/export").await?;
            std::fs::write(&output, &bytes)
                .with_context(|| format!("cannot write {}", output.display()))?;
            let records = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|export| export["auditLog"].as_array().map(Vec::len))
                .context("the server's answer is not an audit export")?;
            println!(
                "wrote {} ({records} record(s), {} bytes)",
                output.display(),
                bytes.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify {
            file,
            anchor,
            token,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let trusted = anchor.resolve(token).await?;
            let report = verify_export(&bytes, trusted.as_ref().map(|(key, _)| key));
            if !report.is_valid() {
                println!("{}: NOT valid", file.display());
                for problem in &report.problems {
                    println!("  - {problem}");
                }
                return Ok(ExitCode::from(NOT_VALID));
            }
            println!(
                "{}: intact. Global audit stream of {} record(s), head {}; signed by key {}.",
                file.display(),
                report.chain_length,
                report.chain_head.as_deref().unwrap_or("(empty)"),
                report.key_id.as_deref().unwrap_or("?"),
            );
            match trusted {
                Some((_, from)) => {
                    println!("valid: the signing key is the trusted key from {from}.");
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    println!(
                        "origin NOT verified: pass --public-key, --public-key-file or --server \
                         to check who signed it."
                    );
                    Ok(ExitCode::from(ORIGIN_UNVERIFIED))
                }
            }
        }
    }
}
