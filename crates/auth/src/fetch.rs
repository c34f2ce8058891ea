//! The HTTP calls auth makes: GET a small JSON document (discovery, keys)
//! or POST a form for one (the sign-in's token request), bounded in time
//! and size, without following redirects.
//!
//! Redirects are refused because the URL policy (HTTPS unless loopback) is
//! checked on the configured URL; following a redirect would let the other
//! side choose where our signing keys come from.

use std::time::Duration;

use reqwest::{Client, Url, redirect};
use serde_json::Value;

use crate::error::SetupError;

/// A bounded JSON fetcher.
#[derive(Debug, Clone)]
pub(crate) struct Fetcher {
    client: Client,
    max_bytes: usize,
}

impl Fetcher {
    pub(crate) fn new(timeout: Duration, max_bytes: usize) -> Result<Self, SetupError> {
        let client = Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(redirect::Policy::none())
            .build()
            .map_err(|e| SetupError::Config(format!("cannot build the JWKS HTTP client: {e}")))?;
        Ok(Self { client, max_bytes })
    }

    /// GETs `url` and parses the body as JSON. The error is a short reason
    /// for [`crate::Error::JwksUnavailable`].
    pub(crate) async fn get_json(&self, url: &Url) -> Result<Value, String> {
        let response = self
            .client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| describe(url, &e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("{url} answered HTTP {}", status.as_u16()));
        }
        self.read_json(url, response).await
    }

    /// POSTs `form` (already `application/x-www-form-urlencoded`) to `url`,
    /// with HTTP Basic credentials when given; the status and the JSON
    /// body, whatever the status (an OAuth error answer is JSON too). The
    /// error never quotes the form, which carries a code and a verifier.
    pub(crate) async fn post_form(
        &self,
        url: &Url,
        form: String,
        basic: Option<(&str, &str)>,
    ) -> Result<(u16, Value), String> {
        let mut request = self
            .client
            .post(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form);
        if let Some((user, password)) = basic {
            request = request.basic_auth(user, Some(password));
        }
        let response = request.send().await.map_err(|e| describe(url, &e))?;
        let status = response.status();
        let body = self.read_body(url, response).await?;
        match serde_json::from_slice(&body) {
            Ok(value) => Ok((status.as_u16(), value)),
            // A refusal that is not JSON is still a refusal.
            Err(_) if !status.is_success() => Ok((status.as_u16(), Value::Null)),
            Err(_) => Err(format!("{url} did not return JSON")),
        }
    }

    /// The body as JSON, refused beyond the size bound.
    async fn read_json(&self, url: &Url, response: reqwest::Response) -> Result<Value, String> {
        let body = self.read_body(url, response).await?;
        serde_json::from_slice(&body).map_err(|_| format!("{url} did not return JSON"))
    }

    /// The body, refused beyond the size bound.
    async fn read_body(
        &self,
        url: &Url,
        mut response: reqwest::Response,
    ) -> Result<Vec<u8>, String> {
        let too_large = || format!("{url} sent more than {} bytes", self.max_bytes);
        if response
            .content_length()
            .is_some_and(|n| n > self.max_bytes as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| describe(url, &e))? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn describe(url: &Url, e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not be reached"
    } else if e.is_redirect() {
        "redirected (not followed)"
    } else {
        "failed"
    };
    format!("request to {url} {what}")
}
