//! Which addresses an outbound call may reach.
//!
//! A deny-list of host names cannot keep a call off the internal network:
//! `10.0.0.5`, `[::ffff:127.0.0.1]`, `2130706433` and any public name whose
//! DNS record points inside all pass it. So the decision is taken on the
//! address, after resolution, by the gateway itself: a name is resolved
//! here, every address it resolves to is classified, and the call is
//! refused if any one of them is internal (a name with one public and one
//! private record could otherwise be steered to the private one). The
//! addresses checked are the ones handed to the connector, so nothing is
//! looked up again between the check and the connection and DNS rebinding
//! has no second answer to give.
//!
//! An operator may name hosts whose internal addresses are reachable
//! (`allow_private_hosts`, empty by default); that is the only way in.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use serde::Serialize;

use crate::facts::normalize_host;

/// Why an address is refused. The names are stable: they appear in error
/// messages and call records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressClass {
    /// `0.0.0.0/8`, `::`: "this host", which connects to the local machine.
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// `10/8`, `172.16/12`, `192.168/16`, and the deprecated site-local
    /// `fec0::/10`.
    Private,
    /// `100.64/10`: carrier-grade NAT, the provider's internal network.
    SharedAddressSpace,
    /// `169.254/16` (cloud metadata lives here), `fe80::/10`.
    LinkLocal,
    /// `fc00::/7`.
    UniqueLocal,
    /// `224/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `192.0.2/24`, `198.51.100/24`, `203.0.113/24`, `2001:db8::/32`:
    /// never routed, so a call to one is a mistake or a probe.
    Documentation,
    /// `198.18/15`: network benchmarking, often used inside labs.
    Benchmarking,
    /// `192.0.0/24`, `240/4` and other ranges no public host uses.
    Reserved,
}

impl AddressClass {
    /// The stable name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            AddressClass::Unspecified => "unspecified",
            AddressClass::Loopback => "loopback",
            AddressClass::Private => "private",
            AddressClass::SharedAddressSpace => "shared_address_space",
            AddressClass::LinkLocal => "link_local",
            AddressClass::UniqueLocal => "unique_local",
            AddressClass::Multicast => "multicast",
            AddressClass::Broadcast => "broadcast",
            AddressClass::Documentation => "documentation",
            AddressClass::Benchmarking => "benchmarking",
            AddressClass::Reserved => "reserved",
        }
    }
}

impl std::fmt::Display for AddressClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The class that makes `ip` unreachable, or `None` for a public address.
/// IPv6 forms that carry an IPv4 address (mapped, compatible, NAT64,
/// 6to4) are judged by the IPv4 address inside, since that is where the
/// packets end up.
pub fn classify(ip: IpAddr) -> Option<AddressClass> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<AddressClass> {
    let [a, b, c, _] = ip.octets();
    let class = match (a, b, c) {
        (0, ..) => AddressClass::Unspecified,
        (127, ..) => AddressClass::Loopback,
        (10, ..) | (172, 16..=31, _) | (192, 168, _) => AddressClass::Private,
        (100, 64..=127, _) => AddressClass::SharedAddressSpace,
        (169, 254, _) => AddressClass::LinkLocal,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => AddressClass::Documentation,
        (198, 18..=19, _) => AddressClass::Benchmarking,
        (224..=239, ..) => AddressClass::Multicast,
        _ if ip == Ipv4Addr::BROADCAST => AddressClass::Broadcast,
        (192, 0, 0) | (240..=255, ..) => AddressClass::Reserved,
        _ => return None,
    };
    Some(class)
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressClass> {
    let s = ip.segments();
    if ip.is_unspecified() {
        return Some(AddressClass::Unspecified);
    }
    if ip.is_loopback() {
        return Some(AddressClass::Loopback);
    }
    let embedded = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated).
    if s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0) {
        return classify_v4(embedded(s[6], s[7]));
    }
    // 64:ff9b::/96, the well-known NAT64 prefix.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return classify_v4(embedded(s[6], s[7]));
    }
    // 64:ff9b:1::/48, NAT64 for local use only.
    if s[..3] == [0x64, 0xff9b, 1] {
        return Some(AddressClass::Private);
    }
    // 2002::/16, 6to4: the IPv4 address is in bits 16 to 48.
    if s[0] == 0x2002 {
        return classify_v4(embedded(s[1], s[2]));
    }
    let class = match s[0] {
        0xfc00..=0xfdff => AddressClass::UniqueLocal,
        0xfe80..=0xfebf => AddressClass::LinkLocal,
        0xfec0..=0xfeff => AddressClass::Private,
        0xff00..=0xffff => AddressClass::Multicast,
        0x2001 if s[1] == 0x0db8 => AddressClass::Documentation,
        _ => return None,
    };
    Some(class)
}

