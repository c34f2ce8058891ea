//! `agentwerke evidence download|verify`.

use std::path::PathBuf;
use std::process::ExitCode;

use agentwerke_evidence::keys::decode_public_key;
use agentwerke_evidence::verify;
use anyhow::Context;

use crate::Remote;
use crate::client::Client;

/// Evidence subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Download a run's signed evidence pack.
    Download {
        /// Run id.
        run: String,
        /// Where to write it.
        #[arg(long, short = 'o', default_value = "evidence-pack.json")]
        output: PathBuf,
        #[command(flatten)]
        remote: Remote,
    },
    /// Verify an evidence pack offline: signature, section digests and the
    /// audit hash chain. Exits 1 and names every alteration when it fails.
    Verify {
        /// The pack file.
        file: PathBuf,
        /// The server's public key (base64, from GET /api/evidence/public-key);
        /// without it only the pack's own key is checked, which proves
        /// integrity but not origin.
        #[arg(long)]
        public_key: Option<String>,
    },
}

/// Runs an evidence subcommand.
pub async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Download {
            run,
            output,
            remote,
        } => {
            let client = Client::new(&remote)?;
            let bytes = client
                .get_bytes(&format!("/api/runs/{run}/evidence-pack/download"))
                .await?;
            std::fs::write(&output, &bytes)
                .with_context(|| format!("cannot write {}", output.display()))?;
            println!("wrote {} ({} bytes)", output.display(), bytes.len());
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { file, public_key } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let trusted = public_key
                .as_deref()
                .map(decode_public_key)
                .transpose()
                .context("--public-key is not a base64 Ed25519 public key")?;
            let report = verify(&bytes, trusted.as_ref());
            if report.is_valid() {
                println!(
                    "{}: valid. Signed by key {}; audit chain of {} record(s), head {}.",
                    file.display(),
                    report.key_id.as_deref().unwrap_or("?"),
                    report.chain_length,
                    report.chain_head.as_deref().unwrap_or("?"),
                );
                if trusted.is_none() {
                    println!(
                        "note: pass --public-key to check that the pack was signed by your server"
                    );
                }
                Ok(ExitCode::SUCCESS)
            } else {
                println!("{}: NOT valid", file.display());
                for problem in &report.problems {
                    println!("  - {problem}");
                }
                Ok(ExitCode::from(1))
            }
        }
    }
}
