//! Configuration: defaults, then a TOML file, then `AGENTWERKE_*` variables.
//!
//! Loading is two-staged: [`RawConfig`] is what the sources say (unknown keys
//! are an error), [`Config`] is what was checked without IO. Opening the
//! database or reading key files happens afterwards, in `serve`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use agentwerke_agents::budget::{Budget, Budgets};
use agentwerke_agents::pricing::{Price, Prices};
use agentwerke_auth::AuthConfig;
use agentwerke_gateway::tools::Repository;
use agentwerke_gateway::{AgentProfile, ExecLimits, SandboxProfile};
use agentwerke_providers::{ProviderSettings, ProviderSpec, check_all};
use agentwerke_secrets::{SecretLocation, SecretName};
use agentwerke_types::ErrorCode;
use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// `AGENTWERKE_*` variables that configure the client commands, not the server.
const CLIENT_VARIABLES: [&str; 4] = ["url", "token", "config", "log"];

/// Where the configuration comes from; shared by every command that reads it.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// A TOML config file (keys as in the README's configuration table).
    #[arg(long, short = 'c', env = "AGENTWERKE_CONFIG")]
    pub config: Option<PathBuf>,
    /// The data folder (overrides the file and `AGENTWERKE_DATA_DIR`).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

impl ConfigArgs {
    /// The layered configuration, with `--data-dir` applied last.
    pub fn raw(&self) -> anyhow::Result<RawConfig> {
        let mut raw = RawConfig::load(self.config.as_deref())?;
        if let Some(dir) = &self.data_dir {
            raw.data_dir.clone_from(dir);
        }
        Ok(raw)
    }
}

/// What the sources say.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawConfig {
    /// Folder for the SQLite file, keys and artifacts.
    pub data_dir: PathBuf,
    /// Address the API listens on.
    pub bind: String,
    /// `sqlite://...`; empty means `<data-dir>/agentwerke.db`.
    pub database_url: String,
    /// Scripted model responses (TOML); empty means the built-in defaults.
    pub scripts: String,
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
    /// Seed the "Hello SDLC" sample workflow on first start.
    pub seed_sample: bool,
    /// Seconds a worker holds a claimed run or step before another worker
    /// (or this one after a restart) may take it over.
    pub lease_secs: u64,
    /// Agent steps that run at once.
    pub max_concurrent_steps: usize,
    /// Agent profiles: which sandbox profiles each agent's tasks may use.
    /// An agent without a profile gets no tool call through the gateway.
    pub agents: Vec<AgentConfig>,
    /// A folder of agent profiles and skills (`agents/<name>.md`,
    /// `skills/<name>/SKILL.md`), loaded at start and again when it
    /// changes. Empty (the default): none. There is no default folder
    /// because it is usually a checkout of the team's repository whose
    /// place only the operator knows, and a server must not pick up an
    /// `agents/` folder that happens to lie where it was started.
    pub profiles_dir: String,
    /// Whether `agents` was configured (file or environment) rather than
    /// taken from the built-in defaults; those two example agents give way
    /// to a profile folder.
    #[serde(skip)]
    pub agents_configured: bool,
    /// Seconds an escalated tool call waits for a human before it counts
    /// as rejected.
    pub escalation_ttl_secs: u64,
    /// A folder of `.md` and `.txt` files that `knowledge.search` searches.
    pub knowledge_dir: String,
    /// Names of environment variables whose values are secrets: they are
    /// redacted from prompts, outputs, evidence and logs. Names, not values,
    /// so the configuration itself never holds a secret.
    pub redact_env: Vec<String>,
    /// Hosts (names or IP literals, as URLs write them) whose
    /// `http.request` calls may reach loopback, private, link-local and
    /// other internal addresses. Empty (the default): every call must
    /// resolve to public addresses only.
    pub egress_allow_private_hosts: Vec<String>,
    /// Authentication.
    pub auth: AuthConfig,
    /// Secrets deployment configuration keeps, by name: `env:VARIABLE` or
    /// `file:/absolute/path` (a mounted Kubernetes secret). Where, never
    /// what: the value is read when it is needed, and the Settings API
    /// shows its status and fingerprint.
    pub secrets: BTreeMap<String, String>,
    /// USD per million tokens, by model name as the provider reports it:
    /// `[prices."gpt-4o"] input = 2.5, output = 10, cached-input = 1.25`.
    /// A model without a price costs 0, unless a cost budget applies: then
    /// its steps fail with `budget.unpriced_model`.
    pub prices: BTreeMap<String, Price>,
    /// Model providers (`[[providers]]`): none means the scripted provider
    /// answers every model call, as a tokenless server does.
    pub providers: Vec<ProviderSettings>,
    /// `[sandbox]`: where `exec.run` runs commands and within which bounds.
    pub sandbox: SandboxConfig,
    /// `[workspace]`: what a run's workspace folder starts as.
    pub workspace: WorkspaceConfig,
}

