//! Egress allow-list entries (`egressHosts`): which host names a sandboxed
//! command may reach through the egress proxy.
//!
//! An entry is a host name (`api.github.com`) or a suffix pattern
//! (`*.github.com`, which matches every name below `github.com` but not
//! `github.com` itself). No scheme, port, path or IP address: the proxy
//! resolves names itself and refuses internal addresses whatever the list
//! says, so an address in the list could only mislead its reader.

/// The longest host name DNS allows.
const MAX_HOST_LEN: usize = 253;

/// Checks one entry and returns it lowercased, or says what is wrong.
pub fn host_pattern(entry: &str) -> Result<String, &'static str> {
    let lower = entry.trim().to_ascii_lowercase();
    let name = lower.strip_prefix("*.").unwrap_or(&lower);
    if name.is_empty() || name.len() > MAX_HOST_LEN {
        return Err("it is not a host name");
    }
    if name.contains(['/', ':', '@', '?', '#']) {
        return Err("a host name only: no scheme, port or path");
    }
    if name.contains('*') {
        return Err("`*.` may only begin a pattern, as in `*.example.com`");
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err("an IP address: name hosts; the proxy refuses internal addresses anyway");
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !name.split('.').all(label_ok) {
        return Err("a host name is dot-separated labels of letters, digits and `-`");
    }
    Ok(lower)
}

/// Whether `host` (lowercase, as the proxy saw it) is on `allowed`.
pub fn host_allowed(allowed: &[String], host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    allowed.iter().any(|entry| match entry.strip_prefix("*.") {
        Some(suffix) => host
            .strip_suffix(suffix)
            .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1),
        None => *entry == host,
    })
}

#[cfg(test)]
mod tests {
    use super::{host_allowed, host_pattern};

    #[test]
    fn entries_are_host_names_or_suffix_patterns() {
        assert_eq!(host_pattern("API.GitHub.com").unwrap(), "api.github.com");
        assert_eq!(host_pattern("*.pypi.org").unwrap(), "*.pypi.org");
        for bad in [
            "",
            "*.",
            "https://github.com",
            "github.com:443",
            "github.com/x",
            "a.*.com",
            "*",
            "10.0.0.1",
            "-bad.com",
            "sp ace.com",
            "a..b",
        ] {
            assert!(host_pattern(bad).is_err(), "{bad} passed");
        }
    }

    #[test]
    fn suffix_patterns_match_names_below_only() {
        let allowed = vec!["api.github.com".to_owned(), "*.pypi.org".to_owned()];
        assert!(host_allowed(&allowed, "api.github.com"));
        assert!(host_allowed(&allowed, "API.github.com."));
        assert!(host_allowed(&allowed, "files.pypi.org"));
        assert!(host_allowed(&allowed, "a.b.pypi.org"));
        assert!(!host_allowed(&allowed, "pypi.org"));
        assert!(!host_allowed(&allowed, "evilpypi.org"));
        assert!(!host_allowed(&allowed, "github.com"));
        assert!(!host_allowed(&allowed, "api.github.com.evil.example"));
    }
}
