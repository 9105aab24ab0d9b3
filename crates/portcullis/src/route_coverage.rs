//! Whether the URLs an OIDC middleware answers itself (`redirectUrl`, `loginUrl`, `logoutUrl`,
//! `backchannelLogoutUrl`) reach it.
//!
//! What it protects against, and how: the middleware only sees requests that a router carrying
//! it matched. A callback URL that no such router matches ends in a bare 404 after the user
//! signed in at the provider, with nothing logged that points at the cause. Each URL is turned
//! into the request the browser (or, for back-channel logout, the provider) will send, and the
//! rule of every router using the middleware is evaluated on it with the gateway's own matcher.
//!
//! No false alarms: a URL is reported only when every rule could be decided. A rule whose result
//! depends on what the configuration cannot tell (headers, query, client address, or the host
//! of a path-only URL matched by a `HostRegexp`) makes the URL "not checked", never "not
//! covered".

use std::net::{IpAddr, Ipv4Addr};

use http::{HeaderMap, Method};
use portcullis_config::plugin::common::ConfiguredUrl;
use portcullis_config::plugin::oidc::OidcConfig;
use portcullis_config::{DynamicConfig, RouterConfig};
use portcullis_rules::{RequestView, Rule, canonical_host, routing_path};

/// The host assumed for a path-only URL when the rule demands none.
const ANY_HOST: &str = "localhost";

/// Matchers whose result depends on the request beyond its method, host and path.
const UNDECIDABLE: &[&str] = &["Header", "HeaderRegexp", "Query", "QueryRegexp", "ClientIP"];

/// What the check found for one URL option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coverage {
    /// A router carrying the middleware matches the URL.
    Covered,
    /// No router carrying the middleware matches it, and every rule was decided.
    NotCovered { routers: Vec<String> },
    /// No rule matched, but some could not be decided.
    Unknown { routers: Vec<String> },
}

/// One URL option of a middleware and what the check found.
#[derive(Debug, Clone)]
pub struct UrlCoverage {
    /// The option's key (`redirectUrl`, ...).
    pub option: &'static str,
    /// The URL as configured (`/callback`, `auth.example.com/callback`, ...).
    pub url: String,
    pub coverage: Coverage,
}

/// Checks the URL options of the OIDC middleware `name` against the routers of `dynamic` that
/// carry it. A middleware no router uses is not checked (nothing reaches it anyway).
pub fn check(dynamic: &DynamicConfig, name: &str, oidc: &OidcConfig) -> Vec<UrlCoverage> {
    let routers: Vec<&RouterConfig> = dynamic
        .routers
        .iter()
        .filter(|r| r.middlewares.iter().any(|m| m == name))
        .collect();
    if routers.is_empty() {
        return Vec::new();
    }
    url_options(oidc)
        .into_iter()
        .map(|(option, url, methods)| UrlCoverage {
            option,
            url: shown(url),
            coverage: coverage_of(url, methods, &routers),
        })
        .collect()
}

/// The options to check, with the methods their requests use.
fn url_options(oidc: &OidcConfig) -> Vec<(&'static str, &ConfiguredUrl, &'static [Method])> {
    // The browser follows the provider's redirect with GET; the provider POSTs logout tokens;
    // the logout URL takes GET, POST or DELETE; the login URL any method.
    const GET: &[Method] = &[Method::GET];
    const POST: &[Method] = &[Method::POST];
    const LOGOUT: &[Method] = &[Method::GET, Method::POST, Method::DELETE];
    const LOGIN: &[Method] = &[Method::GET, Method::POST];
    let mut options = vec![("redirectUrl", &oidc.redirect_url, GET)];
    if let Some(url) = &oidc.login_url {
        options.push(("loginUrl", url, LOGIN));
    }
    if let Some(url) = &oidc.logout_url {
        options.push(("logoutUrl", url, LOGOUT));
    }
    if let Some(url) = &oidc.backchannel_logout_url {
        options.push(("backchannelLogoutUrl", url, POST));
    }
    options
}