/// `[sandbox]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SandboxConfig {
    /// Run commands under Landlock, seccomp and rlimits alone where
    /// bubblewrap or user namespaces are unavailable. Off: `exec.run`
    /// then fails closed (`sandbox.isolation_unavailable`).
    pub allow_degraded: bool,
    /// The bubblewrap binary.
    pub bwrap: String,
    /// A command's wall clock unless its call asks for another, seconds.
    pub wall_clock_secs: u64,
    /// The longest wall clock a call's `timeoutSeconds` may ask for.
    pub max_wall_clock_secs: u64,
    /// CPU seconds per process.
    pub cpu_secs: u64,
    /// Address space per process, MiB.
    pub memory_mb: u64,
    /// Processes of the sandbox's user.
    pub processes: u64,
    /// Bytes captured per stream; more kills the command.
    pub output_bytes: u64,
    /// Bytes of each stream the model is shown.
    pub answer_bytes: usize,
    /// `[sandbox.egress-hosts]`: per sandbox profile (`repo-read`,
    /// `repo-write`, `deployment`), the hosts (and `*.` patterns) its
    /// commands may reach through the egress proxy; a task's and its
    /// workflow's `egressHosts` add to them. None by default: no way out.
    #[serde(default)]
    pub egress_hosts: BTreeMap<SandboxProfile, Vec<String>>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        let limits = agentwerke_sandbox::Limits::default();
        SandboxConfig {
            allow_degraded: false,
            bwrap: "bwrap".to_owned(),
            wall_clock_secs: limits.wall_clock_ms / 1000,
            max_wall_clock_secs: 600,
            cpu_secs: limits.cpu_seconds,
            memory_mb: limits.address_space_bytes >> 20,
            processes: limits.processes,
            output_bytes: limits.output_bytes,
            answer_bytes: ExecLimits::default().answer_bytes,
            egress_hosts: BTreeMap::new(),
        }
    }
}

/// `[workspace]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WorkspaceConfig {
    /// A repository (URL or local path) each run's workspace is cloned
    /// from on first use, with the `git` binary; empty: an empty folder.
    pub repository: String,
    /// The branch, tag or commit to check out; empty: the default branch.
    #[serde(rename = "ref")]
    pub reference: String,
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            bind: "127.0.0.1:8080".to_owned(),
            database_url: String::new(),
            scripts: String::new(),
            max_body_bytes: 5 * 1024 * 1024,
            seed_sample: true,
            lease_secs: 10,
            agents: vec![
                AgentConfig::new(
                    "analyst",
                    &[SandboxProfile::Offline, SandboxProfile::RepoRead],
                ),
                AgentConfig::new(
                    "release-assistant",
                    &[
                        SandboxProfile::Offline,
                        SandboxProfile::RepoRead,
                        SandboxProfile::RepoWrite,
                    ],
                ),
            ],
            profiles_dir: String::new(),
            agents_configured: false,
            escalation_ttl_secs: 24 * 60 * 60,
            knowledge_dir: String::new(),
            max_concurrent_steps: 16,
            redact_env: Vec::new(),
            egress_allow_private_hosts: Vec::new(),
            auth: local_auth(),
            secrets: BTreeMap::new(),
            prices: BTreeMap::new(),
            providers: Vec::new(),
            sandbox: SandboxConfig::default(),
            workspace: WorkspaceConfig::default(),
        }
    }
}

/// One agent profile in the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AgentConfig {
    /// The agent name tasks use (`agent="..."`).
    pub name: String,
    /// Sandbox profiles its tasks may run under.
    pub sandbox_profiles: Vec<SandboxProfile>,
    /// Secrets its tool calls may reference (`secret:NAME`), by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretName>,
    /// The agent's model-spending limits (a BPMN task's own win over
    /// them): `[agents.budgets.step] tokens = 4000`, `[agents.budgets.run]
    /// cost-usd = 2.0`, `on-exceed = "fail"` (or `"escalate"`: a human decides whether the step goes on).
    #[serde(default, skip_serializing_if = "unlimited")]
    pub budgets: Budgets,
}

/// Whether `budgets` limits nothing (and so is left out of a dump).
fn unlimited(budgets: &Budgets) -> bool {
    *budgets == Budgets::default()
}

