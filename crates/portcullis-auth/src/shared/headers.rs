//! What the upstream learns about the caller: headers filled from token claims
//! (`forwardHeaders`), the access token as `Authorization: Bearer`, and the user name for the
//! access log (`usernameClaim`).
//!
//! What it protects against, and how:
//! - a client forging identity headers: every header named in `forwardHeaders` is removed from
//!   the request before the claim values are set, so only the gateway's values arrive; an
//!   absent claim gives an empty header rather than leaving room for a client copy;
//! - header injection through claim values: characters a header value cannot hold (controls,
//!   newlines) are dropped from claim text before it becomes a header;
//! - the client's own credentials reaching the upstream: `Authorization` is replaced;
//! - a forged identity header spelled with underscores: CGI, WSGI and PHP upstreams read
//!   `X_Who` and `X-Who` as the same `HTTP_X_WHO`, so a client's `X_Who: bob` next to the
//!   gateway's `X-Who: alice` would arrive as `bob,alice` (or `bob`). A client header whose name
//!   equals a forwarded name or `Authorization` once `_` is read as `-` is removed (nginx's
//!   `underscores_in_headers off`, limited to the names that collide).

use http::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use portcullis_claims::{ClaimPath, Claims};
use portcullis_config::plugin::common::ForwardHeader;

/// Removes client-sent copies of the `forwardHeaders` and sets them from `claims`: one value
/// per element for an array claim, an empty value for an absent claim.
pub fn apply_forward_headers(
    headers: &mut HeaderMap,
    forward: &[ForwardHeader],
    claims: &Claims<'_>,
) {
    for entry in forward {
        headers.remove(&entry.header);
    }
    for entry in forward {
        for text in entry.claim.values(claims) {
            headers.append(entry.header.clone(), header_value(&text));
        }
    }
}

/// Removes client headers that an upstream reading headers the CGI way (`X_Who` and `X-Who`
/// both become `HTTP_X_WHO`) would take for a forwarded header or `Authorization`: names that
/// differ from one of them but are equal to it once `_` is read as `-`. The exact names are
/// left for [`apply_forward_headers`] and [`set_bearer`] to replace. Costs one pass over the
/// names unless one contains `_`.
pub fn remove_underscore_spellings(headers: &mut HeaderMap, forward: &[ForwardHeader]) {
    let has_underscore = |name: &str| name.contains('_');
    if !headers.keys().any(|name| has_underscore(name.as_str()))
        && !forward
            .iter()
            .any(|entry| has_underscore(entry.header.as_str()))
    {
        return;
    }
    let protected =
        || std::iter::once(AUTHORIZATION.as_str()).chain(forward.iter().map(|e| e.header.as_str()));
    let colliding: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            let name = name.as_str();
            protected().any(|own| own != name && same_for_cgi(own, name))
        })
        .cloned()
        .collect();
    for name in colliding {
        tracing::debug!(header = %name, "client header removed: it reads as a forwarded header once `_` is taken for `-`");
        headers.remove(&name);
    }
}

/// True when two header names become the same CGI variable (case-insensitive, `_` = `-`).
fn same_for_cgi(a: &str, b: &str) -> bool {
    let fold = |byte: u8| match byte {
        b'_' => b'-',
        other => other.to_ascii_lowercase(),
    };
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| fold(x) == fold(y))
}

/// The user name for the access log: the claim's text, when present and not empty.
pub fn username(claim: &ClaimPath, claims: &Claims<'_>) -> Option<String> {
    let text = claim.text(claims);
    (!text.is_empty()).then_some(text)
}

/// Sets `Authorization: Bearer <token>`, replacing whatever the client sent.
pub fn set_bearer(headers: &mut HeaderMap, token: &str) {
    match HeaderValue::from_str(&format!("Bearer {token}")) {
        Ok(value) => {
            headers.insert(AUTHORIZATION, value);
        }
        Err(_) => {
            headers.remove(AUTHORIZATION);
        }
    }
}

