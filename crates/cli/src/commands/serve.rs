//! `agentwerke serve`: the server, the run workers and the sample workflow.

use std::process::ExitCode;
use std::sync::Arc;

use agentwerke_agents::provider::ModelProvider;
use agentwerke_agents::scripted::ScriptedProvider;
use agentwerke_auth::{DevKey, Verifier};
use agentwerke_evidence::redact::Redactor;
use agentwerke_gateway::egress::EgressRules;
use agentwerke_gateway::tools::{Document, Workspaces};
use agentwerke_gateway::{ExecEgress, ExecTools, SandboxBackend};
use agentwerke_providers::{KeyResolver, ProviderRouter};
use agentwerke_runtime::{
    Clock, GatewayService, GatewaySettings, Runtime, RuntimeDeps, RuntimeOptions, SystemClock,
};
use agentwerke_sandbox::{LocalConfig, LocalSandbox, SandboxUser};
use agentwerke_secrets::{LocalKeys, ProcessEnvironment};
use agentwerke_server::{ApiLimits, AppState, SecretKeeper, StoreSecrets, app};
use agentwerke_store::{SqliteStore, Store};
use anyhow::Context;

use crate::config::{Config, ConfigArgs};
use crate::log::RedactingWriter;
use crate::output::say;
use crate::{keys, profiles, sample};

/// `serve` options; each can also come from the config file or `AGENTWERKE_*`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    /// The address to listen on, such as 127.0.0.1:8080 or localhost:9000
    /// (overrides the file and `AGENTWERKE_BIND`).
    #[arg(long)]
    bind: Option<String>,
    /// Print the effective configuration as TOML (which --config accepts)
    /// and exit.
    #[arg(long)]
    dump_config: bool,
}

/// Runs until SIGINT or SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut raw = args.config.raw()?;
    if let Some(bind) = args.bind {
        raw.bind = bind;
    }
    if args.dump_config {
        say!("{}", raw.effective_toml()?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let config = raw.check()?;
    // Checked before anything is created: a folder with problems stops
    // the server with every one of them.
    let (profiles, reloader) = profiles::load(&config)?;
    // One redactor, seeded with the redact-env values, for the log, the
    // gateway, the runtime, the secret keeper and the answers: a value the
    // keeper learns is redacted everywhere from the next write on.
    let redactor = Redactor::new(&config.secrets);
    init_tracing(&redactor);
    create_private_folder(&config.data_dir)?;
    let sqlite = SqliteStore::open(&config.database_url)
        .await
        .context("cannot open the database")?;
    let store: Arc<dyn Store> = Arc::new(sqlite.clone());
    let evidence_key = Arc::new(keys::evidence_key(&config.data_dir)?);
    let clock = Arc::new(SystemClock);
    let dev_key = if config.auth.dev.enabled {
        Some(
            DevKey::load_or_create(&config.auth.dev.key_path(&config.data_dir))
                .context("cannot load the development token key")?,
        )
    } else {
        None
    };
    let verifier = Arc::new(
        Verifier::new(&config.auth, dev_key.as_ref()).context("cannot set up authentication")?,
    );
    if config.auth.oidc.is_some() {
        match verifier.refresh_jwks(clock.now()).await {
            Ok(keys) => tracing::info!(keys, "loaded the identity provider's signing keys"),
            Err(error) => {
                tracing::warn!(%error, "the identity provider's keys are not reachable yet; tokens fail until they are")
            }
        }
    }
    let scripted: Arc<dyn ModelProvider> = Arc::new(scripted_provider(&config)?);
    let secret_keys = Arc::new(
        LocalKeys::load_or_create(&config.data_dir)
            .context("cannot load the secret encryption keys")?,
    );
    let keeper = SecretKeeper::new(
        secret_keys,
        config.configured_secrets.clone(),
        Arc::new(ProcessEnvironment),
        redactor.clone(),
    )
    .context("cannot use the secret keys")?;
    let gateway = Arc::new(
        GatewayService::start(
            store.clone(),
            clock.clone(),
            GatewaySettings {
                profiles,
                documents: knowledge(&config)?,
                redactor: redactor.clone(),
                escalation_ttl: config.escalation_ttl,
                resolver: Some(Arc::new(StoreSecrets::new(keeper.clone(), store.clone()))),
                allow_private_hosts: config.egress_allow_private_hosts.clone(),
                exec: exec_tools(&config),
            },
        )
        .await
        .context("cannot start the Tool Gateway")?,
    );
    if let Some(reloader) = reloader {
        profiles::keep_reloading(reloader, gateway.clone(), config.budgets.clone());
    }
    let provider = model_provider(&config, scripted, &keeper, &store, &redactor)?;
    let stored = keeper
        .open_stored(store.as_ref())
        .await
        .context("cannot open the stored secrets")?;
    tracing::info!(
        stored,
        configured = config.configured_secrets.len(),
        "secrets known to redaction"
    );
    // Another server on the same database may set or rotate a secret: its
    // value is known to this one's redaction within half a second.
    {
        let keeper = keeper.clone();
        let store = store.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_millis(500));
            loop {
                every.tick().await;
                if let Err(error) = keeper.refresh(store.as_ref()).await {
                    tracing::warn!(%error, "cannot refresh the stored secrets");
                }
            }
        });
    }
    let runtime = Runtime::start(
        RuntimeOptions {
            redactor: redactor.clone(),
            lease: config.lease,
            max_concurrent_steps: config.max_concurrent_steps,
            prices: config.prices.clone(),
            ..RuntimeOptions::default()
        },
        RuntimeDeps {
            store: store.clone(),
            provider,
            clock: clock.clone(),
            gateway: Some(gateway.clone()),
        },
    );
    if config.seed_sample {
        sample::seed(store.as_ref(), &runtime.handle(), &gateway.known_tools()).await?;
    }
    let state = AppState {
        store,
        verifier,
        runtime: runtime.handle(),
        clock,
        evidence_key,
        gateway,
        keeper,
        limits: ApiLimits {
            max_body_bytes: config.max_body_bytes,
            ..ApiLimits::default()
        },
    };
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    let address = listener.local_addr()?;
    announce(&config, address)?;
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("the server stopped with an error")?;
    runtime.stop().await;
    sqlite.close().await;
    tracing::info!("stopped cleanly");
    Ok(ExitCode::SUCCESS)
}

