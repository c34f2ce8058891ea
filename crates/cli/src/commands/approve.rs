//! `agentwerke approve`: decide an approval request.

use std::process::ExitCode;

use serde_json::json;

use crate::Remote;
use crate::client::Client;
use crate::output::say;

/// Decision options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The approval request id.
    id: String,
    /// Reject instead of approving.
    #[arg(long, conflicts_with = "request_changes")]
    reject: bool,
    /// Send the work back for changes instead of approving.
    #[arg(long)]
    request_changes: bool,
    /// The human judgment; part of the audit trail.
    #[arg(long, short = 'm')]
    comment: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

/// Sends the decision.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let decision = if args.reject {
        "reject"
    } else if args.request_changes {
        "request_changes"
    } else {
        "approve"
    };
    let client = Client::new(&args.remote)?;
    let decided = client
        .post(
            &format!("/api/approvals/{}/decision", args.id),
            &json!({"decision": decision, "comment": args.comment}),
        )
        .await?;
    say!(
        "approval {} is now {} (run {})",
        args.id,
        decided["status"].as_str().unwrap_or(""),
        decided["runId"].as_str().unwrap_or("")
    )?;
    Ok(ExitCode::SUCCESS)
}
