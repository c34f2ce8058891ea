//! Auth configuration as it appears in the server's config file, and its
//! validation (no IO).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use agentwerke_secrets::SecretRef;
use reqwest::Url;
use serde::{Deserialize, Serialize};

use crate::dev_key::DEV_ISSUER;
use crate::error::SetupError;

/// The `[auth]` section of the server configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AuthConfig {
    /// Local development tokens, signed by a key in the data folder.
    #[serde(default)]
    pub dev: DevConfig,
    /// An OpenID Connect identity provider whose access tokens the API accepts.
    #[serde(default)]
    pub oidc: Option<OidcConfig>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds (at most 300).
    #[serde(default = "default_leeway_secs")]
    pub leeway_secs: u64,
}

/// Written out rather than derived so that `AuthConfig::default()` and an
/// empty config file agree (a derived default would make the leeway 0).
impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            dev: DevConfig::default(),
            oidc: None,
            leeway_secs: default_leeway_secs(),
        }
    }
}

impl AuthConfig {
    /// Whether a real identity provider is configured. The server refuses to
    /// listen on anything but loopback without one, because development
    /// tokens are minted by anyone who can read the data folder.
    pub fn is_real_auth_configured(&self) -> bool {
        self.oidc.is_some()
    }

    /// Checks the configuration without touching the network or disk.
    pub fn validate(&self) -> Result<(), SetupError> {
        if self.leeway_secs > MAX_LEEWAY_SECS {
            return Err(SetupError::Config(format!(
                "leeway-secs is {}; at most {MAX_LEEWAY_SECS} is allowed",
                self.leeway_secs
            )));
        }
        if let Some(oidc) = &self.oidc {
            oidc.validate()?;
        }
        Ok(())
    }
}

/// Largest clock leeway accepted: more than a few minutes hides broken clocks
/// and stretches the life of stolen tokens.
const MAX_LEEWAY_SECS: u64 = 300;

fn default_leeway_secs() -> u64 {
    60
}

/// Local development tokens.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DevConfig {
    /// Accept development tokens. Off unless switched on explicitly.
    #[serde(default)]
    pub enabled: bool,
    /// The Ed25519 key file; relative paths are resolved against the data
    /// folder. Defaults to `dev-jwt-key.pem`.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

impl DevConfig {
    /// Default file name of the development key inside the data folder.
    pub const DEFAULT_KEY_FILE: &'static str = "dev-jwt-key.pem";

    /// The key file's path, resolved against `data_dir`.
    pub fn key_path(&self, data_dir: &Path) -> PathBuf {
        let file = self
            .key_file
            .as_deref()
            .unwrap_or(Path::new(Self::DEFAULT_KEY_FILE));
        data_dir.join(file)
    }
}

/// Asymmetric algorithms accepted from an identity provider. HMAC and `none`
/// are not representable, which rules out algorithm confusion by type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
}

impl SigningAlg {
    /// The JOSE name as it appears in a token header.
    pub const fn as_str(self) -> &'static str {
        match self {
            SigningAlg::RS256 => "RS256",
            SigningAlg::ES256 => "ES256",
        }
    }

    pub(crate) const fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            SigningAlg::RS256 => jsonwebtoken::Algorithm::RS256,
            SigningAlg::ES256 => jsonwebtoken::Algorithm::ES256,
        }
    }
}

/// An OpenID Connect identity provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OidcConfig {
    /// The exact `iss` value of the provider's tokens, e.g.
    /// `https://login.example.com/realms/agentwerke`.
    pub issuer: String,
    /// The `aud` value tokens must carry to be accepted by this API.
    pub audience: String,
    /// Where to fetch signing keys. Defaults to the `jwks_uri` published at
    /// `<issuer>/.well-known/openid-configuration`.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// The claim holding role names: a top-level name (which may itself
    /// contain dots, as Auth0's namespaced claims do) or a dotted path such
    /// as `realm_access.roles`.
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    /// Algorithms accepted from this provider.
    #[serde(default = "default_allowed_algs")]
    pub allowed_algs: Vec<SigningAlg>,
    /// Minimum seconds between two JWKS fetches, so that tokens with made-up
    /// key ids cannot make us hammer the provider.
    #[serde(default = "default_refresh_min_interval_secs")]
    pub jwks_refresh_min_interval_secs: u64,
    /// Keys older than this are fetched again before use, so revoked keys
    /// stop working.
    #[serde(default = "default_max_age_secs")]
    pub jwks_max_age_secs: u64,
    /// Timeout for one discovery or JWKS request, in seconds.
    #[serde(default = "default_timeout_secs")]
    pub http_timeout_secs: u64,
    /// Largest discovery or JWKS response accepted, in bytes.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: usize,
    /// The web UI's client at the provider. Set, the sign-in page offers
    /// signing in through the provider (authorization code with PKCE); its
    /// ID tokens must name this client as their audience.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The UI client's secret as a reference, `secret:NAME`, to a secret
    /// the server keeps (`[secrets]` or the Settings API), read when a
    /// sign-in completes: configuration never holds the value. None: a
    /// public client, protected by PKCE alone.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Where the provider sends the browser back: the server's external
    /// URL followed by `/signin/oidc/callback`, registered at the provider
    /// exactly so. Behind a proxy only the operator knows this URL, so it
    /// is configured rather than guessed from request headers.
    #[serde(default)]
    pub redirect_url: Option<String>,
    /// The scopes asked for at sign-in; `openid` must be one of them.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
}

