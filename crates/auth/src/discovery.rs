//! The provider's discovery document
//! (`<issuer>/.well-known/openid-configuration`): where its keys are and,
//! for the web UI's sign-in, where a browser is sent and a code exchanged.

use reqwest::Url;
use serde_json::Value;

use crate::config::check_fetch_url;
use crate::fetch::Fetcher;

/// What the discovery document says, each URL checked like a configured
/// one (HTTPS unless loopback).
#[derive(Debug, Clone)]
pub(crate) struct Discovery {
    /// The key set.
    pub(crate) jwks_uri: Url,
    /// Where a browser asks for a code; absent from a provider that only
    /// issues tokens to machines.
    pub(crate) authorization_endpoint: Option<Url>,
    /// Where a code is exchanged for tokens.
    pub(crate) token_endpoint: Option<Url>,
    /// Whether the provider accepts client credentials in an HTTP Basic
    /// header (the default when it does not say, OpenID Connect Discovery
    /// §3); otherwise they go in the form.
    pub(crate) basic_auth: bool,
}

/// Fetches and reads the discovery document, which must name `issuer`
/// exactly (OpenID Connect Discovery §4.3). The error is a short reason
/// that never quotes the document.
pub(crate) async fn discover(fetcher: &Fetcher, issuer: &str) -> Result<Discovery, String> {
    let base = issuer.trim_end_matches('/');
    let raw = format!("{base}/.well-known/openid-configuration");
    let url = Url::parse(&raw).map_err(|e| format!("bad discovery URL: {e}"))?;
    let doc = fetcher.get_json(&url).await?;
    if doc.get("issuer").and_then(Value::as_str) != Some(issuer) {
        return Err(format!("{url} names a different issuer"));
    }
    let endpoint = |name: &str| -> Result<Option<Url>, String> {
        doc.get(name)
            .and_then(Value::as_str)
            .map(|raw| check_fetch_url(name, raw).map_err(|e| e.to_string()))
            .transpose()
    };
    let jwks_uri = endpoint("jwks_uri")?.ok_or_else(|| format!("{url} has no jwks_uri"))?;
    let basic_auth = match doc
        .get("token_endpoint_auth_methods_supported")
        .and_then(Value::as_array)
    {
        None => true,
        Some(methods) => methods
            .iter()
            .any(|m| m.as_str() == Some("client_secret_basic")),
    };
    Ok(Discovery {
        jwks_uri,
        authorization_endpoint: endpoint("authorization_endpoint")?,
        token_endpoint: endpoint("token_endpoint")?,
        basic_auth,
    })
}
