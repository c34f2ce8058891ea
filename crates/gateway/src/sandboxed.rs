//! Running one command in the sandbox with its egress proxy around it.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use agentwerke_sandbox::{ExecRequest, Execution, Network, Sandbox, SandboxError};
use agentwerke_types::ErrorCode;

use crate::egress_proxy::{EgressProxy, EgressScope};

/// Why a sandboxed command did not run.
#[derive(Debug, thiserror::Error)]
pub enum SandboxRunError {
    /// The sandbox refused or could not set up the command; its code is the
    /// sandbox's (`sandbox.*`).
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The egress proxy's folder or socket could not be created.
    #[error("egress proxy unavailable: {0}")]
    ProxyUnavailable(std::io::Error),
    /// The thread running the sandbox panicked or was cancelled.
    #[error("the sandbox thread did not finish")]
    Interrupted,
}

impl ErrorCode for SandboxRunError {
    fn code(&self) -> &'static str {
        match self {
            SandboxRunError::Sandbox(error) => error.code(),
            SandboxRunError::ProxyUnavailable(_) => "gateway.egress.proxy_unavailable",
            SandboxRunError::Interrupted => "gateway.sandbox.interrupted",
        }
    }
}

/// Runs `request` in `sandbox`, on a blocking thread, with an egress proxy
/// for `scope` when its profile reaches the network through one
/// ([`Network::ViaProxy`]): the proxy listens on a socket in a fresh
/// private folder (mode `0711`, the socket `0666`, so that a sandbox under
/// another uid can reach it but nobody can list it), `request.egress` is set
/// to it, and after the command ends the proxy is stopped and every
/// connection it saw, allowed or not, is put into
/// [`Execution::egress`]. An `offline` request runs as it is, with no proxy.
///
/// A sandbox in the degraded mode refuses a proxy
/// (`sandbox.egress_unavailable`): it has no network namespace to confine
/// the command to it. [`Sandbox::run`] without a proxy runs such a command
/// with no network at all.
pub async fn run_with_egress(
    sandbox: Arc<dyn Sandbox>,
    mut request: ExecRequest,
    scope: EgressScope,
) -> Result<Execution, SandboxRunError> {
    if request.profile.network() != Network::ViaProxy {
        return run_blocking(sandbox, request).await;
    }
    let folder = tempfile::Builder::new()
        .prefix("agentwerke-egress-")
        .tempdir()
        .map_err(SandboxRunError::ProxyUnavailable)?;
    std::fs::set_permissions(folder.path(), std::fs::Permissions::from_mode(0o711))
        .map_err(SandboxRunError::ProxyUnavailable)?;
    let proxy = EgressProxy::start(&folder.path().join("egress.sock"), scope)
        .map_err(SandboxRunError::ProxyUnavailable)?;
    request.egress = Some(proxy.socket().to_owned());
    let ran = run_blocking(sandbox, request).await;
    let egress = proxy.finish().await;
    drop(folder);
    let mut execution = ran?;
    execution.egress = egress;
    Ok(execution)
}

async fn run_blocking(
    sandbox: Arc<dyn Sandbox>,
    request: ExecRequest,
) -> Result<Execution, SandboxRunError> {
    tokio::task::spawn_blocking(move || sandbox.run(&request))
        .await
        .map_err(|_| SandboxRunError::Interrupted)?
        .map_err(SandboxRunError::Sandbox)
}
