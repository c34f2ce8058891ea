//! `http.request`: one outbound HTTP request, bounded in time and size.
//!
//! The destination host is a policy input (`context.facts.host`), so the
//! tool must reach exactly that host: redirects are **not** followed (a
//! 3xx comes back to the agent as it is), since following one would take
//! the call to a host no policy looked at. The gateway resolves the name
//! itself and refuses the call if any address it resolves to is internal
//! (loopback, private, link-local, unique-local, multicast, IPv4 inside
//! IPv6 ...; see [`crate::egress`]), and connects only to the addresses it
//! checked; IP literals are checked the same way. No system proxy is used,
//! since a proxy would reach addresses nobody checked. Hosts the operator
//! names in [`HttpOptions::allow_private_hosts`] may reach internal
//! addresses; no host may by default.
//!
//! Credentials travel as references: `secret_headers` maps a header name
//! to `[SCHEME ]secret:NAME`, e.g. `{"Authorization": "Bearer
//! secret:github_token"}`. The gateway checks the agent is granted `NAME`,
//! resolves it just before the request is sent and hands the value to this
//! tool alone; the arguments (hashed, journaled, shown in approvals and
//! evidence) keep the reference. Plain `headers` are sent as written.

use std::net::IpAddr;
use std::time::Duration;

use agentwerke_secrets::SecretRef;
use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, Method, Url, redirect};
use serde_json::{Map, Value, json};

use crate::category::Category;
use crate::egress::{CheckedResolver, EgressRules, ResolveError};
use crate::error::{Error, ToolError};
use crate::secret::InjectedSecrets;
use crate::tool::{Idempotency, Tool, ToolContext};

/// Limits for `http.request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOptions {
    /// Whole request, connect to last body byte.
    pub timeout: Duration,
    /// Response body bytes kept; the rest is dropped and `truncated` set.
    pub max_response_bytes: usize,
    /// The `User-Agent` sent.
    pub user_agent: String,
    /// Hosts (names or IP literals) that may reach loopback, private and
    /// other internal addresses. Empty by default: every host must resolve
    /// to public addresses only.
    pub allow_private_hosts: Vec<String>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            max_response_bytes: 1024 * 1024,
            user_agent: concat!("agentwerke-gateway/", env!("CARGO_PKG_VERSION")).to_owned(),
            allow_private_hosts: Vec::new(),
        }
    }
}

/// The `http.request` tool.
#[derive(Debug)]
pub struct HttpRequest {
    client: Client,
    options: HttpOptions,
    rules: EgressRules,
}

impl HttpRequest {
    /// A tool with its own client configured from `options`.
    pub fn new(options: HttpOptions) -> Result<Self, Error> {
        let rules = EgressRules::allowing_private(&options.allow_private_hosts);
        let client = Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.timeout)
            .redirect(redirect::Policy::none())
            .no_proxy()
            .dns_resolver(CheckedResolver::new(rules.clone()))
            .user_agent(options.user_agent.clone())
            .build()
            .map_err(|e| Error::HttpClient(e.to_string()))?;
        Ok(Self {
            client,
            options,
            rules,
        })
    }
}

#[async_trait]
impl Tool for HttpRequest {
    fn name(&self) -> &str {
        "http.request"
    }

    fn description(&self) -> &str {
        "Send one HTTP request and return status, headers and (size-limited) body. Redirects are not followed."
    }

    fn category(&self) -> Category {
        Category::Network
    }

    fn input_schema(&self) -> Value {
        json!({
            "type": "object",
            "required": ["url"],
            "additionalProperties": false,
            "properties": {
                "url": {"type": "string", "pattern": "^[hH][tT][tT][pP][sS]?://", "maxLength": 8192},
                "method": {"enum": ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"], "default": "GET"},
                "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                "secret_headers": {
                    "type": "object",
                    "description": "Headers whose value holds a secret: \"[SCHEME ]secret:NAME\", e.g. \"Bearer secret:github_token\". The value is filled in when the request is sent.",
                    "additionalProperties": {"type": "string", "maxLength": 256}
                },
                "body": {"type": ["string", "object", "array", "null"]}
            }
        })
    }

    /// `GET` and `HEAD` are safe methods (RFC 9110, 9.2.1): asking again
    /// changes nothing on a server that keeps HTTP's rules, so a request
    /// whose answer was lost is sent again. Every other method may change
    /// something the gateway cannot look at, so it is never sent twice
    /// without a human. A server that acts on a `GET` breaks HTTP's rules;
    /// a task that calls one should be denied `http.request` or escalated
    /// by policy instead.
    fn idempotency(&self, args: &Value) -> Idempotency {
        match args.get("method").and_then(Value::as_str).unwrap_or("GET") {
            "GET" | "HEAD" => Idempotency::Idempotent,
            _ => Idempotency::NotIdempotent,
        }
    }

