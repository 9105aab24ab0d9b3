//! The entry point options that decide how requests are cleaned before routing.

#![cfg(test)]

use std::net::IpAddr;

fn entry_point(options: &str) -> portcullis_config::EntryPoint {
    let yaml = format!("entryPoints:\n  web:\n    address: \":8080\"\n{options}\n");
    let config = portcullis_config::load_str(&yaml).unwrap();
    config.static_config.entry_points[0].clone()
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn defaults_sanitize_paths_allow_websocket_and_trust_nobody() {
    let ep = entry_point("");
    assert!(ep.http.sanitize_path);
    assert_eq!(ep.http.allowed_upgrades, ["websocket"]);
    assert!(!ep.forwarded_headers.trusts(ip("127.0.0.1")));
}

#[test]
fn trusted_ips_take_addresses_and_ranges_in_either_family() {
    let ep = entry_point(
        "    forwardedHeaders: { trustedIPs: [\"10.0.0.0/8\", \"192.168.1.7\", \"::ffff:172.16.0.0/108\", \"fd00::/8\"] }",
    );
    let trusted = &ep.forwarded_headers;
    assert!(trusted.trusts(ip("10.1.2.3")));
    assert!(trusted.trusts(ip("::ffff:10.1.2.3")));
    assert!(trusted.trusts(ip("192.168.1.7")));
    assert!(!trusted.trusts(ip("192.168.1.8")));
    assert!(trusted.trusts(ip("172.16.5.5")));
    assert!(trusted.trusts(ip("fd00::1")));
    assert!(!trusted.trusts(ip("11.0.0.1")));
    let ep = entry_point("    forwardedHeaders: { insecure: true }");
    assert!(ep.forwarded_headers.trusts(ip("203.0.113.9")));
}

#[test]
fn allowed_upgrades_are_compared_in_lower_case() {
    let ep = entry_point("    http: { sanitizePath: false, allowedUpgrades: [WebSocket, Foo] }");
    assert!(!ep.http.sanitize_path);
    assert_eq!(ep.http.allowed_upgrades, ["websocket", "foo"]);
}