/// A header value from claim text, without the characters a header cannot carry.
fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| {
        let cleaned: String = text
            .chars()
            .filter(|c| *c == '\t' || (!c.is_control() && *c != '\u{7f}'))
            .collect();
        HeaderValue::from_str(&cleaned).unwrap_or_else(|_| HeaderValue::from_static(""))
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn forward(pairs: &[(&str, &str)]) -> Vec<ForwardHeader> {
        pairs
            .iter()
            .map(|(h, c)| ForwardHeader {
                header: HeaderName::from_bytes(h.as_bytes()).unwrap(),
                claim: ClaimPath::parse(c).unwrap(),
            })
            .collect()
    }

    #[test]
    fn client_copies_are_replaced_and_arrays_give_several_values() {
        let id =
            json!({"grp": ["admin", "ops"], "email": "a@example.com", "bad": "x\r\nInjected: 1"});
        let claims = Claims {
            id_token: Some(&id),
            access_token: None,
        };
        let mut headers = HeaderMap::new();
        headers.insert("x-group", HeaderValue::from_static("forged"));
        headers.insert("x-missing", HeaderValue::from_static("forged"));
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Basic Zm9vOmJhcg=="),
        );
        apply_forward_headers(
            &mut headers,
            &forward(&[
                ("X-Group", "grp"),
                ("X-Email", "email"),
                ("X-Missing", "nope"),
                ("X-Bad", "bad"),
            ]),
            &claims,
        );
        set_bearer(&mut headers, "tok");
        let groups: Vec<_> = headers.get_all("x-group").iter().collect();
        assert_eq!(groups, ["admin", "ops"]);
        assert_eq!(headers["x-email"], "a@example.com");
        assert_eq!(headers["x-missing"], "");
        assert_eq!(headers["x-bad"], "xInjected: 1");
        assert_eq!(headers[AUTHORIZATION], "Bearer tok");
    }

    #[test]
    fn underscore_spellings_of_forwarded_names_are_removed() {
        let mut headers = HeaderMap::new();
        headers.insert("x_who", HeaderValue::from_static("bob"));
        headers.insert("x-who", HeaderValue::from_static("forged"));
        headers.insert("x_group_", HeaderValue::from_static("kept: no collision"));
        headers.insert("x_other", HeaderValue::from_static("kept"));
        headers.insert(
            "x-areas",
            HeaderValue::from_static("kept: exact names are replaced later"),
        );
        let forward = forward(&[("X-Who", "sub"), ("X_Areas", "areas")]);
        remove_underscore_spellings(&mut headers, &forward);
        assert!(!headers.contains_key("x_who"));
        // The exact names stay for apply_forward_headers to replace.
        assert_eq!(headers["x-who"], "forged");
        assert_eq!(headers["x_group_"], "kept: no collision");
        assert_eq!(headers["x_other"], "kept");
        // A forwarded name spelled with `_` collides with the client's `-` spelling.
        assert!(!headers.contains_key("x-areas"));
    }

    #[test]
    fn names_without_underscores_are_left_alone() {
        let mut headers = HeaderMap::new();
        headers.insert("x-who", HeaderValue::from_static("forged"));
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Basic Zm9vOmJhcg=="),
        );
        remove_underscore_spellings(&mut headers, &forward(&[("X-Who", "sub")]));
        assert_eq!(headers.len(), 2);
    }

    #[test]
    fn usernames_come_from_the_claim() {
        let id = json!({"preferred_username": "alice", "empty": ""});
        let claims = Claims {
            id_token: Some(&id),
            access_token: None,
        };
        assert_eq!(
            username(&ClaimPath::parse("preferred_username").unwrap(), &claims).as_deref(),
            Some("alice")
        );
        assert_eq!(username(&ClaimPath::parse("empty").unwrap(), &claims), None);
        assert_eq!(
            username(&ClaimPath::parse("access_token.sub").unwrap(), &claims),
            None
        );
    }
}
