//! `agentwerke evidence download|verify`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use agentwerke_evidence::keys::{decode_public_key, key_id};
use agentwerke_evidence::{VerifyReport, verify};
use anyhow::Context;
use ed25519_dalek::VerifyingKey;
use serde_json::Value;

use crate::Remote;
use crate::client::Client;
use crate::output::say;

/// What `verify` found, as its exit code says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Intact and signed by the trusted key.
    Valid,
    /// Altered, malformed or unsigned.
    Invalid,
    /// Intact, but no trust anchor was given: anyone could have signed it.
    OriginUnverified,
    /// Intact, but signed by a key other than the trusted one.
    ForeignKey,
}

impl Verdict {
    /// The documented exit code (2 is every other error, as for all commands).
    pub(crate) fn code(self) -> u8 {
        match self {
            Verdict::Valid => 0,
            Verdict::Invalid => 1,
            Verdict::OriginUnverified => 3,
            Verdict::ForeignKey => 4,
        }
    }
}

/// Shown under `evidence verify --help`.
pub(crate) const VERIFY_EXIT_CODES: &str = "\
Exit codes:
  0  intact, and signed by the trusted key
  1  NOT valid: altered, malformed or unsigned (each problem is listed)
  2  error: unreadable file, bad key, server unreachable
  3  intact, but origin unverified: no trusted key was given
  4  intact, but signed by a different key than the trusted one";

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
    /// Verify an evidence pack: that it is intact (signature, section
    /// digests, audit hash chain) and that it comes from your server (signed
    /// by the key you trust). Give the trusted key with --public-key,
    /// --public-key-file or --server; without one the pack's origin is not
    /// proven and the exit code is 3.
    #[command(after_help = VERIFY_EXIT_CODES)]
    Verify {
        /// The pack file.
        file: PathBuf,
        #[command(flatten)]
        anchor: Anchor,
    },
}

/// Where the trusted public key comes from; at most one of the three.
#[derive(Debug, clap::Args)]
pub struct Anchor {
    /// The server's public key, base64 (as `publicKey` in GET
    /// /api/evidence/public-key).
    #[arg(long, group = "anchor")]
    public_key: Option<String>,
    /// A file holding the server's public key: the base64 key alone, or JSON
    /// with a `publicKey` field (the answer of GET /api/evidence/public-key,
    /// or the server's evidence-signing-key.json).
    #[arg(long, group = "anchor")]
    public_key_file: Option<PathBuf>,
    /// Fetch the public key from this server (GET /api/evidence/public-key,
    /// with the token from --token or AGENTWERKE_TOKEN). Use https or a
    /// trusted network: whoever answers is trusted.
    #[arg(long, group = "anchor")]
    server: Option<String>,
    /// A bearer token for --server.
    #[arg(long, env = "AGENTWERKE_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

impl Anchor {
    /// The trusted key, if one was named.
    pub(crate) async fn key(&self) -> anyhow::Result<Option<VerifyingKey>> {
        if let Some(text) = &self.public_key {
            return decode_public_key(text)
                .context("--public-key is not a base64 Ed25519 public key")
                .map(Some);
        }
        if let Some(path) = &self.public_key_file {
            return read_key_file(path).map(Some);
        }
        if let Some(url) = &self.server {
            let client = Client::new(&Remote {
                url: url.clone(),
                token: self.token.clone(),
            })?;
            let answer = client.get("/api/evidence/public-key").await?;
            let text = answer["publicKey"]
                .as_str()
                .context("the server's answer has no publicKey")?;
            return decode_public_key(text)
                .context("the server's publicKey is not a base64 Ed25519 public key")
                .map(Some);
        }
        Ok(None)
    }
}

fn read_key_file(path: &Path) -> anyhow::Result<VerifyingKey> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let key = match serde_json::from_str::<Value>(&text) {
        Ok(json) => json["publicKey"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("{} has no publicKey field", path.display()))?,
        Err(_) => text,
    };
    decode_public_key(&key).with_context(|| {
        format!(
            "{} does not hold a base64 Ed25519 public key",
            path.display()
        )
    })
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
            say!("wrote {} ({} bytes)", output.display(), bytes.len())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { file, anchor } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let trusted = anchor.key().await?;
            let verdict = verify_pack(&file, &bytes, trusted.as_ref())?;
            Ok(ExitCode::from(verdict.code()))
        }
    }
}

/// Checks integrity with the pack's own key first, then origin against the
/// trusted key, so a re-signed pack is told apart from an altered one.
fn verify_pack(
    file: &Path,
    bytes: &[u8],
    trusted: Option<&VerifyingKey>,
) -> anyhow::Result<Verdict> {
    judge(file, "a pack", |key| verify(bytes, key), trusted, summary)
}

/// The verdict on a signed document (a pack, an audit export): `check`
/// verifies it with the key given, or with its own embedded key when given
/// none. Integrity is checked first, then origin against `trusted`, and the
/// finding is printed; `summary` adds what the document holds.
pub(crate) fn judge(
    file: &Path,
    what: &str,
    check: impl Fn(Option<&VerifyingKey>) -> VerifyReport,
    trusted: Option<&VerifyingKey>,
    summary: fn(&VerifyReport) -> std::io::Result<()>,
) -> anyhow::Result<Verdict> {
    let file = file.display();
    let intact = check(None);
    if !intact.is_valid() {
        say!("{file}: NOT valid")?;
        for problem in &intact.problems {
            say!("  - {problem}")?;
        }
        return Ok(Verdict::Invalid);
    }
    let signer = intact.key_id.as_deref().unwrap_or("?");
    let Some(trusted) = trusted else {
        say!(
            "{file}: intact, but its origin is UNVERIFIED. It is signed by key {signer}, which \
             was not checked against a key you trust: anyone can sign {what}. Pass \
             --public-key, --public-key-file or --server."
        )?;
        summary(&intact)?;
        redactions(&intact)?;
        return Ok(Verdict::OriginUnverified);
    };
    if !check(Some(trusted)).is_valid() {
        say!(
            "{file}: intact, but NOT signed by the trusted key {}: it is signed by key {signer}.",
            key_id(trusted)
        )?;
        return Ok(Verdict::ForeignKey);
    }
    say!("{file}: valid. Signed by the trusted key {signer}.")?;
    summary(&intact)?;
    redactions(&intact)?;
    Ok(Verdict::Valid)
}

/// Records redacted after they were chained do not make a document
/// invalid, but the chain cannot vouch for their content: say which.
fn redactions(report: &VerifyReport) -> std::io::Result<()> {
    if report.redacted_after_chaining.is_empty() {
        return Ok(());
    }
    let seqs: Vec<String> = report
        .redacted_after_chaining
        .iter()
        .map(u64::to_string)
        .collect();
    say!(
        "  {} record(s) redacted after they were chained (seq {}): a value in them became a \
         known secret later, so their content is vouched for by the signature, not the chain",
        seqs.len(),
        seqs.join(", ")
    )
}

fn summary(report: &VerifyReport) -> std::io::Result<()> {
    say!(
        "  run {}; audit chain of {} record(s), head {}",
        report.run_id.as_deref().unwrap_or("?"),
        report.chain_length,
        report.chain_head.as_deref().unwrap_or("?"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verdict_has_its_own_exit_code_and_none_is_the_error_code() {
        let codes = [
            Verdict::Valid,
            Verdict::Invalid,
            Verdict::OriginUnverified,
            Verdict::ForeignKey,
        ]
        .map(Verdict::code);
        assert_eq!(codes, [0, 1, 3, 4], "documented in --help and the README");
    }
}