fn default_roles_claim() -> String {
    "roles".to_owned()
}
fn default_allowed_algs() -> Vec<SigningAlg> {
    vec![SigningAlg::RS256, SigningAlg::ES256]
}
fn default_refresh_min_interval_secs() -> u64 {
    30
}
fn default_max_age_secs() -> u64 {
    3600
}
fn default_timeout_secs() -> u64 {
    5
}
fn default_max_response_bytes() -> usize {
    256 * 1024
}
fn default_scopes() -> Vec<String> {
    ["openid", "profile", "email"].map(str::to_owned).to_vec()
}

/// The path the provider sends the browser back to.
pub const SIGN_IN_CALLBACK_PATH: &str = "/signin/oidc/callback";

impl OidcConfig {
    /// A configuration with every optional field at its default.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            jwks_url: None,
            roles_claim: default_roles_claim(),
            allowed_algs: default_allowed_algs(),
            jwks_refresh_min_interval_secs: default_refresh_min_interval_secs(),
            jwks_max_age_secs: default_max_age_secs(),
            http_timeout_secs: default_timeout_secs(),
            max_response_bytes: default_max_response_bytes(),
            client_id: None,
            client_secret: None,
            redirect_url: None,
            scopes: default_scopes(),
        }
    }

    /// The reference to the UI client's secret, when one is configured
    /// (checked by [`OidcConfig::validate`]).
    pub fn client_secret_ref(&self) -> Option<SecretRef> {
        self.client_secret
            .as_deref()
            .and_then(|text| SecretRef::parse(text).ok())
    }

    /// Checks the configuration without touching the network.
    pub fn validate(&self) -> Result<(), SetupError> {
        let bad = |msg: String| Err(SetupError::Config(msg));
        check_fetch_url("oidc.issuer", &self.issuer)?;
        if self.issuer == DEV_ISSUER {
            return bad(format!("oidc.issuer must not be `{DEV_ISSUER}`"));
        }
        if self.audience.trim().is_empty() {
            return bad("oidc.audience must not be empty".to_owned());
        }
        if let Some(url) = &self.jwks_url {
            check_fetch_url("oidc.jwks-url", url)?;
        }
        if self.roles_claim.trim().is_empty() {
            return bad("oidc.roles-claim must not be empty".to_owned());
        }
        if self.allowed_algs.is_empty() {
            return bad("oidc.allowed-algs must name at least one algorithm".to_owned());
        }
        if self.http_timeout_secs == 0 || self.max_response_bytes == 0 {
            return bad(
                "oidc.http-timeout-secs and max-response-bytes must be positive".to_owned(),
            );
        }
        self.validate_sign_in()
    }

    /// Checks the web UI's sign-in settings: all or nothing, a secret only
    /// by reference, a callback URL the provider may send a browser to.
    fn validate_sign_in(&self) -> Result<(), SetupError> {
        let bad = |msg: String| Err(SetupError::Config(msg));
        let Some(client_id) = &self.client_id else {
            if self.client_secret.is_some() || self.redirect_url.is_some() {
                return bad(
                    "oidc.client-secret and oidc.redirect-url need oidc.client-id \
                     (the web UI's client at the identity provider)"
                        .to_owned(),
                );
            }
            return Ok(());
        };
        if client_id.trim().is_empty() || client_id.chars().any(char::is_control) {
            return bad("oidc.client-id must not be empty".to_owned());
        }
        if let Some(secret) = &self.client_secret
            && SecretRef::parse(secret).is_err()
        {
            // Neither the text nor the parser's message (which quotes the
            // name) is repeated: it may be the value that belongs in the
            // secret store instead.
            return bad(
                "oidc.client-secret must be a reference secret:NAME to a secret the \
                 server keeps (NAME: an ASCII letter, then letters, digits, '_', '.' or '-'), \
                 never the value itself"
                    .to_owned(),
            );
        }
        let Some(redirect) = &self.redirect_url else {
            return bad(format!(
                "oidc.redirect-url is required with oidc.client-id: the server's external URL \
                 followed by {SIGN_IN_CALLBACK_PATH}, e.g. \
                 https://agentwerke.example.com{SIGN_IN_CALLBACK_PATH}"
            ));
        };
        let url = check_fetch_url("oidc.redirect-url", redirect)?;
        if url.path() != SIGN_IN_CALLBACK_PATH || url.query().is_some() || url.fragment().is_some()
        {
            return bad(format!(
                "oidc.redirect-url must end in {SIGN_IN_CALLBACK_PATH} (no query, no fragment)"
            ));
        }
        if !self.scopes.iter().any(|s| s == "openid") {
            return bad("oidc.scopes must include openid".to_owned());
        }
        if let Some(scope) = self
            .scopes
            .iter()
            .find(|s| s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return bad(format!(
                "oidc.scopes: '{}' is not a scope (one word per entry)",
                scope.escape_debug()
            ));
        }
        Ok(())
    }
}

