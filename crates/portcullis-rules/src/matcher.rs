//! The matchers of the rule language, compiled once at parse time and evaluated per request.
//!
//! Everything that can be prepared ahead of a request is prepared here (lowercased hosts,
//! upper-cased methods, compiled regexps, parsed header names and networks), so that evaluating
//! `Host`, `Path`, `PathPrefix` and `Method` allocates nothing. Arguments are validated with the
//! same rules as Traefik's `pkg/muxer/http/matcher.go`, so a rule Traefik rejects is rejected here.

use std::fmt;
use std::net::IpAddr;

use http::HeaderName;
use ipnet::{IpNet, Ipv4Net};

use crate::RequestView;
use crate::error::RuleError;
use crate::{goregex, query};

/// Upper bound on the compiled size of one regexp, so that a rule cannot make the gateway
/// reserve unbounded memory. Go caps repetition counts at 1000 (see [`crate::goregex`]); the
/// bound admits 1000 copies of the largest Unicode class (`\pL{1000}` needs about 51 MiB), so
/// every single repetition Go accepts also compiles here.
const REGEX_SIZE_LIMIT: usize = 64 << 20;

/// Nesting allowed to the regex crate (its default): its compiler recurses, and deeper patterns
/// could overflow the stack of the thread loading configuration. Go accepts deeper nesting (up
/// to 1000 groups); real rules stay far below this bound, which is reported as a rule error.
const REGEX_NEST_LIMIT: u32 = 250;

/// A matcher name as Traefik spells it, with its arity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    ClientIp,
    Method,
    Host,
    HostRegexp,
    Path,
    PathRegexp,
    PathPrefix,
    Header,
    HeaderRegexp,
    Query,
    QueryRegexp,
}

const NAMES: [Name; 11] = [
    Name::ClientIp,
    Name::Method,
    Name::Host,
    Name::HostRegexp,
    Name::Path,
    Name::PathRegexp,
    Name::PathPrefix,
    Name::Header,
    Name::HeaderRegexp,
    Name::Query,
    Name::QueryRegexp,
];

impl Name {
    fn as_str(self) -> &'static str {
        match self {
            Self::ClientIp => "ClientIP",
            Self::Method => "Method",
            Self::Host => "Host",
            Self::HostRegexp => "HostRegexp",
            Self::Path => "Path",
            Self::PathRegexp => "PathRegexp",
            Self::PathPrefix => "PathPrefix",
            Self::Header => "Header",
            Self::HeaderRegexp => "HeaderRegexp",
            Self::Query => "Query",
            Self::QueryRegexp => "QueryRegexp",
        }
    }

    /// Accepted argument counts, as in Traefik's `expectNParameters`.
    fn arity(self) -> (usize, usize) {
        match self {
            Self::Header | Self::HeaderRegexp => (2, 2),
            Self::Query | Self::QueryRegexp => (1, 2),
            _ => (1, 1),
        }
    }

    /// Resolves a written name. Traefik registers each matcher as written, all-lower, all-upper
    /// and Title case (`Pathprefix`); nothing else is accepted.
    fn resolve(written: &str) -> Option<Self> {
        NAMES.into_iter().find(|name| {
            let canonical = name.as_str();
            written.eq_ignore_ascii_case(canonical)
                && (written == canonical
                    || !written.bytes().any(|b| b.is_ascii_uppercase())
                    || !written.bytes().any(|b| b.is_ascii_lowercase())
                    || is_title_case(written))
        })
    }
}

fn is_title_case(word: &str) -> bool {
    let mut bytes = word.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_uppercase()) && !bytes.any(|b| b.is_ascii_uppercase())
}

/// A compiled regexp: the Go source as written in the rule, and its translation compiled by the
/// regex crate. Two are equal when their sources are.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    source: String,
    regex: regex::Regex,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Pattern {}

