//! Starts a whole server for one test and talks to it over HTTP.

use std::sync::Arc;
use std::time::Duration;

use agentwerke_agents::provider::ModelProvider;
use agentwerke_agents::scripted::ScriptedProvider;
use agentwerke_auth::{
    AuthConfig, DevKey, Role, Verifier, mint_dev_token, mint_dev_token_with_groups,
};
use agentwerke_evidence::redact::Redactor;
use agentwerke_gateway::{AgentProfile, SandboxProfile};
use agentwerke_profiles::Catalogue;
use agentwerke_runtime::{
    Clock, GatewayService, GatewaySettings, Runtime, RuntimeDeps, RuntimeOptions, SystemClock,
};
use agentwerke_secrets::{Environment, SecretLocation, SecretName};
use agentwerke_server::{ApiLimits, AppState, app};
use agentwerke_store::{SqliteStore, Store};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;

/// Environment variables a test sets without touching the process's.
#[derive(Debug, Clone, Default)]
pub(crate) struct Vars(pub(crate) Vec<(String, String)>);

impl Environment for Vars {
    fn var(&self, name: &str) -> Option<std::ffi::OsString> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into())
    }
}

/// Builds a test server's model provider from its secret resolver and
/// redactor.
pub(crate) type BuildProvider = Box<
    dyn FnOnce(Arc<dyn agentwerke_gateway::SecretResolver>, Redactor) -> Arc<dyn ModelProvider>
        + Send,
>;

pub(crate) const HELLO_SDLC: &str = include_str!("../../../../examples/hello-sdlc.bpmn");

/// A running server with its own data folder.
pub(crate) struct TestServer {
    pub(crate) url: String,
    pub(crate) http: reqwest::Client,
    pub(crate) dir: TempDir,
    /// The gateway and agent profiles in force, as the server shares them.
    pub(crate) gateway: Arc<GatewayService>,
    dev_key: DevKey,
    runtime: Option<Runtime>,
    server: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub(crate) async fn start() -> Self {
        Self::start_with_scripts("").await
    }

    pub(crate) async fn start_with_scripts(scripts: &str) -> Self {
        Self::start_with(scripts, 24 * 60 * 60).await
    }

    /// A server whose escalations expire after `escalation_ttl_secs`.
    pub(crate) async fn start_with(scripts: &str, escalation_ttl_secs: u64) -> Self {
        Self::start_limited(
            scripts,
            escalation_ttl_secs,
            ApiLimits::default(),
            Vec::new(),
            Vars::default(),
        )
        .await
    }

    /// A server enforcing `limits`.
    pub(crate) async fn start_with_limits(limits: ApiLimits) -> Self {
        Self::start_limited("", 24 * 60 * 60, limits, Vec::new(), Vars::default()).await
    }

    /// A server whose deployment configuration keeps `configured` secrets,
    /// reading environment variables from `vars`.
    pub(crate) async fn start_with_secrets(
        configured: Vec<(SecretName, SecretLocation)>,
        vars: Vars,
    ) -> Self {
        Self::start_limited("", 24 * 60 * 60, ApiLimits::default(), configured, vars).await
    }

    /// A server running `scripts` whose deployment configuration lists
    /// `redact_env` values (as `redact-env` variables resolve them).
    pub(crate) async fn start_redacting(scripts: &str, redact_env: &[&str]) -> Self {
        Self::start_known(
            scripts,
            24 * 60 * 60,
            ApiLimits::default(),
            Vec::new(),
            Vars::default(),
            Redactor::new(redact_env),
            None,
        )
        .await
    }

    /// A server whose model calls go to the provider `build` makes from the
    /// server's secret resolver and redactor (as `agentwerke serve` builds
    /// its configured providers).
    pub(crate) async fn start_with_provider(build: BuildProvider) -> Self {
        Self::start_known(
            "",
            24 * 60 * 60,
            ApiLimits::default(),
            Vec::new(),
            Vars::default(),
            Redactor::default(),
            Some(build),
        )
        .await
    }

