//! Resolving the URL options (`redirectUrl`, `loginUrl`, `logoutUrl`, `postLoginRedirectUrl`,
//! `postLogoutRedirectUrl`, `backchannelLogoutUrl`) against a request, and recognising a
//! request aimed at one of them.
//!
//! A path inherits the request's scheme and host; a host and a path inherit the scheme; an
//! absolute URL is used as it is (the three tables of the reference). Matching compares the
//! host (when the option names one) and the exact path; the query is ignored, as in the
//! reference implementation.

use portcullis_config::plugin::common::ConfiguredUrl;

use crate::oidc::request::OidcRequest;

/// The absolute URL an option designates for this request.
pub fn resolve(url: &ConfiguredUrl, request: &OidcRequest) -> String {
    let with_query = |base: String| match url.query() {
        Some(query) => format!("{base}?{query}"),
        None => base,
    };
    match url {
        ConfiguredUrl::Path { path, .. } => with_query(format!("{}{path}", request.origin())),
        ConfiguredUrl::HostPath {
            authority, path, ..
        } => with_query(format!("{}://{authority}{path}", request.scheme())),
        ConfiguredUrl::Absolute {
            https,
            authority,
            path,
            ..
        } => {
            let scheme = if *https { "https" } else { "http" };
            with_query(format!("{scheme}://{authority}{path}"))
        }
    }
}

/// True when the request is aimed at the option's URL.
pub fn matches(url: &ConfiguredUrl, request: &OidcRequest) -> bool {
    match url {
        ConfiguredUrl::Path { path, .. } => request.path == *path,
        ConfiguredUrl::HostPath {
            authority, path, ..
        }
        | ConfiguredUrl::Absolute {
            authority, path, ..
        } => request.authority == *authority && request.path == *path,
    }
}

#[cfg(test)]
mod tests {
    use http::{Method, Request};
    use portcullis_proxy::middleware::{RequestContext, Scheme};

    use super::*;

    fn view(url: &str) -> OidcRequest {
        let uri: http::Uri = url.parse().unwrap();
        let https = uri.scheme_str() == Some("https");
        let request = Request::builder()
            .method(Method::GET)
            .uri(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"))
            .header("host", uri.authority().unwrap().as_str())
            .body(())
            .unwrap();
        let ctx = RequestContext::new(
            "127.0.0.1:1".parse().unwrap(),
            if https { Scheme::Https } else { Scheme::Http },
            "web".into(),
            "r".into(),
        );
        OidcRequest::new(&request, &ctx).unwrap()
    }

    fn configured(text: &str) -> ConfiguredUrl {
        ConfiguredUrl::parse(text).unwrap()
    }

    #[test]
    fn the_three_tables_of_the_reference() {
        // Inherit the protocol and domain from the request and use the path.
        assert_eq!(
            resolve(&configured("/cback"), &view("http://expl.co")),
            "http://expl.co/cback"
        );
        // Inherit the protocol from the request and use the domain and path.
        assert_eq!(
            resolve(&configured("expl.co/cback"), &view("https://scur.co")),
            "https://expl.co/cback"
        );
        // Replace the request URL with the absolute URL.
        assert_eq!(
            resolve(
                &configured("http://expl.co/cback"),
                &view("https://scur.co")
            ),
            "http://expl.co/cback"
        );
    }

    #[test]
    fn ports_and_queries_are_kept() {
        assert_eq!(
            resolve(&configured("/cb?x=1"), &view("http://app.test:8080/page")),
            "http://app.test:8080/cb?x=1"
        );
        assert_eq!(
            resolve(&configured("/cb"), &view("https://app.test:443/page")),
            "https://app.test/cb"
        );
    }

    #[test]
    fn matching_compares_host_and_path_only() {
        assert!(matches(
            &configured("/callback"),
            &view("http://any.host/callback?code=1")
        ));
        assert!(!matches(
            &configured("/callback"),
            &view("http://any.host/callback/x")
        ));
        assert!(matches(
            &configured("expl.co/cb"),
            &view("https://expl.co/cb")
        ));
        assert!(!matches(
            &configured("expl.co/cb"),
            &view("https://other.co/cb")
        ));
        assert!(matches(
            &configured("https://expl.co/cb"),
            &view("http://EXPL.co/cb")
        ));
        assert!(!matches(
            &configured("https://expl.co:8443/cb"),
            &view("https://expl.co/cb")
        ));
    }
}