/// A call refused because of where it would go.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("egress to '{host}' refused: {address} is a {class} address")]
pub struct Refused {
    /// The host as the URL names it.
    pub host: String,
    /// The first refused address it resolved to.
    pub address: IpAddr,
    /// Why that address is refused.
    pub class: AddressClass,
}

/// A host name could not be resolved.
#[derive(Debug, thiserror::Error)]
#[error("cannot resolve '{host}': {reason}")]
pub struct Unresolved {
    /// The host.
    pub host: String,
    /// What the system resolver said.
    pub reason: String,
}

/// The egress rules for one tool: public addresses only, except on the
/// hosts the operator named.
#[derive(Debug, Clone, Default)]
pub struct EgressRules {
    allow_private: Arc<BTreeSet<String>>,
}

impl EgressRules {
    /// Rules that let `hosts` (host names or IP literals, compared without
    /// case and without IPv6 brackets) reach internal addresses.
    pub fn allowing_private<I, S>(hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self {
            allow_private: Arc::new(
                hosts
                    .into_iter()
                    .map(|h| normalize_host(h.as_ref()))
                    .collect(),
            ),
        }
    }

    /// `Err` when `host` may not reach any of `addresses`; the first
    /// refused address is named.
    pub fn check(&self, host: &str, addresses: &[IpAddr]) -> Result<(), Refused> {
        let host = normalize_host(host);
        if self.allow_private.contains(&host) {
            return Ok(());
        }
        for &address in addresses {
            if let Some(class) = classify(address) {
                return Err(Refused {
                    host,
                    address,
                    class,
                });
            }
        }
        Ok(())
    }

    /// Resolves `host` with the system resolver and returns its addresses
    /// (port 0) if every one of them may be reached.
    pub async fn resolve(&self, host: &str) -> Result<Vec<SocketAddr>, ResolveError> {
        let name = normalize_host(host);
        let addresses: Vec<SocketAddr> = match name.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, 0)],
            Err(_) => tokio::net::lookup_host((name.as_str(), 0))
                .await
                .map_err(|e| {
                    ResolveError::Unresolved(Unresolved {
                        host: name.clone(),
                        reason: e.to_string(),
                    })
                })?
                .collect(),
        };
        if addresses.is_empty() {
            return Err(ResolveError::Unresolved(Unresolved {
                host: name,
                reason: "no address".to_owned(),
            }));
        }
        let ips: Vec<IpAddr> = addresses.iter().map(SocketAddr::ip).collect();
        self.check(&name, &ips).map_err(ResolveError::Refused)?;
        Ok(addresses)
    }
}

/// Resolving a host for a call failed or was refused.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The name does not resolve.
    #[error(transparent)]
    Unresolved(Unresolved),
    /// It resolves to an address the call may not reach.
    #[error(transparent)]
    Refused(Refused),
}

/// The resolver `http.request`'s client connects through: every name it
/// is asked for is resolved and checked here, and only checked addresses
/// reach the connector.
#[derive(Debug, Clone, Default)]
pub struct CheckedResolver {
    rules: EgressRules,
}

impl CheckedResolver {
    /// A resolver enforcing `rules`.
    pub fn new(rules: EgressRules) -> Self {
        Self { rules }
    }
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let rules = self.rules.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addresses = rules.resolve(&host).await?;
            let addrs: reqwest::dns::Addrs = Box::new(addresses.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
#[path = "egress_tests.rs"]
mod tests;