/// The first argument that makes the `agentwerke` binary the sandbox
/// helper (`agentwerke-sandbox-init`): the product ships one binary.
pub const SANDBOX_HELPER_ARG: &str = "__sandbox-init";

/// The sandbox for `exec.run`, with this binary as its helper and the data
/// folder (database, keys, every run's workspace) hidden from commands,
/// and the runs' workspaces under `<data>/workspaces`. A sandbox that
/// cannot be set up is said once here; the server still starts, and
/// `exec.run` answers with the sandbox's code.
pub fn exec_tools(config: &Config) -> ExecTools {
    let root = config.data_dir.join("workspaces");
    if let Some(user) = SandboxUser::for_this_process()
        && config.data_dir.exists()
    {
        let made = std::fs::create_dir_all(&root)
            .map_err(anyhow::Error::from)
            .and_then(|()| let_sandbox_pass(&root, user));
        if let Err(error) = made {
            tracing::warn!(%error, "the workspaces folder cannot be opened to the sandbox's user");
        }
    }
    let backend = sandbox_backend(config);
    match &backend {
        SandboxBackend::Ready(sandbox) => {
            tracing::info!(isolation = ?sandbox.isolation(), "exec.run runs commands in the sandbox");
        }
        SandboxBackend::Unavailable { code, reason } => {
            tracing::warn!(code, %reason, "exec.run is unavailable: every call fails closed");
        }
    }
    ExecTools {
        sandbox: backend,
        workspaces: Arc::new(Workspaces::new(
            config.data_dir.join("workspaces"),
            config.repository.clone(),
        )),
        limits: config.sandbox.limits,
        egress: ExecEgress {
            rules: EgressRules::allowing_private(&config.egress_allow_private_hosts),
            profile_hosts: config.sandbox.egress_hosts.clone(),
        },
    }
}

/// The sandbox `config` asks for, probed on this host: this binary as its
/// helper, the data folder hidden (when it exists yet: `serve` creates it
/// first).
pub fn sandbox_backend(config: &Config) -> SandboxBackend {
    match std::env::current_exe() {
        Ok(helper) => {
            let mut local = LocalConfig::new(helper);
            local.bwrap.clone_from(&config.sandbox.bwrap);
            local.hidden = [config.data_dir.clone()]
                .into_iter()
                .filter(|dir| dir.exists())
                .collect();
            local.allow_degraded = config.sandbox.allow_degraded;
            local.helper_args = vec![SANDBOX_HELPER_ARG.to_owned()];
            SandboxBackend::from_result(LocalSandbox::new(local))
        }
        Err(error) => SandboxBackend::Unavailable {
            code: "sandbox.setup_failed",
            reason: format!("cannot find this binary to use as the sandbox helper: {error}"),
        },
    }
}