    /// A server running `scripts` that knows `redact_env` values and
    /// whose deployment configuration keeps `configured` secrets.
    pub(crate) async fn start_redacting_with_secrets(
        scripts: &str,
        redact_env: &[&str],
        configured: Vec<(SecretName, SecretLocation)>,
    ) -> Self {
        Self::start_known(
            scripts,
            24 * 60 * 60,
            ApiLimits::default(),
            configured,
            Vars::default(),
            Redactor::new(redact_env),
            None,
        )
        .await
    }

    async fn start_limited(
        scripts: &str,
        escalation_ttl_secs: u64,
        limits: ApiLimits,
        configured_secrets: Vec<(SecretName, SecretLocation)>,
        environment: Vars,
    ) -> Self {
        Self::start_known(
            scripts,
            escalation_ttl_secs,
            limits,
            configured_secrets,
            environment,
            Redactor::default(),
            None,
        )
        .await
    }

    async fn start_known(
        scripts: &str,
        escalation_ttl_secs: u64,
        limits: ApiLimits,
        configured_secrets: Vec<(SecretName, SecretLocation)>,
        environment: Vars,
        redactor: Redactor,
        build_provider: Option<BuildProvider>,
    ) -> Self {
        Self::start_authenticated(
            scripts,
            escalation_ttl_secs,
            limits,
            configured_secrets,
            environment,
            redactor,
            build_provider,
            |_| dev_auth(),
        )
        .await
    }

