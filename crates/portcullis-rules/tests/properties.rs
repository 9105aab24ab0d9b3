//! Property tests: printing round-trips, evaluation agrees with a reference, nothing panics.
#![cfg(test)]

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};

use common::req;
use http::{HeaderMap, HeaderValue, Uri};
use portcullis_rules::{Rule, canonical_host, routing_path};
use proptest::prelude::*;

/// A matcher as written in a rule: canonical name and raw argument values.
#[derive(Debug, Clone)]
struct Leaf {
    name: &'static str,
    args: Vec<String>,
}

#[derive(Debug, Clone)]
enum Ast {
    Leaf(Leaf),
    Not(Box<Ast>),
    And(Vec<Ast>),
    Or(Vec<Ast>),
}

fn regexp() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>().prop_map(|s| regex::escape(&s)),
        Just(r"^[a-z]+\.example\.com$".to_owned()),
        Just(r"(?i)^/api/v\d+/".to_owned()),
        Just("a|b|`c`".to_owned()),
        Just("^/api/{id}$".to_owned()),
        Just(r"\Q.*\E|x{,3}|[a&&b]".to_owned()),
    ]
}

fn ascii() -> impl Strategy<Value = String> {
    "[ -~]{0,16}"
}

fn client_ip() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<Ipv4Addr>().prop_map(|a| a.to_string()),
        any::<Ipv6Addr>().prop_map(|a| a.to_string()),
        (any::<Ipv4Addr>(), 0u8..=32).prop_map(|(a, p)| format!("{a}/{p}")),
        (any::<Ipv6Addr>(), 0u8..=128).prop_map(|(a, p)| format!("{a}/{p}")),
    ]
}

fn leaf() -> impl Strategy<Value = Leaf> {
    let one = |name: &'static str, s: BoxedStrategy<String>| {
        s.prop_map(move |a| Leaf {
            name,
            args: vec![a],
        })
        .boxed()
    };
    let two = |name: &'static str, s: BoxedStrategy<String>| {
        (any::<String>(), s)
            .prop_map(move |(k, v)| Leaf {
                name,
                args: vec![k, v],
            })
            .boxed()
    };
    // Every matcher refuses an empty argument; those are covered in errors.rs.
    let non_empty = |mut leaf: Leaf| {
        for arg in &mut leaf.args {
            if arg.is_empty() {
                arg.push('x');
            }
        }
        leaf
    };
    prop_oneof![
        one("Host", ascii().boxed()),
        one(
            "Host",
            "(\\*\\.)?[a-zA-Z0-9-]{1,8}(\\.[a-z]{1,4}){0,2}\\.?".boxed()
        ),
        one(
            "HostRegexp",
            ascii().prop_map(|s| regex::escape(&s)).boxed()
        ),
        one(
            "Path",
            any::<String>().prop_map(|s| format!("/{s}")).boxed()
        ),
        one(
            "PathPrefix",
            any::<String>().prop_map(|s| format!("/{s}")).boxed()
        ),
        one("PathRegexp", regexp().boxed()),
        one("Method", any::<String>().boxed()),
        one("ClientIP", client_ip().boxed()),
        two("Header", any::<String>().boxed()),
        two("HeaderRegexp", regexp().boxed()),
        one("Query", any::<String>().boxed()),
        two("Query", any::<String>().boxed()),
        two("QueryRegexp", regexp().boxed()),
    ]
    .prop_map(non_empty)
}

fn tree(leaf: BoxedStrategy<Leaf>) -> impl Strategy<Value = Ast> {
    leaf.prop_map(Ast::Leaf).prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|a| Ast::Not(Box::new(a))),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Ast::And),
            prop::collection::vec(inner, 2..4).prop_map(Ast::Or),
        ]
    })
}

/// How to spell things when rendering a tree: driven by a random seed so that one tree
/// exercises casings, quoting styles and spacing.
struct Style(u64);

impl Style {
    fn pick(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }

    fn space(&mut self) -> &'static str {
        ["", " ", "  ", "\t", "\n", " \r\n "][self.pick(6) as usize]
    }

    fn name(&mut self, name: &str) -> String {
        match self.pick(4) {
            0 => name.to_owned(),
            1 => name.to_lowercase(),
            2 => name.to_uppercase(),
            _ => {
                let lower = name.to_lowercase();
                let mut chars = lower.chars();
                chars
                    .next()
                    .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
            }
        }
    }

    fn literal(&mut self, value: &str) -> String {
        if !value.contains(['`', '\r']) && self.pick(2) == 0 {
            return format!("`{value}`");
        }
        let mut out = String::from("\"");
        for c in value.chars() {
            match (c, self.pick(3)) {
                ('"', _) => out.push_str("\\\""),
                ('\\', _) => out.push_str("\\\\"),
                ('\n', _) => out.push_str("\\n"),
                (c, 0) if c.is_ascii() => out.push_str(&format!("\\x{:02X}", c as u32)),
                (c, 1) if c.is_ascii() => out.push_str(&format!("\\{:03o}", c as u32)),
                (c, _) if c.is_control() => out.push_str(&format!("\\U{:08x}", c as u32)),
                (c, _) => out.push(c),
            }
        }
        out.push('"');
        out
    }

    fn render(&mut self, ast: &Ast) -> String {
        match ast {
            Ast::Leaf(leaf) => {
                let args: Vec<String> = leaf
                    .args
                    .iter()
                    .map(|a| format!("{}{}{}", self.space(), self.literal(a), self.space()))
                    .collect();
                format!(
                    "{}{}({})",
                    self.name(leaf.name),
                    self.space(),
                    args.join(",")
                )
            }
            Ast::Not(inner) => format!("!{}{}", self.space(), self.operand(inner)),
            Ast::And(items) => self.join(items, "&&"),
            Ast::Or(items) => self.join(items, "||"),
        }
    }

    fn join(&mut self, items: &[Ast], op: &str) -> String {
        let parts: Vec<String> = items.iter().map(|item| self.operand(item)).collect();
        let separator = format!("{}{op}{}", self.space(), self.space());
        parts.join(&separator)
    }

    /// Parenthesizes every compound operand, so the source states the tree exactly.
    fn operand(&mut self, ast: &Ast) -> String {
        match ast {
            Ast::Leaf(_) | Ast::Not(_) => self.render(ast),
            _ => format!("({}{}{})", self.space(), self.render(ast), self.space()),
        }
    }
}

