//! Telling a browser navigation from an API call, to choose between a redirect to the provider
//! and a 401.
//!
//! Only a top-level navigation can follow a redirect to a login page and come back; a `fetch`
//! or XHR call cannot use one (and a POST body would be lost on the way), so those get a 401 the
//! application can act on. A navigation is a GET or HEAD whose `Sec-Fetch-Mode` is absent or
//! `navigate`, without `X-Requested-With: XMLHttpRequest`, whose `Accept` admits HTML (absent,
//! `*/*`, `text/*` or `text/html` with a non-zero quality).

use http::{HeaderMap, Method};

/// True when the request looks like a browser navigation that may be redirected to log in.
pub fn is_navigation(method: &Method, headers: &HeaderMap) -> bool {
    if method != Method::GET && method != Method::HEAD {
        return false;
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header("sec-fetch-mode").is_some_and(|mode| !mode.trim().eq_ignore_ascii_case("navigate")) {
        return false;
    }
    if header("x-requested-with").is_some_and(|v| v.trim().eq_ignore_ascii_case("XMLHttpRequest")) {
        return false;
    }
    let accepts: Vec<&str> = headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    accepts.is_empty() || accepts.iter().any(|accept| admits_html(accept))
}

fn admits_html(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let zero_quality = parts.any(|param| {
            param
                .trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        !zero_quality && matches!(media.as_str(), "*/*" | "text/*" | "text/html")
    })
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn navigations_are_recognised() {
        let browser = headers(&[
            (
                "accept",
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            ),
            ("sec-fetch-mode", "navigate"),
        ]);
        assert!(is_navigation(&Method::GET, &browser));
        assert!(is_navigation(&Method::HEAD, &browser));
        // curl: Accept */* and no fetch metadata.
        assert!(is_navigation(&Method::GET, &headers(&[("accept", "*/*")])));
        assert!(is_navigation(&Method::GET, &HeaderMap::new()));
        assert!(is_navigation(
            &Method::GET,
            &headers(&[("accept", "text/*")])
        ));
    }

    #[test]
    fn api_calls_are_not_navigations() {
        assert!(!is_navigation(&Method::POST, &HeaderMap::new()));
        assert!(!is_navigation(&Method::DELETE, &HeaderMap::new()));
        assert!(!is_navigation(
            &Method::GET,
            &headers(&[("accept", "application/json")])
        ));
        assert!(!is_navigation(
            &Method::GET,
            &headers(&[("sec-fetch-mode", "cors")])
        ));
        assert!(!is_navigation(
            &Method::GET,
            &headers(&[("sec-fetch-mode", "no-cors")])
        ));
        assert!(!is_navigation(
            &Method::GET,
            &headers(&[("x-requested-with", "XMLHttpRequest")])
        ));
        assert!(!is_navigation(
            &Method::GET,
            &headers(&[("accept", "text/html;q=0")])
        ));
    }
}
