//! Traefik's `ipStrategy` and `sourceCriterion`: which address, header or host a request is
//! taken to come from.
//!
//! Protects `ipAllowList` and the limiters against clients that claim another address. Without
//! a strategy the TCP peer is used, which no client can forge. `depth` and `excludedIPs` read
//! `X-Forwarded-For`, which the gateway only keeps from trusted proxies (entry point
//! `forwardedHeaders.trustedIPs`); from anyone else it holds just the peer, which the gateway
//! appended. Traefik appends the peer only after its middlewares ran, so that last entry is set
//! aside here and `depth: 1` names the address the nearest trusted proxy saw, as in Traefik.

use std::net::{IpAddr, Ipv6Addr};

use http::{HeaderMap, header};
use portcullis_config::middleware_traffic::{IpStrategy, SourceCriterion};

use crate::forwarding::X_FORWARDED_FOR;
use crate::middleware::RequestContext;

/// The `X-Forwarded-For` entries as received, the gateway's own appended peer set aside.
fn received_forwarded_for(headers: &HeaderMap, peer: IpAddr) -> Vec<String> {
    let mut entries: Vec<String> = headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_owned())
        .collect();
    if entries
        .last()
        .is_some_and(|last| last.parse::<IpAddr>().ok() == Some(peer.to_canonical()))
    {
        entries.pop();
    }
    entries
}

/// The first address of `ip`'s subnet of `bits` bits, when `ip` is IPv6.
pub(super) fn to_subnet(ip: IpAddr, bits: Option<u8>) -> IpAddr {
    match (ip, bits) {
        (IpAddr::V6(v6), Some(bits)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
        }
        _ => ip,
    }
}

/// The client address by `strategy`, as text (`""` when there is none, as in Traefik).
pub fn client_ip(strategy: &IpStrategy, headers: &HeaderMap, peer: IpAddr) -> String {
    let peer = peer.to_canonical();
    if strategy.depth > 0 {
        let entries = received_forwarded_for(headers, peer);
        let Some(index) = entries.len().checked_sub(strategy.depth) else {
            return String::new();
        };
        let chosen = entries.get(index).cloned().unwrap_or_default();
        return match chosen.parse::<IpAddr>() {
            Ok(ip) => to_subnet(ip.to_canonical(), strategy.ipv6_subnet).to_string(),
            Err(_) => chosen,
        };
    }
    if !strategy.excluded.is_empty() {
        let entries = received_forwarded_for(headers, peer);
        return entries
            .iter()
            .rev()
            .filter(|e| !e.is_empty())
            .find(|e| {
                !e.parse::<IpAddr>()
                    .is_ok_and(|ip| strategy.excluded.iter().any(|n| n.contains(&ip)))
            })
            .cloned()
            .unwrap_or_default();
    }
    to_subnet(peer, strategy.ipv6_subnet).to_string()
}

/// The source key of a request by `criterion`.
pub fn source(criterion: &SourceCriterion, headers: &HeaderMap, ctx: &RequestContext) -> String {
    match criterion {
        SourceCriterion::Ip(strategy) => client_ip(strategy, headers, ctx.client_addr.ip()),
        SourceCriterion::RequestHeader(name) => headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default(),
        SourceCriterion::RequestHost => headers
            .get(header::HOST)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const PEER: &str = "192.0.2.9";

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        // What the gateway forwards: a trusted proxy's chain with the peer appended.
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_str(&format!("{xff}, {PEER}")).unwrap(),
        );
        h
    }

    fn depth(depth: usize) -> IpStrategy {
        IpStrategy {
            depth,
            ..IpStrategy::default()
        }
    }

    fn excluded(ranges: &[&str]) -> IpStrategy {
        IpStrategy {
            excluded: ranges
                .iter()
                .map(|r| ipnet::IpNet::from(r.parse::<IpAddr>().unwrap()))
                .collect(),
            ..IpStrategy::default()
        }
    }

    #[test]
    fn depth_counts_from_the_right_of_what_the_proxy_sent_as_traefik_documents() {
        let h = headers("10.0.0.1,11.0.0.1,12.0.0.1,13.0.0.1");
        let peer = PEER.parse().unwrap();
        assert_eq!(client_ip(&depth(1), &h, peer), "13.0.0.1");
        assert_eq!(client_ip(&depth(2), &h, peer), "12.0.0.1");
        assert_eq!(client_ip(&depth(3), &h, peer), "11.0.0.1");
        assert_eq!(client_ip(&depth(5), &h, peer), "");
    }

    #[test]
    fn excluded_ips_pick_the_first_address_from_the_right_not_excluded() {
        let h = headers("10.0.0.1,11.0.0.1,12.0.0.1,13.0.0.1");
        let peer = PEER.parse().unwrap();
        let table = [
            (&["12.0.0.1", "13.0.0.1"][..], "11.0.0.1"),
            (&["15.0.0.1", "13.0.0.1"][..], "12.0.0.1"),
            (&["10.0.0.1", "13.0.0.1"][..], "12.0.0.1"),
            (&["15.0.0.1", "16.0.0.1"][..], "13.0.0.1"),
        ];
        for (ranges, expected) in table {
            assert_eq!(
                client_ip(&excluded(ranges), &h, peer),
                expected,
                "{ranges:?}"
            );
        }
        let h = headers("10.0.0.1,11.0.0.1");
        assert_eq!(
            client_ip(&excluded(&["10.0.0.1", "11.0.0.1"]), &h, peer),
            ""
        );
    }

    #[test]
    fn ipv6_subnet_reduces_the_address_as_traefik_documents() {
        let peer: IpAddr = "::abcd:1111:2222:3333".parse().unwrap();
        let mut strategy = IpStrategy::default();
        for (bits, expected) in [(64, "::"), (80, "::abcd:0:0:0"), (96, "::abcd:1111:0:0")] {
            strategy.ipv6_subnet = Some(bits);
            assert_eq!(client_ip(&strategy, &HeaderMap::new(), peer), expected);
        }
        // IPv4 stays as it is.
        assert_eq!(
            client_ip(&strategy, &HeaderMap::new(), "10.1.2.3".parse().unwrap()),
            "10.1.2.3"
        );
    }

    #[test]
    fn without_a_strategy_the_peer_is_used_whatever_the_headers_say() {
        let h = headers("6.6.6.6");
        assert_eq!(
            client_ip(
                &IpStrategy::default(),
                &h,
                "::ffff:10.0.0.7".parse().unwrap()
            ),
            "10.0.0.7"
        );
    }

    #[test]
    fn an_untrusted_client_has_no_forwarded_address_for_depth() {
        // From an untrusted client the gateway forwards only the peer.
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static(PEER));
        assert_eq!(client_ip(&depth(1), &h, PEER.parse().unwrap()), "");
    }
}
