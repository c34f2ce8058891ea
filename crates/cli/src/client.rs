//! A small JSON client for the commands that talk to a server.

use anyhow::{Context, bail};
use reqwest::{Method, RequestBuilder};
use serde_json::Value;

use crate::Remote;

/// The largest page the server answers.
const PAGE: usize = 200;

/// Talks to one server with one token.
pub struct Client {
    http: reqwest::Client,
    remote: Remote,
}

impl Client {
    /// A client for `remote`.
    pub fn new(remote: &Remote) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("agentwerke-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            http,
            remote: remote.clone(),
        })
    }

    /// A request to `path` with the token attached.
    pub fn request(&self, method: Method, path: &str) -> anyhow::Result<RequestBuilder> {
        let token = self.remote.token.as_deref().context(
            "no token: pass --token or set AGENTWERKE_TOKEN (for local use: agentwerke token --role Operator)",
        )?;
        Ok(self
            .http
            .request(
                method,
                format!("{}{path}", self.remote.url.trim_end_matches('/')),
            )
            .bearer_auth(token))
    }

    /// Sends and decodes JSON, turning problem responses into readable errors.
    pub async fn send(&self, request: RequestBuilder) -> anyhow::Result<Value> {
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach the server at {}", self.remote.url))?;
        let status = response.status();
        let body = response.bytes().await.context("the response was cut off")?;
        let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if !status.is_success() {
            let code = json["code"].as_str().unwrap_or("unknown");
            let detail = json["detail"].as_str().unwrap_or("no detail");
            let mut message = format!("{status} {code}: {detail}");
            if let Some(errors) = json["errors"].as_array() {
                for error in errors {
                    message.push_str(&format!(
                        "\n  {} {} (line {}, column {}){}: {}",
                        error["severity"].as_str().unwrap_or(""),
                        error["code"].as_str().unwrap_or(""),
                        error["line"],
                        error["column"],
                        error["elementId"]
                            .as_str()
                            .map(|id| format!(" at '{id}'"))
                            .unwrap_or_default(),
                        error["message"].as_str().unwrap_or(""),
                    ));
                }
            }
            bail!(message);
        }
        Ok(json)
    }

    /// GET `path` as JSON.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.request(Method::GET, path)?).await
    }

    /// The items of a paginated list at `path` with `query` (`name=value`
    /// pairs), following `nextCursor` until `at_most` items are read or the
    /// list ends.
    pub async fn list(
        &self,
        path: &str,
        query: &[String],
        at_most: usize,
    ) -> anyhow::Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        while items.len() < at_most {
            let limit = (at_most - items.len()).min(PAGE);
            let mut pairs = query.to_vec();
            pairs.push(format!("limit={limit}"));
            if let Some(cursor) = &cursor {
                pairs.push(format!("cursor={cursor}"));
            }
            let mut page = self.get(&format!("{path}?{}", pairs.join("&"))).await?;
            if let Value::Array(found) = page["items"].take() {
                items.extend(found);
            }
            match page["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        Ok(items)
    }

    /// POST JSON to `path`.
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(self.request(Method::POST, path)?.json(body))
            .await
    }

    /// GET `path` as raw bytes.
    pub async fn get_bytes(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        let response = self
            .request(Method::GET, path)?
            .send()
            .await
            .with_context(|| format!("cannot reach the server at {}", self.remote.url))?;
        let status = response.status();
        let body = response.bytes().await?.to_vec();
        if !status.is_success() {
            let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            bail!(
                "{status} {}: {}",
                json["code"].as_str().unwrap_or("unknown"),
                json["detail"].as_str().unwrap_or("no detail")
            );
        }
        Ok(body)
    }
}