    fn secret_refs(&self, args: &Value) -> Result<Vec<SecretRef>, String> {
        secret_headers(args).map(|headers| {
            headers
                .into_iter()
                .map(|(_, _, reference)| reference)
                .collect()
        })
    }

    async fn execute(&self, args: &Value, ctx: &ToolContext) -> Result<Value, ToolError> {
        let url = args
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| ToolError::InvalidInput("'url' must be a string".to_owned()))?;
        let url = Url::parse(url).map_err(|e| ToolError::InvalidInput(format!("bad url: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ToolError::InvalidInput(format!(
                "scheme '{}' is not http or https",
                url.scheme()
            )));
        }
        self.check_literal(&url)?;
        let method = args.get("method").and_then(Value::as_str).unwrap_or("GET");
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| ToolError::InvalidInput(format!("bad method '{method}'")))?;
        let mut request = self
            .client
            .request(method, url)
            .headers(headers(args, &ctx.secrets)?);
        request = match args.get("body") {
            Some(Value::String(body)) => request.body(body.clone()),
            Some(body @ (Value::Object(_) | Value::Array(_))) => request.json(body),
            _ => request,
        };
        let mut response = request.send().await.map_err(|e| self.error(e))?;
        let status = response.status().as_u16();
        let headers: Map<String, Value> = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned()),
                )
            })
            .collect();
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = response.chunk().await.map_err(|e| self.error(e))? {
            let room = self.options.max_response_bytes - body.len();
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(json!({
            "status": status,
            "headers": headers,
            "body": String::from_utf8_lossy(&body),
            "bytes": body.len(),
            "truncated": truncated,
        }))
    }
}

impl HttpRequest {
    /// The connector resolves names through [`CheckedResolver`] but dials
    /// an IP literal without asking any resolver, so literals are checked
    /// here. The URL parser has already turned `2130706433`, `0x7f.1` and
    /// `0177.0.0.1` into `127.0.0.1`.
    fn check_literal(&self, url: &Url) -> Result<(), ToolError> {
        let host = url.host_str().unwrap_or_default();
        match crate::facts::normalize_host(host).parse::<IpAddr>() {
            Ok(ip) => self
                .rules
                .check(host, &[ip])
                .map_err(ToolError::EgressRefused),
            Err(_) => Ok(()),
        }
    }

    fn error(&self, error: reqwest::Error) -> ToolError {
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            if let Some(ResolveError::Refused(refused)) = cause.downcast_ref::<ResolveError>() {
                return ToolError::EgressRefused(refused.clone());
            }
            source = cause.source();
        }
        if error.is_timeout() {
            return ToolError::Timeout(
                u64::try_from(self.options.timeout.as_millis()).unwrap_or(u64::MAX),
            );
        }
        // Without the URL: it may carry query-string credentials.
        let error = error.without_url();
        let mut message = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        ToolError::Http(message)
    }
}

/// The `secret_headers` of `args`: header name, the text before the
/// reference (e.g. `Bearer `), and the reference.
fn secret_headers(args: &Value) -> Result<Vec<(String, String, SecretRef)>, String> {
    let Some(headers) = args.get("secret_headers").and_then(Value::as_object) else {
        return Ok(Vec::new());
    };
    headers
        .iter()
        .map(|(name, value)| {
            let text = value.as_str().unwrap_or_default();
            let (scheme, reference) = match text.rsplit_once(' ') {
                Some((scheme, reference)) => (format!("{scheme} "), reference),
                None => (String::new(), text),
            };
            let reference = SecretRef::parse(reference).map_err(|e| {
                format!("secret header '{name}' must be '[SCHEME ]secret:NAME': {e}")
            })?;
            Ok((name.clone(), scheme, reference))
        })
        .collect()
}

fn headers(args: &Value, secrets: &InjectedSecrets) -> Result<HeaderMap, ToolError> {
    let mut map = HeaderMap::new();
    if let Some(headers) = args.get("headers").and_then(Value::as_object) {
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ToolError::InvalidInput(format!("bad header name '{name}'")))?;
            let value = value
                .as_str()
                .and_then(|v| HeaderValue::from_str(v).ok())
                .ok_or_else(|| ToolError::InvalidInput(format!("bad value for header '{name}'")))?;
            map.insert(name, value);
        }
    }
    for (name, scheme, reference) in secret_headers(args).map_err(ToolError::InvalidInput)? {
        let secret = secrets
            .get(reference.name())
            .ok_or_else(|| ToolError::SecretMissing(reference.name().to_string()))?;
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ToolError::InvalidInput(format!("bad header name '{name}'")))?;
        // The error names the header, never the value.
        let mut value =
            HeaderValue::from_str(&format!("{scheme}{}", secret.expose())).map_err(|_| {
                ToolError::InvalidInput(format!(
                    "secret for header '{name}' is not a valid header value"
                ))
            })?;
        value.set_sensitive(true);
        map.insert(name, value);
    }
    Ok(map)
}