fn coverage_of(url: &ConfiguredUrl, methods: &[Method], routers: &[&RouterConfig]) -> Coverage {
    let mut undecided = false;
    for router in routers {
        // A forward-auth router judges whatever request the proxy in front describes: its
        // rule matches the proxy's auth requests, not the URLs it answers for.
        if router.forward_auth.is_some() {
            return Coverage::Covered;
        }
        match router_matches(&router.rule, url, methods) {
            Some(true) => return Coverage::Covered,
            Some(false) => {}
            None => undecided = true,
        }
    }
    let routers = routers.iter().map(|r| r.name.clone()).collect();
    if undecided {
        Coverage::Unknown { routers }
    } else {
        Coverage::NotCovered { routers }
    }
}

/// `Some(true)`: the rule matches a request for `url`; `Some(false)`: it matches none of the
/// requests tried and its result depends on nothing else; `None`: it cannot be decided.
fn router_matches(rule: &Rule, url: &ConfiguredUrl, methods: &[Method]) -> Option<bool> {
    let facts = RuleFacts::of(rule);
    let Ok(path) = routing_path(url.path()) else {
        return None;
    };
    let (hosts, host_known) = match url {
        ConfiguredUrl::Path { .. } => {
            let mut hosts = facts.hosts.clone();
            hosts.push(ANY_HOST.to_owned());
            (hosts, false)
        }
        ConfiguredUrl::HostPath { authority, .. } | ConfiguredUrl::Absolute { authority, .. } => {
            let uri: http::Uri = format!("http://{authority}/").parse().ok()?;
            (vec![canonical_host(&uri, &HeaderMap::new())?], true)
        }
    };
    let headers = HeaderMap::new();
    for method in methods {
        for host in &hosts {
            let request = RequestView {
                method,
                host,
                path: &path,
                query: url.query(),
                headers: &headers,
                client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            };
            if rule.matches(&request) {
                return Some(true);
            }
        }
    }
    let decidable = !facts.uses_any(UNDECIDABLE) && (host_known || !facts.uses("HostRegexp"));
    decidable.then_some(false)
}

/// The URL as an operator wrote it.
fn shown(url: &ConfiguredUrl) -> String {
    let base = match url {
        ConfiguredUrl::Path { path, .. } => path.clone(),
        ConfiguredUrl::HostPath {
            authority, path, ..
        } => format!("{authority}{path}"),
        ConfiguredUrl::Absolute {
            https,
            authority,
            path,
            ..
        } => {
            let scheme = if *https { "https" } else { "http" };
            format!("{scheme}://{authority}{path}")
        }
    };
    match url.query() {
        Some(query) => format!("{base}?{query}"),
        None => base,
    }
}

/// What a rule's canonical text says about it: the matchers it uses and the hosts `Host`
/// names (a wildcard label replaced by a sample one).
#[derive(Debug, Default)]
struct RuleFacts {
    matchers: Vec<String>,
    hosts: Vec<String>,
}

impl RuleFacts {
    fn of(rule: &Rule) -> Self {
        // The canonical form names every matcher as Traefik spells it and quotes arguments as
        // Go literals, so a small scan suffices.
        let text = rule.to_string();
        let mut facts = RuleFacts::default();
        let mut chars = text.chars().peekable();
        let mut word = String::new();
        let mut current: Option<String> = None;
        while let Some(c) = chars.next() {
            match c {
                '`' => {
                    let literal: String = chars.by_ref().take_while(|&c| c != '`').collect();
                    facts.argument(current.as_deref(), literal);
                }
                '"' => {
                    let mut literal = String::new();
                    while let Some(c) = chars.next() {
                        match c {
                            '"' => break,
                            '\\' => literal.extend(chars.next()),
                            other => literal.push(other),
                        }
                    }
                    facts.argument(current.as_deref(), literal);
                }
                '(' if !word.is_empty() => {
                    facts.matchers.push(word.clone());
                    current = Some(std::mem::take(&mut word));
                }
                ')' => current = None,
                c if c.is_ascii_alphanumeric() || c == '_' => word.push(c),
                _ => word.clear(),
            }
        }
        facts
    }

    fn argument(&mut self, matcher: Option<&str>, literal: String) {
        if matcher != Some("Host") {
            return;
        }
        let host = if literal == "*" {
            ANY_HOST.to_owned()
        } else if let Some(rest) = literal.strip_prefix("*.") {
            format!("sample.{rest}")
        } else {
            literal
        };
        self.hosts.push(host.to_ascii_lowercase());
    }

    fn uses(&self, matcher: &str) -> bool {
        self.matchers.iter().any(|m| m == matcher)
    }

