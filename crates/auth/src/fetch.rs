//! The one HTTP call auth makes: GET a small JSON document, bounded in time
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
        let mut response = self
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
        serde_json::from_slice(&body).map_err(|_| format!("{url} did not return JSON"))
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
