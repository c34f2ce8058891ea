//! The record of one connection a sandboxed command made through the egress
//! proxy. The proxy lives in the gateway, which decides each connection; the
//! record is defined here so that it travels inside [`crate::Execution`].

use std::net::SocketAddr;

use agentwerke_types::Timestamp;
use serde::{Deserialize, Serialize};

/// One connection (an HTTP `CONNECT` tunnel or one plain HTTP request),
/// allowed or not. Persisted in the evidence, so its wire shape is pinned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EgressConnection {
    /// The host as the command named it (lowercase, without IPv6 brackets);
    /// empty when the request named none.
    pub host: String,
    /// The port it asked for.
    pub port: u16,
    /// `CONNECT`, or the method of a plain HTTP request.
    pub method: String,
    /// The addresses the proxy resolved the host to (empty when it refused
    /// before resolving, or the name did not resolve).
    pub addresses: Vec<SocketAddr>,
    /// What the proxy decided.
    pub decision: EgressDecision,
    /// The stable code of a refusal or failure, e.g.
    /// `gateway.egress.host_not_allowed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The reason as the command was told it (host and address only, no
    /// request content).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Bytes sent to the destination.
    pub bytes_up: u64,
    /// Bytes received from the destination.
    pub bytes_down: u64,
    /// When the request reached the proxy.
    pub at: Timestamp,
}

/// What the proxy decided for one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EgressDecision {
    /// The host is allowed and every address it resolved to is public (or
    /// allowed as private): the proxy connected.
    Allowed,
    /// The request was refused: a host not on the allow-list, an address
    /// the egress rules refuse, or a request the proxy does not serve.
    Refused,
    /// Allowed, but the name did not resolve or no address accepted the
    /// connection.
    Failed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_shape_is_pinned() {
        let refused = EgressConnection {
            host: "localhost".to_owned(),
            port: 443,
            method: "CONNECT".to_owned(),
            addresses: vec!["127.0.0.1:443".parse().unwrap()],
            decision: EgressDecision::Refused,
            code: Some("gateway.egress.address_refused".to_owned()),
            reason: Some("127.0.0.1 is a loopback address".to_owned()),
            bytes_up: 0,
            bytes_down: 0,
            at: Timestamp(1_700_000_000_000),
        };
        let json = serde_json::to_value(&refused).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "host": "localhost",
                "port": 443,
                "method": "CONNECT",
                "addresses": ["127.0.0.1:443"],
                "decision": "refused",
                "code": "gateway.egress.address_refused",
                "reason": "127.0.0.1 is a loopback address",
                "bytesUp": 0,
                "bytesDown": 0,
                "at": 1_700_000_000_000i64
            })
        );
        assert_eq!(
            serde_json::from_value::<EgressConnection>(json).unwrap(),
            refused
        );
        let allowed = EgressConnection {
            method: "GET".to_owned(),
            decision: EgressDecision::Allowed,
            code: None,
            reason: None,
            addresses: vec!["[2001:4860::1]:80".parse().unwrap()],
            bytes_up: 10,
            bytes_down: 20,
            ..refused
        };
        let json = serde_json::to_value(&allowed).unwrap();
        assert_eq!(json["addresses"], serde_json::json!(["[2001:4860::1]:80"]));
        assert!(json.get("code").is_none() && json.get("reason").is_none());
        let names: Vec<_> = [
            EgressDecision::Allowed,
            EgressDecision::Refused,
            EgressDecision::Failed,
        ]
        .iter()
        .map(|d| serde_json::to_value(d).unwrap())
        .collect();
        assert_eq!(
            names,
            ["allowed", "refused", "failed"].map(serde_json::Value::from)
        );
    }
}
