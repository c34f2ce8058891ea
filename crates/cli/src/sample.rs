//! The samples ("Hello SDLC" first): seeded and published on first start so a new
//! installation has something to run.

use agentwerke_bpmn::{KnownTools, Limits};
use agentwerke_runtime::Clock;
use agentwerke_runtime::definitions::check;
use agentwerke_store::{NewWorkflowVersion, Store};
use anyhow::{Context, bail};
use serde_json::json;
use sha2::{Digest, Sha256};

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
/// the server's `tools`.
pub async fn seed(store: &dyn Store, clock: &dyn Clock, tools: &KnownTools) -> anyhow::Result<()> {
    seed_one(store, clock, tools, HELLO_SDLC_ID, "Hello SDLC", HELLO_SDLC).await?;
    seed_one(
        store,
        clock,
        tools,
        GATEWAY_DEMO_ID,
        "Gateway demo",
        GATEWAY_DEMO,
    )
    .await?;
    seed_one(
        store,
        clock,
        tools,
        CLARIFY_REQUEST_ID,
        "Clarify request",
        CLARIFY_REQUEST,
    )
    .await
}

async fn seed_one(
    store: &dyn Store,
    clock: &dyn Clock,
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
    let now = clock.now();
    let version = store
        .create_workflow_version(NewWorkflowVersion {
            workflow_id: id.to_owned(),
            name: name.to_owned(),
            bpmn_xml: xml.to_owned(),
            bpmn_sha256: hex::encode(Sha256::digest(xml.as_bytes())),
            diagnostics: json!(checked.diagnostics),
            created_by: "system".to_owned(),
            at: now,
        })
        .await
        .context("cannot seed the sample workflow")?;
    store
        .publish_workflow_version(id, version.version, "system", now)
        .await
        .context("cannot publish the sample workflow")?;
    Ok(())
}
