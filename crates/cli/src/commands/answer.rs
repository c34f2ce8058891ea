//! `agentwerke answer`: answer an agent's blocking question (`human.ask`).

use std::process::ExitCode;

use serde_json::json;

use crate::Remote;
use crate::client::Client;
use crate::output::say;

/// Answer options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The question id (shown by `run show` under "waiting for an answer").
    id: String,
    /// The answer; the asking agent receives it as the result of its question.
    answer: String,
    #[command(flatten)]
    remote: Remote,
}

/// Sends the answer.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = Client::new(&args.remote)?;
    let answered = client
        .post(
            &format!("/api/questions/{}/answer", args.id),
            &json!({"answer": args.answer}),
        )
        .await?;
    say!(
        "question {} is answered; run {} resumes",
        args.id,
        answered["runId"].as_str().unwrap_or("")
    )?;
    Ok(ExitCode::SUCCESS)
}