impl Pattern {
    fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }

    /// Go's regexp matches bytes; non-UTF-8 input (header obs-text, decoded query bytes) is
    /// matched with replacement characters, allocating only in that rare case.
    fn is_match_bytes(&self, bytes: &[u8]) -> bool {
        match std::str::from_utf8(bytes) {
            Ok(text) => self.regex.is_match(text),
            Err(_) => self.regex.is_match(&String::from_utf8_lossy(bytes)),
        }
    }
}

/// How a `Host` argument matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostKind {
    /// Bare `*`: every request, with or without a host, as in Traefik.
    Any,
    /// A host expression, lowercased, without IPv6 brackets: a name or address, or `*` followed
    /// by what must follow the request host's first label (`*.example.com`).
    Expr(String),
}

/// One matcher with its prepared argument(s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Matcher {
    /// `text` is the argument lowercased, kept for printing.
    Host {
        text: String,
        kind: HostKind,
    },
    HostRegexp(Pattern),
    Path(String),
    PathPrefix(String),
    PathRegexp(Pattern),
    /// Upper-cased.
    Method(String),
    /// `name` is `None` when `key` is not a valid header name: such a header cannot be present,
    /// so the matcher never matches (Traefik accepts the rule too).
    Header {
        key: String,
        name: Option<HeaderName>,
        value: String,
    },
    HeaderRegexp {
        key: String,
        name: Option<HeaderName>,
        pattern: Pattern,
    },
    /// The one-argument form has an empty `value`: the key must be present with an empty value.
    Query {
        key: String,
        value: String,
    },
    QueryRegexp {
        key: String,
        pattern: Pattern,
    },
    ClientIp {
        text: String,
        net: IpNet,
    },
}

/// A string argument and the byte offset of its opening quote.
pub(crate) type Arg = (String, usize);

impl Matcher {
    /// Compiles matcher `written` (at byte `offset` of `src`) with its arguments.
    pub(crate) fn build(
        src: &str,
        offset: usize,
        written: &str,
        args: Vec<Arg>,
    ) -> Result<Self, RuleError> {
        let Some(name) = Name::resolve(written) else {
            return Err(RuleError::at(
                src,
                offset,
                format!("unknown matcher '{written}'"),
            ));
        };
        // Traefik refuses an empty argument to any matcher when the rule loads; accepting it
        // would turn a typo into a catch-all (`HostRegexp(``)`) or a dead route (`Host(``)`).
        if let Some((_, at)) = args.iter().find(|(value, _)| value.is_empty()) {
            return Err(RuleError::at(
                src,
                *at,
                format!("empty argument to {}", name.as_str()),
            ));
        }
        let (min, max) = name.arity();
        if args.len() < min || args.len() > max {
            let expected = match (min, max) {
                (1, 1) => "1 argument".to_owned(),
                (a, b) if a == b => format!("{a} arguments"),
                (a, b) => format!("{a} or {b} arguments"),
            };
            return Err(RuleError::at(
                src,
                offset,
                format!("{} takes {expected}, got {}", name.as_str(), args.len()),
            ));
        }
        let count = args.len();
        let mut args = args.into_iter();
        let mut next = || args.next().unwrap_or_default();
        let (first, first_at) = next();
        let matcher = match name {
            Name::Host => {
                if first != "*" {
                    ascii_only(src, &first, first_at, name)?;
                }
                host(first)
            }
            Name::HostRegexp => {
                ascii_only(src, &first, first_at, name)?;
                Self::HostRegexp(compile(src, &first, first_at)?)
            }
            Name::Path | Name::PathPrefix => {
                if !first.starts_with('/') {
                    return Err(RuleError::at(
                        src,
                        first_at,
                        format!("{} must start with '/'", name.as_str()),
                    ));
                }
                if name == Name::Path {
                    Self::Path(first)
                } else {
                    Self::PathPrefix(first)
                }
            }
            Name::PathRegexp => Self::PathRegexp(compile(src, &first, first_at)?),
            Name::Method => Self::Method(first.to_uppercase()),
            Name::Header | Name::HeaderRegexp => {
                let header = HeaderName::from_bytes(first.as_bytes()).ok();
                let (second, second_at) = next();
                if name == Name::Header {
                    Self::Header {
                        key: first,
                        name: header,
                        value: second,
                    }
                } else {
                    Self::HeaderRegexp {
                        key: first,
                        name: header,
                        pattern: compile(src, &second, second_at)?,
                    }
                }
            }
            Name::Query | Name::QueryRegexp => {
                let (second, second_at) = next();
                // Traefik treats the one-argument QueryRegexp as Query.
                if name == Name::Query || count == 1 {
                    Self::Query {
                        key: first,
                        value: second,
                    }
                } else {
                    Self::QueryRegexp {
                        key: first,
                        pattern: compile(src, &second, second_at)?,
                    }
                }
            }
            Name::ClientIp => {
                let net = client_net(&first).ok_or_else(|| {
                    RuleError::at(
                        src,
                        first_at,
                        format!("invalid IP address or CIDR '{first}'"),
                    )
                })?;
                Self::ClientIp { text: first, net }
            }
        };
        Ok(matcher)
    }