    /// A server that also accepts the identity provider `oidc` describes
    /// given the server's URL (development tokens stay on), whose
    /// deployment configuration keeps `configured` secrets read from
    /// `vars`.
    pub(crate) async fn start_with_oidc(
        oidc: impl FnOnce(&str) -> agentwerke_auth::OidcConfig,
        configured: Vec<(SecretName, SecretLocation)>,
        vars: Vars,
    ) -> Self {
        Self::start_authenticated(
            "",
            24 * 60 * 60,
            ApiLimits::default(),
            configured,
            vars,
            Redactor::default(),
            None,
            |url| AuthConfig {
                oidc: Some(oidc(url)),
                ..dev_auth()
            },
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn start_authenticated(
        scripts: &str,
        escalation_ttl_secs: u64,
        limits: ApiLimits,
        configured_secrets: Vec<(SecretName, SecretLocation)>,
        environment: Vars,
        redactor: Redactor,
        build_provider: Option<BuildProvider>,
        auth: impl FnOnce(&str) -> AuthConfig,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let auth = auth(&url);
        let dir = tempfile::tempdir().expect("temp dir");
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(&format!("sqlite://{}", dir.path().join("aw.db").display()))
                .await
                .expect("store"),
        );
        let dev_key =
            DevKey::load_or_create(&auth.dev.key_path(dir.path())).expect("development key");
        let verifier = Arc::new(Verifier::new(&auth, Some(&dev_key)).expect("verifier"));
        let scripted: Arc<dyn ModelProvider> = Arc::new(if scripts.is_empty() {
            ScriptedProvider::default()
        } else {
            ScriptedProvider::from_toml_str(scripts).expect("scripts")
        });
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        // One redactor for the gateway, the runtime, the keeper and the
        // answers, as `agentwerke serve` builds it.
        let keeper = agentwerke_server::SecretKeeper::new(
            Arc::new(
                agentwerke_secrets::LocalKeys::load_or_create(dir.path()).expect("secret keys"),
            ),
            configured_secrets,
            Arc::new(environment),
            redactor.clone(),
        )
        .expect("secret keeper");
        let gateway = Arc::new(
            GatewayService::start(
                store.clone(),
                clock.clone(),
                GatewaySettings {
                    profiles: Catalogue::from_config(&[
                        AgentProfile::new("analyst", [SandboxProfile::Offline]),
                        AgentProfile::new(
                            "release-assistant",
                            [SandboxProfile::Offline, SandboxProfile::RepoRead],
                        ),
                        AgentProfile::new("integrator", [SandboxProfile::RepoRead])
                            .with_secrets([SecretName::parse("github_token").expect("name")]),
                    ]),
                    documents: Vec::new(),
                    redactor: redactor.clone(),
                    escalation_ttl: Duration::from_secs(escalation_ttl_secs),
                    resolver: Some(Arc::new(agentwerke_server::StoreSecrets::new(
                        keeper.clone(),
                        store.clone(),
                    ))),
                    // The fake servers `http.request` calls listen on
                    // 127.0.0.1; the operator's allowance lets them in.
                    allow_private_hosts: vec!["127.0.0.1".to_owned()],
                    exec: agentwerke_gateway::ExecTools::unavailable(),
                },
            )
            .await
            .expect("gateway"),
        );
        let provider = match build_provider {
            Some(build) => build(
                Arc::new(agentwerke_server::StoreSecrets::new(
                    keeper.clone(),
                    store.clone(),
                )),
                redactor.clone(),
            ),
            None => scripted,
        };
        let runtime = Runtime::start(
            RuntimeOptions {
                poll_interval: Duration::from_millis(50),
                redactor: redactor.clone(),
                prices: test_prices(),
                ..RuntimeOptions::default()
            },
            RuntimeDeps {
                store: store.clone(),
                provider,
                clock: clock.clone(),
                gateway: Some(gateway.clone()),
            },
        );
        let key = agentwerke_evidence::keys::signing_key_from_seed([7u8; 32]);
        let state = AppState {
            store,
            verifier,
            runtime: runtime.handle(),
            clock,
            evidence_key: Arc::new(key),
            gateway: gateway.clone(),
            keeper,
            limits,
        };
        let server = tokio::spawn(async move {
            axum::serve(listener, app(state)).await.expect("serve");
        });
        Self {
            url,
            http: reqwest::Client::new(),
            dir,
            gateway,
            dev_key,
            runtime: Some(runtime),
            server,
        }
    }

    /// A development token for `subject` with `roles`.
    pub(crate) fn token(&self, subject: &str, roles: &[Role]) -> String {
        mint_dev_token(
            &self.dev_key,
            subject,
            roles,
            Duration::from_secs(600),
            SystemClock.now(),
        )
    }

    pub(crate) fn admin(&self) -> String {
        self.token("admin", &[Role::Admin])
    }

    pub(crate) fn operator(&self) -> String {
        self.token("olivia-operator", &[Role::Operator])
    }

    pub(crate) fn approver(&self) -> String {
        self.token("arnold-approver", &[Role::Approver])
    }

    /// An Approver in the `release-manager` group, which the default
    /// policies ask to approve production changes.
    pub(crate) fn release_manager(&self) -> String {
        mint_dev_token_with_groups(
            &self.dev_key,
            "rita-release",
            &[Role::Approver],
            &["release-manager".to_owned()],
            Duration::from_secs(600),
            SystemClock.now(),
        )
    }

    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let bytes = response.bytes().await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub(crate) async fn get(&self, path: &str, token: &str) -> Value {
        let (status, body) = self.call(Method::GET, path, Some(token), None).await;
        assert!(status.is_success(), "GET {path}: {status} {body}");
        body
    }

    pub(crate) async fn post(&self, path: &str, token: &str, body: Value) -> Value {
        let (status, body) = self.call(Method::POST, path, Some(token), Some(body)).await;
        assert!(status.is_success(), "POST {path}: {status} {body}");
        body
    }

    /// The run's audit log, read as an Admin.
    pub(crate) async fn audit(&self, run_id: &str) -> Value {
        self.get(&format!("/api/runs/{run_id}/audit"), &self.admin())
            .await
    }

    /// The run's evidence pack, read as an Admin.
    pub(crate) async fn evidence_pack(&self, run_id: &str) -> Value {
        self.get(&format!("/api/runs/{run_id}/evidence-pack"), &self.admin())
            .await
    }

    /// Fails unless `secret` appears nowhere a finished run keeps or shows:
    /// the run view, its audit log, its evidence pack, and `answered` (what
    /// the call that carried it returned).
    pub(crate) async fn assert_never_kept(&self, run_id: &str, secret: &str, answered: &Value) {
        let run = self.wait_status(run_id, "completed").await;
        let audit = self.audit(run_id).await;
        let pack = self.evidence_pack(run_id).await;
        for (what, value) in [
            ("response", answered),
            ("run", &run),
            ("audit", &audit),
            ("pack", &pack),
        ] {
            assert!(
                !value.to_string().contains(secret),
                "the {what} leaks the credential"
            );
        }
    }

    /// Imports and publishes BPMN as an Admin; returns the workflow id.
    pub(crate) async fn publish(&self, id: &str, xml: &str) -> String {
        let response = self
            .http
            .post(format!("{}/api/workflows?id={id}", self.url))
            .bearer_auth(self.admin())
            .header("content-type", "application/xml")
            .body(xml.to_owned())
            .send()
            .await
            .expect("import");
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        assert_eq!(status, StatusCode::CREATED, "import {id}: {body}");
        let version = body["version"].as_i64().expect("version");
        self.post(
            &format!("/api/workflows/{id}/versions/{version}/publish"),
            &self.admin(),
            json!({}),
        )
        .await;
        id.to_owned()
    }

    /// Starts a run as the operator; returns its id.
    pub(crate) async fn start_run(&self, workflow: &str, inputs: Value) -> String {
        let body = self
            .post(
                "/api/runs",
                &self.operator(),
                json!({"workflowId": workflow, "inputs": inputs}),
            )
            .await;
        body["runId"].as_str().expect("run id").to_owned()
    }

    /// Polls the run until `done` holds (or fails the test after 20 s).
    pub(crate) async fn wait_for(&self, run_id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let token = self.token("viewer", &[Role::Viewer]);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let run = self.get(&format!("/api/runs/{run_id}"), &token).await;
            if done(&run) {
                return run;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "run {run_id} did not get there in time; last seen: {run:#}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) async fn wait_status(&self, run_id: &str, status: &str) -> Value {
        self.wait_for(run_id, |run| run["status"] == status).await
    }

    pub(crate) async fn stop(mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.stop().await;
        }
        self.server.abort();
    }
}

fn dev_auth() -> AuthConfig {
    let mut config = AuthConfig::default();
    config.dev.enabled = true;
    config
}

/// The names of a component's properties, following `allOf` and `$ref`.
pub(crate) fn documented(doc: &Value, schema: &Value) -> Vec<String> {
    if let Some(target) = schema["$ref"].as_str() {
        let name = target.trim_start_matches("#/components/schemas/");
        return documented(doc, &doc["components"]["schemas"][name]);
    }
    let mut names: Vec<String> = schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        names.extend(documented(doc, part));
    }
    names.sort();
    names
}

/// A workflow `process` of one agent task `node` run by `agent` for
/// `purpose` in staging, full permission, `repo-read` sandbox, prompted
/// with the node's name: the shape the journal and secret tests drive.
pub(crate) fn one_agent_task(process: &str, node: &str, agent: &str, purpose: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:aw="https://agentwerke.de/bpmn/extensions/v1" id="defs" targetNamespace="https://example.test">
  <bpmn:process id="{process}" name="{process}" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="{node}"/>
    <bpmn:serviceTask id="{node}" name="{node}">
      <bpmn:extensionElements><aw:agentTask agent="{agent}" purposeType="{purpose}" environment="staging" permissionLevel="full" sandboxProfile="repo-read" prompt="{node}"/></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="{node}" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>
"#
    )
}

/// The price table every test server runs with: the remote providers'
/// `test-model` (USD per million tokens). The scripted model has no price,
/// so its runs cost nothing, as a tokenless server's do.
pub(crate) fn test_prices() -> agentwerke_agents::pricing::Prices {
    let price = agentwerke_agents::pricing::Price {
        input: 3.0,
        output: 15.0,
        cached_input: Some(0.3),
    };
    agentwerke_agents::pricing::Prices::new([("test-model".to_owned(), price)].into())
}
