//! The samples ("Hello SDLC" first): seeded and published on first start so a new
//! installation has something to run.

use agentwerke_bpmn::{KnownTools, Limits};
use agentwerke_runtime::RuntimeHandle;
use agentwerke_runtime::command::{Command, ImportWorkflow, PublishWorkflow};
use agentwerke_runtime::definitions::check;
use agentwerke_store::Store;
use anyhow::{Context, bail};
use serde_json::json;

/// The sample's BPMN: Start -> Analyze (agent task) -> Review (approval) -> End.
pub const HELLO_SDLC: &str = include_str!("../../../examples/hello-sdlc.bpmn");
/// The sample's workflow id.
pub const HELLO_SDLC_ID: &str = "hello-sdlc";

/// The gateway demo: one agent task whose scripted model asks for an
/// allowed, a refused and an escalated tool call.
pub const GATEWAY_DEMO: &str = include_str!("../../../examples/gateway-demo.bpmn");
/// The gateway demo's workflow id.
pub const GATEWAY_DEMO_ID: &str = "gateway-demo";
/// The human.ask demo: one agent task whose scripted model asks a human a
/// blocking question and uses the answer.
pub const CLARIFY_REQUEST: &str = include_str!("../../../examples/clarify-request.bpmn");
/// The human.ask demo's workflow id.
pub const CLARIFY_REQUEST_ID: &str = "clarify-request";
/// The scripted model turns used when no `scripts` file is configured.
pub const SCRIPTS: &str = include_str!("../../../examples/scripts.toml");

/// Imports and publishes the samples that do not exist yet, checked against
/// the server's `tools`, through the runtime's commands: as the system, with
/// their global audit records, like any import.
pub async fn seed(
    store: &dyn Store,
    runtime: &RuntimeHandle,
    tools: &KnownTools,
) -> anyhow::Result<()> {
    seed_one(
        store,
        runtime,
        tools,
        HELLO_SDLC_ID,
        "Hello SDLC",
        HELLO_SDLC,
    )
    .await?;
    seed_one(
        store,
        runtime,
        tools,
        GATEWAY_DEMO_ID,
        "Gateway demo",
        GATEWAY_DEMO,
    )
    .await?;
    seed_one(
        store,
        runtime,
        tools,
        CLARIFY_REQUEST_ID,
        "Clarify request",
        CLARIFY_REQUEST,
    )
    .await
}

async fn seed_one(
    store: &dyn Store,
    runtime: &RuntimeHandle,
    tools: &KnownTools,
    id: &str,
    name: &str,
    xml: &str,
) -> anyhow::Result<()> {
    if store.get_workflow(id).await?.is_some() {
        return Ok(());
    }
    let checked = check(xml.as_bytes(), &Limits::default(), tools);
    if !checked.is_executable() {
        bail!(
            "the bundled sample workflow is invalid: {:?}",
            checked.diagnostics
        );
    }
    let import = Command::ImportWorkflow(ImportWorkflow {
        workflow_id: id.to_owned(),
        name: name.to_owned(),
        bpmn_xml: xml.to_owned(),
        diagnostics: json!(checked.diagnostics),
        by: "system".to_owned(),
    });
    let draft = runtime
        .submit(import)
        .await
        .context("cannot seed the sample workflow")?;
    let version = draft
        .committed
        .workflow_version()
        .context("the sample's import wrote no version")?
        .version;
    let publish = Command::PublishWorkflow(PublishWorkflow {
        workflow_id: id.to_owned(),
        version,
        by: "system".to_owned(),
    });
    runtime
        .submit(publish)
        .await
        .context("cannot publish the sample workflow")?;
    Ok(())
}