    fn uses_any(&self, matchers: &[&str]) -> bool {
        matchers.iter().any(|m| self.uses(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> ConfiguredUrl {
        ConfiguredUrl::parse(text).unwrap()
    }

    fn decide(rule: &str, target: &str) -> Option<bool> {
        router_matches(&Rule::parse(rule).unwrap(), &url(target), &[Method::GET])
    }

    #[test]
    fn path_rules_are_decided() {
        assert_eq!(decide("PathPrefix(`/`)", "/callback"), Some(true));
        assert_eq!(decide("PathPrefix(`/app`)", "/callback"), Some(false));
        assert_eq!(
            decide("PathPrefix(`/app`) || Path(`/callback`)", "/callback"),
            Some(true)
        );
        assert_eq!(decide("!Path(`/callback`)", "/callback"), Some(false));
    }

    #[test]
    fn a_path_only_url_takes_the_host_the_rule_demands() {
        assert_eq!(decide("Host(`app.test`)", "/callback"), Some(true));
        assert_eq!(decide("Host(`*.app.test`)", "/callback"), Some(true));
        assert_eq!(
            decide("Host(`app.test`) && PathPrefix(`/x`)", "/callback"),
            Some(false)
        );
    }

    #[test]
    fn a_url_with_a_host_is_matched_on_that_host() {
        assert_eq!(
            decide("Host(`app.test`)", "other.test/callback"),
            Some(false)
        );
        assert_eq!(
            decide("Host(`app.test`)", "https://APP.test:8443/callback"),
            Some(true)
        );
        assert_eq!(
            decide("HostRegexp(`^.+\\.test$`)", "app.test/callback"),
            Some(true)
        );
    }

    #[test]
    fn what_the_configuration_cannot_tell_is_not_decided() {
        assert_eq!(decide("HostRegexp(`^app\\.`)", "/callback"), None);
        assert_eq!(decide("Header(`X-A`, `1`)", "/callback"), None);
        assert_eq!(decide("ClientIP(`10.0.0.0/8`)", "/callback"), None);
        assert_eq!(decide("Query(`a`, `b`)", "/callback"), None);
        // A match is a match, whatever else the rule uses.
        assert_eq!(
            decide("Path(`/callback`) || Header(`X-A`, `1`)", "/callback"),
            Some(true)
        );
    }

    #[test]
    fn methods_are_those_of_the_request() {
        let rule = Rule::parse("Method(`GET`) && PathPrefix(`/`)").unwrap();
        assert_eq!(
            router_matches(&rule, &url("/bc"), &[Method::POST]),
            Some(false)
        );
        assert_eq!(
            router_matches(&rule, &url("/out"), &[Method::POST, Method::GET]),
            Some(true)
        );
    }

    #[test]
    fn a_forward_auth_router_covers_every_url() {
        let config = portcullis_config::load_str(
            r#"
entryPoints:
  web:
    address: "127.0.0.1:0"
    forwardedHeaders: { trustedIPs: ["127.0.0.1"] }
http:
  routers:
    auth: { rule: "Path(`/_auth`)", middlewares: [oidc], service: s, forwardAuth: {} }
  middlewares:
    oidc:
      plugin:
        oidc: { issuer: "http://127.0.0.1:9", clientID: c, clientSecret: s, redirectUrl: /callback,
                logoutUrl: other.test/logout }
  services:
    s: { loadBalancer: { servers: [{ url: "http://127.0.0.1:9" }] } }
"#,
        )
        .unwrap();
        let Some(portcullis_config::MiddlewareConfig::Plugin(
            portcullis_config::plugin::PluginConfig::Oidc(oidc),
        )) = config.dynamic.middlewares.get("oidc")
        else {
            panic!("an OIDC middleware")
        };
        let found = check(&config.dynamic, "oidc", oidc);
        assert_eq!(found.len(), 2);
        assert!(found.iter().all(|url| url.coverage == Coverage::Covered));
    }

    #[test]
    fn quoted_host_arguments_are_read() {
        let facts = RuleFacts::of(&Rule::parse("Path(\"/a`b(\") && Host(`C.test`)").unwrap());
        assert_eq!(facts.hosts, vec!["c.test"]);
        assert_eq!(facts.matchers, vec!["Path", "Host"]);
    }
}