impl AgentConfig {
    fn new(name: &str, profiles: &[SandboxProfile]) -> Self {
        Self {
            name: name.to_owned(),
            sandbox_profiles: profiles.to_vec(),
            secrets: Vec::new(),
            budgets: Budgets::default(),
        }
    }
}

/// The embedded default: development tokens from the data folder's key,
/// which `check` allows only on a loopback address.
fn local_auth() -> AuthConfig {
    let mut auth = AuthConfig::default();
    auth.dev.enabled = true;
    auth
}

/// Checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Folder for the database, keys and artifacts.
    pub data_dir: PathBuf,
    /// Where to listen.
    pub bind: SocketAddr,
    /// The database to open.
    pub database_url: String,
    /// Scripted model responses file, if any.
    pub scripts: Option<PathBuf>,
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
    /// Seed the sample workflow.
    pub seed_sample: bool,
    /// How long claims are held.
    pub lease: std::time::Duration,
    /// Agent steps that run at once.
    pub max_concurrent_steps: usize,
    /// Agent profiles from `[[agents]]`, for the gateway.
    pub agents: Vec<AgentProfile>,
    /// The folder of agent profiles and skills, if any.
    pub profiles_dir: Option<PathBuf>,
    /// How long an escalated call waits for a human.
    pub escalation_ttl: std::time::Duration,
    /// The knowledge folder, if any.
    pub knowledge_dir: Option<PathBuf>,
    /// Secret values to redact (read from the variables `redact-env` names).
    pub secrets: Vec<String>,
    /// Hosts allowed to reach internal addresses through `http.request`.
    pub egress_allow_private_hosts: Vec<String>,
    /// Authentication.
    pub auth: AuthConfig,
    /// Secrets deployment configuration keeps, by name.
    pub configured_secrets: Vec<(SecretName, SecretLocation)>,
    /// The price table.
    pub prices: Prices,
    /// Each agent's budgets, by agent name (agents without any are left
    /// out).
    pub budgets: BTreeMap<String, Budgets>,
    /// The model providers, checked.
    pub providers: Vec<ProviderSpec>,
    /// The sandbox: degraded mode allowed, bubblewrap, and the bounds.
    pub sandbox: SandboxSettings,
    /// The repository each run's workspace is checked out from, if any.
    pub repository: Option<Repository>,
}

/// `[sandbox]` checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxSettings {
    /// Whether the degraded Landlock-only mode is allowed.
    pub allow_degraded: bool,
    /// The bubblewrap binary.
    pub bwrap: PathBuf,
    /// The bounds of every command and the per-call caps.
    pub limits: ExecLimits,
    /// The hosts each sandbox profile allows, checked and lowercased.
    pub egress_hosts: BTreeMap<SandboxProfile, Vec<String>>,
}