/// Leaves whose outcome the reference evaluator knows: methods, paths, one header.
fn simple_leaf() -> impl Strategy<Value = Leaf> {
    prop_oneof![
        prop::sample::select(vec!["GET", "POST", "put"]).prop_map(|m| Leaf {
            name: "Method",
            args: vec![m.to_owned()]
        }),
        prop::sample::select(vec!["/a", "/b"]).prop_map(|p| Leaf {
            name: "Path",
            args: vec![p.to_owned()]
        }),
        prop::sample::select(vec!["1", "2"]).prop_map(|v| Leaf {
            name: "Header",
            args: vec!["X-K".to_owned(), v.to_owned()]
        }),
    ]
}

fn reference(ast: &Ast, method: &str, path: &str, header: &str) -> bool {
    match ast {
        Ast::Leaf(leaf) => match leaf.name {
            "Method" => leaf.args[0].to_uppercase() == method,
            "Path" => leaf.args[0] == path,
            _ => leaf.args[1] == header,
        },
        Ast::Not(inner) => !reference(inner, method, path, header),
        Ast::And(items) => items.iter().all(|a| reference(a, method, path, header)),
        Ast::Or(items) => items.iter().any(|a| reference(a, method, path, header)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn printing_round_trips(ast in tree(leaf().boxed()), seed in any::<u64>()) {
        let src = Style(seed).render(&ast);
        let rule = Rule::parse(&src).map_err(|e| TestCaseError::fail(format!("{src:?}: {e}")))?;
        let printed = rule.to_string();
        let reparsed = Rule::parse(&printed)
            .map_err(|e| TestCaseError::fail(format!("{printed:?}: {e}")))?;
        prop_assert_eq!(&reparsed, &rule, "{:?} printed as {:?}", src, printed);
        prop_assert_eq!(reparsed.to_string(), printed);
    }

    #[test]
    fn evaluation_agrees_with_a_reference(
        ast in tree(simple_leaf().boxed()),
        seed in any::<u64>(),
        method in prop::sample::select(vec!["GET", "POST", "PUT"]),
        path in prop::sample::select(vec!["/a", "/b", "/c"]),
        header in prop::sample::select(vec!["1", "2", "3"]),
    ) {
        let src = Style(seed).render(&ast);
        let rule = Rule::parse(&src).map_err(|e| TestCaseError::fail(format!("{src:?}: {e}")))?;
        let r = req().method(method).path(path).header("x-k", header.as_bytes());
        let expected = reference(&ast, method, path, header);
        prop_assert_eq!(rule.matches(&r.view()), expected, "{}", src);
        let printed = Rule::parse(&rule.to_string()).unwrap();
        prop_assert_eq!(printed.matches(&r.view()), expected);
    }

    #[test]
    fn parse_never_panics_on_arbitrary_text(src in any::<String>()) {
        let _ = Rule::parse(&src);
    }

    #[test]
    fn parse_never_panics_on_rule_like_text(
        src in "[HostPathQueryClientIP()`\"'\\\\!&|, \t\nxé/.*0-9]{0,64}"
    ) {
        if let Ok(rule) = Rule::parse(&src) {
            let _ = rule.matches(&req().view());
            prop_assert_eq!(Rule::parse(&rule.to_string()).ok(), Some(rule));
        }
    }

    #[test]
    fn go_regexps_never_panic_and_print_back(
        pattern in "[\\\\(){}\\[\\]^$.*+?|:,<>&~PQEAzbBdDsSwWpLx0-9a-c-]{1,40}"
    ) {
        let src = format!("PathRegexp(`{pattern}`)");
        if let Ok(rule) = Rule::parse(&src) {
            let _ = rule.matches(&req().path("/a{1}").view());
            prop_assert_eq!(Rule::parse(&rule.to_string()).ok(), Some(rule));
        }
    }

    #[test]
    fn routing_path_never_panics_and_is_idempotent(raw in "(/|%[0-9a-fA-Fg]{0,2}|[a-z]|é){0,24}") {
        if let Ok(once) = routing_path(&raw) {
            let twice = routing_path(&once).map(|p| p.into_owned());
            prop_assert_eq!(twice, Ok(once.into_owned()));
        }
    }

    #[test]
    fn canonical_host_never_panics(value in prop::collection::vec(any::<u8>(), 0..32)) {
        if let Ok(value) = HeaderValue::from_bytes(&value) {
            let mut headers = HeaderMap::new();
            headers.insert(http::header::HOST, value);
            if let Some(host) = canonical_host(&Uri::from_static("/"), &headers) {
                prop_assert!(!host.is_empty());
                prop_assert_eq!(host.to_ascii_lowercase(), host.clone());
                prop_assert!(!host.starts_with('['));
            }
        }
    }
}