    /// Evaluates the matcher against one request.
    pub(crate) fn matches(&self, req: &RequestView<'_>) -> bool {
        match self {
            Self::Host { kind, .. } => host_matches(kind, req.host),
            // As Traefik: unanchored, case-sensitive, on the canonical host (lowercase, trailing
            // dot kept, IPv6 without brackets); an empty host is matched too.
            Self::HostRegexp(pattern) => pattern.is_match(req.host),
            Self::Path(path) => req.path == path,
            Self::PathPrefix(prefix) => req.path.starts_with(prefix.as_str()),
            Self::PathRegexp(pattern) => pattern.is_match(req.path),
            Self::Method(method) => req.method.as_str() == method,
            Self::Header { name, value, .. } => name.as_ref().is_some_and(|name| {
                req.headers
                    .get_all(name)
                    .iter()
                    .any(|v| v.as_bytes() == value.as_bytes())
            }),
            Self::HeaderRegexp { name, pattern, .. } => name.as_ref().is_some_and(|name| {
                req.headers
                    .get_all(name)
                    .iter()
                    .any(|v| pattern.is_match_bytes(v.as_bytes()))
            }),
            Self::Query { key, value } => {
                query::any_value(req.query, key, |v| v == value.as_bytes())
            }
            Self::QueryRegexp { key, pattern } => {
                query::any_value(req.query, key, |v| pattern.is_match_bytes(v))
            }
            Self::ClientIp { net, .. } => net.contains(&req.client_ip.to_canonical()),
        }
    }
}

fn ascii_only(src: &str, value: &str, at: usize, name: Name) -> Result<(), RuleError> {
    if value.is_ascii() {
        Ok(())
    } else {
        Err(RuleError::at(
            src,
            at,
            format!(
                "{} must be ASCII (use the punycode form of the host)",
                name.as_str()
            ),
        ))
    }
}

/// Compiles a Go regular expression: translated to the regex crate's syntax (see
/// [`crate::goregex`]), refused where Go refuses it.
fn compile(src: &str, pattern: &str, at: usize) -> Result<Pattern, RuleError> {
    let translated = goregex::translate(pattern).map_err(|err| {
        RuleError::at(
            src,
            at,
            format!("invalid regular expression: {}", err.message),
        )
    })?;
    regex::RegexBuilder::new(&translated)
        .size_limit(REGEX_SIZE_LIMIT)
        .nest_limit(REGEX_NEST_LIMIT)
        .build()
        .map(|regex| Pattern {
            source: pattern.to_owned(),
            regex,
        })
        .map_err(|err| {
            RuleError::at(
                src,
                at,
                format!("invalid regular expression: {}", regex_reason(&err)),
            )
        })
}