impl SandboxConfig {
    /// The bounds checked: each at least 1, the wall-clock cap no shorter
    /// than the default.
    fn check(&self) -> anyhow::Result<SandboxSettings> {
        for (key, value) in [
            ("wall-clock-secs", self.wall_clock_secs),
            ("max-wall-clock-secs", self.max_wall_clock_secs),
            ("cpu-secs", self.cpu_secs),
            ("memory-mb", self.memory_mb),
            ("processes", self.processes),
            ("output-bytes", self.output_bytes),
        ] {
            if value == 0 {
                bail!("[sandbox] {key} must be at least 1");
            }
        }
        if self.max_wall_clock_secs < self.wall_clock_secs {
            bail!(
                "[sandbox] max-wall-clock-secs ({}) is shorter than wall-clock-secs ({})",
                self.max_wall_clock_secs,
                self.wall_clock_secs
            );
        }
        let defaults = agentwerke_sandbox::Limits {
            cpu_seconds: self.cpu_secs,
            address_space_bytes: self.memory_mb.saturating_mul(1 << 20),
            processes: self.processes,
            wall_clock_ms: self.wall_clock_secs.saturating_mul(1000),
            output_bytes: self.output_bytes,
            ..agentwerke_sandbox::Limits::default()
        };
        let mut egress_hosts = BTreeMap::new();
        for (profile, hosts) in &self.egress_hosts {
            if *profile == SandboxProfile::Offline && !hosts.is_empty() {
                bail!(
                    "[sandbox.egress-hosts] offline has no network; allow hosts for repo-read, repo-write or deployment"
                );
            }
            let checked = hosts
                .iter()
                .map(|host| {
                    agentwerke_types::hosts::host_pattern(host).map_err(|reason| {
                        anyhow::anyhow!(
                            "[sandbox.egress-hosts] {}: `{host}`: {reason}",
                            profile.as_str()
                        )
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            egress_hosts.insert(*profile, checked);
        }
        Ok(SandboxSettings {
            egress_hosts,
            allow_degraded: self.allow_degraded,
            bwrap: PathBuf::from(&self.bwrap),
            limits: ExecLimits {
                defaults,
                max_timeout_seconds: self.max_wall_clock_secs,
                answer_bytes: self.answer_bytes,
            },
        })
    }
}

impl RawConfig {
    /// Layers defaults, `file` (if given) and the environment
    /// (`AGENTWERKE_DATA_DIR`, `AGENTWERKE_AUTH__DEV__ENABLED`, ...: `__`
    /// nests, `_` stands for `-`).
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut configured = Figment::new();
        if let Some(file) = file {
            if !file.exists() {
                bail!("config file {} does not exist", file.display());
            }
            configured = configured.merge(Toml::file(file));
        }
        // The client-side variables share the prefix but are not settings.
        let env = Env::prefixed("AGENTWERKE_")
            .filter(|key| !CLIENT_VARIABLES.contains(&key.as_str().to_ascii_lowercase().as_str()))
            .map(|key| key.as_str().replace("__", ".").replace('_', "-").into());
        configured = configured.merge(env);
        let agents_configured = configured.contains("agents");
        let mut raw: Self = Figment::from(Serialized::defaults(RawConfig::default()))
            .merge(configured)
            .extract()
            .context("the configuration is invalid (unknown keys are refused)")?;
        raw.agents_configured = agents_configured;
        Ok(raw)
    }

    /// The `[[agents]]` in force: the built-in example agents give way to
    /// a profile folder; configured ones never do (the same name in both
    /// is refused when the folder is loaded).
    fn agents_in_force(&self) -> &[AgentConfig] {
        if self.profiles_dir.is_empty() || self.agents_configured {
            &self.agents
        } else {
            &[]
        }
    }

    /// The configuration as TOML that `--config` reads back, with the
    /// database URL that is really used spelled out.
    pub fn effective_toml(&self) -> anyhow::Result<String> {
        let mut effective = self.clone();
        effective.agents = self.agents_in_force().to_vec();
        if effective.database_url.is_empty() {
            effective.database_url = default_database_url(&effective.data_dir);
        }
        toml::to_string(&effective).context("cannot write the configuration as TOML")
    }

    /// Checks what can be checked without IO.
    pub fn check(self) -> anyhow::Result<Config> {
        let bind = parse_bind(&self.bind)?;
        if !bind.ip().is_loopback() && !self.auth.is_real_auth_configured() {
            bail!(
                "refusing to listen on {bind}: it is reachable from other machines, and no real \
                 authentication is configured. Development tokens are for local use only; \
                 configure OIDC ([auth.oidc] issuer and audience) or bind to 127.0.0.1"
            );
        }
        if !bind.ip().is_loopback() && self.auth.dev.enabled {
            bail!(
                "refusing to listen on {bind} with development tokens enabled: anyone with the \
                 data folder could mint an Admin token. Set auth.dev.enabled = false \
                 (AGENTWERKE_AUTH__DEV__ENABLED=false) when serving other machines"
            );
        }
        self.auth
            .validate()
            .context("[auth] cannot be used as configured")?;
        if !(1..=3600).contains(&self.lease_secs) {
            bail!("lease-secs is {}; use 1 to 3600 seconds", self.lease_secs);
        }
        if self.escalation_ttl_secs == 0 {
            bail!("escalation-ttl-secs must be at least 1");
        }
        if self.max_concurrent_steps == 0 {
            bail!("max-concurrent-steps must be at least 1");
        }
        let agents: Vec<AgentProfile> = self
            .agents_in_force()
            .iter()
            .map(|a| {
                AgentProfile::new(&a.name, a.sandbox_profiles.iter().copied())
                    .with_secrets(a.secrets.iter().cloned())
            })
            .collect();
        let configured_secrets = configured_secrets(&self.secrets)?;
        let prices = prices(self.prices)?;
        let budgets = agent_budgets(&self.agents)?;
        let providers = check_all(&self.providers).map_err(|errors| {
            let lines: Vec<String> = errors
                .iter()
                .map(|e| format!("  - {e} [{}]", e.code()))
                .collect();
            anyhow::anyhow!("the model providers are invalid:\n{}", lines.join("\n"))
        })?;
        let database_url = if self.database_url.is_empty() {
            default_database_url(&self.data_dir)
        } else {
            check_database_url(self.database_url)?
        };
        Ok(Config {
            data_dir: self.data_dir,
            bind,
            database_url,
            scripts: (!self.scripts.is_empty()).then(|| PathBuf::from(self.scripts)),
            max_body_bytes: self.max_body_bytes,
            seed_sample: self.seed_sample,
            lease: std::time::Duration::from_secs(self.lease_secs),
            max_concurrent_steps: self.max_concurrent_steps,
            agents,
            profiles_dir: (!self.profiles_dir.is_empty())
                .then(|| PathBuf::from(&self.profiles_dir)),
            escalation_ttl: std::time::Duration::from_secs(self.escalation_ttl_secs),
            knowledge_dir: (!self.knowledge_dir.is_empty())
                .then(|| PathBuf::from(&self.knowledge_dir)),
            secrets: self
                .redact_env
                .iter()
                .filter_map(|name| std::env::var(name).ok())
                .filter(|value| !value.is_empty())
                .collect(),
            egress_allow_private_hosts: self.egress_allow_private_hosts,
            auth: self.auth,
            configured_secrets,
            prices,
            budgets,
            providers,
            sandbox: self.sandbox.check()?,
            repository: (!self.workspace.repository.is_empty()).then(|| Repository {
                url: self.workspace.repository.clone(),
                reference: (!self.workspace.reference.is_empty())
                    .then(|| self.workspace.reference.clone()),
            }),
        })
    }
}

/// The `[secrets]` table checked: each key a secret name, each value where
/// the secret is kept. An error names the key, never the text (a value
/// pasted where a location belongs is a secret).
fn configured_secrets(
    table: &BTreeMap<String, String>,
) -> anyhow::Result<Vec<(SecretName, SecretLocation)>> {
    table
        .iter()
        .map(|(name, location)| {
            let name =
                SecretName::parse(name).context("a key of [secrets] is not a secret name")?;
            let location = SecretLocation::parse(location).with_context(|| {
                format!("[secrets] {name}: use \"env:VARIABLE\" or \"file:/absolute/path\"")
            })?;
            Ok((name, location))
        })
        .collect()
}

/// The `[prices]` table checked: every figure a number of 0 or more.
fn prices(table: BTreeMap<String, Price>) -> anyhow::Result<Prices> {
    for (model, price) in &table {
        if let Some(problem) = price.problem() {
            bail!("[prices.\"{model}\"]: {problem}");
        }
    }
    Ok(Prices::new(table))
}

/// Each agent's budgets checked: a token limit of 1 or more, a cost limit
/// above 0 (a limit of 0 would let no model turn through).
fn agent_budgets(agents: &[AgentConfig]) -> anyhow::Result<BTreeMap<String, Budgets>> {
    let mut table = BTreeMap::new();
    for agent in agents.iter().filter(|agent| !unlimited(&agent.budgets)) {
        for (scope, budget) in [("step", &agent.budgets.step), ("run", &agent.budgets.run)] {
            check_budget(budget)
                .with_context(|| format!("[[agents]] {}: budgets.{scope}", agent.name))?;
        }
        table.insert(agent.name.clone(), agent.budgets);
    }
    Ok(table)
}

fn check_budget(budget: &Budget) -> anyhow::Result<()> {
    if budget.tokens == Some(0) {
        bail!("tokens is 0; a token budget is a whole number of 1 or more");
    }
    if let Some(cost) = budget.cost_usd
        && !(cost.is_finite() && cost > 0.0)
    {
        bail!("cost-usd is {cost}; a cost budget is a number of US dollars above 0");
    }
    Ok(())
}

/// The database when `database-url` is empty.
fn default_database_url(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("agentwerke.db").display())
}

/// An IP address and port, or `localhost:PORT` (the loopback address; no
/// name is looked up, so the address is the same on every machine).
fn parse_bind(text: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(address) = text.parse() {
        return Ok(address);
    }
    if let Some((host, port)) = text.rsplit_once(':')
        && host.eq_ignore_ascii_case("localhost")
        && let Ok(port) = port.parse::<u16>()
    {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    bail!(
        "bind address '{text}' is not host:port; use an IP address and port \
         (127.0.0.1:8080, [::1]:8080, 0.0.0.0:8080) or localhost:PORT"
    )
}

/// Accepts a `sqlite:` URL or a plain file path and refuses every other
/// scheme: such a URL would otherwise be taken as a relative file name, and
/// `postgres://host/db` would become a folder called `postgres:`.
fn check_database_url(url: String) -> anyhow::Result<String> {
    match url_scheme(&url) {
        None | Some("sqlite") => Ok(url),
        Some(scheme) => bail!(
            "database-url names the '{scheme}:' scheme, which this version cannot use: only \
             SQLite is supported (PostgreSQL is not yet). Use a sqlite:// URL or a file path, \
             or leave database-url empty for <data-dir>/agentwerke.db"
        ),
    }
}

/// The scheme of `url` as RFC 3986 spells one (a letter, then letters,
/// digits, `+`, `-` or `.`, then `:`), lowercased; `None` for a plain path.
fn url_scheme(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once(':')?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(scheme)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_database_url(url: &str) -> RawConfig {
        RawConfig {
            database_url: url.to_owned(),
            ..RawConfig::default()
        }
    }

    #[test]
    fn the_secrets_table_names_locations_and_never_repeats_a_value() {
        let table = |name: &str, location: &str| {
            let mut raw = RawConfig::default();
            raw.secrets.insert(name.to_owned(), location.to_owned());
            raw.check()
        };
        let config = table("github_token", "file:/run/secrets/github").unwrap();
        assert_eq!(
            config.configured_secrets,
            [(
                SecretName::parse("github_token").unwrap(),
                SecretLocation::File(PathBuf::from("/run/secrets/github"))
            )]
        );
        let error = format!("{:#}", table("a/b", "env:X").unwrap_err());
        assert!(error.contains("not a secret name"), "{error}");
        let error = format!(
            "{:#}",
            table("llm_key", "sk-pasted-value-1234").unwrap_err()
        );
        assert!(error.contains("[secrets] llm_key"), "{error}");
        assert!(!error.contains("sk-pasted"), "{error}");
    }

    #[test]
    fn bind_takes_addresses_and_localhost() {
        assert_eq!(
            parse_bind("localhost:8080").unwrap(),
            "127.0.0.1:8080".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            parse_bind("LocalHost:0").unwrap(),
            "127.0.0.1:0".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(parse_bind("[::1]:9").unwrap().port(), 9);
        for refused in ["localhost", "localhost:http", "example.org:80", "8080"] {
            let error = parse_bind(refused).unwrap_err().to_string();
            assert!(error.contains("localhost:PORT"), "{refused}: {error}");
        }
    }

    #[test]
    fn the_dumped_configuration_reads_back_with_its_database() {
        let mut raw = RawConfig {
            data_dir: PathBuf::from("/srv/agentwerke"),
            ..RawConfig::default()
        };
        raw.auth.dev.enabled = false;
        raw.prices.insert(
            "gpt-4o".to_owned(),
            Price {
                input: 2.5,
                output: 10.0,
                cached_input: Some(1.25),
            },
        );
        raw.agents[0].budgets.run.cost_usd = Some(0.5);
        let text = raw.effective_toml().unwrap();
        assert!(
            text.contains("database-url = \"sqlite:///srv/agentwerke/agentwerke.db\""),
            "{text}"
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dumped.toml");
        std::fs::write(&file, &text).unwrap();
        let again = RawConfig::load(Some(&file)).unwrap();
        assert_eq!(again.effective_toml().unwrap(), text);
        assert!(!again.auth.dev.enabled);
        assert_eq!(again.agents.len(), raw.agents.len());
        assert_eq!(again.prices, raw.prices);
        assert_eq!(again.agents[0].budgets, raw.agents[0].budgets);
    }

    /// `[[providers]]` from a file are checked at once, every problem
    /// named; good ones come through; none is the scripted server.
    #[test]
    fn providers_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("providers.toml");
        std::fs::write(
            &file,
            r#"
[[providers]]
name = "local"
kind = "openai"
base-url = "http://localhost:11434/v1"
model = "llama3.2"

[[providers]]
name = "claude"
kind = "anthropic"
api-key = "secret:ANTHROPIC_API_KEY"
model = "claude-sonnet-4-5"
default = true
"#,
        )
        .unwrap();
        let raw = RawConfig::load(Some(&file)).unwrap();
        let config = raw.clone().check().unwrap();
        let names: Vec<_> = config.providers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["local", "claude"]);
        assert!(config.providers[1].default);
        // The dump reads back with the providers.
        let dumped = dir.path().join("dumped.toml");
        std::fs::write(&dumped, raw.effective_toml().unwrap()).unwrap();
        let again = RawConfig::load(Some(&dumped)).unwrap();
        assert_eq!(again.providers, raw.providers);

        std::fs::write(
            &file,
            "[[providers]]\nname = \"a\"\nkind = \"openai\"\nbase-url = \"localhost:1\"\nmodel = \"m\"\n\
             [[providers]]\nname = \"b\"\nkind = \"openai\"\napi-key = \"sk-live-1234567890\"\nmodel = \"m\"\n",
        )
        .unwrap();
        let error = format!(
            "{:#}",
            RawConfig::load(Some(&file)).unwrap().check().unwrap_err()
        );
        assert!(error.contains("providers.bad_url"), "{error}");
        assert!(error.contains("providers.bad_key_reference"), "{error}");
        assert!(!error.contains("sk-live"), "{error}");

        std::fs::write(&file, "[[providers]]\nname = \"a\"\nkind = \"gemini\"\n").unwrap();
        let error = format!("{:#}", RawConfig::load(Some(&file)).unwrap_err());
        assert!(error.contains("gemini"), "{error}");

        assert!(RawConfig::default().check().unwrap().providers.is_empty());
    }

    /// An agent profile's `secrets` become its grants; a name with path
    /// characters is refused when the file is read.
    #[test]
    fn agent_secrets_are_grants() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("agents.toml");
        std::fs::write(
            &file,
            "[[agents]]\nname = \"integrator\"\nsandbox-profiles = [\"repo-read\"]\nsecrets = [\"github_token\"]\n",
        )
        .unwrap();
        let config = RawConfig::load(Some(&file)).unwrap().check().unwrap();
        let granted: Vec<&str> = config.agents[0]
            .secrets
            .iter()
            .map(|s| s.as_str())
            .collect();
        assert_eq!(granted, ["github_token"]);

        std::fs::write(
            &file,
            "[[agents]]\nname = \"x\"\nsandbox-profiles = []\nsecrets = [\"../etc\"]\n",
        )
        .unwrap();
        assert!(RawConfig::load(Some(&file)).is_err());
    }

    /// Prices and an agent's budgets are read from the file and checked.
    #[test]
    fn prices_and_budgets_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cost.toml");
        let write = |text: &str| {
            std::fs::write(&file, text).unwrap();
            RawConfig::load(Some(&file)).and_then(RawConfig::check)
        };
        let config = write(
            "[prices.\"gpt-4o\"]\ninput = 2.5\noutput = 10\ncached-input = 1.25\n\n\
             [[agents]]\nname = \"writer\"\nsandbox-profiles = []\n\
             [agents.budgets]\non-exceed = \"escalate\"\n\
             [agents.budgets.step]\ntokens = 4000\n[agents.budgets.run]\ncost-usd = 0.5\n",
        )
        .unwrap();
        assert_eq!(
            config.prices.get("gpt-4o"),
            Some(&Price {
                input: 2.5,
                output: 10.0,
                cached_input: Some(1.25)
            })
        );
        let writer = config.budgets["writer"];
        assert_eq!(writer.step.tokens, Some(4000));
        assert_eq!(writer.run.cost_usd, Some(0.5));
        assert_eq!(
            writer.on_exceed,
            agentwerke_agents::budget::OnExceed::Escalate
        );

        let error = format!(
            "{:#}",
            write("[prices.m]\ninput = -1\noutput = 1\n").unwrap_err()
        );
        assert!(error.contains("[prices.\"m\"]: `input` is -1"), "{error}");
        let error = format!("{:#}", write("[prices.m]\ninput = 1\n").unwrap_err());
        assert!(error.contains("output"), "{error}");
        let error = format!(
            "{:#}",
            write("[[agents]]\nname = \"w\"\nsandbox-profiles = []\n[agents.budgets.step]\ntokens = 0\n")
                .unwrap_err()
        );
        assert!(error.contains("[[agents]] w: budgets.step"), "{error}");
        let error = format!(
            "{:#}",
            write("[[agents]]\nname = \"w\"\nsandbox-profiles = []\n[agents.budgets.run]\ncost-usd = 0\n")
                .unwrap_err()
        );
        assert!(error.contains("cost-usd is 0"), "{error}");
    }

    /// No host reaches internal addresses unless the operator names it.
    #[test]
    fn hosts_reach_internal_addresses_only_when_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("egress.toml");
        std::fs::write(&file, "seed-sample = false\n").unwrap();
        let config = RawConfig::load(Some(&file))
            .and_then(RawConfig::check)
            .unwrap();
        assert!(config.egress_allow_private_hosts.is_empty());
        std::fs::write(
            &file,
            "egress-allow-private-hosts = [\"build.internal\", \"10.0.0.7\"]\n",
        )
        .unwrap();
        let config = RawConfig::load(Some(&file))
            .and_then(RawConfig::check)
            .unwrap();
        assert_eq!(
            config.egress_allow_private_hosts,
            ["build.internal", "10.0.0.7"]
        );
    }