/// Creates the data folder (and missing parents) with mode 0700: it holds
/// the database, keys and artifacts, none of them for other users. Run by
/// root, the sandbox runs as an unprivileged user that must reach its run's
/// workspace inside: the folder is then group-owned by that user's group
/// and 0710, so that group may pass through it and list nothing (every file
/// in it stays owner-only). A folder made before this rule (or by hand) and
/// open to others is kept as it is, with a warning that says how to close
/// it.
fn create_private_folder(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the data folder {}", dir.display()))?;
    let traverse = SandboxUser::for_this_process();
    if let Some(user) = traverse {
        let_sandbox_pass(dir, user)?;
    }
    let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
    let (open, closed) = if traverse.is_some() {
        (0o067, "710")
    } else {
        (0o077, "700")
    };
    if mode & open != 0 {
        tracing::warn!(
            "the data folder {} is open to other users (mode {mode:o}) and holds run inputs; \
             run: chmod {closed} {}",
            dir.display(),
            dir.display()
        );
    }
    Ok(())
}

/// Lets the sandbox's `user` pass through `dir`: group-owned by its group,
/// which may search it (`g+x`) and, in a folder made here (0710), neither
/// list nor read it: only a way to its workspace.
fn let_sandbox_pass(dir: &std::path::Path, user: SandboxUser) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::os::unix::fs::chown(dir, None, Some(user.gid))
        .with_context(|| format!("cannot give {} to the sandbox's group", dir.display()))?;
    let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode | 0o010))
        .with_context(|| format!("cannot open {} to the sandbox's group", dir.display()))?;
    Ok(())
}

fn announce(config: &Config, address: std::net::SocketAddr) -> std::io::Result<()> {
    let url = format!("http://{address}");
    say!("Agentwerke is listening on {url}")?;
    say!("  web UI:          {url}/")?;
    say!("  API description: {url}/openapi.json")?;
    say!("  data folder:     {}", config.data_dir.display())?;
    if config.auth.dev.enabled {
        say!(
            "  get a token:     agentwerke token --data-dir {} --role Operator",
            config.data_dir.display()
        )?;
    }
    say!("  sample workflows: hello-sdlc (Start -> Analyze -> Review -> End),")?;
    say!(
        "                    gateway-demo (an agent's allowed, refused and escalated tool calls),"
    )?;
    say!("                    clarify-request (an agent asks a human with human.ask)")?;
    Ok(())
}

/// The scripted provider alone when no `[[providers]]` are configured (a
/// tokenless server, as before providers existed); otherwise a router over
/// the configured ones, whose keys are resolved per request from the
/// secret store or the environment.
fn model_provider(
    config: &Config,
    scripted: Arc<dyn ModelProvider>,
    keeper: &SecretKeeper,
    store: &Arc<dyn Store>,
    redactor: &Redactor,
) -> anyhow::Result<Arc<dyn ModelProvider>> {
    if config.providers.is_empty() {
        return Ok(scripted);
    }
    let keys = KeyResolver::new(
        Some(Arc::new(StoreSecrets::new(keeper.clone(), store.clone()))),
        Arc::new(ProcessEnvironment),
        redactor.clone(),
    );
    let router = ProviderRouter::build(&config.providers, &keys, scripted)
        .context("cannot set up the model providers")?;
    tracing::info!(
        providers = ?config.providers.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        default = router.default_name(),
        "model providers"
    );
    Ok(Arc::new(router))
}

fn scripted_provider(config: &Config) -> anyhow::Result<ScriptedProvider> {
    match &config.scripts {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read scripts {}", path.display()))?;
            ScriptedProvider::from_toml_str(&text)
                .with_context(|| format!("scripts {} are invalid", path.display()))
        }
        None => ScriptedProvider::from_toml_str(sample::SCRIPTS)
            .context("the bundled sample scripts are invalid"),
    }
}

/// The `.md` and `.txt` files of the knowledge folder, for `knowledge.search`.
fn knowledge(config: &Config) -> anyhow::Result<Vec<Document>> {
    let Some(dir) = &config.knowledge_dir else {
        return Ok(Vec::new());
    };
    let mut documents = Vec::new();
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the knowledge folder {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        let wanted = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "md" | "txt"));
        if !wanted {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let id = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let title = text
            .lines()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.trim_start_matches('#').trim().to_owned())
            .unwrap_or_else(|| id.clone());
        documents.push(Document { id, title, text });
    }
    documents.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(documents)
}

fn init_tracing(redactor: &Redactor) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AGENTWERKE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    // The log goes to standard error (standard output has the greeting),
    // in colour only for a terminal: a log file gets plain text.
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(RedactingWriter::new(std::io::stderr, redactor.clone()))
        .try_init();
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
}