/// The one-line reason of a regex error; the crate's own message spans several lines with a
/// caret diagram, which the column already replaces.
fn regex_reason(err: &regex::Error) -> String {
    let text = err.to_string();
    let reason = text
        .lines()
        .find_map(|line| line.strip_prefix("error: "))
        .map(str::to_owned);
    reason.unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Strips IPv6 brackets. Traefik compares hosts without them, so `Host(`[::1]`)` would never
/// match there; it is accepted here as the operator meant it.
fn unbracketed(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

fn host(text: String) -> Matcher {
    let text = text.to_ascii_lowercase();
    let kind = if text == "*" {
        HostKind::Any
    } else {
        HostKind::Expr(unbracketed(&text).to_owned())
    };
    Matcher::Host { text, kind }
}

/// Traefik's `Host` comparison: exact or one-label wildcard, case-insensitive, and equal again
/// once a trailing dot is dropped from either side.
fn host_matches(kind: &HostKind, host: &str) -> bool {
    let expr = match kind {
        HostKind::Any => return true,
        HostKind::Expr(expr) => expr.as_str(),
    };
    let host = unbracketed(host);
    if host.is_empty() {
        return false;
    }
    domain_matches(host, expr)
        || expr
            .strip_suffix('.')
            .is_some_and(|expr| domain_matches(host, expr))
        || host
            .strip_suffix('.')
            .is_some_and(|host| domain_matches(host, expr))
}

/// One host against one expression: `*rest` matches when `rest` equals what follows the host's
/// first label (its first `.` onwards, or nothing), as Traefik's `DomainMatchHostExpression`.
fn domain_matches(host: &str, expr: &str) -> bool {
    match expr.strip_prefix('*') {
        Some(rest) => {
            let tail = host.find('.').and_then(|i| host.get(i..)).unwrap_or("");
            tail.eq_ignore_ascii_case(rest)
        }
        None => host.eq_ignore_ascii_case(expr),
    }
}

/// Parses a `ClientIP` argument as Go's `net.ParseIP`, then `net.ParseCIDR`. IPv4-mapped IPv6
/// forms are folded to IPv4, as Go compares them.
fn client_net(text: &str) -> Option<IpNet> {
    if let Ok(addr) = text.parse::<IpAddr>() {
        return Some(IpNet::from(addr.to_canonical()));
    }
    let net = text.parse::<IpNet>().ok()?;
    if let IpNet::V6(v6) = net {
        if let (Some(v4), Some(prefix)) =
            (v6.addr().to_ipv4_mapped(), v6.prefix_len().checked_sub(96))
        {
            return Ipv4Net::new(v4, prefix).ok().map(IpNet::V4);
        }
    }
    Some(net)
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, first, second): (Name, &str, Option<&str>) = match self {
            Self::Host { text, .. } => (Name::Host, text, None),
            Self::HostRegexp(p) => (Name::HostRegexp, p.source.as_str(), None),
            Self::Path(path) => (Name::Path, path, None),
            Self::PathPrefix(path) => (Name::PathPrefix, path, None),
            Self::PathRegexp(p) => (Name::PathRegexp, p.source.as_str(), None),
            Self::Method(method) => (Name::Method, method, None),
            Self::Header { key, value, .. } => (Name::Header, key, Some(value)),
            Self::HeaderRegexp { key, pattern, .. } => {
                (Name::HeaderRegexp, key, Some(pattern.source.as_str()))
            }
            Self::Query { key, value } => (
                Name::Query,
                key,
                Some(value.as_str()).filter(|v| !v.is_empty()),
            ),
            Self::QueryRegexp { key, pattern } => {
                (Name::QueryRegexp, key, Some(pattern.source.as_str()))
            }
            Self::ClientIp { text, .. } => (Name::ClientIp, text, None),
        };
        write!(f, "{}({}", name.as_str(), Quoted(first))?;
        if let Some(second) = second {
            write!(f, ", {}", Quoted(second))?;
        }
        f.write_str(")")
    }
}

/// Prints a string as a literal that reads back to the same value: backticks when possible,
/// otherwise a double-quoted Go string.
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Go drops carriage returns from raw strings, so those need the escaped form.
        if !self.0.contains(['`', '\r']) {
            return write!(f, "`{}`", self.0);
        }
        f.write_str("\"")?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if c.is_ascii_control() => write!(f, "\\x{:02x}", u32::from(c))?,
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("\"")
    }
}
