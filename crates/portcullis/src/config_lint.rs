//! Mistakes in a configuration that validates but cannot work as meant, found without network:
//! OIDC URLs no router carrying the middleware matches (errors: the user lands on a 404 after
//! signing in), and issuers written with a trailing slash (warnings: most providers publish the
//! issuer without it, and discovery compares it exactly).
//!
//! `portcullis check`, the start of the gateway and every reload of the files run it; an error
//! refuses the start or the reload like any other configuration error.

use portcullis_config::plugin::PluginConfig;
use portcullis_config::{Config, MiddlewareConfig};

use crate::route_coverage::{self, Coverage};

/// What the lint found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Findings {
    /// Mistakes that make the configuration unusable as written.
    pub errors: Vec<String>,
    /// Likely mistakes that may be intended, or that could not be checked.
    pub warnings: Vec<String>,
}

/// Lints the routers and middlewares of the files (Kubernetes resources are not known here).
pub fn lint(config: &Config) -> Findings {
    let mut findings = Findings::default();
    // A route from Kubernetes may use a middleware of the files too and cover its URLs.
    let kubernetes = config.static_config.kubernetes.is_some();
    let dynamic = &config.dynamic;
    for (name, middleware) in &dynamic.middlewares {
        // Middlewares from Kubernetes are checked when they arrive, with their own routes.
        if dynamic.namespace_of(name).is_some() {
            continue;
        }
        let MiddlewareConfig::Plugin(PluginConfig::Oidc(oidc)) = middleware else {
            continue;
        };
        let path = format!("http.middlewares.{name}.plugin.oidc");
        if oidc.issuer.ends_with('/') {
            findings.warnings.push(format!(
                "{path}.issuer: {} ends with '/': most providers publish their issuer without it, \
                 and discovery refuses an issuer that differs in any character (a 502 at the \
                 first login); keep the slash only if the provider's discovery document has it \
                 (`portcullis check --online` tells)",
                oidc.issuer
            ));
        }
        for url in route_coverage::check(dynamic, name, oidc) {
            let at = format!("{path}.{}", url.option);
            match url.coverage {
                Coverage::Covered => {}
                Coverage::NotCovered { routers } => {
                    let message = format!(
                        "{at}: {} is not matched by any router that uses this middleware (routers: {})",
                        url.url,
                        routers.join(", ")
                    );
                    if kubernetes {
                        findings.warnings.push(format!(
                            "{message}; unless a Kubernetes route using it matches it, requests to it get 404"
                        ));
                    } else {
                        findings.errors.push(message);
                    }
                }
                Coverage::Unknown { routers } => findings.warnings.push(format!(
                    "{at}: cannot tell whether {} is matched by a router that uses this middleware (routers: {}): their rules depend on headers, query, client address or a host pattern",
                    url.url,
                    routers.join(", ")
                )),
            }
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIN: &str = "entryPoints:\n  web: { address: \"127.0.0.1:0\" }\n";

    fn config(rule: &str, oidc: &str) -> Config {
        let yaml = format!(
            "{MAIN}http:\n  routers:\n    app: {{ rule: \"{rule}\", middlewares: [login], service: app }}\n  \
             services:\n    app: {{ loadBalancer: {{ servers: [{{ url: \"http://127.0.0.1:9\" }}] }} }}\n  \
             middlewares:\n    login:\n      plugin:\n        oidc:\n          \
             clientID: c\n          clientSecret: s\n{oidc}"
        );
        portcullis_config::load_str(&yaml).unwrap()
    }

    const BASE: &str = "          issuer: https://idp.test\n          redirectUrl: /callback\n";

    #[test]
    fn a_covered_configuration_has_no_findings() {
        assert_eq!(lint(&config("PathPrefix(`/`)", BASE)), Findings::default());
    }

    #[test]
    fn an_uncovered_callback_is_an_error_with_its_path() {
        let findings = lint(&config("PathPrefix(`/app`)", BASE));
        assert_eq!(
            findings.errors,
            vec![
                "http.middlewares.login.plugin.oidc.redirectUrl: /callback is not matched by any router that uses this middleware (routers: app)"
            ]
        );
    }

    #[test]
    fn a_trailing_slash_on_the_issuer_is_a_warning() {
        let findings = lint(&config(
            "PathPrefix(`/`)",
            "          issuer: https://idp.test/\n          redirectUrl: /callback\n",
        ));
        assert!(findings.errors.is_empty());
        assert_eq!(findings.warnings.len(), 1);
        assert!(findings.warnings[0].starts_with("http.middlewares.login.plugin.oidc.issuer:"));
    }
}
