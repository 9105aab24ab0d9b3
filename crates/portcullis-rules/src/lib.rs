//! Router rules of the Portcullis gateway, in Traefik v3 syntax.
//!
//! ```
//! use portcullis_rules::{RequestView, Rule};
//!
//! let rule = Rule::parse("Host(`api.example.com`) && PathPrefix(`/v1`)").unwrap();
//! let headers = http::HeaderMap::new();
//! let req = RequestView {
//!     method: &http::Method::GET,
//!     host: "api.example.com",
//!     path: "/v1/users",
//!     query: None,
//!     headers: &headers,
//!     client_ip: std::net::Ipv4Addr::LOCALHOST.into(),
//! };
//! assert!(rule.matches(&req));
//! ```
//!
//! A rule is parsed and compiled once, when configuration loads; [`Rule::matches`] then runs on
//! every request without allocating for `Host`, `Path`, `PathPrefix` and `Method`. Requests are
//! seen through a [`RequestView`] built with [`canonical_host`] and [`routing_path`], which apply
//! Traefik's normalisations so that the same rule routes the same requests as in Traefik.
//!
//! Every input is untrusted: parsing reports a [`RuleError`] with a column instead of panicking,
//! nesting depth is bounded ([`MAX_DEPTH`]), and malformed request paths yield [`InvalidPath`].

mod error;
mod expr;
mod goregex;
mod lexer;
mod matcher;
mod parser;
mod query;
mod request;
mod sanitize;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::IpAddr;

pub use error::{InvalidPath, RuleError};
pub use goregex::translate_capturing as go_regex_capturing;
pub use parser::MAX_DEPTH;
pub use request::{canonical_host, routing_path};
pub use sanitize::{UnsafePath, sanitize_path};

/// What a rule sees of a request.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    pub method: &'a http::Method,
    /// Canonical host ([`canonical_host`]), as Traefik sees it: lowercased, port and IPv6
    /// brackets stripped, a trailing dot kept; empty when the request has none.
    pub host: &'a str,
    /// Routing path ([`routing_path`]).
    pub path: &'a str,
    /// Raw query string, without the `?`.
    pub query: Option<&'a str>,
    pub headers: &'a http::HeaderMap,
    /// The peer address of the connection. Never taken from `X-Forwarded-For`, as in Traefik.
    pub client_ip: IpAddr,
}

/// A parsed and compiled router rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    expr: expr::Expr,
}

impl Rule {
    /// Parses and compiles `src`. Regexps, IP networks and header names are prepared here, so
    /// that every error surfaces when configuration loads.
    pub fn parse(src: &str) -> Result<Rule, RuleError> {
        parser::parse(src).map(|expr| Rule { expr })
    }

    /// Whether the request matches the rule.
    pub fn matches(&self, req: &RequestView<'_>) -> bool {
        self.expr.matches(req)
    }

    /// Traefik's default router priority: the length of the rule in bytes.
    pub fn default_priority(src: &str) -> i64 {
        i64::try_from(src.len()).unwrap_or(i64::MAX)
    }
}

/// Canonical form: Traefik's matcher names, backtick strings where possible, minimal parentheses.
/// It parses back to an equal [`Rule`].
impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.expr.fmt(f)
    }
}
