//! `secret:NAME` references in `http.request`: granted per agent, refused
//! before anything is resolved otherwise, resolved only when the request
//! is sent, and recorded by name and fingerprint only.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use serde_json::{Value, json};

use agentwerke_gateway::{
    AgentProfile, CallStatus, DecisionKind, Execution, Gateway, GatewayConfig, Halts, Outcome,
    PermissionLevel as L, PolicySchema, PolicySet, Reason, ResolvedSecret, SandboxProfile as P,
    SecretResolver, Stage, Unavailable,
};
use agentwerke_secrets::{Fingerprinter, KeyMaterial, SecretName, SecretValue};

use crate::support::{call, task};

/// Secrets kept in memory, counting how often one is resolved.
#[derive(Debug)]
struct Vault {
    values: Mutex<BTreeMap<String, String>>,
    fingerprinter: Fingerprinter,
    resolved: AtomicUsize,
}

impl Vault {
    fn new(values: &[(&str, &str)]) -> Arc<Self> {
        Arc::new(Self {
            values: Mutex::new(
                values
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            fingerprinter: Fingerprinter::with_key(KeyMaterial::generate().unwrap()),
            resolved: AtomicUsize::new(0),
        })
    }

    fn set(&self, name: &str, value: &str) {
        self.values
            .lock()
            .unwrap()
            .insert(name.to_owned(), value.to_owned());
    }
}

#[async_trait]
impl SecretResolver for Vault {
    async fn resolve(&self, name: &SecretName) -> Result<ResolvedSecret, Unavailable> {
        self.resolved.fetch_add(1, Ordering::SeqCst);
        let value = self
            .values
            .lock()
            .unwrap()
            .get(name.as_str())
            .cloned()
            .ok_or_else(|| Unavailable::Missing(name.to_string()))?;
        let value = SecretValue::new(value).unwrap();
        let fingerprint = self.fingerprinter.fingerprint(&value);
        Ok(ResolvedSecret { value, fingerprint })
    }
}

/// The `Authorization` headers a test server received, in order.
type Received = Arc<Mutex<Vec<String>>>;

/// A server that keeps and answers with the `Authorization` header it
/// received.
async fn serve() -> (String, Received) {
    let received = Received::default();
    let log = Arc::clone(&received);
    let app = Router::new().route(
        "/whoami",
        get(move |headers: HeaderMap| async move {
            let seen = headers
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            log.lock().unwrap().push(seen.clone());
            seen
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), received)
}

/// `coder` is granted `github_token` and `absent_token`; `reader` nothing.
/// Every call is permitted by policy, so only the grants can refuse one.
fn gateway(vault: &Arc<Vault>) -> Gateway {
    let registry = crate::support::builtins_reaching_loopback();
    let schema = Arc::new(PolicySchema::for_registry(&registry).unwrap());
    let policies = PolicySet::load(
        "permit-all",
        r#"@id("all") permit(principal, action, resource);"#,
        schema,
    );
    let granted = ["github_token", "absent_token"].map(|n| SecretName::parse(n).unwrap());
    let config = GatewayConfig {
        agents: vec![
            AgentProfile::new("coder", P::ALL).with_secrets(granted),
            AgentProfile::new("reader", P::ALL),
        ],
        secrets: Some(Arc::clone(vault) as Arc<dyn SecretResolver>),
        ..GatewayConfig::default()
    };
    Gateway::new(registry, policies, config).unwrap()
}

fn request(base: &str, header: &str) -> Value {
    json!({
        "url": format!("{base}/whoami"),
        "secret_headers": {"Authorization": header},
    })
}

fn body(execution: &Execution) -> String {
    let Outcome::Executed { output } = &execution.outcome else {
        panic!("not executed: {:?}", execution.outcome)
    };
    output["body"].as_str().unwrap().to_owned()
}

fn assert_nowhere(execution: &Execution, values: &[&str]) {
    let text = serde_json::to_string(execution).unwrap() + &format!("{execution:?}");
    for value in values {
        assert!(!text.contains(value), "{value} leaked: {text}");
    }
}

#[tokio::test]
async fn a_granted_reference_is_sent_resolved_and_recorded_by_name_and_fingerprint() {
    let (base, received) = serve().await;
    let vault = Vault::new(&[("github_token", "ghp-first-value-123")]);
    let gateway = gateway(&vault);
    let c = call(
        "http.request",
        request(&base, "Bearer secret:github_token"),
        task(L::Full, P::RepoRead),
    );

    let decision = gateway.decide(&c, &Halts::none());
    assert_eq!(decision.kind, DecisionKind::Allow, "{}", decision.rationale);
    assert_eq!(
        vault.resolved.load(Ordering::SeqCst),
        0,
        "deciding resolves nothing"
    );

    let first = gateway.execute(&c, &Halts::none()).await;
    assert_eq!(first.record.status, CallStatus::Executed);
    // The server received the value; the agent gets it back redacted.
    assert_eq!(body(&first), "Bearer [REDACTED]");
    assert_eq!(first.record.secrets.len(), 1);
    assert_eq!(first.record.secrets[0].name.as_str(), "github_token");
    assert!(
        first.record.secrets[0]
            .fingerprint
            .as_str()
            .starts_with("hmac-sha256:")
    );
    assert_nowhere(&first, &["ghp-first-value-123"]);

    // Rotated while the gateway runs: the next call sends the new value,
    // under the same arguments (same hash, same approval binding).
    vault.set("github_token", "ghp-second-value-456");
    let second = gateway.execute(&c, &Halts::none()).await;
    assert_eq!(body(&second), "Bearer [REDACTED]");
    assert_eq!(second.decision.args_hash, first.decision.args_hash);
    assert_ne!(
        second.record.secrets[0].fingerprint,
        first.record.secrets[0].fingerprint
    );
    assert_nowhere(&second, &["ghp-first-value-123", "ghp-second-value-456"]);
    assert_eq!(
        *received.lock().unwrap(),
        ["Bearer ghp-first-value-123", "Bearer ghp-second-value-456"]
    );
}

#[tokio::test]
async fn an_ungranted_reference_is_refused_before_anything_is_resolved() {
    let (base, received) = serve().await;
    let vault = Vault::new(&[
        ("github_token", "ghp-never-resolved"),
        ("other", "x-other-value"),
    ]);
    let gateway = gateway(&vault);
    let mut c = call(
        "http.request",
        request(&base, "Bearer secret:other"),
        task(L::Full, P::RepoRead),
    );
    let ex = gateway.execute(&c, &Halts::none()).await;
    assert_eq!(
        (ex.decision.kind, ex.decision.stage, ex.decision.reason),
        (
            DecisionKind::Reject,
            Stage::Secrets,
            Reason::SecretReferenceNotGranted
        )
    );
    assert_eq!(ex.decision.reason.as_str(), "secret_reference_not_granted");
    assert!(
        ex.decision.determining_policies.is_empty(),
        "no policy was asked"
    );

    // Granted to another agent is not granted to this one.
    c.agent = "reader".to_owned();
    c.arguments = request(&base, "Bearer secret:github_token");
    let ex = gateway.execute(&c, &Halts::none()).await;
    assert_eq!(ex.decision.reason, Reason::SecretReferenceNotGranted);
    assert_eq!(ex.record.status, CallStatus::Blocked);
    assert_eq!(vault.resolved.load(Ordering::SeqCst), 0);
    assert!(received.lock().unwrap().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn a_malformed_reference_is_refused_with_its_own_reason() {
    let vault = Vault::new(&[]);
    let gateway = gateway(&vault);
    for header in [
        "Bearer secret:../etc/passwd",
        "Bearer ghp-literal-value",
        "",
    ] {
        let c = call(
            "http.request",
            request("http://127.0.0.1:9", header),
            task(L::Full, P::RepoRead),
        );
        let decision = gateway.decide(&c, &Halts::none());
        assert_eq!(
            (decision.stage, decision.reason),
            (Stage::Secrets, Reason::SecretReferenceInvalid),
            "{header}"
        );
    }
}

#[tokio::test]
async fn a_granted_reference_to_a_missing_secret_fails_the_call_with_a_code() {
    let (base, received) = serve().await;
    let vault = Vault::new(&[("github_token", "ghp-present-value")]);
    let gateway = gateway(&vault);
    let c = call(
        "http.request",
        request(&base, "Bearer secret:absent_token"),
        task(L::Full, P::RepoRead),
    );
    let ex = gateway.execute(&c, &Halts::none()).await;
    assert_eq!(ex.record.status, CallStatus::Failed);
    let Outcome::Failed { code, message } = &ex.outcome else {
        panic!("not failed: {:?}", ex.outcome)
    };
    assert_eq!(code, "gateway.tool.secret_missing");
    assert!(message.contains("absent_token"), "{message}");
    assert!(ex.record.secrets.is_empty());
    assert_nowhere(&ex, &["ghp-present-value"]);
    assert!(received.lock().unwrap().is_empty(), "nothing was sent");
}