/// Parses a URL we will fetch keys from and insists on HTTPS, except for
/// loopback hosts (local test identity providers). Plain HTTP to a remote
/// host would let anyone on the path substitute the signing keys.
pub(crate) fn check_fetch_url(field: &str, raw: &str) -> Result<Url, SetupError> {
    let url = Url::parse(raw)
        .map_err(|e| SetupError::Config(format!("{field} is not a valid URL: {e}")))?;
    let host = url.host_str().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(SetupError::Config(format!(
            "{field} must be an https URL (plain http is allowed for loopback hosts only)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_closed() {
        let config: AuthConfig = serde_json::from_str("{}").unwrap();
        assert!(!config.dev.enabled);
        assert!(config.oidc.is_none());
        assert!(!config.is_real_auth_configured());
        assert_eq!(config.leeway_secs, 60);
        assert_eq!(config, AuthConfig::default());
    }

    #[test]
    fn kebab_case_and_defaults_fill_in() {
        let json = r#"{
            "dev": {"enabled": true, "key-file": "k.pem"},
            "oidc": {"issuer": "https://idp.example", "audience": "aw", "roles-claim": "realm_access.roles"}
        }"#;
        let config: AuthConfig = serde_json::from_str(json).unwrap();
        let oidc = config.oidc.as_ref().unwrap();
        assert_eq!(
            oidc.allowed_algs,
            vec![SigningAlg::RS256, SigningAlg::ES256]
        );
        assert_eq!(oidc.roles_claim, "realm_access.roles");
        assert!(config.is_real_auth_configured());
        config.validate().unwrap();
        assert_eq!(
            config.dev.key_path(Path::new("/data")),
            Path::new("/data/k.pem")
        );
    }

    #[test]
    fn unknown_fields_and_algorithms_are_refused() {
        assert!(serde_json::from_str::<AuthConfig>(r#"{"devv": {}}"#).is_err());
        let hs = r#"{"oidc": {"issuer": "https://i", "audience": "a", "allowed-algs": ["HS256"]}}"#;
        assert!(serde_json::from_str::<AuthConfig>(hs).is_err());
        let none =
            r#"{"oidc": {"issuer": "https://i", "audience": "a", "allowed-algs": ["none"]}}"#;
        assert!(serde_json::from_str::<AuthConfig>(none).is_err());
    }

    #[test]
    fn key_urls_must_be_https_unless_loopback() {
        assert!(check_fetch_url("f", "https://idp.example/jwks").is_ok());
        assert!(check_fetch_url("f", "http://127.0.0.1:8080/jwks").is_ok());
        assert!(check_fetch_url("f", "http://[::1]:8080/jwks").is_ok());
        assert!(check_fetch_url("f", "http://localhost/jwks").is_ok());
        assert!(check_fetch_url("f", "http://idp.example/jwks").is_err());
        assert!(check_fetch_url("f", "file:///etc/passwd").is_err());
        assert!(check_fetch_url("f", "not a url").is_err());
    }

    #[test]
    fn validation_catches_unsafe_settings() {
        let mut oidc = OidcConfig::new("https://idp.example", "aw");
        oidc.validate().unwrap();
        oidc.allowed_algs.clear();
        assert!(oidc.validate().is_err());
        let dev_issuer = OidcConfig::new(DEV_ISSUER, "aw");
        assert!(dev_issuer.validate().is_err());
        let config = AuthConfig {
            leeway_secs: 3600,
            ..AuthConfig::default()
        };
        assert!(config.validate().is_err());
    }
}