    /// The two built-in example agents give way to a profile folder;
    /// configured `[[agents]]` stay next to it.
    #[test]
    fn a_profile_folder_replaces_the_example_agents_only() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("profiles.toml");
        std::fs::write(&file, "profiles-dir = \"team/prompts\"\n").unwrap();
        let raw = RawConfig::load(Some(&file)).unwrap();
        assert!(!raw.agents_configured);
        let dumped = raw.effective_toml().unwrap();
        let config = raw.check().unwrap();
        assert_eq!(config.profiles_dir, Some(PathBuf::from("team/prompts")));
        assert!(config.agents.is_empty(), "{:?}", config.agents);
        assert!(!dumped.contains("[[agents]]"), "{dumped}");

        std::fs::write(
            &file,
            "profiles-dir = \"team/prompts\"\n[[agents]]\nname = \"ops\"\nsandbox-profiles = [\"offline\"]\n",
        )
        .unwrap();
        let config = RawConfig::load(Some(&file)).unwrap().check().unwrap();
        let names: Vec<&str> = config.agents.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["ops"]);

        let defaults = RawConfig::default().check().unwrap();
        assert_eq!(defaults.profiles_dir, None);
        assert_eq!(defaults.agents.len(), 2, "no folder: the example agents");
    }

    #[test]
    fn only_sqlite_urls_and_paths_are_databases() {
        for accepted in [
            "sqlite:///var/lib/agentwerke/agentwerke.db",
            "sqlite://data/agentwerke.db",
            "sqlite:data.db",
            "data/agentwerke.db",
            "/var/lib/agentwerke.db",
        ] {
            let config = with_database_url(accepted).check().expect(accepted);
            assert_eq!(config.database_url, accepted);
        }
        for refused in [
            "postgres://user@db.example/agentwerke",
            "postgresql://db/agentwerke",
            "mysql://db/agentwerke",
            "file:agentwerke.db",
        ] {
            let error = with_database_url(refused).check().expect_err(refused);
            let message = error.to_string();
            assert!(message.contains("only SQLite is supported"), "{message}");
            assert!(
                !message.contains("user@"),
                "the URL is not echoed: {message}"
            );
        }
    }

    /// The web UI's client at the identity provider is checked when the
    /// configuration is loaded, and its secret is only ever a reference.
    #[test]
    fn the_web_uis_provider_client_is_checked_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("oidc.toml");
        let load = |client: &str| {
            std::fs::write(
                &file,
                format!(
                    "[auth.oidc]\nissuer = \"https://idp.example\"\naudience = \"agentwerke-api\"\n\
                     {client}"
                ),
            )
            .unwrap();
            RawConfig::load(Some(&file)).unwrap().check()
        };
        let config = load(
            "client-id = \"agentwerke-ui\"\nclient-secret = \"secret:ui_client\"\n\
             redirect-url = \"https://aw.example/signin/oidc/callback\"\n",
        )
        .unwrap();
        let oidc = config.auth.oidc.unwrap();
        assert_eq!(oidc.scopes, ["openid", "profile", "email"]);
        assert_eq!(
            oidc.client_secret_ref().unwrap().to_string(),
            "secret:ui_client"
        );

        let error = format!(
            "{:#}",
            load(
                "client-id = \"ui\"\nclient-secret = \"hunter2-pasted\"\n\
                 redirect-url = \"https://aw.example/signin/oidc/callback\"\n"
            )
            .unwrap_err()
        );
        assert!(
            error.contains("oidc.client-secret must be a reference secret:NAME"),
            "{error}"
        );
        assert!(!error.contains("hunter2"), "{error}");
        let error = format!("{:#}", load("client-id = \"ui\"\n").unwrap_err());
        assert!(error.contains("oidc.redirect-url is required"), "{error}");
        let error = format!(
            "{:#}",
            load("client-id = \"ui\"\nredirect-url = \"http://aw.example/signin/oidc/callback\"\n")
                .unwrap_err()
        );
        assert!(error.contains("must be an https URL"), "{error}");
        let error = format!(
            "{:#}",
            load("client-id = \"ui\"\nredirect-url = \"https://aw.example/\"\n").unwrap_err()
        );
        assert!(
            error.contains("must end in /signin/oidc/callback"),
            "{error}"
        );
        let error = format!(
            "{:#}",
            load(
                "client-id = \"ui\"\nredirect-url = \"https://aw.example/signin/oidc/callback\"\n\
                 scopes = [\"profile\"]\n"
            )
            .unwrap_err()
        );
        assert!(error.contains("must include openid"), "{error}");
        let error = format!(
            "{:#}",
            load("redirect-url = \"https://aw.example/signin/oidc/callback\"\n").unwrap_err()
        );
        assert!(error.contains("need oidc.client-id"), "{error}");
    }
}
