//! `agentwerke audit export|verify`: the global audit stream (workflow
//! imports and publications, policy changes, gateway halts and resumes) as a
//! signed file, and its offline check.
//!
//! `verify` proves what `evidence verify` proves for a pack, with the same
//! trust anchors and exit codes: 0 only when the file is intact *and* signed
//! by the key the auditor trusts.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use agentwerke_evidence::{VerifyReport, verify_export};
use anyhow::Context;
use ed25519_dalek::VerifyingKey;
use serde_json::Value;

use crate::Remote;
use crate::client::Client;
use crate::commands::evidence::{Anchor, VERIFY_EXIT_CODES, Verdict, judge};
use crate::output::say;

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
    /// Verify an audit export: that it is intact (every record's hash and
    /// link, the signed chain head, the signature) and that it comes from
    /// your server (signed by the key you trust). Give the trusted key with
    /// --public-key, --public-key-file or --server; without one the export's
    /// origin is not proven and the exit code is 3.
    #[command(after_help = VERIFY_EXIT_CODES)]
    Verify {
        /// The export file.
        file: PathBuf,
        #[command(flatten)]
        anchor: Anchor,
    },
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
            say!(
                "wrote {} ({records} record(s), {} bytes)",
                output.display(),
                bytes.len()
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { file, anchor } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let trusted = anchor.key().await?;
            let verdict = verify_file(&file, &bytes, trusted.as_ref())?;
            Ok(ExitCode::from(verdict.code()))
        }
    }
}

/// Checks integrity with the export's own key first, then origin against
/// the trusted key, so a re-signed export is told apart from an altered one.
fn verify_file(
    file: &Path,
    bytes: &[u8],
    trusted: Option<&VerifyingKey>,
) -> anyhow::Result<Verdict> {
    judge(
        file,
        "an export",
        |key| verify_export(bytes, key),
        trusted,
        summary,
    )
}

fn summary(report: &VerifyReport) -> std::io::Result<()> {
    say!(
        "  global audit stream of {} record(s), head {}",
        report.chain_length,
        report.chain_head.as_deref().unwrap_or("(empty)"),
    )
}
