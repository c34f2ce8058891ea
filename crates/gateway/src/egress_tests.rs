use super::*;

fn class(ip: &str) -> Option<AddressClass> {
    classify(ip.parse().unwrap())
}

#[test]
fn every_internal_ipv4_range_is_refused_with_its_class() {
    use AddressClass as C;
    for (ip, expected) in [
        ("0.0.0.0", C::Unspecified),
        ("0.1.2.3", C::Unspecified),
        ("127.0.0.1", C::Loopback),
        ("127.255.255.254", C::Loopback),
        ("10.0.0.1", C::Private),
        ("10.255.255.255", C::Private),
        ("172.16.0.1", C::Private),
        ("172.31.255.255", C::Private),
        ("192.168.1.1", C::Private),
        ("100.64.0.1", C::SharedAddressSpace),
        ("100.127.255.255", C::SharedAddressSpace),
        ("169.254.169.254", C::LinkLocal),
        ("224.0.0.1", C::Multicast),
        ("239.255.255.250", C::Multicast),
        ("255.255.255.255", C::Broadcast),
        ("192.0.2.1", C::Documentation),
        ("198.51.100.7", C::Documentation),
        ("203.0.113.9", C::Documentation),
        ("198.18.0.1", C::Benchmarking),
        ("198.19.255.255", C::Benchmarking),
        ("192.0.0.8", C::Reserved),
        ("240.0.0.1", C::Reserved),
        ("255.255.255.254", C::Reserved),
    ] {
        assert_eq!(class(ip), Some(expected), "{ip}");
    }
}

#[test]
fn public_ipv4_addresses_next_to_internal_ranges_pass() {
    for ip in [
        "1.1.1.1",
        "8.8.8.8",
        "9.255.255.255",
        "11.0.0.0",
        "172.15.255.255",
        "172.32.0.0",
        "192.167.255.255",
        "192.169.0.0",
        "100.63.255.255",
        "100.128.0.0",
        "169.253.255.255",
        "198.17.255.255",
        "198.20.0.0",
        "223.255.255.255",
        "126.255.255.255",
        "128.0.0.0",
    ] {
        assert_eq!(class(ip), None, "{ip}");
    }
}

#[test]
fn every_internal_ipv6_range_is_refused_with_its_class() {
    use AddressClass as C;
    for (ip, expected) in [
        ("::", C::Unspecified),
        ("::1", C::Loopback),
        ("fc00::1", C::UniqueLocal),
        ("fd00::1", C::UniqueLocal),
        ("fdff:ffff::1", C::UniqueLocal),
        ("fe80::1", C::LinkLocal),
        ("febf::1", C::LinkLocal),
        ("fec0::1", C::Private),
        ("ff02::1", C::Multicast),
        ("ff0e::1", C::Multicast),
        ("2001:db8::1", C::Documentation),
        ("64:ff9b:1::1", C::Private),
    ] {
        assert_eq!(class(ip), Some(expected), "{ip}");
    }
}

/// The IPv4 address inside an IPv6 one decides: that is where the
/// packets go.
#[test]
fn ipv6_forms_carrying_ipv4_are_judged_by_the_ipv4_inside() {
    use AddressClass as C;
    for (ip, expected) in [
        ("::ffff:127.0.0.1", Some(C::Loopback)),
        ("::ffff:7f00:1", Some(C::Loopback)),
        ("::ffff:10.1.2.3", Some(C::Private)),
        ("::ffff:169.254.169.254", Some(C::LinkLocal)),
        ("::ffff:0.0.0.0", Some(C::Unspecified)),
        ("::127.0.0.1", Some(C::Loopback)),
        ("::192.168.0.1", Some(C::Private)),
        ("64:ff9b::127.0.0.1", Some(C::Loopback)),
        ("64:ff9b::a00:1", Some(C::Private)),
        ("2002:7f00:1::", Some(C::Loopback)),
        ("2002:c0a8:101::1", Some(C::Private)),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::808:808", None),
        ("2002:808:808::1", None),
    ] {
        assert_eq!(class(ip), expected, "{ip}");
    }
}

#[test]
fn public_ipv6_addresses_pass() {
    for ip in [
        "2606:4700:4700::1111",
        "2a00:1450:4001::200e",
        "fbff::1",
        "fe7f::1",
    ] {
        assert_eq!(class(ip), None, "{ip}");
    }
}

/// The names are published in error messages and records.
#[test]
fn class_names_are_stable() {
    use AddressClass as C;
    let all = [
        C::Unspecified,
        C::Loopback,
        C::Private,
        C::SharedAddressSpace,
        C::LinkLocal,
        C::UniqueLocal,
        C::Multicast,
        C::Broadcast,
        C::Documentation,
        C::Benchmarking,
        C::Reserved,
    ];
    let names: Vec<String> = all
        .iter()
        .map(|c| {
            serde_json::to_value(c)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        names,
        [
            "unspecified",
            "loopback",
            "private",
            "shared_address_space",
            "link_local",
            "unique_local",
            "multicast",
            "broadcast",
            "documentation",
            "benchmarking",
            "reserved",
        ]
    );
    for c in all {
        assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
    }
}

/// One internal address among public ones refuses the name: the
/// connector could pick any of them.
#[test]
fn one_internal_address_refuses_the_whole_name() {
    let rules = EgressRules::default();
    let addresses: Vec<IpAddr> = vec!["8.8.8.8".parse().unwrap(), "10.0.0.1".parse().unwrap()];
    let refused = rules.check("mixed.example", &addresses).unwrap_err();
    assert_eq!(refused.address, addresses[1]);
    assert_eq!(refused.class, AddressClass::Private);
    assert_eq!(refused.host, "mixed.example");
    assert!(rules.check("public.example", &addresses[..1]).is_ok());
}

/// Only the hosts the operator names reach internal addresses, written
/// in any case, with or without IPv6 brackets.
#[test]
fn named_hosts_alone_may_reach_internal_addresses() {
    let rules = EgressRules::allowing_private(["Build.Internal", "[::1]"]);
    let loopback: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap()];
    assert!(rules.check("build.internal", &loopback).is_ok());
    assert!(rules.check("build.internal.", &loopback).is_ok());
    assert!(rules.check("::1", &["::1".parse().unwrap()]).is_ok());
    assert!(rules.check("other.internal", &loopback).is_err());
    assert!(
        EgressRules::default()
            .check("build.internal", &loopback)
            .is_err()
    );
}

#[tokio::test]
async fn names_resolving_inside_are_refused_after_resolution() {
    let rules = EgressRules::default();
    match rules.resolve("localhost").await {
        Err(ResolveError::Refused(refused)) => {
            assert_eq!(refused.host, "localhost");
            assert_eq!(refused.class, AddressClass::Loopback);
        }
        other => panic!("localhost was not refused: {other:?}"),
    }
    match rules.resolve("[::ffff:127.0.0.1]").await {
        Err(ResolveError::Refused(refused)) => assert_eq!(refused.class, AddressClass::Loopback),
        other => panic!("mapped loopback was not refused: {other:?}"),
    }
    let allowed = EgressRules::allowing_private(["localhost"]);
    let addresses = allowed.resolve("localhost").await.unwrap();
    assert!(addresses.iter().all(|a| a.ip().is_loopback()));
}
