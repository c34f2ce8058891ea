//! The "Hello SDLC" sample: seeded and published on first start so a new
//! installation has something to run.

use agentwerke_bpmn::Limits;
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

/// Imports and publishes the sample unless the workflow already exists.
pub async fn seed(store: &dyn Store, clock: &dyn Clock) -> anyhow::Result<()> {
    if store.get_workflow(HELLO_SDLC_ID).await?.is_some() {
        return Ok(());
    }
    let checked = check(HELLO_SDLC.as_bytes(), &Limits::default());
    if !checked.is_executable() {
        bail!(
            "the bundled sample workflow is invalid: {:?}",
            checked.diagnostics
        );
    }
    let now = clock.now();
    let version = store
        .create_workflow_version(NewWorkflowVersion {
            workflow_id: HELLO_SDLC_ID.to_owned(),
            name: "Hello SDLC".to_owned(),
            bpmn_xml: HELLO_SDLC.to_owned(),
            bpmn_sha256: hex::encode(Sha256::digest(HELLO_SDLC.as_bytes())),
            diagnostics: json!(checked.diagnostics),
            created_by: "system".to_owned(),
            at: now,
        })
        .await
        .context("cannot seed the sample workflow")?;
    store
        .publish_workflow_version(HELLO_SDLC_ID, version.version, "system", now)
        .await
        .context("cannot publish the sample workflow")?;
    Ok(())
}
