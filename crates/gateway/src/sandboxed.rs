//! Running commands in the sandbox with the egress proxy around them: one
//! command in a fresh sandbox ([`run_with_egress`]), or a session's commands
//! in one sandbox behind one proxy ([`open_with_egress`]).

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;

use agentwerke_sandbox::{
    EgressConnection, ExecRequest, Execution, Network, Sandbox, SandboxError, SandboxProfile,
    SandboxSession, SessionId, SessionSpec,
};
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
    let (folder, proxy) = start_proxy(scope)?;
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

/// A proxy for `scope` on a socket in a fresh private folder (mode `0711`,
/// the socket `0666`, so that a sandbox under another uid can reach it but
/// nobody can list it).
fn start_proxy(scope: EgressScope) -> Result<(tempfile::TempDir, EgressProxy), SandboxRunError> {
    let folder = tempfile::Builder::new()
        .prefix("agentwerke-egress-")
        .tempdir()
        .map_err(SandboxRunError::ProxyUnavailable)?;
    std::fs::set_permissions(folder.path(), std::fs::Permissions::from_mode(0o711))
        .map_err(SandboxRunError::ProxyUnavailable)?;
    let proxy = EgressProxy::start(&folder.path().join("egress.sock"), scope)
        .map_err(SandboxRunError::ProxyUnavailable)?;
    Ok((folder, proxy))
}

/// Opens a session (`executionMode="agent_sandboxed"`: one sandbox for a
/// step's commands) for `workspace` under `profile`, on a blocking thread,
/// with one egress proxy for `scope` that lives as long as the session when
/// the profile reaches the network through one ([`Network::ViaProxy`]), in
/// a private folder as for [`run_with_egress`]. An `offline` session has no
/// proxy. A sandbox in the degraded mode refuses a proxy
/// (`sandbox.egress_unavailable`).
pub async fn open_with_egress(
    sandbox: Arc<dyn Sandbox>,
    workspace: impl Into<PathBuf>,
    profile: SandboxProfile,
    scope: EgressScope,
) -> Result<EgressSession, SandboxRunError> {
    let mut spec = SessionSpec::new(workspace, profile);
    let proxy = if profile.network() == Network::ViaProxy {
        let (folder, proxy) = start_proxy(scope)?;
        spec.egress = Some(proxy.socket().to_owned());
        Some((folder, proxy))
    } else {
        None
    };
    let opening = spec.clone();
    let opened = tokio::task::spawn_blocking(move || sandbox.open(&opening))
        .await
        .map_err(|_| SandboxRunError::Interrupted)
        .and_then(|opened| opened.map_err(SandboxRunError::Sandbox));
    let session = match opened {
        Ok(session) => session,
        Err(error) => {
            if let Some((_, proxy)) = proxy {
                proxy.finish().await;
            }
            return Err(error);
        }
    };
    Ok(EgressSession {
        id: session.id().clone(),
        session: Some(session),
        proxy,
        spec,
        between: Vec::new(),
        commands: 0,
    })
}

/// A sandbox session behind its egress proxy. Each command's
/// [`Execution::egress`] lists the connections that arrived while it ran,
/// in arrival order; those that arrived between commands (from processes a
/// command left running) are kept apart and returned by
/// [`EgressSession::close`]. Dropping it kills the sandbox and stops the
/// proxy, and those connections are not reported.
pub struct EgressSession {
    id: SessionId,
    /// `None` once a command's thread was lost (the session is gone).
    session: Option<Box<dyn SandboxSession>>,
    /// The proxy and its private folder; `None` for `offline`.
    proxy: Option<(tempfile::TempDir, EgressProxy)>,
    spec: SessionSpec,
    between: Vec<EgressConnection>,
    /// Commands run in it so far.
    commands: u32,
}

/// What a session came to when it was closed: the commands it ran and the
/// connections no command's record holds (those that arrived between
/// commands or after the last one, from processes a command left running).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEnd {
    /// The session's id, as its executions name it.
    pub id: SessionId,
    /// The profile it ran under.
    pub profile: SandboxProfile,
    /// Commands run in it.
    pub commands: u32,
    /// The connections outside any command, allowed or not, in arrival
    /// order. Kept even when closing the sandbox failed: the proxy saw them.
    pub egress: Vec<EgressConnection>,
    /// Why the sandbox could not be closed cleanly, if it could not: the
    /// error's stable code and its message.
    pub error: Option<(&'static str, String)>,
}

impl std::fmt::Debug for EgressSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressSession")
            .field("id", &self.id)
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl EgressSession {
    /// The session's id, which each of its executions records.
    pub fn id(&self) -> &SessionId {
        &self.id
    }

    /// What the session was opened with (its `egress` is the proxy's socket).
    pub fn spec(&self) -> &SessionSpec {
        &self.spec
    }

    /// A request for this session: its workspace, profile and proxy socket.
    pub fn request(
        &self,
        program: impl Into<String>,
        args: impl IntoIterator<Item = impl Into<String>>,
    ) -> ExecRequest {
        self.spec.request(program, args)
    }

    /// Runs `request` in the session on a blocking thread. A request with no
    /// egress socket gets the session's (one naming another is refused,
    /// `sandbox.invalid_request`); its workspace and profile must be the
    /// session's. The execution's `egress` is filled with the connections
    /// that arrived while it ran.
    pub async fn run(&mut self, mut request: ExecRequest) -> Result<Execution, SandboxRunError> {
        if request.egress.is_none() {
            request.egress = self.spec.egress.clone();
        }
        let Some(mut session) = self.session.take() else {
            return Err(SandboxRunError::Sandbox(SandboxError::SessionEnded(
                "a command's thread did not finish".to_owned(),
            )));
        };
        if let Some((_, proxy)) = &self.proxy {
            self.between.extend(proxy.drain());
        }
        let (session, ran) = tokio::task::spawn_blocking(move || {
            let ran = session.run(&request);
            (session, ran)
        })
        .await
        .map_err(|_| SandboxRunError::Interrupted)?;
        self.session = Some(session);
        self.commands += 1;
        let mut execution = ran?;
        if let Some((_, proxy)) = &self.proxy {
            execution.egress = proxy.drain();
        }
        Ok(execution)
    }

    /// Closes the sandbox (every process in it dies), then stops the proxy,
    /// and reports what the session came to: its commands and the
    /// connections no command's record holds, in arrival order.
    pub async fn close(mut self) -> SessionEnd {
        let closed = match self.session.take() {
            Some(session) => tokio::task::spawn_blocking(move || session.close())
                .await
                .map_err(|_| SandboxRunError::Interrupted)
                .and_then(|closed| closed.map_err(SandboxRunError::Sandbox)),
            None => Ok(()),
        };
        let mut egress = std::mem::take(&mut self.between);
        if let Some((folder, proxy)) = self.proxy.take() {
            egress.extend(proxy.finish().await);
            drop(folder);
        }
        SessionEnd {
            id: self.id.clone(),
            profile: self.spec.profile,
            commands: self.commands,
            egress,
            error: closed.err().map(|error| (error.code(), error.to_string())),
        }
    }
}
