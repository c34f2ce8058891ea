//! Egress allow-list entries (`egressHosts`): which host names a sandboxed
//! command may reach through the egress proxy.
//!
//! An entry is a host name (`api.github.com`) or a suffix pattern
//! (`*.github.com`, which matches every name below `github.com` but not
//! `github.com` itself; the egress proxy's `EgressScope::allows` matches
//! them). No scheme, port, path or IP address: the proxy
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

#[cfg(test)]
mod tests {
    use super::host_pattern;

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
}
